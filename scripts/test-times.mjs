// node:test reporter for `BW_TEST_TIMES` (scripts/run-tests.mjs): one line per test file as it
// ends (its wall time, FAIL when it failed), then every file again, slowest first.
export default async function* testTimes(source) {
  const files = [];
  // A compiled test file (node_modules/.bw-tests-<pid>-<id>/tests/<path>.mjs) is named by its source.
  const name = (file) => file.replace(`${process.cwd()}/`, '').replace(/^node_modules\/\.bw-tests-[^/]+\/tests\/(.*)\.mjs$/, '$1.ts');
  for await (const ev of source) {
    if (ev.type !== 'test:complete' || ev.data.nesting !== 0 || !ev.data.file || ev.data.name !== ev.data.file) continue;
    const row = { ms: ev.data.details?.duration_ms ?? 0, file: name(ev.data.file), failed: ev.data.details?.passed === false };
    files.push(row);
    yield `${(row.ms / 1000).toFixed(1).padStart(7)} s ${row.failed ? 'FAIL ' : ''}${row.file}\n`;
  }
  files.sort((a, b) => b.ms - a.ms);
  yield `\n${files.length} files, ${(files.reduce((s, f) => s + f.ms, 0) / 1000).toFixed(1)} s in all, slowest first:\n`;
  for (const f of files) yield `${(f.ms / 1000).toFixed(1).padStart(7)} s ${f.failed ? 'FAIL ' : ''}${f.file}\n`;
}
