import { access, constants } from 'node:fs/promises';
import {
  BreachwaveError, chooseChannel, maskedAccount, noticeBase, planActions, renderGroupNotice, renderNotice, smsSegments,
  type ActionName, type Channel, type GroupNoticeAccount, type Locale, type NoticeVars, type WaveManifest,
} from '@breachwave/domain';
import { spoolOrdinals, type Ledger } from '@breachwave/ledger';
import { IdIndex } from './id-index.js';
import { readSpool } from './spool.js';

/**
 * What a wave would do, read from its spool without sending, queueing or writing anything: the
 * counts an approver needs, the notices' measured SMS segments, an estimate of the duration from
 * the pace, and one rendered sample per channel and language with every personal value masked.
 */
export interface DryRunReport {
  readonly waveId: string;
  readonly status: string;
  readonly rows: number;
  readonly accepted: number;
  readonly rejected: number;
  readonly bySegment: Readonly<Record<string, number>>;
  /** Accounts per action (notify: every account). */
  readonly byAction: Readonly<Partial<Record<ActionName, number>>>;
  /** Accounts by the channel their notice would take first (under the wave's channel policy); `none` have no contact point a channel it allows reaches. */
  readonly byChannel: { readonly sms: number; readonly email: number; readonly none: number };
  readonly byLocale: Readonly<Record<string, number>>;
  /** Distinct notice texts (channel, language, exposed categories, remediation): how many accounts get each. */
  readonly templates: readonly DryRunTemplate[];
  /** SMS segments over every SMS notice, and the longest one's, as rendered (GSM-7/UCS-2 aware); a consolidated notice counts once. */
  readonly smsSegments: { readonly total: number; readonly max: number };
  /**
   * Messages that would go out per channel: one per account, except that accounts sharing a
   * contact point get one consolidated notice. Never more than the accounts of that channel.
   */
  readonly notices: { readonly sms: number; readonly email: number };
  /** Consolidated notices (one message for two or more accounts on one contact point) and the accounts they cover. */
  readonly consolidated: { readonly notices: number; readonly accounts: number };
  /** SMS held for the recipient's local hours (the wave keeps quiet hours), or null. */
  readonly quietHours: { readonly defaultZone: string } | null;
  /** Seconds the sends would take at the given pace (the slower channel), or null without a pace. */
  readonly estimatedSeconds: number | null;
  readonly pace: { readonly sms?: number; readonly email?: number };
  readonly samples: readonly { readonly channel: Channel; readonly locale: string; readonly subject?: string; readonly text: string }[];
  /**
   * This wave's accounts that earlier waves of this deployment already notified or whose PIN they
   * already rotated (each account once, whatever the number of earlier waves), and per earlier wave.
   */
  readonly overlap: DryRunOverlap;
}

export interface DryRunOverlap {
  readonly notified: number;
  readonly rotated: number;
  readonly waves: readonly { readonly waveId: string; readonly notified: number; readonly rotated: number }[];
}

/** Earlier waves looked at for overlap (the most recent first). */
const OVERLAP_WAVES = 200;
/** Account ids looked up per round trip and earlier wave. */
const OVERLAP_BATCH = 500;

export interface DryRunTemplate {
  readonly channel: Channel;
  readonly locale: string;
  readonly exposed: readonly string[];
  readonly pinReset: boolean;
  readonly code: boolean;
  readonly accounts: number;
  /** SMS only: segments of this text. */
  readonly segments?: number;
}

/** Masked stand-ins for what a real notice would carry: the sample shows the shape, never a value. */
const MASKED = { firstName: '*******', temporaryPin: '******', enrollmentCode: '****-****-****' } as const;

/**
 * Reads the wave's spool once (bounded memory: counters and one entry per distinct text) and
 * reports what the wave would do. `pace` is messages per second per channel, for the estimate.
 */
