import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import { ShutdownError, closeInOrder } from './index.js';

test('closeInOrder closes every resource in order past the ones that fail, then rejects naming each failure', async () => {
  const closed: string[] = [];
  const first = new Error('first');
  const third = new Error('third');
  const err = await closeInOrder([
    { name: 'a', close: () => { closed.push('a'); throw first; } },
    { name: 'b', close: async () => { closed.push('b'); } },
    { name: 'c', close: () => { closed.push('c'); return Promise.reject(third); } },
    { name: 'd', close: () => { closed.push('d'); } },
  ]).then(() => assert.fail('must reject'), (e: unknown) => e);
  assert.deepEqual(closed, ['a', 'b', 'c', 'd']);
  assert.ok(err instanceof ShutdownError && err instanceof AggregateError);
  assert.deepEqual(err.failures, [{ resource: 'a', error: first }, { resource: 'c', error: third }]);
  assert.deepEqual(err.errors, [first, third]);
  assert.match(err.message, /2 of the resources failed to close: a, c/);
  await closeInOrder([{ name: 'x', close: () => undefined }]);
});

test('a process whose stop fails on some resources still closes the others, logs each failure once, exits non-zero by itself', { timeout: 120_000 }, async () => {
  const fixture = fileURLToPath(new URL('./testing/failing-stop.ts', import.meta.url));
  const child = spawn(process.execPath, ['--import', 'tsx', fixture], { stdio: ['ignore', 'pipe', 'inherit'], env: { ...process.env, LOG_LEVEL: 'info' } });
  const exited = once(child, 'exit') as Promise<[number | null, NodeJS.Signals | null]>;
  const lines: Record<string, unknown>[] = [];
  const rl = createInterface({ input: child.stdout });
  const ready = new Promise<void>((resolve) => rl.on('line', (line) => {
    const l = JSON.parse(line) as Record<string, unknown>;
    lines.push(l);
    if (l.msg === 'failing-stop ready') resolve();
  }));
  await Promise.race([ready, exited.then(() => assert.fail('the fixture exited before it was ready'))]);
  child.kill('SIGTERM');
  // The bound fails a process that would stay up; it does not time the stop.
  const guard = setTimeout(() => child.kill('SIGKILL'), 60_000);
  const [code, signal] = await exited;
  clearTimeout(guard);
  assert.equal(signal, null, 'it exited by itself: the timer after the failing close was cleared');
  assert.equal(code, 1, 'exit code 1');
  const errors = lines.filter((l) => l.msg === 'error while shutting down');
  assert.deepEqual(errors.map((l) => [l.resource, (l.err as { message?: string }).message]), [
    ['worker', 'the worker would not close'],
    ['server', 'the server would not close'],
  ], 'each failure logged once, with its resource');
});
