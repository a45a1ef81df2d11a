import { setTimeout as sleep } from 'node:timers/promises';
import { waveClock, waveProgress, type WaveClock, type WaveProgress } from '@breachwave/ledger';
import { readContext } from './context.js';
import { formatDuration } from './report.js';

const TERMINAL = ['done', 'failed', 'skipped', 'cancelled'] as const;
/** Weight of the newest sample in the measured rate (an exponentially weighted mean). */
const RATE_WEIGHT = 0.3;

function bar(fraction: number, width = 28): string {
  const f = Math.max(0, Math.min(1, fraction));
  return `[${'#'.repeat(Math.round(f * width)).padEnd(width, '.')}] ${(f * 100).toFixed(1).padStart(5)}%`;
}

/** Per action: accounts finished of those it applies to (notify: every accepted account). */
function actionLines(p: WaveProgress): string[] {
  const lines: string[] = [];
  for (const [action, states] of Object.entries(p.actions)) {
    const planned = action === 'notify' ? p.accepted : Object.values(states).reduce((a, b) => a + b, 0);
    const finished = TERMINAL.reduce((a, s) => a + (states[s] ?? 0), 0) + (action === 'notify' ? p.cancelledUnfed : 0);
    lines.push(`  ${action.padEnd(10)} ${bar(planned > 0 ? finished / planned : 1)}  ${finished}/${planned}`);
  }
  return lines;
}

function clockLine(c: WaveClock): string {
  const deadline = c.deadline && c.timeLeftSeconds !== null
    ? `  deadline ${c.timeLeftSeconds >= 0 ? `in ${formatDuration(c.timeLeftSeconds)}` : `passed ${formatDuration(c.timeLeftSeconds)} ago`}${c.atRisk ? ' AT RISK' : ''}`
    : '';
  return `  rate ${c.ratePerSecond === null ? '-' : `${c.ratePerSecond.toFixed(1)}/s`}  ETA ${c.etaSeconds === null ? 'unknown' : c.etaSeconds === 0 ? 'done' : formatDuration(c.etaSeconds)}  notified ${c.notifiedPct}%${deadline}`;
}

/**
 * `wave watch`: live progress until the wave is complete (exit 0) or the watcher is stopped. On a
 * TTY, a bar per action redrawn in place with the rate and ETA; off a TTY (or with --json), one
 * line (or one JSON object) per interval. The rate is measured from the counters between samples.
 */
export async function waveWatch(waveId: string, opts: { interval: number; json?: boolean }): Promise<void> {
  const ctx = await readContext();
  const out = process.stdout;
  const tty = Boolean(out.isTTY) && !opts.json;
  const stop = new AbortController();
  const onSignal = (): void => stop.abort();
  process.once('SIGINT', onSignal);
  process.once('SIGTERM', onSignal);
  let previous: { at: number; finished: number } | undefined;
  let rate: number | undefined;
  let drawn = 0;
  try {
    for (;;) {
      const [p, wave] = await Promise.all([waveProgress(ctx.ledger, waveId), ctx.ledger.getWave(waveId)]);
      const now = new Date();
      if (previous && now.getTime() > previous.at) {
        const sample = Math.max(0, p.finished - previous.finished) / ((now.getTime() - previous.at) / 1000);
        rate = rate === undefined ? sample : RATE_WEIGHT * sample + (1 - RATE_WEIGHT) * rate;
      }
      previous = { at: now.getTime(), finished: p.finished };
      const clock = waveClock(wave, p, now, rate);
      const state = `${p.status}${p.paused ? ' (paused)' : ''}${p.complete ? ' (complete)' : ''}`;
      if (opts.json) {
        out.write(`${JSON.stringify({ at: now.toISOString(), waveId, status: p.status, paused: p.paused, complete: p.complete, accepted: p.accepted, fed: p.fed, finished: p.finished, actions: p.actions, sent: p.sent, clock })}\n`);
      } else if (tty) {
        const lines = [`wave ${waveId}: ${state}  queued ${p.fed}/${p.accepted}`, ...actionLines(p), clockLine(clock)];
        if (drawn > 0) out.write(`\x1b[${drawn}A`);
        for (const l of lines) out.write(`\r\x1b[2K${l}\n`);
        drawn = lines.length;
      } else {
        out.write(`${now.toISOString()} wave ${waveId}: ${state}  finished ${p.finished}/${p.accepted}${clockLine(clock)}\n`);
      }
      if (p.complete || stop.signal.aborted) return;
      try {
        await sleep(opts.interval * 1000, undefined, { signal: stop.signal });
      } catch {
        return;
      }
    }
  } finally {
    process.off('SIGINT', onSignal);
    process.off('SIGTERM', onSignal);
    await ctx.close();
  }
}
