/**
 * What one attempt at a notice carries from phase to phase, and the small pieces the phases share:
 * claim tokens, the wave-gate watch, and the two ways a phase asks the job to wait.
 */
import { randomFillSync } from 'node:crypto';
import type { BreachwaveError, Channel, EmailMessage, ErrorCode, SendResult, SmsMessage, WaveManifest } from '@breachwave/domain';
import type { Logger } from '@breachwave/logging';
import type { OpenedStep, WaveGateState } from '@breachwave/actions';
import type { AccountRecord, ActionEntry, GroupClaim, LedgerEntry, PatchValue, TransitionResult } from '@breachwave/ledger';
import type { BlockDecision, NoticeJob } from './contract.js';

/** The other accounts a consolidated notice's lead claimed for one send. */
export interface Group {
  readonly members: readonly GroupClaim[];
}

/** A notice rendered for one channel, ready for its port. */
export type Prepared = { channel: 'sms'; message: SmsMessage } | { channel: 'email'; message: EmailMessage };

/** One attempt at one notice, from its claim on: what every phase reads, and the group it leads. */
export interface Attempt {
  readonly job: NoticeJob;
  readonly opened: OpenedStep;
  readonly waveId: string;
  readonly accountId: string;
  readonly log: Logger;
  /** This attempt's claim token: checked by its fence and by its guarded records. */
  readonly token: string;
  /** The common part of the attempt's records that must not apply once a later attempt claimed the notice. */
  readonly guarded: OpenedStep['base'] & { readonly guard: string };
  readonly claim: TransitionResult;
  /** The notice's entry as the claim found it. */
  readonly prior: ActionEntry | undefined;
  /** A previous attempt passed its fence and recorded no outcome: it may have sent. */
  readonly armedBefore: boolean;
  /** The provider is asked before sending: a previous attempt may have sent, or got no answer. */
  readonly unsure: boolean;
  /** The consolidated notice this attempt sends for its group, when it leads one. */
  grp?: Group | undefined;
  /** The channel being tried, for the failure's record. */
  channel?: Channel | undefined;
}

/** Where a notice goes: its account, its opened contact, and the channels to try, in order. */
export interface Route {
  readonly account: AccountRecord;
  readonly contact: Contact;
  readonly entry: LedgerEntry;
  readonly manifest: WaveManifest;
  readonly channels: readonly Channel[];
  /** The channel a re-drive must use, after a permanent "undelivered" callback. */
  readonly via: Channel | undefined;
}

/** The channel given up for the next one, and why. */
export interface FellBack {
  readonly channel: Channel;
  readonly code: ErrorCode;
}

/** What the send phase answers. */
export type Sent =
  | { readonly kind: 'sent'; readonly result: SendResult; readonly reconciled: boolean }
  | { readonly kind: 'superseded' }
  /** A policy's last look (`atSend`) blocked the contact point: nothing was sent. */
  | { readonly kind: 'blocked'; readonly decision: BlockDecision }
  /** The contact point was refused for good: another channel may be tried. */
  | { readonly kind: 'refused'; readonly error: BreachwaveError };

/** Decrypted contact points; lives only in memory for the length of one send. */
export interface Contact {
  readonly name?: string;
  readonly phone?: string;
  readonly email?: string;
}

export const NO_PATCH: Readonly<Record<string, PatchValue>> = {};
/** A grouped account's claim released (its lead's token and mark removed). */
export const RELEASED: Readonly<Record<string, PatchValue>> = { gl: false, ct: false };
export const TERMINAL_STATES: ReadonlySet<string> = new Set(['done', 'failed', 'skipped', 'cancelled']);

/**
 * Claim tokens: 6 random bytes each, cut from a pool filled 1,024 tokens at a time. One
 * `randomBytes(6)` per notice was 1.2% of the notifier's busy time in a notice-only profile.
 */
const TOKEN_BYTES = 6;
const tokenPool = Buffer.alloc(TOKEN_BYTES * 1024);
let tokenAt = tokenPool.length;
export function claimToken(): string {
  if (tokenAt >= tokenPool.length) {
    randomFillSync(tokenPool);
    tokenAt = 0;
  }
  tokenAt += TOKEN_BYTES;
  return tokenPool.toString('base64url', tokenAt - TOKEN_BYTES, tokenAt);
}

/** How often a notice waiting in a policy looks at its wave's gate (a cached read). */
const GATE_WATCH_MS = 500;

/** A signal aborted once the wave's gate says paused or cancelled; `stop` ends the watch. */
export function watchGate(gate: (waveId: string) => Promise<WaveGateState>, waveId: string): { readonly signal: AbortSignal; stop(): void } {
  const controller = new AbortController();
  const timer = setInterval(() => {
    gate(waveId).then((w) => {
      if (w.paused || w.status === 'cancelled') controller.abort(new Error(`wave ${w.status === 'cancelled' ? 'cancelled' : 'paused'}`));
    }, () => undefined);
  }, GATE_WATCH_MS);
  timer.unref();
  return { signal: controller.signal, stop: () => clearInterval(timer) };
}

/** The ledger already says why this attempt waits (a consolidated notice's account waiting for its group): the job only waits. */
export class Waiting extends Error {
  constructor(readonly delayMs: number) {
    super('waiting for the group');
  }
}

/** A policy said not now: the job waits `delayMs` without spending an attempt. */
export class Deferred extends Error {
  constructor(readonly delayMs: number, readonly reason: string) {
    super(`deferred: ${reason}`);
  }
}
