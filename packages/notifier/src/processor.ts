import {
  BreachwaveError, SMS_BODY_MAX_CHARS, channelsFor, firstNameOf, maskedAccount, noticeBase, renderGroupNotice, renderNotice, toBreachwaveError,
  type Channel, type GroupNoticeAccount, type EmailSender, type NoticeVars, type SendResult, type SmsSender, type WaveManifest,
} from '@breachwave/domain';
import { setTimeout as sleep } from 'node:timers/promises';
import { backoffDelay } from '@breachwave/jobs';
import type { Logger } from '@breachwave/logging';
import { PAUSE_RECHECK_MS, PermanentActionError, claimStep, deferStep, openStep, settleFailure, unmetPrerequisites } from '@breachwave/actions';
import { DEAD_LETTER_RETENTION_SECONDS, manifestCache, type AccountRecord, type GroupClaim, type LedgerEntry, type PatchValue } from '@breachwave/ledger';
import { DEFAULT_GROUP_WAIT_MS, DEFAULT_RECORD_RETRY_MS, DEFAULT_SEND_TIMEOUT_MS, PERSIST_MAX_PAUSE_MS, SETTLE_MS, fallbackAllowed, type BlockDecision, type NoticeJob, type NoticeOutcome, type NoticeProcessorDeps, type PolicyDecision, type SendContext } from './contract.js';
import { Deferred, NO_PATCH, RELEASED, TERMINAL_STATES, Waiting, claimToken, watchGate, type Attempt, type Contact, type FellBack, type Group, type Prepared, type Route, type Sent } from './attempt.js';

export * from './contract.js';

/**
 * Processes one notice job: claim in the ledger, render, apply the delivery policies, send
 * through the channel port, record.
 *
 * Exactly-once rules: a notice whose send was recorded (`done`) is never sent again. Each attempt
 * claims the notice under a token of its own and passes a fence right before it sends: an attempt
 * whose claim a later one took over (its job stalled while it still ran) sends nothing. A job
 * that finds a previous attempt which passed its fence without recording an outcome (it died
 * mid-send, or it is still sending) first waits for that send to settle (`sendTimeoutMs`), then
 * asks the provider whether it happened (`findSent`, Twilio) and records it instead of resending;
 * only when the provider cannot tell (SMTP) is the notice sent again — the one case where a
 * duplicate is possible, and it is counted (`notify:reclaimed`, `notify:ambiguous`).
 *
 * Failure classes: permanent → failed at once, after trying the other channel when the error is
 * about the contact point; transient → retry with backoff; throttled → deferred without spending
 * an attempt; ambiguous → reconciled on the next attempt.
 */
