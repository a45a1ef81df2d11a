/**
 * Turns the per-run records of a benchmark run into medians, ratios to the same-run baseline,
 * target verdicts, the Markdown table, and the generated part of docs/PERFORMANCE.md.
 */
import { median, round, type RedisMemory } from './common.js';
import type { ProfileSummary } from './profile.js';

/** One section run as main.ts recorded it. */
export interface RunRecord {
  readonly section: string;
  readonly variant: string;
  readonly run: number;
  readonly ms: number;
  readonly result?: unknown;
  readonly error?: string;
  readonly redisMemory: RedisMemory;
}

type Num = number | null;
type Json = Record<string, unknown>;

/** The ratio keys `--json` promises, and the other headline figures. */
export interface Ratios {
  ingest_vs_addbulk: Num;
  notice_vs_noop: Num;
  full_vs_noop: Num;
  /**
   * Bare BullMQ plus one real `twilio` SDK send per job over bare no-op (the most `notice_vs_noop`
   * can be on this machine, with no breachwave code at all), and the two end-to-end rates over
   * that bare-send rate (what breachwave itself costs: the targets are set on these two).
   */
  send_vs_noop: Num;
  /** The same bare send through the SDK's default client (reference copy), over bare no-op. */
  send_v0_vs_noop: Num;
  notice_vs_send: Num;
  full_vs_send: Num;
  latency_vs_ceiling: Num;
  /** The full path with the provider latency, over its concurrency-bound ceiling. */
  full_latency_vs_ceiling: Num;
  /** (measured − configured) / configured, in %. */
  pace_error: Num;
}

export interface Target {
  readonly name: string;
  readonly target: string;
  readonly value: string;
  /** null: not measured in this run. */
  readonly met: boolean | null;
}

export interface BenchReport {
  readonly startedAt: string;
  readonly finishedAt: string;
  readonly settings: Json;
  readonly environment: Json;
  readonly sections: readonly string[];
  readonly results: Json;
  readonly ratios: Ratios;
  readonly rss_mb: Num;
  readonly redis_mb: Num;
  /** Slope of Redis used_memory over the whole wave, per account (its accounts finished and compacted). */
  readonly redis_bytes_per_account: Num;
  readonly pin_ms: Num;
  /** The scale section (`--only scale`): the feeder's peak RSS over `wave create` and `wave start` of the whole wave. */
  readonly scale_rss_mb: Num;
  /** The scale section: Redis `used_memory` at its peak during the wave, over its level when the section began. */
  readonly scale_redis_mb: Num;
  /** Why a figure above is null. */
  readonly reasons: Record<string, string>;
  readonly targets: readonly Target[];
  readonly profileDir?: string;
  /** `--profile`: where the notifier and the ingest spent their CPU (first run). */
  readonly profiles?: readonly ProfileSummary[];
  readonly records: readonly RunRecord[];
}

/** Reads a dotted path out of a result object. */
function at(v: unknown, path: string): unknown {
  let cur = v;
  for (const k of path.split('.')) {
    if (cur === null || typeof cur !== 'object') return undefined;
    cur = (cur as Json)[k];
  }
  return cur;
}

