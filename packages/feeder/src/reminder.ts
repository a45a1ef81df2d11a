import { createWriteStream } from 'node:fs';
import { once } from 'node:events';
import { rm } from 'node:fs/promises';
import { randomBytes } from 'node:crypto';
import { join } from 'node:path';
import { BreachwaveError, newWaveId, type WaveManifest } from '@breachwave/domain';
import type { Ledger } from '@breachwave/ledger';
import type { Logger } from '@breachwave/logging';
import type { Envelope } from '@breachwave/secrets';
import { IdIndex } from './id-index.js';
import { SPOOL_FILE } from './ingest.js';
import { readSpool } from './spool.js';
import { makePrivateDir, openPrivateFileSync } from './private-files.js';

export interface CreateReminderWaveOptions {
  readonly ledger: Pick<Ledger, 'getWave' | 'createWave'>;
  /** The wave whose people are reminded. */
  readonly sourceWaveId: string;
  /** The accounts to remind (e.g. those whose code is unredeemed near its enroll-by date). */
  readonly accountIds: AsyncIterable<string>;
  readonly envelope: Envelope;
  readonly dataDir: string;
  readonly log: Logger;
  /** The operator creating it (who then cannot approve it). */
  readonly actor: string;
  /** Approvals it needs from other operators, as any wave. */
  readonly approvals: number;
  readonly now?: () => Date;
}

export interface CreatedReminderWave {
  readonly waveId: string;
  readonly manifest: WaveManifest;
  readonly accepted: number;
  /** Target accounts the source wave's spool does not hold (nothing is sent to them). */
  readonly notInSource: number;
}

/**
 * A reminder wave: the source wave's accounts that are named in `accountIds`, taken from its spool
 * (contact points opened and sealed again for the new wave), in the `reminder` lane, with the
 * source's code action only — no PIN is rotated again, and a person keeps the code they hold —
 * and a notice that reminds rather than announces (`reminderOf`). It then goes through the same
 * lifecycle as any wave: dry run, approval, start.
 */
export async function createReminderWave(o: CreateReminderWaveOptions): Promise<CreatedReminderWave> {
  const source = await o.ledger.getWave(o.sourceWaveId);
  const sourceSpool = source.paths.spool;
  if (!sourceSpool) throw new BreachwaveError('BW_INPUT_INVALID', { detail: `wave ${o.sourceWaveId} has no spool to take its accounts from` });
  const codeRule = source.manifest.rules['issue-code'];
  if (!codeRule || !source.manifest.codeSource) throw new BreachwaveError('BW_INPUT_INVALID', { detail: `wave ${o.sourceWaveId} issued no enrollment codes: there is nothing to remind its people of` });
  const targets = new IdIndex();
  for await (const id of o.accountIds) targets.add(id, 1);
  if (targets.size === 0) throw new BreachwaveError('BW_INPUT_INVALID', { detail: `no account of wave ${o.sourceWaveId} needs a reminder` });

  const now = (o.now ?? (() => new Date()))();
  const waveId = newWaveId(now, randomBytes(3).toString('hex'));
  const spoolDir = join(o.dataDir, 'waves', waveId);
  const spoolPath = join(spoolDir, SPOOL_FILE);
  try {
    await makePrivateDir(spoolDir);
    const out = createWriteStream(spoolPath, { fd: openPrivateFileSync(spoolPath) });
    let accepted = 0;
    for await (const entry of readSpool(sourceSpool)) {
      if (targets.get(entry.accountId) === undefined) continue;
      // Sealed records are bound to their wave: open under the source's, seal under the new one's.
      const contact = o.envelope.seal(o.envelope.open(entry.record.contact, `${o.sourceWaveId}:${entry.accountId}`), `${waveId}:${entry.accountId}`);
      if (!out.write(`${JSON.stringify({ ...entry, record: { ...entry.record, contact } })}\n`)) await once(out, 'drain');
      accepted++;
    }
    out.end();
    await once(out, 'finish');
    const { approvals: _approvals, createdBy: _createdBy, regulatory: _regulatory, name, ...inherited } = source.manifest;
    const manifest: WaveManifest = {
      ...inherited,
      waveId,
      createdAt: now.toISOString(),
      source: `reminders of ${o.sourceWaveId}`,
      name: `Reminder${name ? `: ${name}` : ` of ${o.sourceWaveId}`}`,
      rules: { 'issue-code': codeRule },
      lane: 'reminder',
      reminderOf: o.sourceWaveId,
      createdBy: o.actor,
      ...(o.approvals > 0 ? { approvals: o.approvals } : {}),
    };
    await o.ledger.createWave(manifest, { rows: accepted, accepted, rejected: 0, duplicates: 0 }, { spool: spoolPath });
    o.log.info({ waveId, sourceWaveId: o.sourceWaveId, accepted, targets: targets.size }, 'reminder wave created');
    return { waveId, manifest, accepted, notInSource: targets.size - accepted };
  } catch (err) {
    await rm(spoolDir, { recursive: true, force: true });
    throw err;
  }
}
