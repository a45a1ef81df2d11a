import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { hostname } from 'node:os';
import { useRedis } from '@breachwave/testkit';
import { createLease, holderGone } from './index.js';

const db = useRedis();

const key = (): string => `bwtest-${randomUUID()}:lease`;

test('one holder at a time; the key names the holder; release frees it for the next', async () => {
  const k = key();
  const a = createLease(db.redis, k, 60_000);
  const b = createLease(db.redis, k, 60_000);
  assert.notEqual(a.token, b.token);
  assert.ok(a.token.startsWith(`${hostname()}:${process.pid}#`));

  assert.deepEqual(await a.tryAcquire(), { acquired: true });
  assert.deepEqual(await b.tryAcquire(), { acquired: false, holder: a.token }, 'a refusal names the holder');
  assert.equal(await a.holder(), a.token);
  const ttl = await db.redis.pttl(k);
  assert.ok(ttl > 55_000 && ttl <= 60_000, `ttl ${ttl}`);

  await b.release();
  assert.equal(await a.holder(), a.token, "another holder's release leaves the lease alone");
  assert.equal(await b.renew(), false, "another holder's renewal does not extend it");

  await a.release();
  assert.equal(await a.holder(), undefined);
  assert.equal((await b.tryAcquire()).acquired, true);
  await b.release();
});

test('renewal extends only a lease still held; once expired and taken over, the old holder cannot renew or release', async () => {
  const k = key();
  const a = createLease(db.redis, k, 60_000);
  assert.equal((await a.tryAcquire()).acquired, true);
  await db.redis.pexpire(k, 1_000);
  assert.equal(await a.renew(), true);
  assert.ok((await db.redis.pttl(k)) > 55_000, 'renewed to the full ttl');

  // Expiry (what a stalled holder meets), then a successor.
  await db.redis.del(k);
  assert.equal(await a.renew(), false, 'an expired lease is not renewed back into existence');
  assert.equal(await db.redis.exists(k), 0);
  const b = createLease(db.redis, k, 60_000);
  assert.equal((await b.tryAcquire()).acquired, true);
  assert.equal(await a.renew(), false);
  await a.release();
  assert.equal(await b.holder(), b.token);
  await b.release();
});

test('a ttl that is not a positive integer is refused', () => {
  assert.throws(() => createLease(db.redis, key(), 0), RangeError);
  assert.throws(() => createLease(db.redis, key(), 1.5), RangeError);
});

test('a crashed holder on this host is recognised; takeOver replaces only the named stale token, and tryAcquire takes such a lease over by itself', async () => {
  // A pid that ran and is gone: a child that exited.
  const gone = spawnSync(process.execPath, ['-e', '0']).pid;
  assert.equal(holderGone(`${hostname()}:${gone}#x`), true);
  assert.equal(holderGone(`${hostname()}:${process.pid}#x`), false, 'this process');
  assert.equal(holderGone(`${hostname()}:${process.ppid}#x`), false, 'a live process');
  assert.equal(holderGone(`elsewhere.example:${gone}#x`), false, 'another host: cannot tell');
  assert.equal(holderGone('not a token'), false);

  const k = key();
  await db.redis.set(k, `${hostname()}:${gone}#old`, 'PX', 60_000);
  const b = createLease(db.redis, k, 30_000);
  assert.equal(await b.takeOver(`${hostname()}:${gone}#other`), false, 'a token that does not hold it');
  assert.equal(await b.takeOver(`${hostname()}:${gone}#old`), true);
  assert.equal(await b.holder(), b.token);
  const ttl = await db.redis.pttl(k);
  assert.ok(ttl > 25_000 && ttl <= 30_000, `ttl ${ttl}`);
  await b.release();

  // tryAcquire does the same by itself: a gone holder's lease is taken over, a live one's is not.
  await db.redis.set(k, `${hostname()}:${gone}#crashed`, 'PX', 60_000);
  const c = createLease(db.redis, k, 30_000);
  assert.deepEqual(await c.tryAcquire(), { acquired: true, tookOverFrom: `${hostname()}:${gone}#crashed` });
  assert.equal(await c.holder(), c.token);
  await c.release();
  const live = `${hostname()}:${process.ppid}#running`;
  await db.redis.set(k, live, 'PX', 60_000);
  assert.deepEqual(await c.tryAcquire(), { acquired: false, holder: live });
  await db.redis.del(k);
});