export function buildReport(input: {
  startedAt: string; finishedAt: string; settings: Json; environment: Json; sections: readonly string[]; records: readonly RunRecord[]; profileDir?: string;
  profiles?: readonly ProfileSummary[];
}): BenchReport {
  const { records } = input;
  const ok = (section: string, variant?: string) => records.filter((r) => r.section === section && (variant === undefined || r.variant === variant) && r.result !== undefined);
  const med = (section: string, variant: string | undefined, path: string): Num => {
    const rs = ok(section, variant);
    return rs.length === 0 ? null : median(rs.map((r) => at(r.result, path) as number | null | undefined));
  };
  const medRedis = (section: string, variant: string | undefined, key: keyof RedisMemory): Num => {
    const rs = ok(section, variant);
    return rs.length === 0 ? null : median(rs.map((r) => r.redisMemory[key]));
  };
  const ran = (section: string) => input.sections.includes(section);
  const failed = (section: string, variant?: string) => records.find((r) => r.section === section && (variant === undefined || r.variant === variant) && r.error)?.error?.split('\n')[0];
  const reasons: Record<string, string> = {};
  const why = (key: string, section: string, variant?: string, fallback?: string): void => {
    reasons[key] = !ran(section) ? `section ${section} not selected (--only)` : failed(section, variant) ? `${section} failed: ${failed(section, variant)}` : fallback ?? `${section} not available yet`;
  };

  const baseline = {
    addBulkPerSec: med('baseline', 'bullmq', 'addBulkPerSec'), noopPerSec: med('baseline', 'bullmq', 'noopPerSec'), jobs: med('baseline', 'bullmq', 'jobs'),
    concurrency: med('baseline', 'bullmq', 'concurrency'), sendPerSec: med('baseline', 'bullmq', 'sendPerSec'), sendJobs: med('baseline', 'bullmq', 'sendJobs'),
    sendWorkerCpuUsPerJob: med('baseline', 'bullmq', 'sendWorkerCpuUsPerJob'),
    sendV0PerSec: med('baseline', 'bullmq', 'sendV0PerSec'), sendV0WorkerCpuUsPerJob: med('baseline', 'bullmq', 'sendV0WorkerCpuUsPerJob'),
  };
  const ingestOf = (variant: string) => ({
    rows: med('ingest', variant, 'rows'),
    rowsPerSec: med('ingest', variant, 'rowsPerSec'),
    startRssMb: med('ingest', variant, 'rss.startMb'),
    peakRssMb: med('ingest', variant, 'rss.peakMb'),
    hwmRssMb: med('ingest', variant, 'rss.hwmMb'),
    growthMb: med('ingest', variant, 'rss.growthMb'),
  });
  const ingest = { current: ingestOf('current'), reference: ingestOf('reference'), idleRssMb: med('ingest', 'idle', 'rss.startMb') };
  const ledgerOf = (variant: string) => ({
    perSec: med('ledger', variant, 'perSec'),
    roundTripsPerAccount: med('ledger', variant, 'roundTripsPerAccount'),
    redisCpuUsPerAccount: med('ledger', variant, 'redisCpuUsPerAccount'),
    redisCommandUsecPerAccount: med('ledger', variant, 'redisCommandUsecPerAccount'),
    clientCpuUsPerAccount: med('ledger', variant, 'clientCpuUsPerAccount'),
    ledgerBytesPerAccount: med('ledger', variant, 'ledgerBytesPerAccount'),
  });
  const ledger = {
    reference: ledgerOf('reference'), current: ledgerOf('current'), folded: ledgerOf('folded'),
    'current-autopipeline': ledgerOf('current-autopipeline'), 'folded-autopipeline': ledgerOf('folded-autopipeline'),
  };
  const microOf = (part: string) => ({ items: med('micro', undefined, `${part}.items`), referenceUs: med('micro', undefined, `${part}.referenceUs`), currentUs: med('micro', undefined, `${part}.currentUs`) });
  const micro = {
    phone: microOf('phone'),
    parse: microOf('parse'),
    seal: microOf('seal'),
    dedupe: { ids: med('micro', undefined, 'dedupe.ids'), mapBytesPerId: med('micro', undefined, 'dedupe.mapBytesPerId'), indexBytesPerId: med('micro', undefined, 'dedupe.indexBytesPerId') },
  };
  const e2eVariants = [...new Set(records.filter((r) => r.section === 'e2e').map((r) => r.variant))];
  const e2e: Record<string, Json> = {};
  for (const v of e2eVariants) {
    const rs = ok('e2e', v);
    const last = rs.at(-1)?.result as Json | undefined;
    const cpuKeys = Object.keys((last?.cpuUsPerAccount as Json | undefined) ?? {});
    e2e[v] = {
      accounts: med('e2e', v, 'accounts'),
      perSec: med('e2e', v, 'perSec'),
      ceilingPerSec: med('e2e', v, 'ceilingPerSec'),
      vsCeiling: med('e2e', v, 'vsCeiling'),
      reconciled: rs.length > 0 && rs.every((r) => at(r.result, 'reconciled') === true),
      failed: med('e2e', v, 'failed'),
      auditDrainMs: med('e2e', v, 'auditDrainMs'),
      cpuUsPerAccount: Object.fromEntries(cpuKeys.map((k) => [k, med('e2e', v, `cpuUsPerAccount.${k}`)])),
      redisCallsPerAccount: med('e2e', v, 'redis.callsPerAccount'),
      redisUsecPerAccount: med('e2e', v, 'redis.usecPerAccount'),
      redisTop: (last?.redis as Json | undefined)?.top ?? [],
      redisPeakGrowthMb: medRedis('e2e', v, 'growthMb'),
    };
  }
  const latencyMs = Number(input.settings.latencyMs ?? 100);
  const pacing = {
    processes: med('pacing', undefined, 'processes'),
    configured: med('pacing', undefined, 'configured'),
    measured: med('pacing', undefined, 'measured'),
    errorPct: med('pacing', undefined, 'errorPct'),
    maxWindow: ok('pacing').length ? Math.max(...ok('pacing').map((r) => Number(at(r.result, 'maxWindow')))) : null,
    windowLimit: med('pacing', undefined, 'windowLimit'),
    neverAbove: ok('pacing').length ? ok('pacing').every((r) => Number(at(r.result, 'maxWindow')) <= Number(at(r.result, 'windowLimit')) && Number(at(r.result, 'measured')) <= Number(at(r.result, 'configured'))) : null,
  };
  const pin = { msPerPinCpu: med('pin', undefined, 'msPerPinCpu'), pins: med('pin', undefined, 'pins'), generateMs: med('pin', undefined, 'generateMs'), verifierMs: med('pin', undefined, 'verifierMs') };
  const waveRec = ok('wave').at(-1);
  const wave = waveRec
    ? {
        rows: at(waveRec.result, 'rows'),
        accepted: at(waveRec.result, 'accepted'),
        ingestRowsPerSec: at(waveRec.result, 'ingestRowsPerSec'),
        fedPerSec: at(waveRec.result, 'fedPerSec'),
        feedMs: at(waveRec.result, 'feedMs'),
        window: at(waveRec.result, 'window'),
        feederStartRssMb: at(waveRec.result, 'rss.startMb'),
        feederPeakRssMb: Math.max(Number(at(waveRec.result, 'rss.peakMb') ?? 0), Number(at(waveRec.result, 'rss.hwmMb') ?? 0)),
        redisStartMb: waveRec.redisMemory.startMb,
        redisPeakMb: waveRec.redisMemory.peakMb,
        redisGrowthMb: waveRec.redisMemory.growthMb,
        redisAtEnd: at(waveRec.result, 'redisAtEnd'),
        redisBytesPerAccount: at(waveRec.result, 'redisBytesPerAccount'),
        redisBytesPerAccountBeyondQueues: at(waveRec.result, 'redisBytesPerAccountBeyondQueues'),
      }
    : null;
  const scaleRec = ok('scale').at(-1);
  const scale = scaleRec
    ? {
        rows: at(scaleRec.result, 'rows'),
        accepted: at(scaleRec.result, 'accepted'),
        finished: at(scaleRec.result, 'finished'),
        ingestRowsPerSec: at(scaleRec.result, 'ingestRowsPerSec'),
        finishedPerSec: at(scaleRec.result, 'finishedPerSec'),
        feeder: at(scaleRec.result, 'feeder'),
        feederPeakRssMb: at(scaleRec.result, 'feeder.peakMb'),
        redis: at(scaleRec.result, 'redis'),
        redisStartMb: scaleRec.redisMemory.startMb,
        redisPeakMb: scaleRec.redisMemory.peakMb,
        redisGrowthMb: scaleRec.redisMemory.growthMb,
      }
    : null;

  const notice = (e2e['notice-0ms']?.perSec as Num | undefined) ?? null;
  const full = (e2e['full-0ms']?.perSec as Num | undefined) ?? null;
  const noticeLatency = e2e[`notice-${latencyMs}ms`];
  const fullLatency = e2e[`full-${latencyMs}ms`];
  /**
   * A ratio to the baseline: per run (the section over the baseline measured minutes before it,
   * in the same run), then the median over runs — pairing cancels part of a shared machine's drift.
   */
  const paired = (section: string, variant: string, path: string, basePath: string): Num => {
    const per = ok(section, variant).map((r) => {
      const b = ok('baseline', 'bullmq').find((x) => x.run === r.run);
      const num = at(r.result, path);
      const den = b ? at(b.result, basePath) : undefined;
      return typeof num === 'number' && typeof den === 'number' && den > 0 ? num / den : null;
    });
    const m = median(per);
    return m === null ? null : round(m, 3);
  };
  const ratios: Ratios = {
    ingest_vs_addbulk: paired('ingest', 'current', 'rowsPerSec', 'addBulkPerSec'),
    notice_vs_noop: paired('e2e', 'notice-0ms', 'perSec', 'noopPerSec'),
    full_vs_noop: paired('e2e', 'full-0ms', 'perSec', 'noopPerSec'),
    send_vs_noop: paired('baseline', 'bullmq', 'sendPerSec', 'noopPerSec'),
    send_v0_vs_noop: paired('baseline', 'bullmq', 'sendV0PerSec', 'noopPerSec'),
    notice_vs_send: paired('e2e', 'notice-0ms', 'perSec', 'sendPerSec'),
    full_vs_send: paired('e2e', 'full-0ms', 'perSec', 'sendPerSec'),
    latency_vs_ceiling: noticeLatency ? ((noticeLatency.vsCeiling as Num | undefined) ?? null) : null,
    full_latency_vs_ceiling: fullLatency ? ((fullLatency.vsCeiling as Num | undefined) ?? null) : null,
    pace_error: pacing.errorPct,
  };
  if (ratios.ingest_vs_addbulk === null) why('ingest_vs_addbulk', ingest.current.rowsPerSec === null ? 'ingest' : 'baseline');
  if (ratios.notice_vs_noop === null) why('notice_vs_noop', notice === null ? 'e2e' : 'baseline', notice === null ? 'notice-0ms' : undefined);
  if (ratios.full_vs_noop === null) why('full_vs_noop', full === null ? 'e2e' : 'baseline', full === null ? 'full-0ms' : undefined,
    full === null ? 'the full path needs services/pin-rotator and services/code-issuer (not available yet)' : undefined);
  if (ratios.send_vs_noop === null) why('send_vs_noop', 'baseline', 'bullmq', 'the bare-send phase was skipped (--send-jobs 0)');
  if (ratios.send_v0_vs_noop === null) why('send_v0_vs_noop', 'baseline', 'bullmq', 'the bare-send phase was skipped (--send-jobs 0)');
  if (ratios.notice_vs_send === null) why('notice_vs_send', notice === null ? 'e2e' : 'baseline', notice === null ? 'notice-0ms' : 'bullmq', notice === null ? undefined : 'the bare-send phase was skipped (--send-jobs 0)');
  if (ratios.full_vs_send === null) why('full_vs_send', full === null ? 'e2e' : 'baseline', full === null ? 'full-0ms' : 'bullmq', full === null ? undefined : 'the bare-send phase was skipped (--send-jobs 0)');
  if (ratios.latency_vs_ceiling === null) why('latency_vs_ceiling', 'e2e', `notice-${latencyMs}ms`);
  if (ratios.full_latency_vs_ceiling === null) why('full_latency_vs_ceiling', 'e2e', `full-${latencyMs}ms`);
  if (ratios.pace_error === null) why('pace_error', 'pacing', undefined, 'test/bench/pacing.ts is not available yet');

  const peaks = [ingest.current.peakRssMb, ingest.current.hwmRssMb, wave?.feederPeakRssMb ?? null].filter((x): x is number => typeof x === 'number');
  const rss_mb = peaks.length > 0 ? Math.max(...peaks) : null;
  if (rss_mb === null) why('rss_mb', 'ingest');
  const redis_mb = wave ? wave.redisGrowthMb : null;
  if (redis_mb === null) why('redis_mb', 'wave');
  const pin_ms = pin.msPerPinCpu;
  if (pin_ms === null) why('pin_ms', 'pin', undefined, 'test/bench/pin.ts is not available yet');
  const scale_rss_mb = typeof scale?.feederPeakRssMb === 'number' ? scale.feederPeakRssMb : null;
  if (scale_rss_mb === null) why('scale_rss_mb', 'scale');
  const scale_redis_mb = scale ? scale.redisGrowthMb : null;
  if (scale_redis_mb === null) why('scale_redis_mb', 'scale');

  const redis_bytes_per_account = wave ? ((wave.redisBytesPerAccount as Num | undefined) ?? null) : null;
  if (redis_bytes_per_account === null) why('redis_bytes_per_account', 'wave');

  const fmt = (n: Num, d = 2): string => (n === null ? 'n/a' : String(round(n, d)));
  const rows = Number(input.settings.rows ?? 0);
  const pctOf = (n: Num): string => (n === null ? 'n/a' : `${fmt(n * 100, 1)}%`);
  // The scale targets are set for a 10,000,000-account wave: a smaller one is reported, not judged.
  const scaleRows = Number(scale?.rows ?? 0);
  const atScale = scaleRows >= 10_000_000;
  const targets: Target[] = [
    { name: 'Ingest vs bare addBulk', target: '≥ 2×', value: `${fmt(ratios.ingest_vs_addbulk)}×`, met: ratios.ingest_vs_addbulk === null ? null : ratios.ingest_vs_addbulk >= 2 },
    { name: 'Feeder peak RSS', target: '≤ 256 MB', value: `${fmt(rss_mb, 1)} MB`, met: rss_mb === null ? null : rss_mb <= 256 },
    { name: `Redis used_memory during a ${rows.toLocaleString('en-US')}-row wave`, target: '≤ 200 MB', value: `${fmt(redis_mb, 1)} MB`, met: redis_mb === null ? null : redis_mb <= 200 },
    { name: 'End to end, notice only vs the bare send', target: '≥ 0.75×', value: `${fmt(ratios.notice_vs_send)}×`, met: ratios.notice_vs_send === null ? null : ratios.notice_vs_send >= 0.75 },
    { name: 'End to end, full path vs the bare send', target: '≥ 0.33×', value: `${fmt(ratios.full_vs_send)}×`, met: ratios.full_vs_send === null ? null : ratios.full_vs_send >= 0.33 },
    { name: `Notices, ${latencyMs} ms provider latency vs concurrency ÷ latency`, target: '≥ 90%', value: pctOf(ratios.latency_vs_ceiling), met: ratios.latency_vs_ceiling === null ? null : ratios.latency_vs_ceiling >= 0.9 },
    { name: `Pacing error, ${pacing.processes ?? 4} processes`, target: '±2%, never above', value: pacing.errorPct === null ? 'n/a' : `${fmt(pacing.errorPct)}%${pacing.neverAbove === false ? ' (above!)' : ''}`, met: pacing.errorPct === null ? null : Math.abs(pacing.errorPct) <= 2 && pacing.neverAbove === true },
    { name: 'PIN generation + verifier, CPU per PIN', target: '≤ 0.5 ms', value: `${fmt(pin_ms, 4)} ms`, met: pin_ms === null ? null : pin_ms <= 0.5 },
    { name: `Full path, ${latencyMs} ms provider latency vs concurrency ÷ latency`, target: '≥ 80%', value: pctOf(ratios.full_latency_vs_ceiling), met: ratios.full_latency_vs_ceiling === null ? null : ratios.full_latency_vs_ceiling >= 0.8 },
    { name: 'Redis bytes per finished account (slope over the wave)', target: '≤ 16 B', value: `${fmt(redis_bytes_per_account, 1)} B`, met: redis_bytes_per_account === null ? null : redis_bytes_per_account <= 16 },
    { name: `Feeder peak RSS, whole wave of ${scaleRows.toLocaleString('en-US')} rows (target at 10,000,000)`, target: '≤ 256 MB', value: `${fmt(scale_rss_mb, 1)} MB`, met: scale_rss_mb === null || !atScale ? null : scale_rss_mb <= 256 },
    { name: `Redis peak growth, whole wave of ${scaleRows.toLocaleString('en-US')} rows (target at 10,000,000)`, target: '≤ 200 MB', value: `${fmt(scale_redis_mb, 1)} MB`, met: scale_redis_mb === null || !atScale ? null : scale_redis_mb <= 200 },
  ];

  return {
    startedAt: input.startedAt,
    finishedAt: input.finishedAt,
    settings: input.settings,
    environment: input.environment,
    sections: input.sections,
    results: { baseline, ingest, micro, ledger, e2e, pacing, pin, wave, scale },
    ratios,
    rss_mb,
    redis_mb,
    redis_bytes_per_account,
    pin_ms,
    scale_rss_mb,
    scale_redis_mb,
    reasons,
    targets,
    ...(input.profileDir ? { profileDir: input.profileDir } : {}),
    ...(input.profiles && input.profiles.length > 0 ? { profiles: input.profiles } : {}),
    records,
  };
}

