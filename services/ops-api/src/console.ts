import { createHash } from 'node:crypto';
import { roleAllows, type ApiRole } from '@breachwave/access';
import { ACTIONS, BreachwaveError, WAVE_ID_PATTERN, type ActionName } from '@breachwave/domain';
import type { DeadLetterGroup, DeadLetters } from '@breachwave/dlq';
import { waveClock, waveProgress, type Ledger, type WaveClock, type WaveProgress } from '@breachwave/ledger';
import type { Redis } from '@breachwave/redis';
import type { Queue } from 'bullmq';
import { BOARD_MANAGE_PATH, BOARD_VIEW_PATH, boardQueueKey } from './board.js';
import { escapeHtml, field, type OpsRequest, type OpsResponse } from './http.js';
import type { MountedRoute } from './run.js';

/** The wave overview page. */
export const WAVES_PAGE_PATH = '/waves';
export const LOGIN_PATH = '/login';
export const LOGOUT_PATH = '/logout';

const CSS = `body{font:14px/1.4 system-ui,sans-serif;margin:1.5rem;color:#111}table{border-collapse:collapse;margin:.5rem 0 1.5rem}
th,td{border:1px solid #ccc;padding:.25rem .5rem;text-align:left}th{background:#f3f3f3}.flag{font-weight:bold;color:#a00}
.ok{color:#070}nav a,nav form{margin-right:1rem;display:inline}form{display:inline}`;
/**
 * Pages run no script at all and take their one style sheet by hash: no inline script, no
 * stylesheet or image from anywhere, forms only to this origin, never framed.
 */
export const PAGE_CSP = `default-src 'none'; style-src 'sha256-${createHash('sha256').update(CSS).digest('base64')}'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'`;

function page(title: string, body: string): string {
  return `<!doctype html><html lang="en"><head><meta charset="utf-8"><title>${escapeHtml(title)}</title><style>${CSS}</style></head><body>${body}</body></html>`;
}

/** An HTML answer with the pages' CSP. */
export function htmlResponse(status: number, html: string, headers: Record<string, string> = {}): OpsResponse {
  return { status, headers: { 'Content-Type': 'text/html; charset=utf-8', 'Content-Security-Policy': PAGE_CSP, 'X-Frame-Options': 'DENY', ...headers }, body: html };
}

