import { createBullBoard } from '@bull-board/api';
import { BullMQAdapter } from '@bull-board/api/bullMQAdapter';
import { FastifyAdapter } from '@bull-board/fastify';
import type { Queue } from 'bullmq';
import type { FastifyError, FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';

/** Where the queue board lives: `/queues` sends each caller to the board its role may use. */
export const BOARD_PATH = '/queues';
/** The read-only board (every role from `viewer`). */
export const BOARD_VIEW_PATH = `${BOARD_PATH}/view`;
/** The board that may retry, promote, pause and resume (`operator` and up). */
export const BOARD_MANAGE_PATH = `${BOARD_PATH}/manage`;

/**
 * The board's mutating API calls an operator may make: retry and promote jobs, pause and resume
 * queues. Everything else it offers (add a job, edit a job's data, clean, empty, obliterate, set
 * concurrency) would bypass the ledger — a job added or emptied by hand is work the ledger does
 * not know of, and edited data could carry a contact point into clear-text job storage — so it is
 * refused to every role.
 */
const ALLOWED_WRITES: readonly RegExp[] = [
  /^\/api\/queues\/(pause|resume)$/,
  /^\/api\/queues\/[^/]+\/(pause|resume|promote)$/,
  /^\/api\/queues\/[^/]+\/retry\/(failed|completed)$/,
  /^\/api\/queues\/[^/]+\/[^/]+\/(retry|promote)$/,
];

/** True when the board call `path` (below the board's base, without query) is one an operator may make with `method`. */
export function boardWriteAllowed(method: string, path: string): boolean {
  return method === 'PUT' && ALLOWED_WRITES.some((re) => re.test(path));
}

const EMAIL = /[^\s@"'<>]+@[^\s@"'<>]+\.[A-Za-z]{2,}/g;
// E.164 (+ and 8–15 digits) or a national number written with separators, e.g. (415) 555-0100.
const PHONE = /\+\d[\d\s().-]{6,18}\d|\(?\b\d{3}\)?[\s.-]\d{3}[\s.-]\d{4}\b/g;
// A value that is only digits, 4–12 of them: a PIN, a bare phone number, an SSN without dashes.
const DIGITS_ONLY = /^\d{4,12}$/;
// A value shaped like an enrollment code: 8–16 letters and digits with at least one of each, no separators.
const CODE_LIKE = /^(?=[A-Za-z0-9]*\d)(?=[A-Za-z0-9]*[A-Za-z])[A-Za-z0-9]{8,16}$/;
// Keys whose value is personal or secret whatever it looks like.
const SECRET_KEY = /phone|e-?mail|msisdn|pin|code|ssn|password|secret|token|address|contact|^to$|^from$|name$/i;
/** Keys that are references by design (the job catalog's payload) and are shown as they are. */
const ID_KEYS = new Set(['waveId', 'accountId', 'accountIds', 'spent']);

/** What a masked value is shown as. */
export const MASK = '[masked]';

/**
 * Masks anything in a job's data, return value or name that looks like a phone number, an email
 * address, a PIN or a code. Jobs carry ids only (`{ waveId, accountId(s) }` and counts), so this
 * changes nothing today; it is the guard that keeps a contact point or a secret that ever reaches
 * a job off the board. Ids under the catalog's own keys are kept when they are ids (they may end
 * in digits); every other string is checked.
 */
export function maskValue(value: unknown, key?: string): unknown {
  if (value === null || value === undefined || typeof value === 'boolean') return value;
  if (typeof value === 'number') {
    if (key !== undefined && ID_KEYS.has(key)) return value;
    return (key !== undefined && SECRET_KEY.test(key)) || DIGITS_ONLY.test(String(value)) ? MASK : value;
  }
  if (typeof value === 'string') {
    if (key !== undefined && SECRET_KEY.test(key)) return MASK;
    if (key !== undefined && ID_KEYS.has(key) && /^[A-Za-z0-9_-]{1,64}$/.test(value) && !DIGITS_ONLY.test(value)) return value;
    if (DIGITS_ONLY.test(value.trim()) || CODE_LIKE.test(value.trim())) return MASK;
    return value.replace(EMAIL, MASK).replace(PHONE, MASK);
  }
  if (Array.isArray(value)) return value.map((v) => maskValue(v, key));
  if (typeof value === 'object') {
    return Object.fromEntries(Object.entries(value as Record<string, unknown>).map(([k, v]) => [k, maskValue(v, k)]));
  }
  return MASK;
}

/** A job's name: an action name today, masked like any other text. */
function maskName(job: unknown): string {
  const name = (job as { name?: unknown } | undefined)?.name;
  return typeof name === 'string' ? String(maskValue(name)) : '';
}

/** One queue on the board: an action's queue of one shard of the accounts (`BW_SHARDS`). */
export interface BoardQueue {
  readonly queue: Queue;
  /** 0 … shards-1; every shard's queues carry the same names under prefixes of their own. */
  readonly shard: number;
  /** How many shards the deployment has: with one, the board shows the queues by their names alone. */
  readonly shards: number;
}

/**
 * The queue's key on the board (in its URLs and API paths): the queue's name for shard 0, so a
 * deployment of one shard keeps the links it always had, and `s<shard>-<name>` for the others.
 * bull-board keys queues by name, and every shard's queue of an action has the same one.
 */
export function boardQueueKey(name: string, shard: number): string {
  return shard === 0 ? name : `s${shard}-${name}`;
}

/** What the board shows as the queue's name: the name, and its shard when there are several. */
export function boardDisplayName(q: BoardQueue): string {
  return q.shards > 1 ? `${q.queue.name} (shard ${q.shard} of ${q.shards})` : q.queue.name;
}

/**
 * Mounts two bull-board instances over the same queues (every shard's, each under a key and a
 * display name of its own): a read-only one at {@link BOARD_VIEW_PATH}
 * and one at {@link BOARD_MANAGE_PATH} that may retry, promote, pause and resume. bull-board has
 * no permission per request, so the role picks the board; `guard` (run on every request under
 * {@link BOARD_PATH}) authenticates the caller and refuses what the role does not allow before
 * the board sees the request. Job data, return values and names pass through {@link maskValue}.
 */
export async function mountQueueBoard(
  app: FastifyInstance,
  deps: {
    /** Every action's queue of every shard. */
    readonly queues: readonly BoardQueue[];
    readonly guard: (req: FastifyRequest) => Promise<void>;
    /**
     * Answers a refusal from `guard`. bull-board sets an error handler of its own (a 500 for
     * anything), so a refusal is answered here rather than thrown into it.
     */
    readonly refuse: (err: FastifyError, req: FastifyRequest, reply: FastifyReply) => Promise<FastifyReply>;
  },
): Promise<void> {
  const adapters = (readOnlyMode: boolean) => deps.queues.map((q) => {
    // The adapter's prefix goes before the queue's name in its key (`boardQueueKey`).
    const a = new BullMQAdapter(q.queue, { readOnlyMode, allowRetries: !readOnlyMode, displayName: boardDisplayName(q), prefix: boardQueueKey('', q.shard) });
    a.setFormatter('data', (data) => maskValue(data));
    a.setFormatter('returnValue', (value) => maskValue(value));
    a.setFormatter('name', (job) => maskName(job));
    return a;
  });
  await app.register(async (scope) => {
    // The ops API reads bodies raw; the board's API sends JSON.
    scope.addContentTypeParser('application/json', { parseAs: 'string' }, (_req, body, done) => {
      try {
        done(null, body === '' ? {} : JSON.parse(body as string) as unknown);
      } catch {
        done(null, {});
      }
    });
    scope.addHook('onRequest', async (req, reply) => {
      try {
        await deps.guard(req);
      } catch (err) {
        return deps.refuse(err as FastifyError, req, reply);
      }
      return undefined;
    });
    for (const [path, readOnly] of [[BOARD_VIEW_PATH, true], [BOARD_MANAGE_PATH, false]] as const) {
      const serverAdapter = new FastifyAdapter();
      serverAdapter.setBasePath(path);
      createBullBoard({
        queues: adapters(readOnly),
        serverAdapter,
        options: { uiConfig: { boardTitle: readOnly ? 'breachwave (read-only)' : 'breachwave', miscLinks: [{ text: 'Waves', url: '/waves' }] } },
      });
      await scope.register(serverAdapter.registerPlugin(), { prefix: path });
    }
  });
}
