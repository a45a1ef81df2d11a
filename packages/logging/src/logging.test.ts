import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Writable } from 'node:stream';
import { childOnDemand, createLogger } from './index.js';

test('the logger redacts secrets and contact points by default, at any depth we use', () => {
  const lines: string[] = [];
  const destination = new Writable({ write(chunk: Buffer, _e, cb) { lines.push(chunk.toString()); cb(); } });
  const log = createLogger({ name: 't', destination });
  log.info({ pin: '482913', to: '+12025550143', msg2: { email: 'a@example.com' }, deep: { x: { enrollmentCode: 'JNRWQ7RT' } }, err: { code: 'BW_SMS_THROTTLED' } }, 'hello');
  const out = lines.join('');
  assert.match(out, /BW_SMS_THROTTLED/, 'error codes stay readable');
  assert.match(out, /"name":"t"/, 'the logger name stays readable');
  assert.match(out, /hello/);
  for (const secret of ['482913', '2025550143', 'a@example.com', 'JNRWQ7RT']) assert.ok(!out.includes(secret), secret);
});

test('childOnDemand: made on the first enabled call, with its bindings; disabled levels make nothing', () => {
  const lines: string[] = [];
  const destination = new Writable({ write(chunk: Buffer, _e, cb) { lines.push(chunk.toString()); cb(); } });
  const parent = createLogger({ name: 't', level: 'info', destination });
  let made = 0;
  const child = parent.child.bind(parent);
  parent.child = ((...args: Parameters<typeof parent.child>) => {
    made++;
    return child(...args);
  }) as typeof parent.child;
  const log = childOnDemand(parent, { wave: 'w1', account: 'A-1', phone: '+12025550143' });
  log.debug({ x: 1 }, 'not logged');
  log.trace('not logged either');
  assert.equal(made, 0, 'a disabled level makes no child');
  assert.equal(lines.length, 0);
  log.info({ step: 1 }, 'first');
  log.warn({ step: 2 }, 'second');
  assert.equal(made, 1, 'one child, made on the first enabled call');
  const [first, second] = lines.map((l) => JSON.parse(l) as Record<string, unknown>);
  assert.equal(first?.msg, 'first');
  assert.equal(first?.wave, 'w1');
  assert.equal(first?.account, 'A-1');
  assert.equal(first?.phone, '[redacted]', 'bindings are redacted like any field');
  assert.equal(second?.msg, 'second');
  assert.equal(second?.step, 2);
  assert.equal(log.isLevelEnabled('debug'), false, 'other members come from the child');
  assert.equal(log.bindings().account, 'A-1');
  log.level = 'debug';
  assert.equal(log.isLevelEnabled('debug'), true, 'a level set through it is the child\'s');
  assert.equal(parent.isLevelEnabled('debug'), false, 'the shared parent keeps its level');
});