/** A path this site may send a browser back to after login: local, never `//host` or a scheme. */
export function safeNext(next: string | undefined): string {
  return next && /^\/(?!\/)[A-Za-z0-9._~!$&'()*+,;=:@%/?-]*$/.test(next) && !next.includes('\\') ? next : WAVES_PAGE_PATH;
}

/** The login form: an API token in, a session cookie out. */
export function loginPage(opts: { readonly next?: string; readonly error?: string } = {}): string {
  return page('breachwave — log in', `<h1>breachwave</h1>
<p>Log in with your API token (<code>breachwave token create</code>). The token is checked and forgotten: the session keeps only its name and role.</p>
${opts.error ? `<p class="flag" role="alert">${escapeHtml(opts.error)}</p>` : ''}
<form method="post" action="${LOGIN_PATH}"><input type="hidden" name="next" value="${escapeHtml(safeNext(opts.next))}">
<label>API token <input type="password" name="token" autocomplete="off" required size="50"></label> <button type="submit">Log in</button></form>`);
}

export interface ConsoleDeps {
  readonly ledger: Ledger;
  readonly redis: Redis;
  readonly prefix: string;
  readonly deadLetters: Pick<DeadLetters, 'list' | 'retry'>;
  /** Each action's queue of every shard of the accounts (`BW_SHARDS`), shard 0 first. */
  readonly queues: Readonly<Record<ActionName, readonly Queue[]>>;
  /** Seconds without a finished notice after which a wave with work waiting is flagged stuck. */
  readonly stuckAfterSeconds: number;
  readonly now?: () => Date;
}

/** One wave as the overview shows it. */
export interface WaveRow {
  readonly waveId: string;
  readonly progress: WaveProgress;
  readonly clock: WaveClock;
  readonly deadLetters: readonly DeadLetterGroup[];
  /** Accounts fed and not finished, jobs waiting, and no notice finished for `stuckAfterSeconds`. */
  readonly stuck: boolean;
  /** Seconds since a notice of the wave last finished (the ledger's `lastFinishedAt`), or since its feed began when none has; null before the feed. */
  readonly idleSeconds: number | null;
}

const duration = (s: number | null): string => {
  if (s === null) return '—';
  const sign = s < 0 ? '−' : '';
  let a = Math.abs(Math.round(s));
  const d = Math.floor(a / 86_400);
  a -= d * 86_400;
  const h = Math.floor(a / 3600);
  const m = Math.floor((a % 3600) / 60);
  return `${sign}${d > 0 ? `${d}d ` : ''}${h}h ${String(m).padStart(2, '0')}m`;
};

/**
 * The wave overview (`GET /waves`, any role) and the dead-letter re-drive its forms post
 * (`POST /waves/:id/dlq/retry`, `operator`, with the session's CSRF token). Both take the login
 * session cookie as well as a bearer token. The page runs no script; every value is escaped.
 */
export function createConsoleRoutes(deps: ConsoleDeps): Record<string, MountedRoute> {
  const now = deps.now ?? (() => new Date());

  /** Jobs waiting to run in any action queue of any shard (waiting, delayed, prioritised, paused). */
  const waitingJobs = async (): Promise<number> => {
    const counts = await Promise.all(Object.values(deps.queues).flat().map((q) => q.getJobCounts('waiting', 'delayed', 'prioritized', 'paused')));
    return counts.reduce((sum, c) => sum + Object.values(c).reduce((a, b) => a + b, 0), 0);
  };

  const rows = async (): Promise<WaveRow[]> => {
    const at = now();
    const ids = await deps.ledger.listWaves();
    const waiting = await waitingJobs();
    return Promise.all(ids.map(async (waveId) => {
      const [wave, progress] = await Promise.all([deps.ledger.getWave(waveId), waveProgress(deps.ledger, waveId)]);
      // The ledger records when a notice last finished: the clock's stuck flag and idle time come from it.
      const clock = waveClock(wave, progress, at, undefined, deps.stuckAfterSeconds);
      const anyFailed = Object.values(progress.actions).some((s) => (s.failed ?? 0) > 0);
      // Dead letters are read from the wave's ledger entries; the counters say whether there are any.
      const groups = anyFailed ? await deps.deadLetters.list({ waveId }) : [];
      return { waveId, progress, clock, deadLetters: groups, stuck: clock.stuck && waiting > 0, idleSeconds: clock.idleSeconds };
    }));
  };

  const render = (list: readonly WaveRow[], req: OpsRequest, csrf: string | undefined): string => {
    const role: ApiRole = req.role ?? 'viewer';
    const canRedrive = roleAllows(role, 'operator') && csrf !== undefined;
    const board = roleAllows(role, 'operator') ? BOARD_MANAGE_PATH : BOARD_VIEW_PATH;
    // One link per action, or, with several shards, one per shard of each action.
    const queueLinks = ACTIONS.flatMap((a) => deps.queues[a].map((q, shard, all) => {
      const key = boardQueueKey(q.name, shard);
      return `<a href="${escapeHtml(`${board}/queue/${encodeURIComponent(key)}`)}">${escapeHtml(all.length > 1 ? `${a} (shard ${shard})` : a)}</a>`;
    })).join(' · ');
    const waves = list.map((w) => {
      const p = w.progress;
      const c = w.clock;
      const done = p.actions.notify?.done ?? 0;
      const flags = [
        p.paused ? '<span class="flag">paused</span>' : '',
        w.stuck ? `<span class="flag" data-flag="stuck">stuck: nothing finished for ${escapeHtml(duration(w.idleSeconds))}</span>` : '',
        c.atRisk ? '<span class="flag">deadline at risk</span>' : '',
      ].filter(Boolean).join(' ');
      const dl = w.deadLetters.length === 0 ? '<p class="ok">No dead letters.</p>' : `<table><thead><tr><th>action</th><th>reason</th><th>accounts</th>${canRedrive ? '<th></th>' : ''}</tr></thead><tbody>${
        w.deadLetters.map((g) => `<tr><td>${escapeHtml(g.action)}</td><td><code>${escapeHtml(g.reason)}</code></td><td>${g.count}</td>${canRedrive ? `<td><form method="post" action="${escapeHtml(`${WAVES_PAGE_PATH}/${encodeURIComponent(w.waveId)}/dlq/retry`)}"><input type="hidden" name="csrf" value="${escapeHtml(csrf)}"><input type="hidden" name="action" value="${escapeHtml(g.action)}"><input type="hidden" name="reason" value="${escapeHtml(g.reason)}"><button type="submit" data-redrive="${escapeHtml(g.reason)}">Re-drive ${g.count}</button></form></td>` : ''}</tr>`).join('')
      }</tbody></table>`;
      return `<section data-wave="${escapeHtml(w.waveId)}"><h2>${escapeHtml(w.waveId)} ${flags}</h2>
<table><tbody>
<tr><th>status</th><td>${escapeHtml(p.status)}${p.paused ? ' (paused)' : ''}</td><th>paused</th><td>${p.paused ? 'yes' : 'no'}</td></tr>
<tr><th>progress</th><td>${done} done / ${p.finished} finished / ${p.accepted} accepted</td><th>fed</th><td>${p.fed}</td></tr>
<tr><th>rate</th><td>${c.ratePerSecond === null ? '—' : `${c.ratePerSecond.toFixed(2)}/s`}</td><th>ETA</th><td>${escapeHtml(duration(c.etaSeconds))}</td></tr>
<tr><th>notified</th><td>${c.notifiedPct}%</td><th>deadline</th><td>${escapeHtml(c.deadline ?? '—')} (${escapeHtml(c.timeLeftSeconds === null ? 'no clock' : `${duration(c.timeLeftSeconds)} left`)})</td></tr>
</tbody></table>
<h3>Dead letters</h3>${dl}</section>`;
    }).join('\n');
    const me = `${req.operator ?? 'unknown'} (${role})`;
    return page('breachwave — waves', `<nav><strong>breachwave</strong> <a href="${WAVES_PAGE_PATH}">Waves</a> <a href="${escapeHtml(board)}">Queues</a> Queues by action: ${queueLinks}
 <span>${escapeHtml(me)}</span>${csrf ? ` <form method="post" action="${LOGOUT_PATH}"><input type="hidden" name="csrf" value="${escapeHtml(csrf)}"><button type="submit">Log out</button></form>` : ''}</nav>
<h1>Waves</h1>${list.length === 0 ? '<p>No waves.</p>' : waves}`);
  };

  return {
    [`GET ${WAVES_PAGE_PATH}`]: {
      auth: 'viewer',
      browser: true,
      handler: async (req) => htmlResponse(200, render(await rows(), req, req.session?.csrf)),
    },
    [`POST ${WAVES_PAGE_PATH}/:id/dlq/retry`]: {
      auth: 'operator',
      browser: true,
      handler: async (req) => {
        const waveId = req.params.id ?? '';
        if (!WAVE_ID_PATTERN.test(waveId)) throw new BreachwaveError('BW_INPUT_INVALID', { detail: 'wave id' });
        const form = req.form();
        const action = field(form, 'action');
        const reason = field(form, 'reason');
        if (!action || !(ACTIONS as readonly string[]).includes(action) || !reason || reason.length > 200) {
          throw new BreachwaveError('BW_INPUT_INVALID', { detail: 'a re-drive names an action and a reason' });
        }
        await deps.ledger.getWave(waveId);
        const r = await deps.deadLetters.retry({ waveId, reason, action: action as ActionName }, `operator:${req.operator ?? 'unknown'}`);
        req.log.info({ waveId, action, reason, ...r }, 'dead letters re-driven from the overview');
        return { status: 303, headers: { Location: `${WAVES_PAGE_PATH}#${encodeURIComponent(waveId)}` }, body: '' };
      },
    },
  };
}
