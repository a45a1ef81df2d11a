import { test } from 'node:test';
import assert from 'node:assert/strict';
import { performance } from 'node:perf_hooks';
import { waitFor } from '@breachwave/testkit';
import { preciseWake } from './wake.js';

test('a precise wake-up never comes before its time, a cancelled one never comes, and a closed handle fires nothing', async () => {
  const wake = preciseWake();
  // Each wait is kept open by a timer of its own, as the pacer keeps its own setTimeout beside the wake-up.
  const fired: { at: number; when: number }[] = [];
  for (let i = 0; i < 20; i++) {
    const at = performance.now() + 1 + (i % 4);
    await new Promise<void>((resolve) => {
      const keepOpen = setTimeout(resolve, 10_000);
      wake.at(at, () => {
        fired.push({ at, when: performance.now() });
        clearTimeout(keepOpen);
        resolve();
      });
    });
  }
  assert.equal(fired.length, 20);
  for (const f of fired) assert.ok(f.when >= f.at, `woken ${(f.at - f.when).toFixed(3)} ms early`);

  let cancelledFired = false;
  const cancel = wake.at(performance.now() + 2, () => { cancelledFired = true; });
  cancel();
  let laterFired = false;
  wake.at(performance.now() + 5, () => { laterFired = true; });
  await waitFor(() => laterFired, { what: 'the wake-up after the cancelled one' });
  assert.equal(cancelledFired, false, 'a cancelled wake-up does not fire');

  let afterClose = false;
  wake.at(performance.now() + 2, () => { afterClose = true; });
  wake.close();
  wake.close();
  const other = preciseWake();
  let otherFired = false;
  other.at(performance.now() + 5, () => { otherFired = true; });
  await waitFor(() => otherFired, { what: 'a new handle works after the last one closed' });
  other.close();
  assert.equal(afterClose, false, 'a closed handle\'s wake-ups are dropped');
});

test('a wake-up thread never keeps its process alive: a process that never closed its handle still exits', async () => {
  const { spawn } = await import('node:child_process');
  const { fileURLToPath } = await import('node:url');
  const wakeFile = fileURLToPath(new URL('./wake.ts', import.meta.url));
  const code = `import { performance } from 'node:perf_hooks';
const { preciseWake } = await import(${JSON.stringify(wakeFile)});
const w = preciseWake();
await new Promise((r) => { const t = setTimeout(r, 5000); w.at(performance.now() + 2, () => { clearTimeout(t); r(); }); });`;
  const child = spawn(process.execPath, ['--import', 'tsx', '--input-type=module', '-e', code], { stdio: 'inherit', timeout: 30_000 });
  const exited = await new Promise<number | null>((resolve) => child.once('exit', resolve));
  assert.equal(exited, 0, 'the process ended on its own once its work was done');
});
