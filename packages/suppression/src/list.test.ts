import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { describe, it } from 'node:test';
import { BreachwaveError } from '@breachwave/domain';
import { dumpRedis, useRedis } from '@breachwave/testkit';
import { applyInboundSms } from './inbound.js';
import { createSuppressionList, type SuppressionList } from './list.js';
import { applyUnsubscribe, createUnsubscribeLinker } from './unsubscribe.js';
import { unsubscribeKey } from './tokens.js';

const db = useRedis();

const hmacKey = randomBytes(32);
const PHONE = '+12025550143';
const EMAIL = 'ana.test@example.com';

function fresh(): { list: SuppressionList; prefix: string } {
  const prefix = `sup${randomBytes(3).toString('hex')}`;
  return { list: createSuppressionList({ redis: db.redis, prefix, hmacKey }), prefix };
}

async function auditRecords(prefix: string): Promise<Record<string, unknown>[]> {
  const entries = await db.redis.xrange(`${prefix}:audit`, '-', '+');
  return entries.map(([, fields]) => JSON.parse(fields[1] ?? '{}') as Record<string, unknown>);
}

describe('suppression list in Redis', () => {
  it('suppresses by keyed hash of the normalised contact, per channel', async () => {
    const { list } = fresh();
    assert.equal(await list.isSuppressed('sms', PHONE), false);
    assert.equal(await list.suppress('sms', '(202) 555-0143', 'stop-keyword', { waveId: 'w1', accountId: 'a1', source: 'test' }), 'added');
    assert.equal(await list.isSuppressed('sms', PHONE), true, 'national format normalises to the same E.164');
    assert.equal(await list.isSuppressed('sms', ' +1 202 555 0143 '), true);
    assert.equal(await list.isSuppressed('email', PHONE), false, 'per channel');
    assert.equal(await list.isSuppressed('sms', '+12025550144'), false);
    assert.equal(await list.suppress('sms', PHONE, 'stop-keyword'), 'already');
    await list.suppress('email', '  Ana.Test@Example.COM ', 'unsubscribe');
    assert.equal(await list.isSuppressed('email', EMAIL), true);
    assert.deepEqual(await list.reasons('sms', PHONE), ['stop-keyword']);
  });

  it('keeps several reasons; START lifts only the self-service ones', async () => {
    const { list, prefix } = fresh();
    await list.suppress('sms', PHONE, 'stop-keyword');
    await list.suppress('sms', PHONE, 'operator');
    assert.deepEqual(await list.reasons('sms', PHONE), ['operator', 'stop-keyword']);
    const start = await applyInboundSms(list, { from: PHONE, body: 'START' });
    assert.deepEqual(start, { intent: 'opt-in', result: { outcome: 'kept', removed: ['stop-keyword'] } });
    assert.equal(await list.isSuppressed('sms', PHONE), true, 'the operator\'s suppression stays');
    const again = await applyInboundSms(list, { from: PHONE, body: 'start' });
    assert.deepEqual(again, { intent: 'opt-in', result: { outcome: 'kept', removed: [] } });
    assert.deepEqual(await list.unsuppress('sms', PHONE, { reasons: ['operator'], actor: 'operator:jo' }), { outcome: 'removed', removed: ['operator'] });
    assert.equal(await list.isSuppressed('sms', PHONE), false);
    assert.deepEqual(await list.unsuppress('sms', PHONE), { outcome: 'absent', removed: [] });
    const counts = await list.counts();
    assert.ok(counts.every((c) => c.count === 0), 'counters return to zero');
    const types = (await auditRecords(prefix)).map((r) => r.type);
    assert.deepEqual(types, ['suppression.added', 'suppression.added', 'suppression.removed', 'suppression.kept', 'suppression.removed']);
  });

  it('STOP, then START, through inbound keywords', async () => {
    const { list } = fresh();
    assert.deepEqual(await applyInboundSms(list, { from: PHONE, body: ' Stop ' }), { intent: 'opt-out', outcome: 'added' });
    assert.equal(await list.isSuppressed('sms', PHONE), true);
    assert.deepEqual(await applyInboundSms(list, { from: PHONE, body: 'stop please' }), { intent: undefined });
    assert.deepEqual(await applyInboundSms(list, { from: PHONE, body: 'HELP' }), { intent: 'help' });
    assert.deepEqual(await applyInboundSms(list, { from: PHONE, body: 'whatever', optOutType: 'START' }), { intent: 'opt-in', result: { outcome: 'removed', removed: ['stop-keyword'] } });
    assert.equal(await list.isSuppressed('sms', PHONE), false);
  });

  it('counts per channel and reason', async () => {
    const { list } = fresh();
    await list.suppress('sms', '+12025550101', '21610');
    await list.suppress('sms', '+12025550102', '21610');
    await list.suppress('email', 'b@example.com', 'hard-bounce');
    const c = await list.counts();
    assert.equal(c.find((x) => x.channel === 'sms' && x.reason === '21610')?.count, 2);
    assert.equal(c.find((x) => x.channel === 'email' && x.reason === 'hard-bounce')?.count, 1);
  });

  it('one-click unsubscribe link suppresses the email it was made for', async () => {
    const { list } = fresh();
    const key = unsubscribeKey(hmacKey);
    const link = createUnsubscribeLinker({ publicUrl: 'https://hooks.example.com', key, list, ttlSeconds: 3600 })({ waveId: 'w1', accountId: 'a1', channel: 'email', contact: EMAIL });
    assert.ok(!link.url.includes(EMAIL) && !link.url.includes('example.com/ana'), 'no contact in the link');
    const token = new URL(link.url).searchParams.get('t') ?? '';
    const first = await applyUnsubscribe(list, key, token);
    assert.equal(first.outcome, 'added');
    assert.equal(first.claims.accountId, 'a1');
    assert.equal((await applyUnsubscribe(list, key, token)).outcome, 'already', 'a second click is harmless');
    assert.equal(await list.isSuppressed('email', EMAIL), true);
    await assert.rejects(applyUnsubscribe(list, key, `${token.slice(0, -2)}AA`), (e: unknown) => e instanceof BreachwaveError && e.code === 'BW_UNSUBSCRIBE_TOKEN_INVALID');
  });

  it('rejects unknown channels and reasons with a catalog error', async () => {
    const { list } = fresh();
    await assert.rejects(list.suppress('sms', PHONE, 'because' as never), (e: unknown) => e instanceof BreachwaveError && e.code === 'BW_INPUT_INVALID');
    await assert.rejects(list.suppress('fax' as never, PHONE, 'operator'), (e: unknown) => e instanceof BreachwaveError && e.code === 'BW_INPUT_INVALID');
    await assert.rejects(list.suppressHash('email', EMAIL, 'operator'), (e: unknown) => e instanceof BreachwaveError && e.code === 'BW_INPUT_INVALID');
  });

  it('stores and audits no contact point in clear, and hashes differ per key', async () => {
    const { list, prefix } = fresh();
    await list.suppress('sms', PHONE, 'stop-keyword', { waveId: 'w1', accountId: 'a1' });
    await list.suppress('email', EMAIL, 'unsubscribe');
    await list.unsuppress('sms', PHONE);
    const everything = await dumpRedis(db.redis, prefix);
    assert.ok(everything.length > 0);
    for (const needle of [PHONE, PHONE.slice(2), '2025550143', EMAIL, 'ana.test']) assert.ok(!everything.includes(needle), `found ${needle} in Redis`);
    const records = await auditRecords(prefix);
    assert.equal(records[0]?.wave, 'w1');
    assert.equal((records[0]?.detail as Record<string, unknown>).contact, list.contactHash('sms', PHONE));
    const other = createSuppressionList({ redis: db.redis, prefix, hmacKey: randomBytes(32) });
    assert.notEqual(other.contactHash('sms', PHONE), list.contactHash('sms', PHONE));
  });
});
