import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Writable } from 'node:stream';
import { createLogger } from './index.js';

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
