/**
 * Summaries of the V8 CPU profiles `--profile` keeps (`node --cpu-prof`): where a process spent
 * its CPU, by package (inclusive) and by function (self), so the report can say what the
 * optimisations targeted without opening a profiler.
 */
import { readFileSync, readdirSync } from 'node:fs';
import { join } from 'node:path';

interface ProfileNode {
  readonly id: number;
  readonly callFrame: { readonly functionName: string; readonly url: string; readonly lineNumber: number };
  readonly children?: readonly number[];
}
interface CpuProfile {
  readonly nodes: readonly ProfileNode[];
  readonly samples: readonly number[];
  readonly timeDeltas: readonly number[];
}

export interface ProfileSummary {
  readonly file: string;
  readonly totalMs: number;
  /** Share of samples with nothing to run (waiting on I/O). */
  readonly idlePct: number;
  readonly gcPct: number;
  /** Inclusive share of the busy (non-idle) time, by package or Node module. */
  readonly byPackage: readonly { readonly name: string; readonly pct: number }[];
  /** Self time, busiest functions first, share of the busy time. */
  readonly topSelf: readonly { readonly name: string; readonly pct: number }[];
  /**
   * Socket writes (the native write functions, syscall included) by the first caller outside
   * the Redis client and Node itself — who pays for one write(2) per command.
   */
  readonly writesByCaller: readonly { readonly name: string; readonly pct: number }[];
}

const WRITES = new Set(['writeUtf8String', 'writeBuffer', 'writev', 'writeString', 'writeLatin1String', 'writeAsciiString']);
const PLUMBING = new Set(['ioredis', 'redis-parser', 'standard-as-callback', 'axios', 'follow-redirects', 'sonic-boom']);

/** `node_modules/.pnpm/x@1/node_modules/@scope/pkg/…` → `@scope/pkg`; workspace files → `packages/x`. */
function packageOf(url: string): string {
  const dep = /node_modules\/(?:\.pnpm\/[^/]+\/node_modules\/)?((?:@[^/]+\/)?[^/]+)/.exec(url);
  if (dep) return dep[1] as string;
  const ws = /\/(packages|services|test)\/([^/]+)\//.exec(url);
  if (ws) return `${ws[1]}/${ws[2]}`;
  if (url.startsWith('node:')) return url.replace(/^node:(internal\/)?/, 'node:').split('/').slice(0, 2).join('/');
  return url === '' ? '(native)' : url;
}

export function summarizeProfile(file: string, top = 12): ProfileSummary {
  const p = JSON.parse(readFileSync(file, 'utf8')) as CpuProfile;
  const byId = new Map(p.nodes.map((n) => [n.id, n]));
  const parent = new Map<number, number>();
  for (const n of p.nodes) for (const c of n.children ?? []) parent.set(c, n.id);
  const time = new Map<number, number>();
  p.samples.forEach((id, i) => time.set(id, (time.get(id) ?? 0) + (p.timeDeltas[i] ?? 0)));
  let total = 0;
  let idle = 0;
  let gc = 0;
  const self = new Map<string, number>();
  const incl = new Map<string, number>();
  const writes = new Map<string, number>();
  for (const [id, t] of time) {
    const node = byId.get(id);
    if (!node || t <= 0) continue;
    total += t;
    const fn = node.callFrame.functionName;
    if (fn === '(idle)') {
      idle += t;
      continue;
    }
    if (fn === '(garbage collector)') gc += t;
    const where = node.callFrame.url ? `${packageOf(node.callFrame.url)}` : '';
    const key = `${fn || '(anonymous)'}${where ? ` [${where}]` : ''}`;
    self.set(key, (self.get(key) ?? 0) + t);
    if (WRITES.has(fn)) {
      let caller = '(unknown)';
      for (let cur = parent.get(id); cur !== undefined; cur = parent.get(cur)) {
        const f = byId.get(cur)?.callFrame;
        if (!f?.url || f.url.startsWith('node:')) continue;
        const pkg = packageOf(f.url);
        if (PLUMBING.has(pkg)) {
          if (caller === '(unknown)') caller = `${pkg} (direct)`;
          continue;
        }
        caller = `${f.functionName || '(anonymous)'} [${pkg}]`;
        break;
      }
      writes.set(caller, (writes.get(caller) ?? 0) + t);
    }
    const seen = new Set<string>();
    for (let cur: number | undefined = id; cur !== undefined; cur = parent.get(cur)) {
      const url = byId.get(cur)?.callFrame.url ?? '';
      if (!url) continue;
      const pkg = packageOf(url);
      if (seen.has(pkg)) continue;
      seen.add(pkg);
      incl.set(pkg, (incl.get(pkg) ?? 0) + t);
    }
  }
  const busy = Math.max(1, total - idle);
  const pct = (t: number): number => Math.round((t / busy) * 1000) / 10;
  const sorted = (m: Map<string, number>) => [...m].sort((a, b) => b[1] - a[1]).slice(0, top).map(([name, t]) => ({ name, pct: pct(t) }));
  return {
    file,
    totalMs: Math.round(total / 1000),
    idlePct: Math.round((idle / Math.max(1, total)) * 1000) / 10,
    gcPct: pct(gc),
    byPackage: sorted(new Map([...incl].filter(([k]) => !k.startsWith('node:internal/modules') && k !== 'tsx'))),
    topSelf: sorted(self),
    writesByCaller: sorted(writes),
  };
}

/** Every profile in a directory, summarised. */
export function summarizeProfiles(dir: string, top = 12): ProfileSummary[] {
  let files: string[];
  try {
    files = readdirSync(dir).filter((f) => f.endsWith('.cpuprofile')).sort();
  } catch {
    return [];
  }
  return files.map((f) => summarizeProfile(join(dir, f), top));
}
