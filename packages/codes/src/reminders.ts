import type { Ledger } from '@breachwave/ledger';
import { BreachwaveError } from '@breachwave/domain';
import { epochDay } from './dates.js';
import { accountOfPersonKey, personKey, type Assignment, type CodeStore } from './store.js';

/** An account to remind: its code is unredeemed and its enroll-by date is near. No code, only the mask. */
export interface ReminderTarget {
  readonly accountId: string;
  /** The wave that issued the code. */
  readonly waveId: string;
  readonly enrollBy: string;
  readonly daysLeft: number;
  readonly codeMasked: string;
}

/** Options for {@link reminderTargets}. */
export interface ReminderOptions {
  /** Remind when the enroll-by date is at most this many days away (and not passed). */
  readonly days: number;
  /** Only the accounts of this wave (through its ledger); default every holder in the deployment. */
  readonly waveId?: string;
  /** Needed with `waveId`. */
  readonly ledger?: Pick<Ledger, 'entries'>;
  /** HSCAN page size. Default 1000. */
  readonly count?: number;
}

/**
 * Accounts whose code is unredeemed and whose enroll-by date falls within `days` from today:
 * the targets of a reminder wave. Streams in bounded memory (HSCAN of the assignments, or of the
 * wave's ledger), checking redemptions a page at a time.
 */
export async function* reminderTargets(store: CodeStore, options: ReminderOptions): AsyncGenerator<ReminderTarget> {
  const { redis, keys, now, toAssignment } = store.internals;
  const today = epochDay(now());
  const last = today + options.days;
  const count = options.count ?? 1000;

  const filter = async function* (page: Assignment[]): AsyncGenerator<ReminderTarget> {
    const due = page.filter((a) => a.enrollByDay >= today && a.enrollByDay <= last);
    if (due.length === 0) return;
    const redeemed = await redis.hmget(keys.redeemed, ...due.map((a) => a.hash));
    for (const [i, a] of due.entries()) {
      if (redeemed[i]) continue;
      yield { accountId: accountOfPersonKey(a.personKey), waveId: a.waveId, enrollBy: a.enrollBy, daysLeft: a.enrollByDay - today, codeMasked: a.masked };
    }
  };

  if (options.waveId !== undefined) {
    if (!options.ledger) throw new TypeError('reminderTargets: a ledger is needed to select a wave');
    const wave = options.waveId;
    let keysOfPage: string[] = [];
    const readPage = async (): Promise<Assignment[]> => {
      const jsons = keysOfPage.length ? await redis.hmget(keys.assign, ...keysOfPage) : [];
      const page = keysOfPage.flatMap((key, i) => (jsons[i] ? [toAssignment(key, jsons[i])] : []));
      keysOfPage = [];
      return page;
    };
    for await (const [accountId, entry] of options.ledger.entries(wave, count)) {
      const issued = entry['issue-code'];
      if (issued?.s !== 'done') continue;
      keysOfPage.push(personKey(issued.sc === 'w' ? 'wave' : 'person', wave, accountId));
      if (keysOfPage.length >= count) yield* filter(await readPage());
    }
    yield* filter(await readPage());
    return;
  }

  let cursor = '0';
  do {
    const [next, flat] = await redis.hscan(keys.assign, cursor, 'COUNT', count);
    cursor = next;
    const page: Assignment[] = [];
    for (let i = 0; i + 1 < flat.length; i += 2) page.push(toAssignment(flat[i] as string, flat[i + 1] as string));
    yield* filter(page);
  } while (cursor !== '0');
}

/**
 * The accounts a reminder wave for `waveId` is made of (`createReminderWave`'s `accountIds`): its
 * unredeemed code holders due within `days`. What `breachwave codes reminders --create` and
 * `POST /v1/waves/:id/reminders` both use.
 * @throws BreachwaveError BW_WAVE_NOT_FOUND; BW_INPUT_INVALID when the wave's codes are scoped to
 *   the wave (a reminder wave would issue its people new codes instead of reminding them of theirs)
 */
export async function reminderAccountIds(store: CodeStore, ledger: Pick<Ledger, 'entries' | 'getWave'>, waveId: string, days: number): Promise<AsyncGenerator<string>> {
  await ledger.getWave(waveId);
  if ((await store.scopeOf(waveId)) === 'wave') {
    throw new BreachwaveError('BW_INPUT_INVALID', { detail: `wave ${waveId} gave its accounts codes of its own (codes scope wave): a reminder wave would issue them new ones` });
  }
  return (async function* ids(): AsyncGenerator<string> {
    for await (const t of reminderTargets(store, { days, waveId, ledger })) yield t.accountId;
  })();
}