// ------------------------------------------------------------------------------------------------

const n0 = (v: unknown): string => (typeof v === 'number' ? Math.round(v).toLocaleString('en-US') : 'n/a');
const n1 = (v: unknown): string => (typeof v === 'number' ? (Math.round(v * 10) / 10).toLocaleString('en-US') : 'n/a');
const x2 = (v: unknown): string => (typeof v === 'number' ? `${(Math.round(v * 100) / 100).toFixed(2)}×` : 'n/a');
const pct = (a: unknown, b: unknown): string =>
  typeof a === 'number' && typeof b === 'number' && b !== 0 ? `${a >= b ? '+' : ''}${Math.round(((a - b) / b) * 100)}%` : 'n/a';
const verdict = (met: boolean | null): string => (met === null ? '—' : met ? 'met' : '**not met**');

/** The Markdown report: the headline table with its same-run baselines, then each optimisation's before/after. */
export function renderMarkdown(r: BenchReport): string {
  const res = r.results as {
    baseline: Json; ingest: { current: Json; reference: Json; idleRssMb: Num }; ledger: Record<string, Json>; micro?: Record<string, Json>;
    e2e: Record<string, Json>; pacing: Json; pin: Json; wave: Json | null; scale?: Json | null;
  };
  const b = res.baseline;
  const s = r.settings;
  const env = r.environment;
  const latencyMs = Number(s.latencyMs ?? 100);
  const out: string[] = [];
  out.push(`### Run of ${r.startedAt.slice(0, 19).replace('T', ' ')} UTC`, '');
  out.push(`Node ${String(env.node)}, Redis ${String(env.redis)} (${String(env.redisSource)}), ${String(env.cpus)} CPUs, load average at the end ${(env.loadAverage as number[] | undefined)?.join(' / ') ?? '?'}; medians of ${String(s.runs)} run(s) (a ratio is the median of the per-run ratios)${s.smoke ? ' — **smoke run (tiny sizes; figures are not meaningful)**' : ''}. Baseline: bare BullMQ on the same Redis, concurrency ${String(s.concurrency)}, ${n0(b.jobs)} jobs. The feeder adds ${s.accountsPerJob === undefined ? "one account" : `${String(s.accountsPerJob)} accounts`} per first-action job${s.accountsPerJob === 1 ? ' (one job per account)' : ''}${s.minJobs === undefined || s.minJobs === 1 ? '' : `, fewer in a wave of under ${n0(Number(s.minJobs) * Number(s.accountsPerJob ?? 1))} accounts (at least ${n0(s.minJobs)} jobs a wave)`}.`, '');
  out.push('| measure | result | same-run baseline | ratio | target | verdict |', '|---|---|---|---|---|---|');
  const tg = (i: number): Target => r.targets[i] as Target;
  const ing = res.ingest.current;
  out.push(`| Ingest, ${n0(ing.rows)} rows (file → spool) | ${n0(ing.rowsPerSec)} rows/s | bare addBulk ${n0(b.addBulkPerSec)} jobs/s | ${x2(r.ratios.ingest_vs_addbulk)} | ${tg(0).target} | ${verdict(tg(0).met)} |`);
  out.push(`| Feeder peak RSS | ${n1(r.rss_mb)} MB (ingest: start ${n1(ing.startRssMb)} MB → peak ${n1(ing.peakRssMb)} MB${res.wave ? `; whole wave incl. feed: ${n1(res.wave.feederPeakRssMb)} MB` : ''}) | runtime alone (\`node --import tsx\` + modules): ${n1(res.ingest.idleRssMb)} MB | — | ${tg(1).target} | ${verdict(tg(1).met)} |`);
  const w = res.wave;
  out.push(`| Redis used_memory, ${w ? n0(w.accepted) : 'n/a'}-account wave (window ${w ? n0(w.window) : 'n/a'}) | peak +${n1(r.redis_mb)} MB over the run's start${w ? ` (absolute ${n1(w.redisPeakMb)} MB); ledger left at the end ${n1(at(w.redisAtEnd, 'ledgerMb'))} MB = ${n0(at(w.redisAtEnd, 'ledgerBytesPerAccount'))} B/account` : ''} | — | — | ${tg(2).target} | ${verdict(tg(2).met)} |`);
  const e = (k: string): Json => res.e2e[k] ?? {};
  out.push(`| End to end, notice only, providers at once | ${n0(e('notice-0ms').perSec)} accounts/s | bare send ${n0(b.sendPerSec)} jobs/s | ${x2(r.ratios.notice_vs_send)} | ${tg(3).target} | ${verdict(tg(3).met)} |`);
  out.push(`| End to end, full path (rotate PIN + code + notice + audit) | ${n0(e('full-0ms').perSec)} accounts/s | bare send ${n0(b.sendPerSec)} jobs/s | ${x2(r.ratios.full_vs_send)} | ${tg(4).target} | ${verdict(tg(4).met)} |`);
  if (typeof b.sendPerSec === 'number') {
    out.push(`| The bare send: bare BullMQ + one \`twilio\` SDK send per job, no other breachwave code, through breachwave's \`TwilioHttpClient\` (${n0(b.sendJobs)} jobs) — the most the two rows above can reach here | ${n0(b.sendPerSec)} jobs/s (worker CPU ${n0(b.sendWorkerCpuUsPerJob)} µs/job) | bare no-op ${n0(b.noopPerSec)} jobs/s | ${x2(r.ratios.send_vs_noop)} | (info) | — |`);
    if (typeof b.sendV0PerSec === 'number') {
      out.push(`| The same bare send through the SDK's default axios \`RequestClient\` (reference copy of the client before \`TwilioHttpClient\`) | ${n0(b.sendV0PerSec)} jobs/s (worker CPU ${n0(b.sendV0WorkerCpuUsPerJob)} µs/job) | bare no-op ${n0(b.noopPerSec)} jobs/s | ${x2(r.ratios.send_v0_vs_noop)} | (info) | — |`);
    }
    out.push(`| End to end over bare no-op BullMQ jobs | notice only ${x2(r.ratios.notice_vs_noop)}, full path ${x2(r.ratios.full_vs_noop)} | bare no-op ${n0(b.noopPerSec)} jobs/s | — | (info) | — |`);
  }
  const nl = e(`notice-${latencyMs}ms`);
  const fl = e(`full-${latencyMs}ms`);
  out.push(`| End to end, notice only, ${latencyMs} ms provider latency | ${n0(nl.perSec)} accounts/s | ceiling ${n0(nl.ceilingPerSec)}/s (${String(s.concurrency)} ÷ ${latencyMs} ms) | ${typeof nl.vsCeiling === 'number' ? `${n1(nl.vsCeiling * 100)}%` : 'n/a'} | ${tg(5).target} | ${verdict(tg(5).met)} |`);
  out.push(`| End to end, full path, ${latencyMs} ms provider latency | ${n0(fl.perSec)} accounts/s | ceiling ${n0(fl.ceilingPerSec)}/s | ${typeof fl.vsCeiling === 'number' ? `${n1(fl.vsCeiling * 100)}%` : 'n/a'} | ${tg(8).target} | ${verdict(tg(8).met)} |`);
  const pc = res.pacing;
  out.push(`| Pacing, one sender, ${n0(pc.processes)} notifier processes | ${n1(pc.measured)} msg/s measured (busiest second ${n0(pc.maxWindow)}, limit ${n0(pc.windowLimit)}) | configured ${n1(pc.configured)} msg/s | ${typeof pc.errorPct === 'number' ? `${pc.errorPct > 0 ? '+' : ''}${n1(pc.errorPct)}%` : 'n/a'} | ${tg(6).target} | ${verdict(tg(6).met)} |`);
  out.push(`| PIN generation + HMAC verifier | ${typeof r.pin_ms === 'number' ? r.pin_ms.toFixed(4) : 'n/a'} ms CPU/PIN (${n0(res.pin.pins)} PINs) | — | — | ${tg(7).target} | ${verdict(tg(7).met)} |`);
  out.push(`| Redis bytes per finished account, slope of used_memory over the ${w ? n0(w.accepted) : 'n/a'}-account wave | ${n1(r.redis_bytes_per_account)} B | — | — | ${tg(9).target} | ${verdict(tg(9).met)} |`);
  out.push('');
  if (Object.keys(r.reasons).length > 0) {
    out.push('Not measured: ' + Object.entries(r.reasons).map(([k, v]) => `\`${k}\` — ${v}`).join('; ') + '.', '');
  }

  const sc = res.scale;
  if (sc) {
    out.push(`#### A whole wave at scale: ${n0(sc.rows)} rows created, fed and finished (no-op processors)`, '');
    out.push('| measure | result | projected for 54,000,000 accounts |', '|---|---|---|');
    out.push(`| Feeder peak RSS, \`wave create\` + \`wave start\` | ${n1(sc.feederPeakRssMb)} MB (ingest ${n1(at(sc.feeder, 'ingestPeakMb'))} MB, feed ${n1(at(sc.feeder, 'feedPeakMb'))} MB, runtime at start ${n1(at(sc.feeder, 'startMb'))} MB) | — |`);
    out.push(`| Redis used_memory | before ${n1(at(sc.redis, 'beforeMb'))} MB, peak ${n1(at(sc.redis, 'peakMb'))} MB, after ${n1(at(sc.redis, 'afterMb'))} MB (${n0(sc.finished)} accounts finished, audit drained) | ${n0(at(sc.redis, 'projectedMb'))} MB |`);
    out.push(`| Redis bytes per finished account ((after − before) ÷ accounts) | ${n0(at(sc.redis, 'bytesPerAccount'))} B | — |`);
    out.push(`| Targets (set for 10,000,000 rows; judged only at that size) | feeder ${tg(10).value} (${tg(10).target}: ${verdict(tg(10).met)}), Redis growth ${tg(11).value} (${tg(11).target}: ${verdict(tg(11).met)}) | — |`);
    out.push(`| Rates (shared machine: indicative) | ingest ${n0(sc.ingestRowsPerSec)} rows/s, finished ${n0(sc.finishedPerSec)} accounts/s | — |`);
    out.push('');
  }

  // Before/after, same run.
  const ref = res.ingest.reference;
  if (typeof ref.rowsPerSec === 'number' && typeof ing.rowsPerSec === 'number') {
    out.push('#### Ingest: reference (pre-optimisation copy) vs current, same file, same run', '');
    out.push('| implementation | rows/s | RSS at start | peak RSS | growth during ingest |', '|---|---|---|---|---|');
    out.push(`| reference (\`test/bench/reference/ingest-v0.ts\`) | ${n0(ref.rowsPerSec)} | ${n1(ref.startRssMb)} MB | ${n1(Math.max(Number(ref.peakRssMb ?? 0), Number(ref.hwmRssMb ?? 0)))} MB | ${n1(ref.growthMb)} MB |`);
    out.push(`| current | ${n0(ing.rowsPerSec)} (${pct(ing.rowsPerSec, ref.rowsPerSec)}) | ${n1(ing.startRssMb)} MB | ${n1(Math.max(Number(ing.peakRssMb ?? 0), Number(ing.hwmRssMb ?? 0)))} MB | ${n1(ing.growthMb)} MB (${pct(ing.growthMb, ref.growthMb)}) |`);
    out.push('');
  }
  const mi = res.micro;
  if (mi && typeof mi.phone?.currentUs === 'number') {
    out.push('#### Each ingest optimisation alone (same process, same data; best of 3 passes)', '');
    out.push('| part | reference | current | change |', '|---|---|---|---|');
    const row = (label: string, m: Json | undefined, unit: string): void => {
      out.push(`| ${label} | ${n1(typeof m?.referenceUs === 'number' ? m.referenceUs : null)} ${unit} | ${n1(typeof m?.currentUs === 'number' ? m.currentUs : null)} ${unit} | ${pct(m?.currentUs, m?.referenceUs)} |`);
    };
    const us = (m: Json | undefined): Json | undefined => m && { referenceUs: Number(m.referenceUs) * 1000, currentUs: Number(m.currentUs) * 1000 };
    row(`\`normalisePhone\` (${n0(mi.phone?.items)} numbers of the file)`, us(mi.phone), 'ns/number');
    row(`\`parseAccountRow\` (${n0(mi.parse?.items)} rows, phone included)`, us(mi.parse), 'ns/row');
    row('sealing one contact record (AES-256-GCM)', us(mi.seal), 'ns/seal');
    const d = mi.dedupe;
    out.push(`| duplicate check, ${n0(d?.ids)} ids | ${n1(d?.mapBytesPerId)} B/id (Map, V8 heap) | ${n1(d?.indexBytesPerId)} B/id (IdIndex, off-heap) | ${pct(d?.indexBytesPerId, d?.mapBytesPerId)} |`);
    out.push('');
  }
  const lr = res.ledger;
  if (typeof lr.reference?.perSec === 'number') {
    out.push(`#### Notice-path ledger traffic alone (claim, read record, record send, release), concurrency ${String(s.concurrency)}`, '');
    out.push('| ledger | round trips/account | accounts/s | Redis CPU µs/account (INFO cpu) | scripts+commands µs/account (commandstats) | client CPU µs/account | ledger bytes/account when done |', '|---|---|---|---|---|---|---|');
    for (const [name, label] of [
      ['reference', 'reference (pre-optimisation scripts)'], ['current', 'current scripts, four separate calls'], ['folded', 'current, claim+read and send+release folded (as the notifier calls it)'],
      ['current-autopipeline', 'current, client with `enableAutoPipelining`'], ['folded-autopipeline', 'folded, client with `enableAutoPipelining` (as the notifier runs it)'],
    ] as const) {
      if (typeof lr[name]?.perSec !== 'number') continue;
      const l = lr[name] ?? {};
      out.push(`| ${label} | ${n0(l.roundTripsPerAccount)} | ${n0(l.perSec)} (${pct(l.perSec, lr.reference?.perSec)}) | ${n1(l.redisCpuUsPerAccount)} | ${n1(l.redisCommandUsecPerAccount)} | ${n1(l.clientCpuUsPerAccount)} | ${n0(l.ledgerBytesPerAccount)} |`);
    }
    out.push('');
  }
  const e2eKeys = Object.keys(res.e2e);
  if (e2eKeys.length > 0) {
    const procs = [...new Set(e2eKeys.flatMap((k) => Object.keys((res.e2e[k]?.cpuUsPerAccount as Json | undefined) ?? {})))];
    out.push('#### Where an account\'s CPU goes, end to end (µs of CPU per account, by process)', '');
    out.push(`| run | accounts/s | ${procs.join(' | ')} | total | Redis commands/account |`, `|---|---|${procs.map(() => '---').join('|')}|---|---|`);
    for (const k of e2eKeys) {
      const row = res.e2e[k] ?? {};
      const cpu = (row.cpuUsPerAccount as Record<string, Num> | undefined) ?? {};
      const total = procs.reduce((a, p) => a + (typeof cpu[p] === 'number' ? (cpu[p] as number) : 0), 0);
      out.push(`| ${k} | ${n0(row.perSec)} | ${procs.map((p) => n0(cpu[p])).join(' | ')} | ${n0(total)} | ${n1(row.redisCallsPerAccount)} |`);
    }
    out.push('');
    const top = (res.e2e['notice-0ms']?.redisTop as { command: string; perAccount: number; usecPerAccount: number }[] | undefined) ?? [];
    if (top.length > 0) {
      out.push('Redis time per account, notice only (INFO commandstats, busiest first): ' + top.map((c) => `${c.command} ×${c.perAccount} = ${c.usecPerAccount} µs`).join('; ') + '.', '');
    }
  }
  if (r.profiles && r.profiles.length > 0) {
    out.push('#### CPU profiles (`--profile`, first run; shares of busy time)', '');
    out.push('| process | busy | idle | GC | inclusive, by package | self, busiest functions |', '|---|---|---|---|---|---|');
    for (const p of r.profiles) {
      const name = p.file.split('/').at(-1)?.replace(/\.cpuprofile$/, '').replace(/-\d+$/, '') ?? p.file;
      const busy = Math.round(p.totalMs * (1 - p.idlePct / 100));
      out.push(`| ${name} | ${n0(busy)} ms | ${n1(p.idlePct)}% | ${n1(p.gcPct)}% | ${p.byPackage.slice(0, 8).map((x) => `${x.name} ${x.pct}%`).join(', ')} | ${p.topSelf.slice(0, 6).map((x) => `\`${x.name.replace(/\|/g, '\\|')}\` ${x.pct}%`).join(', ')} |`);
    }
    out.push('');
    const writes = r.profiles.filter((p) => (p.writesByCaller ?? []).length > 0);
    if (writes.length > 0) {
      out.push('Socket writes (native write + syscall) by caller, share of busy time: ' + writes.map((p) => {
        const name = p.file.split('/').at(-1)?.replace(/\.cpuprofile$/, '').replace(/-\d+$/, '') ?? p.file;
        return `${name}: ${p.writesByCaller.slice(0, 4).map((x) => `\`${x.name}\` ${x.pct}%`).join(', ')}`;
      }).join('; ') + '.', '');
    }
  }
  return `${out.join('\n')}\n`;
}

const BEGIN = '<!-- bench:generated:begin -->';
const END = '<!-- bench:generated:end -->';

/** Replaces the generated part of docs/PERFORMANCE.md (between the markers) with this run's report. */
export function updateDocs(doc: string, r: BenchReport): string {
  const body = `${BEGIN}\n<!-- Written by \`pnpm bench --update-docs\` from bench-results/${r.startedAt.replace(/[-:]/g, '').replace(/\.\d+Z$/, 'Z')}.json; do not edit by hand. -->\n\n${renderMarkdown(r)}\n${END}`;
  const i = doc.indexOf(BEGIN);
  const j = doc.indexOf(END);
  if (i >= 0 && j > i) return doc.slice(0, i) + body + doc.slice(j + END.length);
  return `${doc.trimEnd()}\n\n## Latest figures\n\n${body}\n`;
}