export async function dryRunWave(ledger: DryRunLedger, waveId: string, pace: { sms?: number; email?: number } = {}): Promise<DryRunReport> {
  const wave = await ledger.getWave(waveId);
  const earlier = (await ledger.listWaves(OVERLAP_WAVES)).filter((w) => w !== waveId);
  const perWave = new Map(earlier.map((w) => [w, { waveId: w, notified: 0, rotated: 0 }]));
  // An earlier wave with compacted accounts cannot be asked by id about them (a compacted account
  // is found by its ordinal, its place in that wave's spool): its spool is walked once after this
  // one's, against an exact index of this wave's ids (the accounts found are indexed too, so each
  // counts once however many waves name it). The other waves are asked by id, a batch at a time.
  const packed = new Set<string>();
  for (const w of earlier) if ((await ledger.compactedCount(w)) > 0) packed.add(w);
  const plain = earlier.filter((w) => !packed.has(w));
  const index = packed.size > 0 ? { ids: new IdIndex(), notified: new IdIndex(), rotated: new IdIndex() } : undefined;
  let overlapNotified = 0;
  let overlapRotated = 0;
  let batch: string[] = [];
  /** One lookup per earlier wave for a batch of this wave's ids; an account counts once. */
  const lookUp = async (): Promise<void> => {
    if (batch.length === 0 || plain.length === 0) {
      batch = [];
      return;
    }
    const notified = new Set<string>();
    const rotated = new Set<string>();
    for (const w of plain) {
      const entries = await ledger.getMany(w, batch);
      const counts = perWave.get(w);
      entries.forEach((e, i) => {
        const id = batch[i] as string;
        if (e?.notify?.s === 'done') {
          notified.add(id);
          if (counts) counts.notified++;
        }
        if (e?.['rotate-pin']?.s === 'done') {
          rotated.add(id);
          if (counts) counts.rotated++;
        }
      });
    }
    if (index) {
      for (const id of notified) index.notified.add(id, 1);
      for (const id of rotated) index.rotated.add(id, 1);
    } else {
      overlapNotified += notified.size;
      overlapRotated += rotated.size;
    }
    batch = [];
  };
  const spool = wave.paths.spool;
  if (!spool) throw new BreachwaveError('BW_INPUT_INVALID', { detail: `wave ${waveId} has no spool` });
  const manifest: WaveManifest = wave.manifest;
  const bySegment: Record<string, number> = {};
  const byAction: Partial<Record<ActionName, number>> = {};
  const byLocale: Record<string, number> = {};
  const byChannel = { sms: 0, email: 0, none: 0 };
  const templates = new Map<string, DryRunTemplate & { accounts: number }>();
  const samples = new Map<string, { channel: Channel; locale: string; subject?: string; text: string }>();
  let smsTotal = 0;
  let smsMax = 0;
  const notices = { sms: 0, email: 0 };
  const consolidated = { notices: 0, accounts: 0 };
  /** The consolidated group being read (its accounts are next to one another in the spool). */
  let open: { channel: Channel; locale: Locale; parts: GroupNoticeAccount[] } | undefined;
  const closeGroup = (): void => {
    if (!open) return;
    const { channel, locale, parts } = open;
    open = undefined;
    notices[channel]++;
    consolidated.notices++;
    consolidated.accounts += parts.length;
    const n = renderGroupNotice(channel, locale, noticeBase(manifest), parts);
    const sampleKey = `${channel}|${locale}|group`;
    if (!samples.has(sampleKey)) samples.set(sampleKey, { channel, locale, ...(n.channel === 'email' ? { subject: n.subject } : {}), text: n.channel === 'sms' ? n.body : n.text });
    if (n.channel === 'sms') {
      const segments = smsSegments(n.body).segments;
      smsTotal += segments;
      smsMax = Math.max(smsMax, segments);
    }
  };

  for await (const { accountId, record } of readSpool(spool)) {
    batch.push(accountId);
    index?.ids.add(accountId, 0);
    if (batch.length >= OVERLAP_BATCH) await lookUp();
    bySegment[record.segment] = (bySegment[record.segment] ?? 0) + 1;
    byLocale[record.locale] = (byLocale[record.locale] ?? 0) + 1;
    const plan = planActions(record, manifest);
    for (const a of plan) byAction[a] = (byAction[a] ?? 0) + 1;
    const channel = chooseChannel({ ...(record.hasPhone ? { phone: '+' } : {}), phoneIsMobile: record.phoneIsMobile, ...(record.hasEmail ? { email: '@' } : {}), segment: record.segment }, manifest.channels);
    if (!channel) {
      byChannel.none++;
      continue;
    }
    const group = record.group && record.group.length > 1 && manifest.consolidate !== false ? record.group : undefined;
    byChannel[channel]++;
    const pinReset = plan.includes('rotate-pin');
    const code = plan.includes('issue-code');
    const exposed = [...record.exposed].sort();
    const key = `${channel}|${record.locale}|${exposed.join(',')}|${pinReset ? 1 : 0}|${code ? 1 : 0}`;
    let t = templates.get(key);
    if (!t) {
      const vars: NoticeVars = {
        ...noticeBase(manifest), exposed: record.exposed, firstName: MASKED.firstName,
        ...(pinReset ? { pinReset: true } : {}),
        ...(pinReset && channel === 'sms' && manifest.pinDelivery === 'sms-temporary' ? { temporaryPin: MASKED.temporaryPin } : {}),
        ...(code && manifest.enrollBy ? { enrollmentCode: MASKED.enrollmentCode, enrollBy: manifest.enrollBy } : {}),
      };
      const n = renderNotice(channel, record.locale as Locale, vars);
      const text = n.channel === 'sms' ? n.body : n.text;
      const segments = n.channel === 'sms' ? smsSegments(n.body).segments : undefined;
      t = { channel, locale: record.locale, exposed, pinReset, code, accounts: 0, ...(segments !== undefined ? { segments } : {}) };
      templates.set(key, t);
      const sampleKey = `${channel}|${record.locale}`;
      if (!samples.has(sampleKey)) samples.set(sampleKey, { channel, locale: record.locale, ...(n.channel === 'email' ? { subject: n.subject } : {}), text });
    }
    t.accounts++;
    if (group) {
      if (open && group[0] === accountId) closeGroup();
      // The masked stand-in has the label's length, so the segments measured are the real ones'.
      open ??= { channel, locale: record.locale as Locale, parts: [] };
      open.parts.push({
        label: '*'.repeat(maskedAccount(accountId).length), exposed: record.exposed,
        ...(pinReset ? { pinReset: true } : {}),
        ...(pinReset && channel === 'sms' && manifest.pinDelivery === 'sms-temporary' ? { temporaryPin: MASKED.temporaryPin } : {}),
        ...(code && manifest.enrollBy ? { enrollmentCode: MASKED.enrollmentCode, enrollBy: manifest.enrollBy } : {}),
      });
      if (group[group.length - 1] === accountId) closeGroup();
      continue;
    }
    closeGroup();
    notices[channel]++;
    if (t.segments !== undefined) {
      smsTotal += t.segments;
      smsMax = Math.max(smsMax, t.segments);
    }
  }
  closeGroup();
  await lookUp();
  // A wave asked by id that began to be compacted meanwhile may have had accounts out of reach:
  // the dry run starts over, with that wave walked by its spool.
  for (const w of plain) if ((await ledger.compactedCount(w)) > 0) return dryRunWave(ledger, waveId, pace);
  if (index) {
    for (const w of packed) await overlapOfPacked(ledger, w, index, perWave.get(w));
    overlapNotified = index.notified.size;
    overlapRotated = index.rotated.size;
  }
  // The pace is in messages: a consolidated notice is one.
  const seconds = [pace.sms && notices.sms ? notices.sms / pace.sms : undefined, pace.email && notices.email ? notices.email / pace.email : undefined]
    .filter((s): s is number => s !== undefined);
  return {
    waveId, status: wave.status,
    rows: wave.stats.rows ?? 0, accepted: wave.stats.accepted ?? 0, rejected: wave.stats.rejected ?? 0,
    bySegment, byAction, byChannel, byLocale,
    templates: [...templates.values()].sort((a, b) => b.accounts - a.accounts),
    smsSegments: { total: smsTotal, max: smsMax },
    notices,
    consolidated,
    quietHours: manifest.quietHours ? { defaultZone: manifest.quietHours.defaultZone } : null,
    estimatedSeconds: seconds.length > 0 ? Math.ceil(Math.max(...seconds)) : null,
    pace,
    samples: [...samples.values()],
    overlap: { notified: overlapNotified, rotated: overlapRotated, waves: [...perWave.values()].filter((w) => w.notified > 0 || w.rotated > 0) },
  };
}

