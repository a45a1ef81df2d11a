import { access, constants } from 'node:fs/promises';
import {
  BreachwaveError, chooseChannel, maskedAccount, noticeBase, planActions, renderGroupNotice, renderNotice, smsSegments,
  type ActionName, type Channel, type GroupNoticeAccount, type Locale, type NoticeVars, type WaveManifest,
} from '@breachwave/domain';
import { keys as ledgerKeys, spoolOrdinals, type Ledger } from '@breachwave/ledger';
import { showSenderPace } from '@breachwave/pacing';
import { planSend, type QuietHoursOverrides } from '@breachwave/quiet-hours';
import type { Envelope } from '@breachwave/secrets';
import type { Redis } from 'ioredis';
import { PACE_APPLIED_FIELD } from './feed.js';
import { openContactPoints } from './contact-points.js';
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
  readonly quietHours: DryRunQuietHours | null;
  /**
   * Seconds the sends would take at the pace (the slower paced channel; an unpaced one is taken
   * as no limit), or null without any pace. Quiet-hours deferrals are not in it (see `quietHours`).
   */
  readonly estimatedSeconds: number | null;
  /** The pace (messages/s) the estimate used per channel. */
  readonly pace: { readonly sms?: number; readonly email?: number };
  /** Where each channel's pace came from. */
  readonly paceSource: { readonly sms: PaceChoice; readonly email: PaceChoice };
  readonly samples: readonly { readonly channel: Channel; readonly locale: string; readonly subject?: string; readonly text: string }[];
  /**
   * This wave's accounts that earlier waves of this deployment already notified or whose PIN they
   * already rotated (each account once, whatever the number of earlier waves), its phones and
   * emails they already notified under any account id, and per earlier wave. An approval is
   * refused, without the audited override, when any of them is not 0.
   */
  readonly overlap: DryRunOverlap;
}

/**
 * Where a channel's pace came from: `manifest` (the wave's planned pace for the channel's sender,
 * which the first feed writes over what is stored), `stored` (what `pace set`, a manifest of an
 * earlier feed or a notifier's BW_SMS_RATE/BW_EMAIL_RATE wrote for the sender: what the notifiers
 * pace by), `fallback` (the caller's pace, `from` naming it: a flag or BW_SMS_RATE/BW_EMAIL_RATE,
 * when the sender has none stored or planned), or `none`.
 */
export interface PaceChoice {
  readonly rate: number | null;
  readonly source: 'manifest' | 'stored' | 'fallback' | 'none';
  /** The sender id (`twilio:…`, `smtp:host:port`), when the caller named the senders. */
  readonly sender?: string;
  readonly from?: string;
}

/**
 * The SMS notices quiet hours would hold, in a simple model: the SMS notices go out one after
 * another from `startAt` at the SMS pace (all at `startAt` without one), each in the spool's
 * order; a notice whose send time falls outside its recipient's window (zone from the account,
 * else the phone's area code, else the wave's default, as the notifier finds it) is deferred.
 */
export interface DryRunQuietHours {
  readonly defaultZone: string;
  readonly window?: { readonly start: string; readonly end: string };
  readonly startAt: string;
  /** SMS notices that would be deferred. */
  readonly deferred: number;
  /** The longest a deferred notice would wait past its turn, in seconds (0 with none deferred). */
  readonly maxDelaySeconds: number;
  /** False when the dry run could not open contact points (no envelope): the phone's area code was not used, only the account's zone or the wave's default. */
  readonly areaCodes: boolean;
}

export interface DryRunOptions {
  /**
   * The pace to use for a channel whose sender has none stored or planned (BW_SMS_RATE /
   * BW_EMAIL_RATE, or a flag), and what to call it in the report (`from`).
   */
  readonly fallback?: { readonly sms?: number; readonly email?: number };
  readonly fallbackFrom?: { readonly sms?: string; readonly email?: string };
  /** Where the senders' paces are stored, and each channel's sender id (`senderIds`). Absent: only the fallback is used. */
  readonly pacing?: { readonly redis: Redis; readonly prefix: string; readonly senders: { readonly sms: string; readonly email: string } };
  /** Opens the accounts' contact points, for the phone's area code under quiet hours. */
  readonly envelope?: Envelope;
  /** When the sends would start (the wave's planned start); default now. */
  readonly startAt?: Date;
}

