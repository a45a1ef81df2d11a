/**
 * Ingest: the feeder turning an affected-account file into a wave's spool (validate, normalise,
 * minimise, de-duplicate, seal contact points) — `ingestFile`, no Redis. Measures rows/s and this
 * process's RSS: at start (the runtime and the feeder's modules loaded, nothing read yet), peak
 * (sampled every 50 ms) and the kernel's high-water mark (VmHWM, Linux).
 *
 * `variant: current` runs the feeder as it is; `variant: reference` runs the frozen
 * pre-optimisation copy in `reference/` (the same file, the same run), so each optimisation's
 * effect is measured side by side rather than against a number from another day.
 * `variant: idle` only loads the modules and reports RSS: the runtime's own baseline.
 *
 * Params: { file, variant }. Prints { rows, accepted, ms, rowsPerSec, rss: {...} }. With `variants`
 * instead of `variant` (smoke runs: one process instead of one per variant), each of them in turn
 * (the RSS figures then carry what the ones before left); prints an array, one result per variant.
 */
import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { ingestFile } from '@breachwave/feeder';
import { silentLogger } from '@breachwave/logging';
import { createEnvelope } from '@breachwave/secrets';
import { childParams, emitVariants, mb, procStatus, round, startRssSampler } from './common.js';

type Variant = 'current' | 'reference' | 'idle';
type Params = { readonly file: string } & ({ readonly variant: Variant } | { readonly variants: readonly Variant[] });

const p = childParams<Params>();
const runtime = process.execArgv.some((a) => a.includes('tsx')) ? 'tsx' : 'node';

/** One variant: its result. */
async function measureVariant(variant: Variant): Promise<unknown> {
  if (variant === 'idle') {
    // Let start-up garbage settle the way it would before a real ingest starts reading.
    await new Promise((r) => setTimeout(r, 200));
    const rss = process.memoryUsage().rss;
    return { variant, runtime, rss: { startMb: mb(rss), peakMb: mb(rss), hwmMb: mb(procStatus('self')?.hwm ?? rss) } };
  }
  const dir = mkdtempSync(join(tmpdir(), 'bw-bench-ingest-'));
  try {
    const key = [{ id: 'bench', key: randomBytes(32) }];
    // Loaded only when asked for, so the current feeder's RSS does not carry the reference's modules.
    const reference = variant === 'reference'
      ? { ...(await import('./reference/ingest-v0.js')), ...(await import('./reference/envelope-v0.js')) }
      : undefined;
    const options = { file: p.file, waveId: 'wbench', log: silentLogger(), spoolDir: join(dir, 'spool') };
    const sampler = startRssSampler(50);
    const t0 = performance.now();
    const r = reference
      ? await reference.ingestFileV0({ ...options, envelope: reference.createEnvelopeV0(key), onProgress: sampler.sample })
      : await ingestFile({ ...options, envelope: createEnvelope(key), onProgress: sampler.sample });
    const ms = performance.now() - t0;
    const rss = sampler.stop();
    return {
      variant,
      runtime,
      rows: r.rows,
      accepted: r.accepted,
      rejected: r.rejected,
      duplicates: r.duplicates,
      ms: round(ms),
      rowsPerSec: round((r.rows / ms) * 1000),
      rss: { ...rss, growthMb: round(Math.max(rss.peakMb, rss.hwmMb ?? 0) - rss.startMb, 1) },
    };
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

await emitVariants(p, measureVariant);