/** What a dry run reads of the ledger. */
export type DryRunLedger = Pick<Ledger, 'getWave' | 'getMany' | 'listWaves' | 'compactedCount' | 'shards'>;

/**
 * The accounts of this wave (`index.ids`) that an earlier wave with compacted accounts notified
 * or rotated a PIN for: its spool walked with each account's ordinal, the accounts of this wave
 * looked up a batch at a time, hash and slot together.
 * @throws BreachwaveError BW_INPUT_FILE when that wave's spool cannot be read here: the overlap
 *   with it cannot be known, and a dry run never says "none" for what it could not look at.
 */
async function overlapOfPacked(ledger: DryRunLedger, w: string, index: { ids: IdIndex; notified: IdIndex; rotated: IdIndex },
  counts: { notified: number; rotated: number } | undefined): Promise<void> {
  const spool = (await ledger.getWave(w)).paths.spool;
  const ordinals = spoolOrdinals(w, ledger.shards);
  let ids: string[] = [];
  let ords: number[] = [];
  const flush = async (): Promise<void> => {
    if (ids.length === 0) return;
    const entries = await ledger.getMany(w, ids, ords);
    entries.forEach((e, i) => {
      const id = ids[i] as string;
      if (e?.notify?.s === 'done') {
        index.notified.add(id, 1);
        if (counts) counts.notified++;
      }
      if (e?.['rotate-pin']?.s === 'done') {
        index.rotated.add(id, 1);
        if (counts) counts.rotated++;
      }
    });
    ids = [];
    ords = [];
  };
  const readable = spool !== undefined && (await access(spool, constants.R_OK).then(() => true, () => false));
  if (!spool || !readable) {
    throw new BreachwaveError('BW_INPUT_FILE', { detail: `wave ${w} has compacted accounts, found only through its spool, which cannot be read here (${spool ?? 'none'}): its overlap with this wave is unknown` });
  }
  for await (const { accountId } of readSpool(spool)) {
    const ordinal = ordinals.next(accountId);
    if (index.ids.get(accountId) === undefined) continue;
    ids.push(accountId);
    ords.push(ordinal);
    if (ids.length >= OVERLAP_BATCH) await flush();
  }
  await flush();
}

/**
 * The dry run an approval needs: {@link dryRunWave}, then recorded (audited, with its summary and
 * the overlap it found) as the wave's dry run, by `actor`. What the CLI and the ops API both run.
 */
export async function dryRunAndRecord(ledger: DryRunLedger & Pick<Ledger, 'control'>, waveId: string, actor: string, pace: { sms?: number; email?: number } = {}): Promise<DryRunReport> {
  const report = await dryRunWave(ledger, waveId, pace);
  await ledger.control('dry-run', waveId, actor, {
    accepted: report.accepted, byChannel: report.byChannel, notices: report.notices, byAction: report.byAction, templates: report.templates.length, estimatedSeconds: report.estimatedSeconds,
    overlap: { notified: report.overlap.notified, rotated: report.overlap.rotated },
  }, report.accepted, { found: report.overlap.notified + report.overlap.rotated });
  return report;
}
