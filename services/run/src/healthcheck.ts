/**
 * A container health check without curl: `node dist/healthcheck.js PORT [PATH]` asks
 * `http://127.0.0.1:PORT/PATH` (PATH defaults to `/readyz`) and exits 0 on a 2xx answer, 1 on any
 * other answer, no answer within 3 s, or a refused connection, and 2 on bad arguments.
 */
const TIMEOUT_MS = 3_000;

const [portArg, path = '/readyz'] = process.argv.slice(2);
const port = Number(portArg);
if (!Number.isInteger(port) || port < 1 || port > 65_535 || !path.startsWith('/')) {
  process.stderr.write('usage: healthcheck.js PORT [PATH]   (PORT 1-65535, PATH starting with /)\n');
  process.exitCode = 2;
} else {
  try {
    const res = await fetch(`http://127.0.0.1:${port}${path}`, { signal: AbortSignal.timeout(TIMEOUT_MS) });
    process.stdout.write(`${res.status} ${path}\n`);
    process.exitCode = res.ok ? 0 : 1;
  } catch (err) {
    process.stdout.write(`no answer from ${path}: ${err instanceof Error ? err.message : String(err)}\n`);
    process.exitCode = 1;
  }
}