export function createNoticeProcessor(deps: NoticeProcessorDeps) {
  const actor = deps.actor ?? 'notifier';
  const random = deps.random ?? Math.random;
  const manifestOf = manifestCache(deps.ledger);
  const recordRetryMs = deps.recordRetryMs ?? DEFAULT_RECORD_RETRY_MS;
  const sendTimeoutMs = deps.sendTimeoutMs ?? DEFAULT_SEND_TIMEOUT_MS;

  /**
   * Runs a write that records what already happened at the provider, retrying it (backoff from
   * 100 ms to 5 s) while Redis fails, for up to `recordRetryMs`. Catalogued errors are not
   * retried: they are answers, not outages.
   */
  const persist = async <T>(log: Logger, what: string, write: () => Promise<T>): Promise<T> => {
    const deadline = Date.now() + recordRetryMs;
    for (let attempt = 1; ; attempt++) {
      try {
        return await write();
      } catch (err) {
        if (err instanceof BreachwaveError || Date.now() >= deadline) throw err;
        if (attempt === 1) log.warn({ err, what }, 'Redis write after an accepted send failed; keeping the outcome and retrying');
        await sleep(Math.min(PERSIST_MAX_PAUSE_MS, backoffDelay(attempt, 100, PERSIST_MAX_PAUSE_MS, random)));
      }
    }
  };

  /**
   * Runs every enricher for one account on one channel. They read independent things (a held
   * PIN, a code): together, so their reads share one write to Redis; all settle before the first
   * failure (in their order) is thrown; their results merge in their order.
   */
  const enrich = async (ctx: { waveId: string; accountId: string; entry: LedgerEntry; account: AccountRecord; channel: Channel }): Promise<Partial<NoticeVars>> => {
    const enrichers = deps.enrichers ?? [];
    const parts = enrichers.length === 0 ? [] : await Promise.allSettled(enrichers.map((e) => e.enrich(ctx)));
    let extra: Partial<NoticeVars> = {};
    for (const part of parts) {
      if (part.status === 'rejected') throw part.reason;
      extra = { ...extra, ...part.value };
    }
    return extra;
  };

  const prepare = (channel: Channel, contact: Contact, manifest: WaveManifest, account: AccountRecord, waveId: string, accountId: string, extra: Partial<NoticeVars>): Prepared => {
    const vars: NoticeVars = {
      ...extra,
      ...noticeBase(manifest),
      exposed: account.exposed,
      ...(contact.name ? { firstName: firstNameOf(contact.name) } : {}),
    };
    const reference = `${waveId}.${accountId}`;
    if (channel === 'sms') {
      if (!deps.sms) throw new BreachwaveError('BW_NO_CHANNEL', { detail: 'no SMS sender configured' });
      if (!contact.phone) throw new BreachwaveError('BW_NO_CHANNEL', { detail: 'no phone number' });
      const n = renderNotice('sms', account.locale, vars);
      if (n.channel !== 'sms') throw new Error('unreachable');
      return { channel, message: { to: contact.phone, body: n.body, reference } };
    }
    if (!deps.email) throw new BreachwaveError('BW_NO_CHANNEL', { detail: 'no email sender configured' });
    if (!contact.email) throw new BreachwaveError('BW_NO_CHANNEL', { detail: 'no email address' });
    const n = renderNotice('email', account.locale, vars);
    if (n.channel !== 'email') throw new Error('unreachable');
    const headers = deps.emailHeaders?.({ waveId, accountId, to: contact.email });
    return { channel, message: { to: contact.email, subject: n.subject, text: n.text, html: n.html, reference, ...(headers ? { headers } : {}) } };
  };

  const groupWaitMs = deps.groupWaitMs ?? DEFAULT_GROUP_WAIT_MS;
  const groupPollMs = deps.groupPollMs ?? 2000;
  /** A grouped account's wait for its lead: doubling with its claims, up to a minute, a fifth at random. */
  const memberWait = (claims: number): number => {
    const base = Math.min(60_000, groupPollMs * 2 ** Math.min(6, Math.max(0, claims - 1)));
    return base + Math.floor(random() * base * 0.2);
  };

  /**
   * A consolidated notice's text: every account named, masked, with its own exposed data and its
   * own remediation (each account's enrichers run with its own entry and record). The lead's
   * locale; no first name (the accounts' holders may differ).
   */
  const prepareGroup = async (channel: Channel, contact: Contact, manifest: WaveManifest, waveId: string, lead: { accountId: string; account: AccountRecord; entry: LedgerEntry; extra: Partial<NoticeVars> },
    members: readonly GroupClaim[]): Promise<{ prepared: Prepared; named: number }> => {
    const parts: GroupNoticeAccount[] = [{ label: maskedAccount(lead.accountId), exposed: lead.account.exposed, ...lead.extra }];
    for (const m of members) {
      const record = m.account;
      if (!record) throw new BreachwaveError('BW_ACCOUNT_NOT_FOUND', { detail: 'account record of a grouped account missing' });
      const extra = await enrich({ waveId, accountId: m.accountId, entry: m.all ?? {}, account: record, channel });
      parts.push({ label: maskedAccount(m.accountId), exposed: record.exposed, ...extra });
    }
    const base = noticeBase(manifest);
    const reference = `${waveId}.${lead.accountId}`;
    if (channel === 'sms') {
      if (!deps.sms) throw new BreachwaveError('BW_NO_CHANNEL', { detail: 'no SMS sender configured' });
      if (!contact.phone) throw new BreachwaveError('BW_NO_CHANNEL', { detail: 'no phone number' });
      // Too long for one message (many accounts, each with its own PIN and code): the accounts
      // at the end are left for a notice of their own.
      for (let named = parts.length; named > 1; named--) {
        const n = renderGroupNotice('sms', lead.account.locale, base, parts.slice(0, named));
        if (n.channel !== 'sms') throw new Error('unreachable');
        if (n.body.length <= SMS_BODY_MAX_CHARS || named === 2) return { prepared: { channel, message: { to: contact.phone, body: n.body, reference } }, named: named - 1 };
      }
      throw new Error('unreachable');
    }
    if (!deps.email) throw new BreachwaveError('BW_NO_CHANNEL', { detail: 'no email sender configured' });
    if (!contact.email) throw new BreachwaveError('BW_NO_CHANNEL', { detail: 'no email address' });
    const n = renderGroupNotice('email', lead.account.locale, base, parts);
    if (n.channel !== 'email') throw new Error('unreachable');
    const headers = deps.emailHeaders?.({ waveId, accountId: lead.accountId, to: contact.email });
    return { prepared: { channel, message: { to: contact.email, subject: n.subject, text: n.text, html: n.html, reference, ...(headers ? { headers } : {}) } }, named: members.length };
  };

  /**
   * The notice, phase by phase: claim → choose channel (and, for a consolidated notice, its
   * group) → for each channel tried: enrich → render → policies and the wave gate → send →
   * record. Any failure is settled by the step engine (`settleFailure`): retry, throttle wait or
   * dead letter, the group released or ended with it.
   */
  return async function processNotice(job: NoticeJob): Promise<NoticeOutcome> {
    const a = await claimNotice(job);
    if ('status' in a) return a;
    try {
      const route = await chooseChannels(a);
      const waiting = await formGroup(a, route);
      if (waiting) return waiting;
      return await deliver(a, route);
    } catch (raw) {
      return settle(a, raw);
    }
  };

  /**
   * Phase 1, claim: under this attempt's own token (`ct`), the account's sealed record read by
   * the same script. An account held by its consolidated notice's lead waits for it; one whose
   * previous attempt passed its fence and recorded no outcome waits for that send to settle.
   */
  async function claimNotice(job: NoticeJob): Promise<Attempt | NoticeOutcome> {
    const opened = openStep(job, 'notify', { log: deps.log, actor }, { bindAction: false });
    const { waveId, accountId, log, base } = opened;
    // This attempt's claim token: its fence before a send, and the guard on what it records
    // unless it sent, fail once a later attempt has claimed the notice.
    const token = claimToken();
    const claim = await claimStep(deps.ledger, opened, job, { patch: { ct: token }, withAccount: true, unlessHeld: 'gl' });
    if (claim.outcome === 'held') {
      // The lead of this account's consolidated notice holds it for a send: it settles it, unless
      // the lead's own notice ended without it (dead-lettered by the recovery sweep, say): then the
      // hold is released here and the next attempt goes on without that lead.
      const holder = typeof claim.entry?.gl === 'string' ? claim.entry.gl : undefined;
      const lead = holder ? (await deps.ledger.get(waveId, holder))?.notify : undefined;
      if (!lead || TERMINAL_STATES.has(lead.s)) {
        const held = typeof claim.entry?.ct === 'string' ? claim.entry.ct : '';
        await deps.ledger.transition({ ...base, from: ['claimed'], to: 'pending', guard: held, patch: RELEASED, event: 'notify.released', detail: { reason: 'lead finished without it', lead: holder ?? null } });
        return job.defer(groupPollMs);
      }
      log.debug('held by its consolidated notice\'s lead; waiting');
      return job.defer(memberWait(claim.entry?.n ?? 1));
    }
    if (claim.outcome === 'rejected') {
      // The worker says it once per job (createActionWorker), however many accounts it holds.
      log.debug({ state: claim.previous }, 'notice already finished; nothing to send');
      return { status: 'already-finished', state: claim.previous ?? 'unknown' };
    }
    const prior = claim.entry;
    // A previous attempt that passed its fence (`sa`) and recorded no outcome may have reached
    // the provider: it died mid-send, or it is still sending. One that got no answer after
    // sending is counted in `amb`. One that never passed its fence sent nothing, and cannot now.
    const armedBefore = claim.previous === 'claimed' && typeof prior?.sa === 'number';
    const unsure = armedBefore || (prior?.amb ?? 0) > 0;
    if (claim.previous === 'claimed') {
      await deps.ledger.audit({ type: 'notify.reclaimed', actor, wave: waveId, account: accountId, action: 'notify', detail: { sending: armedBefore } });
      log.warn({ sending: armedBefore }, 're-claiming a notice whose previous attempt recorded no outcome');
    }
    if (armedBefore) {
      // Let a send still under way finish and record itself before asking the provider about it.
      const nowMs = Date.now();
      let until = typeof prior?.hu === 'number' ? prior.hu : undefined;
      if (until === undefined) {
        until = Math.max((prior?.sa as number) + sendTimeoutMs, nowMs + SETTLE_MS);
        await deps.ledger.fence(waveId, accountId, 'notify', token, { hu: until });
      }
      if (nowMs < until) {
        log.info({ waitMs: until - nowMs }, 'waiting for the previous attempt\'s send to settle');
        return job.defer(until - nowMs);
      }
    }
    return { job, opened, waveId, accountId, log, token, guarded: { ...base, guard: token }, claim, prior, armedBefore, unsure };
  }

  /** Phase 2, choose channel: the contact opened, the order invariant checked, the channels to try in order (the domain's rule). */
  async function chooseChannels(a: Attempt): Promise<Route> {
    const { waveId, accountId, prior } = a;
    const account = a.claim.account;
    if (!account) throw new BreachwaveError('BW_ACCOUNT_NOT_FOUND', { detail: 'account record missing' });
    const contact = deps.envelope.openJson<Contact>(account.contact, `${waveId}:${accountId}`);
    const manifest = await manifestOf(waveId);
    // The wave's channel policy for the account's segment, among the channels that reach it.
    const reachable = channelsFor({ phone: contact.phone, phoneIsMobile: account.phoneIsMobile, email: contact.email, segment: account.segment }, manifest.channels);
    if (reachable.length === 0) throw new BreachwaveError('BW_NO_CHANNEL', ...(manifest.channels ? [{ detail: 'no channel the wave\'s channel policy allows for this segment reaches the account' }] : []));
    const entry = a.claim.all ?? {};
    const unmet = unmetPrerequisites(entry, 'notify');
    if (unmet.length > 0) {
      // Order invariant: no notice before the actions it reports on. The chain only queues a
      // notice after them, so this is a bug or a manual re-drive: fail loudly, send nothing.
      throw new BreachwaveError('BW_ORDER_VIOLATION', { detail: unmet.map((u) => `${u.action} is ${u.state}`).join(', ') });
    }
    // A re-drive after a permanent "undelivered" callback names the channel to use (`via`).
    const via = prior?.via === 'sms' || prior?.via === 'email' ? prior.via : undefined;
    const channels: Channel[] = via ? reachable.filter((c) => c === via) : reachable;
    return { account, contact, entry, manifest, channels, via };
  }

  /**
   * Phase 2b, the group: for an account whose contact point several accounts share, either it
   * leads their consolidated notice (and claims the others for it), or it waits for its lead, or
   * the lead waits for the others still in an earlier action. Answers the outcome when the
   * attempt ends here.
   */
  async function formGroup(a: Attempt, route: Route): Promise<NoticeOutcome | undefined> {
    const { waveId, accountId, prior } = a;
    const group = route.account.group;
    // A re-drive that names its channel (after a permanent "undelivered" callback) goes alone: the
    // group shares only its first channel's contact point.
    if (!group || group.length <= 1 || prior?.solo === true || prior?.via !== undefined) return undefined;
    const others = group.filter((id) => id !== accountId);
    const peers = await deps.ledger.getMany(waveId, others);
    const peer = (id: string) => peers[others.indexOf(id)]?.notify;
    // The lead: the group's first account whose notice is neither finished nor released to go alone.
    const lead = group.find((id) => id === accountId || (!TERMINAL_STATES.has(peer(id)?.s ?? 'done') && peer(id)?.solo !== true));
    if (lead !== accountId) {
      const back = await deps.ledger.transition({ ...a.guarded, from: ['claimed'], to: 'pending', event: 'notify.grouped', detail: { lead: lead ?? null } });
      if (back.outcome === 'superseded') return superseded(a);
      throw new Waiting(memberWait(prior?.n ?? 1));
    }
    // A send that may have happened is reconciled or repeated for exactly the accounts it named.
    const named = a.unsure && typeof prior?.gm === 'string' && prior.gm !== '' ? prior.gm.split(',') : undefined;
    const pool = named ?? others;
    const late = pool.filter((id) => {
      const p = peer(id);
      if (!p || TERMINAL_STATES.has(p.s) || p.solo === true) return false;
      if (p.s === 'claimed' && p.gl === undefined) return true;
      const e = peers[others.indexOf(id)];
      return e !== undefined && unmetPrerequisites(e, 'notify').length > 0;
    });
    const since = typeof prior?.gw === 'number' ? prior.gw : Date.now();
    if (late.length > 0 && !named && Date.now() - since < groupWaitMs) {
      // Some accounts of the group are still in an earlier action: the notice waits for them.
      const waiting = await deps.ledger.transition({ ...a.guarded, from: ['claimed'], to: 'pending', patch: { gw: since },
        event: 'notify.deferred', detail: { reason: 'group waiting', waiting: late.length }, counters: { 'notify:deferred': 1 } });
      if (waiting.outcome === 'superseded') return superseded(a);
      throw new Waiting(groupPollMs + Math.floor(random() * groupPollMs * 0.2));
    }
    const claims = await deps.ledger.claimGroup({ waveId, action: 'notify', lead: accountId, token: a.token, actor, accountIds: pool, withAccount: true, detail: { attempt: a.job.attemptsMade + 1 } });
    const members = claims.filter((c) => c.status === 'ok');
    if (members.length > 0) a.grp = { members };
    return undefined;
  }

  /**
   * Phases 3 to 7 for each channel in turn: enrich → render → policies (and the wave gate) →
   * send → record. The next channel is tried only after the previous one's contact point was
   * blocked (suppressed) or refused for good.
   */
  async function deliver(a: Attempt, route: Route): Promise<NoticeOutcome> {
    const { waveId, accountId } = a;
    const fallbackOnBlock = route.manifest.suppressedFallback ?? true;
    let lastError: BreachwaveError | undefined;
    let fellBackFrom: FellBack | undefined;
    for (const [i, ch] of route.channels.entries()) {
      if (i > 0 && !fellBackFrom) break;
      a.channel = ch;
      const extra = await enrich({ waveId, accountId, entry: route.entry, account: route.account, channel: ch });
      const { prepared, grouped } = await render(a, route, ch, extra, i === 0 ? a.grp : undefined);
      const { ctx, decision } = await applyPolicies(a, route, ch, prepared);
      if (decision?.kind === 'defer') throw new Deferred(decision.delayMs, decision.reason);
      const ended = await passGate(a, route, grouped);
      if (ended) return ended;
      const sent: Sent = decision?.kind === 'block' ? { kind: 'blocked', decision } : await send(a, ch, prepared, grouped, ctx);
      if (sent.kind === 'blocked') {
        const block = sent.decision;
        lastError = new BreachwaveError(block.code, { detail: block.reason });
        // Without a fallback the whole group is skipped (`finish`); with one, each account goes
        // its own way: the same block, then its own other channel.
        if (!fallbackOnBlock) break;
        if (grouped) await releaseGroup(a, 'notify.released', { code: block.code, reason: 'contact point blocked' }, true);
        fellBackFrom = { channel: ch, code: block.code };
        continue;
      }
      if (sent.kind === 'superseded') return superseded(a);
      if (sent.kind === 'refused') {
        const next = route.channels[i + 1];
        if (next === undefined) throw sent.error;
        lastError = sent.error;
        fellBackFrom = { channel: ch, code: sent.error.code };
        await deps.ledger.audit({ type: 'notify.fallback', actor, wave: waveId, account: accountId, action: 'notify', detail: { from: ch, to: next, code: sent.error.code } });
        a.log.info({ from: ch, errorCode: sent.error.code }, 'falling back to the other channel');
        continue;
      }
      return record(a, route, ch, ctx, sent, grouped, fellBackFrom);
    }
    // Every channel was blocked (suppressed) or failed permanently about its contact point.
    const error = lastError ?? new BreachwaveError('BW_NO_CHANNEL');
    const blocked = error.code === 'BW_SUPPRESSED';
    if (!(await finish(a, blocked ? 'skipped' : 'failed', error, fellBackFrom ? { fb: fellBackFrom.channel } : {}))) return superseded(a);
    if (blocked) return { status: 'skipped', code: error.code };
    throw new PermanentActionError(error);
  }

  /**
   * Phase 4, render: the account's notice, or its group's consolidated one. The accounts a
   * consolidated message had no room for go back to pending; the first of them leads the next
   * notice.
   */
  async function render(a: Attempt, route: Route, ch: Channel, extra: Partial<NoticeVars>, grouped: Group | undefined): Promise<{ prepared: Prepared; grouped: Group | undefined }> {
    const { waveId, accountId } = a;
    if (!grouped) return { prepared: prepare(ch, route.contact, route.manifest, route.account, waveId, accountId, extra), grouped };
    const g = await prepareGroup(ch, route.contact, route.manifest, waveId, { accountId, account: route.account, entry: route.entry, extra }, grouped.members);
    if (g.named < grouped.members.length) {
      const left = grouped.members.slice(g.named);
      a.grp = grouped = { members: grouped.members.slice(0, g.named) };
      await deps.ledger.settleGroup({ waveId, action: 'notify', lead: accountId, token: a.token, actor, to: 'pending', event: 'notify.deferred',
        accounts: left.map((m) => ({ accountId: m.accountId, patch: RELEASED, detail: { reason: 'no room in the consolidated message' } })) });
    }
    return { prepared: g.prepared, grouped };
  }

  /**
   * Phase 5, policies: in order, the first decision wins. While one waits (for a pace slot), the
   * wave's gate is watched: a pause or cancel aborts the wait.
   */
  async function applyPolicies(a: Attempt, route: Route, ch: Channel, prepared: Prepared): Promise<{ ctx: SendContext; decision: PolicyDecision | undefined }> {
    // The gate is watched only by a policy that reads the signal (one that may wait): most sends
    // (no pace set, a slot in hand) make no timer and no controller.
    let watch: ReturnType<typeof watchGate> | undefined;
    const gate = deps.gate;
    const ctx: SendContext = {
      waveId: a.waveId, accountId: a.accountId, channel: ch, to: prepared.message.to, account: route.account, manifest: route.manifest, log: a.log,
      get signal(): AbortSignal | undefined {
        if (!gate) return undefined;
        watch ??= watchGate(gate, a.waveId);
        return watch.signal;
      },
    };
    let decision: PolicyDecision | undefined;
    try {
      for (const p of deps.policies ?? []) {
        decision = await p.beforeSend?.(ctx);
        if (decision) break;
      }
    } finally {
      watch?.stop();
    }
    // A channel blocked at send time is blocked now too: it falls back at once, not after the wait.
    if (decision?.kind === 'defer') decision = (await lastLook(ctx)) ?? decision;
    return { ctx, decision };
  }

  /**
   * Every policy's `atSend` check, all started in this tick (their reads go to Redis together,
   * with whatever else the caller starts in the same tick); the first block, in policy order.
   */
  async function lastLook(ctx: SendContext): Promise<BlockDecision | undefined> {
    const checks: Promise<BlockDecision | undefined>[] = [];
    for (const p of deps.policies ?? []) if (p.atSend) checks.push(p.atSend(ctx));
    if (checks.length === 0) return undefined;
    return (await Promise.all(checks)).find((d) => d !== undefined);
  }

  /**
   * Phase 5b, the wave gate, read again right before the send (after the pace slot): a paused
   * wave's notice defers; a cancelled wave's notice ends cancelled unless an earlier action (a
   * rotated PIN, an issued code) is under way for one of its accounts: that notice still goes.
   */
  async function passGate(a: Attempt, route: Route, grouped: Group | undefined): Promise<NoticeOutcome | undefined> {
    if (!deps.gate) return undefined;
    const { waveId, accountId } = a;
    const wave = await deps.gate(waveId);
    const underWay = [route.entry, ...(grouped?.members.map((m) => m.all ?? {}) ?? [])].some((e) => Object.keys(e).some((x) => x !== 'notify'));
    if (wave.status === 'cancelled' && !underWay && grouped) {
      const ended = await deps.ledger.settleGroup({ waveId, action: 'notify', lead: accountId, token: a.token, actor, to: 'cancelled', event: 'notify.cancelled',
        accounts: groupIds(a).map((id) => ({ accountId: id, patch: { gl: false }, detail: { reason: 'wave-cancelled' } })) });
      return ended.outcome === 'superseded' ? superseded(a) : { status: 'cancelled' };
    }
    if (wave.status === 'cancelled' && !underWay) {
      const ended = await deps.ledger.transition({ ...a.guarded, from: ['claimed'], to: 'cancelled', event: 'notify.cancelled', detail: { reason: 'wave-cancelled' } });
      return ended.outcome === 'superseded' ? superseded(a) : { status: 'cancelled' };
    }
    if (wave.paused && wave.status !== 'cancelled') {
      const wait = deps.pauseRecheckMs ?? PAUSE_RECHECK_MS;
      throw new Deferred(wait + Math.floor(random() * wait * 0.2), 'wave paused');
    }
    return undefined;
  }

  /**
   * Phase 6, send: first, for an attempt unsure whether an earlier one sent, the provider is
   * asked (`findSent`); then the fence, past which the send cannot be taken back, with the
   * policies' last look (`atSend`, one round trip for both); then the send. A contact point
   * blocked by the last look answers `blocked`, a permanent refusal of it `refused` (another
   * channel may be tried); any other failure is thrown.
   */
  async function send(a: Attempt, ch: Channel, prepared: Prepared, grouped: Group | undefined, ctx: SendContext): Promise<Sent> {
    const { waveId, accountId, prior } = a;
    let result: SendResult | undefined;
    let reconciled = false;
    if (a.unsure && prepared.channel === 'sms' && deps.sms?.findSent && prior?.c0) {
      result = await deps.sms.findSent(prepared.message, new Date(prior.c0));
      reconciled = result !== undefined;
    }
    if (!result) {
      // The fence: from here the send cannot be taken back. A later attempt that claimed the
      // notice meanwhile owns it; this one stops without a word to the provider. The policies'
      // last look (a STOP recorded while this notice waited for its slot) goes in the same round
      // trip: it is read no earlier than the fence, and the send waits for both answers.
      const gm = grouped ? grouped.members.map((m) => m.accountId).join(',') : false;
      const [blocked, fenced] = await Promise.all([lastLook(ctx), deps.ledger.fence(waveId, accountId, 'notify', a.token, { sa: Date.now(), hu: false, gm })]);
      if (fenced !== 'ok') return { kind: 'superseded' };
      if (blocked) {
        // Nothing went out: the fence's mark goes, so no later attempt takes this for a send.
        if (await deps.ledger.fence(waveId, accountId, 'notify', a.token, { sa: false, gm: false }) !== 'ok') return { kind: 'superseded' };
        return { kind: 'blocked', decision: blocked };
      }
    }
    try {
      result ??= prepared.channel === 'sms'
        ? await (deps.sms as SmsSender).send(prepared.message)
        : await (deps.email as EmailSender).send(prepared.message);
    } catch (raw) {
      const error = toBreachwaveError(raw, ch === 'sms' ? 'BW_SMS_NETWORK' : 'BW_EMAIL_NETWORK');
      for (const p of deps.policies ?? []) await p.afterSend?.(ctx, { ok: false, error });
      if (error.kind !== 'permanent' || !fallbackAllowed(ch, error.code)) throw error;
      // The shared contact point refused for good: each account may have a channel of its own.
      if (grouped) await releaseGroup(a, 'notify.released', { code: error.code, reason: 'contact point refused' }, true);
      return { kind: 'refused', error };
    }
    return { kind: 'sent', result, reconciled };
  }

  /**
   * Phase 7, record: the provider accepted it, so from here on nothing may make it send again:
   * every write is retried through a Redis outage (`persist`). A consolidated notice records all
   * its accounts in one script; then the enrichers' after-send work (a held PIN's wipe).
   */
  async function record(a: Attempt, route: Route, ch: Channel, ctx: SendContext, sent: Extract<Sent, { kind: 'sent' }>, grouped: Group | undefined, fellBackFrom: FellBack | undefined): Promise<NoticeOutcome> {
    const { waveId, accountId, log, prior, armedBefore } = a;
    const { result, reconciled } = sent;
    for (const p of deps.policies ?? []) await persist(log, `policy ${p.name}`, async () => p.afterSend?.(ctx, { ok: true, result }));
    const counters: Record<string, number> = { [`notify:sent:${ch}`]: 1 };
    if (reconciled) counters['notify:reconciled'] = 1;
    // An earlier attempt passed its fence and never recorded an outcome: it may have sent too
    // (an email cannot be looked up): counted, as a send after no answer is.
    else if (armedBefore) counters['notify:ambiguous'] = 1;
    if (fellBackFrom) counters[`notify:fallback:${fellBackFrom.channel}-${ch}`] = 1;
    // Messages the providers accepted: fewer than the accounts sent to when notices are consolidated.
    counters[`notify:messages:${ch}`] = 1;
    const ambiguity: Record<string, PatchValue> = armedBefore && !reconciled ? { amb: (prior?.amb ?? 0) + 1 } : {};
    if (grouped) {
      const ids = groupIds(a);
      counters[`notify:sent:${ch}`] = ids.length;
      counters['notify:consolidated'] = ids.length;
      const shared = { ch, pid: result.providerId, err: false, ct: false, gl: false };
      const lead = { ...shared, sa: false, hu: false, gm: false, gw: false, ...ambiguity, ...(reconciled ? { rec: true } : {}) };
      // One script for every account of the notice, each with its own record naming the shared
      // send (its provider id and the lead): a crash after the send leaves all or none recorded.
      // Unguarded, like a single notice's `done`: the send happened, whoever holds the claim now.
      const recorded = await persist(log, 'notify.done (consolidated)', () => deps.ledger.settleGroup({ waveId, action: 'notify', lead: accountId, token: '', actor, to: 'done', event: 'notify.done',
        accounts: ids.map((id) => ({ accountId: id, patch: id === accountId ? lead : { ...shared, grp: accountId },
          detail: { channel: ch, providerId: result.providerId, status: result.status, accounts: ids.length, ...(reconciled ? { reconciled: true } : {}) } })),
        counters, releaseAccount: deps.contactRetentionSeconds ?? 0 }));
      if (recorded.skipped.length > 0) log.warn({ skipped: recorded.skipped.length }, 'accounts of a consolidated notice were no longer claimed when its send was recorded');
      for (const id of ids) for (const e of deps.enrichers ?? []) await persist(log, 'after sent', async () => e.afterSent?.({ waveId, accountId: id }));
      log.debug({ channel: ch, providerId: result.providerId, accounts: ids.length }, 'consolidated notice sent');
      return { status: 'sent', channel: ch, providerId: result.providerId, ...(reconciled ? { reconciled } : {}) };
    }
    const keepForFallback = ch === 'sms' && route.contact.email !== undefined && !route.via ? deps.fallbackWindowSeconds ?? 0 : 0;
    await persist(log, 'notify.done', () => deps.ledger.transition({ waveId, accountId, action: 'notify', actor, from: ['claimed'], to: 'done',
      releaseAccount: Math.max(deps.contactRetentionSeconds ?? 0, keepForFallback),
      patch: { ch, pid: result.providerId, err: false, ct: false, sa: false, hu: false, ...ambiguity, ...(fellBackFrom ? { fb: fellBackFrom.channel, fbErr: fellBackFrom.code } : {}), ...(reconciled ? { rec: true } : {}) },
      event: 'notify.done', detail: { channel: ch, providerId: result.providerId, status: result.status, ...(fellBackFrom ? { fallbackFrom: fellBackFrom.channel, fallbackCode: fellBackFrom.code } : {}), ...(reconciled ? { reconciled: true } : {}) },
      counters }));
    for (const e of deps.enrichers ?? []) await persist(log, 'after sent', async () => e.afterSent?.({ waveId, accountId }));
    // Every send is in the ledger and the audit trail already: at info, the log is for what needs a look.
    if (reconciled) log.info({ channel: ch, providerId: result.providerId }, 'notice found already sent; recorded');
    else log.debug({ channel: ch, providerId: result.providerId }, 'notice sent');
    return { status: 'sent', channel: ch, providerId: result.providerId, ...(reconciled ? { reconciled } : {}) };
  }

  /**
   * A failed attempt: a wait the ledger already explains, a deferral (quiet hours, pace, a paused
   * wave: no attempt spent, the whole group back to pending), or a failure the step engine
   * settles (retry, throttle wait, or the dead letter through `finish`).
   */
  async function settle(a: Attempt, raw: unknown): Promise<NoticeOutcome> {
    const { job, waveId, accountId } = a;
    if (raw instanceof PermanentActionError) throw raw;
    if (raw instanceof Waiting) return job.defer(raw.delayMs);
    if (raw instanceof Deferred && a.grp) {
      // The whole group waits: the lead's job comes back for all of them.
      const ids = groupIds(a);
      const deferred = await deps.ledger.settleGroup({ waveId, action: 'notify', lead: accountId, token: a.token, actor, to: 'pending', event: 'notify.deferred',
        accounts: ids.map((id) => ({ accountId: id, patch: id === accountId ? NO_PATCH : RELEASED, detail: { reason: raw.reason, delayMs: raw.delayMs } })),
        counters: { 'notify:deferred': 1 } });
      if (deferred.outcome === 'superseded') return superseded(a);
      return job.defer(raw.delayMs);
    }
    if (raw instanceof Deferred) {
      // Deferred, it throws; it answers only when a later attempt holds the claim.
      await deferStep(deps.ledger, a.opened, job, { delayMs: raw.delayMs, reason: raw.reason, guard: a.token });
      return superseded(a);
    }
    const outcome = await settleFailure(deps.ledger, a.opened, job, raw, {
      guard: a.token,
      prior: a.prior,
      maxThrottles: deps.maxThrottles,
      reconciles: true,
      where: { channel: a.channel ?? null },
      // The pace policy slows the sender meanwhile.
      throttleDelayMs: () => 500 + random() * 1500,
      fail: (error) => finish(a, 'failed', error),
      // The lead retries; the others wait for it, their claims released.
      beforeRetry: (error) => releaseGroup(a, 'notify.retry', { code: error.code, kind: error.kind }, false),
    });
    return outcome === 'superseded' ? superseded(a) : outcome;
  }

  /** What an attempt whose claim a later one took over answers: it records nothing more. */
  function superseded(a: Attempt): NoticeOutcome {
    a.log.info('a later attempt claimed this notice; this one sends and records nothing');
    return { status: 'superseded' };
  }

  /** The accounts of the attempt's group, the lead first. */
  function groupIds(a: Attempt): string[] {
    return a.grp ? [a.accountId, ...a.grp.members.map((m) => m.accountId)] : [a.accountId];
  }

  /**
   * Puts the other accounts of the group back to pending, the claim released: `solo` when each
   * must now be notified on its own (the shared contact point refused, or is suppressed, and each
   * may have another channel of its own). Nothing when a later attempt took the group over.
   */
  async function releaseGroup(a: Attempt, event: string, detail: Record<string, unknown>, solo: boolean): Promise<void> {
    if (!a.grp) return;
    const members = a.grp.members;
    a.grp = undefined;
    await deps.ledger.settleGroup({ waveId: a.waveId, action: 'notify', lead: a.accountId, token: a.token, actor, to: 'pending', event,
      accounts: members.map((m) => ({ accountId: m.accountId, patch: { gl: false, ct: false, ...(solo ? { solo: true } : {}) }, detail })) });
  }

  /** Records a final state; false when a later attempt had taken the claim over (nothing recorded). */
  async function finish(a: Attempt, to: 'failed' | 'skipped', error: BreachwaveError, patch: Record<string, PatchValue> = {}): Promise<boolean> {
    const { waveId, accountId, log } = a;
    const releaseAccount = to === 'failed' ? deps.deadLetterRetentionSeconds ?? DEAD_LETTER_RETENTION_SECONDS : 0;
    const detail = { code: error.code, kind: error.kind, providerCode: error.providerCode ?? null };
    if (a.grp) {
      // The consolidated notice ends the same way for every account it was for: one script.
      const ids = groupIds(a);
      const settled = await deps.ledger.settleGroup({ waveId, action: 'notify', lead: accountId, token: a.token, actor, to, event: `notify.${to}`,
        accounts: ids.map((id) => ({ accountId: id, patch: { ...patch, err: error.code, gl: false, gm: false, gw: false }, detail })),
        counters: { [`notify:error:${error.code}`]: ids.length }, releaseAccount });
      if (settled.outcome === 'superseded') return false;
      for (const id of ids) for (const e of deps.enrichers ?? []) await e.afterFinished?.({ waveId, accountId: id, state: to });
      log.warn({ errorCode: error.code, kind: error.kind, state: to, accounts: ids.length }, to === 'failed' ? 'consolidated notice failed for good' : 'consolidated notice skipped');
      return true;
    }
    const done = await deps.ledger.transition({ ...a.guarded, from: ['claimed'], to, patch: { ...patch, err: error.code },
      event: `notify.${to}`, detail, counters: { [`notify:error:${error.code}`]: 1 }, releaseAccount });
    if (done.outcome === 'superseded') return false;
    for (const e of deps.enrichers ?? []) await e.afterFinished?.({ waveId, accountId, state: to });
    log.warn({ errorCode: error.code, kind: error.kind, state: to }, to === 'failed' ? 'notice failed for good' : 'notice skipped');
    return true;
  }
}