export interface DryRunOverlap {
  readonly notified: number;
  readonly rotated: number;
  /**
   * Contact points (phones, emails) of this wave's accounts that an account of an earlier wave
   * had and was notified at, whatever its account id: the same person under a new id (each
   * contact point once). Compared by keyed hash, never in clear.
   */
  readonly contacts: number;
  /** Per earlier wave with any overlap; `contacts` counts that wave's matching contact points. */
  readonly waves: readonly { readonly waveId: string; readonly notified: number; readonly rotated: number; readonly contacts: number }[];
  /**
   * Whether contact points were compared (`checked`: this wave has a contact-point file; `reason`
   * when not), and the earlier waves left out of that comparison, with why (created before
   * contact-point files existed, or without the HMAC key, or with another key, or unreadable here).
   */
  readonly contactMatching: { readonly checked: boolean; readonly reason?: string; readonly skipped: readonly { readonly waveId: string; readonly reason: string }[] };
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
 * Each channel's pace for the estimate: the wave's planned pace for the channel's sender while
 * the wave has not been fed (its first feed writes it), else the sender's stored pace, else the
 * caller's fallback.
 */
async function paceOf(waveId: string, manifest: WaveManifest, options: DryRunOptions): Promise<{ sms: PaceChoice; email: PaceChoice }> {
  const p = options.pacing;
  const applied = p ? (await p.redis.hexists(ledgerKeys(p.prefix).wave(waveId), PACE_APPLIED_FIELD)) === 1 : false;
  const choose = async (channel: Channel): Promise<PaceChoice> => {
    const sender = p?.senders[channel];
    const named = sender ? { sender } : {};
    const planned = sender ? manifest.pace?.[sender] : undefined;
    if (planned && !applied) return { rate: planned, source: 'manifest', ...named };
    const stored = p && sender ? (await showSenderPace(p, sender)).rate : null;
    if (stored) return { rate: stored, source: 'stored', ...named };
    const fallback = options.fallback?.[channel];
    if (fallback) return { rate: fallback, source: 'fallback', ...named, ...(options.fallbackFrom?.[channel] ? { from: options.fallbackFrom[channel] } : {}) };
    return { rate: null, source: 'none', ...named };
  };
  return { sms: await choose('sms'), email: await choose('email') };
}

/**
 * Reads the wave's spool once (bounded memory: counters and one entry per distinct text) and
 * reports what the wave would do, its duration estimated from each channel's pace
 * ({@link DryRunOptions}) and, under quiet hours, the SMS notices that would be deferred.
 */
export async function dryRunWave(ledger: DryRunLedger, waveId: string, options: DryRunOptions = {}): Promise<DryRunReport> {
  const wave = await ledger.getWave(waveId);
  const paceSource = await paceOf(waveId, wave.manifest, options);
  const pace = { ...(paceSource.sms.rate ? { sms: paceSource.sms.rate } : {}), ...(paceSource.email.rate ? { email: paceSource.email.rate } : {}) };
  const startAt = options.startAt ?? new Date();
  const quiet = wave.manifest.quietHours;
  const quietOverrides: QuietHoursOverrides | undefined = quiet?.window ? { default: quiet.window } : undefined;
  const deferrals = { count: 0, maxMs: 0 };
  /** The SMS notice about to go out (its place among the SMS notices): deferred when its time falls in quiet hours. */
  const quietCheck = (accountId: string, record: { timeZone?: string; contact: string; hasPhone: boolean }): void => {
    if (!quiet) return;
    const at = new Date(startAt.getTime() + (pace.sms ? (notices.sms * 1000) / pace.sms : 0));
    let phoneE164: string | undefined;
    if (options.envelope && record.hasPhone) phoneE164 = options.envelope.openJson<{ phone?: string }>(record.contact, `${waveId}:${accountId}`).phone;
    const plan = planSend({ now: at, waveDefaultZone: quiet.defaultZone, ...(record.timeZone ? { timeZone: record.timeZone } : {}), ...(phoneE164 ? { phoneE164 } : {}), ...(quietOverrides ? { overrides: quietOverrides } : {}) });
    if (plan.delayMs > 0) {
      deferrals.count++;
      deferrals.maxMs = Math.max(deferrals.maxMs, plan.delayMs);
    }
  };
  const earlier = (await ledger.listWaves(OVERLAP_WAVES)).filter((w) => w !== waveId);
  const perWave = new Map(earlier.map((w) => [w, { waveId: w, notified: 0, rotated: 0, contacts: 0 }]));
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
  let open: { channel: Channel; locale: Locale; parts: GroupNoticeAccount[]; first: { accountId: string; record: { timeZone?: string; contact: string; hasPhone: boolean } } } | undefined;
  const closeGroup = (): void => {
    if (!open) return;
    const { channel, locale, parts, first } = open;
    open = undefined;
    if (channel === 'sms') quietCheck(first.accountId, first.record);
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
      open ??= { channel, locale: record.locale as Locale, parts: [], first: { accountId, record } };
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
    if (channel === 'sms') quietCheck(accountId, record);
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
  for (const w of plain) if ((await ledger.compactedCount(w)) > 0) return dryRunWave(ledger, waveId, { ...options, startAt });
  if (index) {
    for (const w of packed) await overlapOfPacked(ledger, w, index, perWave.get(w));
    overlapNotified = index.notified.size;
    overlapRotated = index.rotated.size;
  }
  const byContact = await contactOverlap(ledger, wave.paths.contacts, earlier, perWave);
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
    quietHours: quiet
      ? {
          defaultZone: quiet.defaultZone, ...(quiet.window ? { window: quiet.window } : {}), startAt: startAt.toISOString(),
          deferred: deferrals.count, maxDelaySeconds: Math.ceil(deferrals.maxMs / 1000), areaCodes: options.envelope !== undefined,
        }
      : null,
    estimatedSeconds: seconds.length > 0 ? Math.ceil(Math.max(...seconds)) : null,
    pace,
    paceSource,
    samples: [...samples.values()],
    overlap: {
      notified: overlapNotified, rotated: overlapRotated, contacts: byContact.contacts,
      waves: [...perWave.values()].filter((w) => w.notified > 0 || w.rotated > 0 || w.contacts > 0),
      contactMatching: byContact.matching,
    },
  };
}

/** Contact hashes looked up per round trip and earlier wave. */
const CONTACT_BATCH = 500;

/** Whether a file can be read here. */
const canRead = (path: string): Promise<boolean> => access(path, constants.R_OK).then(() => true, () => false);

/**
 * The contact points of this wave (its contact-point file, `contacts`) that an earlier wave's
 * notified account had: each earlier wave's file walked once (its ordinals counted as the spool
 * gives them, so a compacted account is found too), its accounts that share a phone or email hash
 * with this wave looked up a batch at a time, and a match counted when that account's notice was
 * sent (`notify` done, as the id overlap counts it). Memory: this wave's hashes, off the heap.
 */
async function contactOverlap(ledger: DryRunLedger, contacts: string | undefined, earlier: readonly string[],
  perWave: Map<string, { contacts: number }>): Promise<{ contacts: number; matching: DryRunOverlap['contactMatching'] }> {
  const skipped: { waveId: string; reason: string }[] = [];
  if (!contacts) return { contacts: 0, matching: { checked: false, reason: 'this wave has no contact-point file (created before they existed, or without the HMAC key)', skipped } };
  if (!(await canRead(contacts))) throw new BreachwaveError('BW_INPUT_FILE', { detail: `this wave's contact-point file cannot be read here (${contacts})` });
  const mine = await openContactPoints(contacts);
  const hashes = new IdIndex();
  for await (const { hashes: hs } of mine.lines) for (const h of hs) hashes.add(h, 0);
  const matched = new IdIndex();
  for (const w of earlier) {
    const path = (await ledger.getWave(w)).paths.contacts;
    if (!path) {
      skipped.push({ waveId: w, reason: 'no contact-point file (created before they existed, or without the HMAC key)' });
      continue;
    }
    if (!(await canRead(path))) {
      skipped.push({ waveId: w, reason: `its contact-point file cannot be read here (${path})` });
      continue;
    }
    const theirs = await openContactPoints(path);
    if (theirs.keyCheck !== mine.keyCheck) {
      skipped.push({ waveId: w, reason: 'its contact points were hashed with another key' });
      continue;
    }
    const counts = perWave.get(w);
    const inWave = new IdIndex(1024);
    const ordinals = spoolOrdinals(w, ledger.shards);
    let ids: string[] = [];
    let ords: number[] = [];
    let found: string[][] = [];
    const flush = async (): Promise<void> => {
      if (ids.length === 0) return;
      const entries = await ledger.getMany(w, ids, ords);
      entries.forEach((e, i) => {
        if (e?.notify?.s !== 'done') return;
        for (const h of found[i] ?? []) {
          matched.add(h, 1);
          if (inWave.add(h, 1) === undefined && counts) counts.contacts++;
        }
      });
      ids = [];
      ords = [];
      found = [];
    };
    for await (const { accountId, hashes: hs } of theirs.lines) {
      const ordinal = ordinals.next(accountId);
      const shared = hs.filter((h) => hashes.get(h) !== undefined);
      if (shared.length === 0) continue;
      ids.push(accountId);
      ords.push(ordinal);
      found.push(shared);
      if (ids.length >= CONTACT_BATCH) await flush();
    }
    await flush();
  }
  return { contacts: matched.size, matching: { checked: true, skipped } };
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
export async function dryRunAndRecord(ledger: DryRunLedger & Pick<Ledger, 'control'>, waveId: string, actor: string, options: DryRunOptions = {}): Promise<DryRunReport> {
  const report = await dryRunWave(ledger, waveId, options);
  await ledger.control('dry-run', waveId, actor, {
    accepted: report.accepted, byChannel: report.byChannel, notices: report.notices, byAction: report.byAction, templates: report.templates.length, estimatedSeconds: report.estimatedSeconds,
    paceSource: { sms: report.paceSource.sms.source, email: report.paceSource.email.source },
    ...(report.quietHours ? { quietHoursDeferred: report.quietHours.deferred } : {}),
    overlap: { notified: report.overlap.notified, rotated: report.overlap.rotated, contacts: report.overlap.contacts, contactMatching: report.overlap.contactMatching.checked },
  }, report.accepted, { found: report.overlap.notified + report.overlap.rotated + report.overlap.contacts });
  return report;
}
