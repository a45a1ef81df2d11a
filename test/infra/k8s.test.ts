/**
 * The Kubernetes manifests in infra/k8s: the example overlay (and the feeder Job template) are
 * rendered, every object is validated against the Kubernetes JSON schemas (pinned through the
 * `kubernetes-models` and `@kubernetes-models/keda` packages), and then checked for what a schema
 * cannot know: that they run breachwave as its image contract and configuration say.
 *
 * Rendering: a small kustomize renderer here (the features the manifests use, refusing any other),
 * so the test runs on any machine; where `kubectl` is installed, its own `kubectl kustomize` output
 * must equal this renderer's, which keeps the renderer honest.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { generateKeyPairSync, randomBytes } from 'node:crypto';
import { existsSync, readdirSync, readFileSync, statSync } from 'node:fs';
import { basename, join, resolve } from 'node:path';
import { parseAllDocuments } from 'yaml';
import { ConfigMap } from 'kubernetes-models/v1/ConfigMap';
import { PersistentVolumeClaim } from 'kubernetes-models/v1/PersistentVolumeClaim';
import { Secret } from 'kubernetes-models/v1/Secret';
import { Service } from 'kubernetes-models/v1/Service';
import { Deployment } from 'kubernetes-models/apps/v1/Deployment';
import { Job } from 'kubernetes-models/batch/v1/Job';
import { PodDisruptionBudget } from 'kubernetes-models/policy/v1/PodDisruptionBudget';
import { ScaledObject } from '@kubernetes-models/keda/keda.sh/v1alpha1/ScaledObject';
import { TriggerAuthentication } from '@kubernetes-models/keda/keda.sh/v1alpha1/TriggerAuthentication';
import { loadAuditWriterSettings, loadConfig, variables } from '@breachwave/config';
import { QUEUES } from '@breachwave/jobs';
import { shardPrefixes } from '@breachwave/ledger';
import { parseClusterUrl } from '@breachwave/redis';

const ROOT = resolve(import.meta.dirname, '..', '..');
const K8S = join(ROOT, 'infra', 'k8s');
const OVERLAY = join(K8S, 'overlays', 'example');
/** The example on a Redis Cluster with three shards: built on OVERLAY. */
const CLUSTER_OVERLAY = join(K8S, 'overlays', 'cluster-example');
const FEEDER_JOB = join(K8S, 'jobs', 'feeder-job.yaml');

// Loose JSON shapes: the schemas below are what checks them.
type Obj = { [k: string]: any }; // eslint-disable-line @typescript-eslint/no-explicit-any

// YAML 1.1, as kubectl reads it (`0440` is octal there, decimal 440 in YAML 1.2).
const parseYaml = (text: string) => parseAllDocuments(text, { version: '1.1' });
const readYaml = (file: string): Obj[] =>
  parseYaml(readFileSync(file, 'utf8')).map((d) => d.toJS() as Obj | null).filter((o): o is Obj => o !== null);

/** The kustomization features the manifests use; any other key is refused rather than ignored. */
const SUPPORTED = new Set(['apiVersion', 'kind', 'resources', 'namespace', 'images', 'configMapGenerator', 'secretGenerator', 'generatorOptions', 'replicas', 'patches']);

/** A JSON pointer's tokens (RFC 6901). */
function pointer(path: string): string[] {
  if (!path.startsWith('/')) throw new Error(`JSON pointer ${path} must start with /`);
  return path.slice(1).split('/').map((s) => s.replaceAll('~1', '/').replaceAll('~0', '~'));
}

/**
 * Applies RFC 6902 operations as kustomize's `patches` do with an inline list of operations. Only
 * add, replace and remove are rendered; a strategic-merge patch is refused rather than guessed
 * (kustomize merges lists of unknown kinds by keys it infers, which this renderer would not copy).
 */
function applyJson6902(target: Obj, ops: Obj[]): void {
  for (const op of ops) {
    const tokens = pointer(String(op.path));
    const last = tokens.pop()!;
    let parent: any = target; // eslint-disable-line @typescript-eslint/no-explicit-any
    for (const t of tokens) {
      parent = parent?.[Array.isArray(parent) ? Number(t) : t];
      if (parent === undefined || parent === null || typeof parent !== 'object') throw new Error(`patch ${op.op} ${op.path}: no such parent`);
    }
    if (Array.isArray(parent)) {
      const i = last === '-' ? parent.length : Number(last);
      if (!Number.isInteger(i) || i < 0 || i > parent.length || (op.op !== 'add' && i >= parent.length)) throw new Error(`patch ${op.op} ${op.path}: index out of range`);
      if (op.op === 'add') parent.splice(i, 0, structuredClone(op.value));
      else if (op.op === 'replace') parent[i] = structuredClone(op.value);
      else if (op.op === 'remove') parent.splice(i, 1);
      else throw new Error(`patch op ${op.op} is not rendered here`);
    } else {
      if (op.op !== 'add' && !(last in parent)) throw new Error(`patch ${op.op} ${op.path}: no such member`);
      if (op.op === 'add' || op.op === 'replace') parent[last] = structuredClone(op.value);
      else if (op.op === 'remove') delete parent[last];
      else throw new Error(`patch op ${op.op} is not rendered here`);
    }
  }
}

/** Whether a patch's target selects an object (exact kind, name, group and version where given). */
function selects(target: Obj, o: Obj): boolean {
  const [group, version] = String(o.apiVersion).includes('/') ? String(o.apiVersion).split('/') : ['', String(o.apiVersion)];
  return (target.kind === undefined || target.kind === o.kind) && (target.name === undefined || target.name === o.metadata?.name)
    && (target.group === undefined || target.group === group) && (target.version === undefined || target.version === version);
}

function generated(kind: 'ConfigMap' | 'Secret', dir: string, g: Obj): Obj {
  const data: Record<string, string> = {};
  for (const lit of (g.literals ?? []) as string[]) {
    const i = lit.indexOf('=');
    data[lit.slice(0, i)] = lit.slice(i + 1);
  }
  for (const f of (g.files ?? []) as string[]) data[basename(f)] = readFileSync(join(dir, f), 'utf8');
  return kind === 'ConfigMap'
    ? { apiVersion: 'v1', kind, metadata: { name: g.name }, data }
    : { apiVersion: 'v1', kind, metadata: { name: g.name }, type: 'Opaque', data: Object.fromEntries(Object.entries(data).map(([k, v]) => [k, Buffer.from(v).toString('base64')])) };
}

function podSpecs(o: Obj): Obj[] {
  const t = o.spec?.template?.spec;
  return t ? [t] : [];
}

/** Renders a kustomization directory the way `kustomize build` does, for the features in SUPPORTED. */
export function render(dir: string): Obj[] {
  const k = readYaml(join(dir, 'kustomization.yaml'))[0] ?? {};
  const unknown = Object.keys(k).filter((key) => !SUPPORTED.has(key));
  if (unknown.length) throw new Error(`${dir}/kustomization.yaml uses ${unknown.join(', ')}: teach this renderer, or use what it knows`);
  if (k.generatorOptions && k.generatorOptions.disableNameSuffixHash !== true) throw new Error('only disableNameSuffixHash: true is rendered here');
  const objects: Obj[] = [];
  for (const r of (k.resources ?? []) as string[]) {
    const p = join(dir, r);
    objects.push(...(statSync(p).isDirectory() ? render(p) : readYaml(p)));
  }
  for (const [kind, list] of [['ConfigMap', k.configMapGenerator], ['Secret', k.secretGenerator]] as const) {
    for (const g of (list ?? []) as Obj[]) {
      const made = generated(kind, dir, g);
      if (g.behavior === 'merge' || g.behavior === 'replace') {
        const base = objects.find((o) => o.kind === kind && o.metadata.name === g.name);
        if (!base) throw new Error(`${kind} ${g.name}: nothing to ${g.behavior}`);
        base.data = g.behavior === 'merge' ? { ...base.data, ...made.data } : made.data;
      } else {
        objects.push(made);
      }
    }
  }
  for (const p of (k.patches ?? []) as Obj[]) {
    if (p.path !== undefined || typeof p.patch !== 'string' || !p.target) throw new Error(`${dir}/kustomization.yaml: only inline patches with a target are rendered here`);
    const ops = parseYaml(p.patch)[0]?.toJS() as unknown;
    if (!Array.isArray(ops)) throw new Error(`${dir}/kustomization.yaml: only RFC 6902 patches (a list of operations) are rendered here`);
    const hits = objects.filter((o) => selects(p.target as Obj, o));
    if (hits.length === 0) throw new Error(`${dir}/kustomization.yaml: patch target ${JSON.stringify(p.target)} selects nothing`);
    for (const o of hits) applyJson6902(o, ops as Obj[]);
  }
  for (const o of objects) if (k.namespace) o.metadata.namespace = k.namespace;
  for (const img of (k.images ?? []) as Obj[]) {
    for (const o of objects) {
      for (const spec of podSpecs(o)) {
        for (const c of [...(spec.containers ?? []), ...(spec.initContainers ?? [])] as Obj[]) {
          const [name, tag] = String(c.image).split(':');
          if (name === img.name) c.image = `${img.newName ?? name}:${img.newTag ?? tag}`;
        }
      }
    }
  }
  for (const rep of (k.replicas ?? []) as Obj[]) {
    const d = objects.find((o) => o.kind === 'Deployment' && o.metadata.name === rep.name);
    if (!d) throw new Error(`replicas: no Deployment ${rep.name}`);
    d.spec.replicas = rep.count;
  }
  return objects;
}

/**
 * The feeder Job template made for one wave as its comment says (the wave id, and the image of
 * the deployment it joins, when given the rendered overlay), in that deployment's namespace.
 */
function feederJob(deployment?: readonly Obj[]): Obj {
  const text = readFileSync(FEEDER_JOB, 'utf8').replaceAll('WAVE_ID', 'w20260101T120000Z-abc123');
  const job = parseYaml(text)[0]?.toJS() as Obj;
  const pod = deployment?.find((o) => o.kind === 'Deployment');
  if (pod) {
    job.metadata.namespace = pod.metadata.namespace;
    job.spec.template.spec.containers[0].image = pod.spec.template.spec.containers[0].image;
  }
  return job;
}

type Model = new (o: Obj) => { validate(): void };
const MODELS: Record<string, Model> = {
  'v1/ConfigMap': ConfigMap, 'v1/Secret': Secret, 'v1/Service': Service, 'v1/PersistentVolumeClaim': PersistentVolumeClaim,
  'apps/v1/Deployment': Deployment, 'batch/v1/Job': Job, 'policy/v1/PodDisruptionBudget': PodDisruptionBudget,
  // Its constructor's parameter type is narrower than Obj; validate() is what is used.
  'keda.sh/v1alpha1/ScaledObject': ScaledObject as unknown as Model,
  'keda.sh/v1alpha1/TriggerAuthentication': TriggerAuthentication as unknown as Model,
};

/** Schema problems, one line per object. */
function schemaProblems(objects: readonly Obj[]): string[] {
  const problems: string[] = [];
  for (const o of objects) {
    const Model = MODELS[`${o.apiVersion}/${o.kind}`];
    if (!Model) { problems.push(`${o.apiVersion}/${o.kind} ${o.metadata?.name}: no schema known here`); continue; }
    try {
      new Model(structuredClone(o)).validate();
    } catch (err) {
      problems.push(`${o.kind} ${o.metadata?.name}: ${(err as Error).message}`);
    }
  }
  return problems;
}

/** The processes the image's first argument picks: one per service, the CLI as `breachwave`. */
const PROCESSES = new Set(readdirSync(join(ROOT, 'services')).filter((s) => existsSync(join(ROOT, 'services', s, 'src', 'main.ts'))).map((s) => (s === 'cli' ? 'breachwave' : s)));
const KNOWN_VARIABLES = new Set(Object.keys(variables));
const SECURE = { runAsNonRoot: true, runAsUser: 10001 };

/** A value of a rendered ConfigMap or Secret, decoded (a Secret's data is base64). */
function dataValue(o: Obj | undefined, key: string): string | undefined {
  const v = o?.data?.[key];
  if (v === undefined) return undefined;
  return o!.kind === 'Secret' ? Buffer.from(String(v), 'base64').toString('utf8') : String(v);
}

/** Where a container's variable comes from, as Kubernetes resolves it: `env` beats `envFrom`, a later `envFrom` source an earlier one. */
type Source = { readonly kind: 'Secret' | 'ConfigMap'; readonly name: string; readonly key: string } | { readonly kind: 'value' };
function variableSource(c: Obj, variable: string, find: (kind: string, name: string) => Obj | undefined): Source | undefined {
  const e = ((c.env ?? []) as Obj[]).find((x) => x.name === variable);
  if (e) {
    const ref = e.valueFrom?.secretKeyRef ?? e.valueFrom?.configMapKeyRef;
    return ref ? { kind: e.valueFrom.secretKeyRef ? 'Secret' : 'ConfigMap', name: ref.name, key: ref.key } : { kind: 'value' };
  }
  for (const from of [...((c.envFrom ?? []) as Obj[])].reverse()) {
    const kind = from.secretRef ? 'Secret' : 'ConfigMap';
    const name = (from.secretRef ?? from.configMapRef).name as string;
    const prefix = String(from.prefix ?? '');
    const key = variable.startsWith(prefix) ? variable.slice(prefix.length) : undefined;
    if (key !== undefined && key in (find(kind, name)?.data ?? {})) return { kind, name, key };
  }
  return undefined;
}

/** URLs with a password in a text: what must never sit in a ConfigMap. */
function urlsWithPassword(text: string): string[] {
  return [...text.matchAll(/[a-z][a-z0-9+.-]*:\/\/[^\s'"]+/gi)].map((m) => m[0]).filter((u) => {
    try {
      return new URL(u).password !== '';
    } catch {
      return /:\/\/[^/@\s]*:[^/@\s]+@/.test(u);
    }
  });
}

/** The parameters KEDA's redis scalers take from a TriggerAuthentication, by the REDIS_TLS_* variable they mirror. */
const TLS_PARAMETERS = [['REDIS_TLS_CA_FILE', 'ca'], ['REDIS_TLS_CERT_FILE', 'cert'], ['REDIS_TLS_KEY_FILE', 'key']] as const;

/**
 * The notifier's scaler against the Redis the pods use: KEDA's `redis` trigger (one server) or
 * `redis-cluster` trigger (a cluster URL) must dial the same host:port (every seed of a cluster),
 * with TLS exactly when REDIS_URL is rediss://, log in as REDIS_URL's user with its password and
 * trust the CA (show the client certificate) the pods do; and it must count every shard's waiting
 * list of the notify queue, summed into one metric when there are several.
 */
function scalerProblems(so: Obj, objects: readonly Obj[], config: Record<string, string>, redisUrl: string | undefined, pod: Obj | undefined): string[] {
  const problems: string[] = [];
  const where = `ScaledObject ${so.metadata.name}`;
  const find = (kind: string, name: string): Obj | undefined => objects.find((o) => o.kind === kind && o.metadata.name === name);
  const triggers = ((so.spec.triggers ?? []) as Obj[]).filter((t) => t.type === 'redis' || t.type === 'redis-cluster');

  // Every shard's list, each once.
  const prefix = config.BW_PREFIX ?? 'bw';
  const shards = Number(config.BW_SHARDS ?? 1);
  const lists = shardPrefixes(prefix, shards).map((p) => `${p}:${QUEUES.notify}:wait`);
  const counted = triggers.map((t) => t.metadata?.listName as string);
  lists.forEach((list, s) => { if (!counted.includes(list)) problems.push(`${where}: no trigger counts shard ${s}'s waiting list ${list} (BW_SHARDS=${shards}, BW_PREFIX=${prefix})`); });
  for (const list of counted) {
    if (!lists.includes(list)) problems.push(`${where}: listName ${list} is not the notify queue's waiting list of any shard (${lists.join(', ')})`);
    else if (counted.indexOf(list) !== counted.lastIndexOf(list)) problems.push(`${where}: listName ${list} is counted twice`);
  }
  if (triggers.length > 1) {
    const sm = so.spec.advanced?.scalingModifiers as Obj | undefined;
    const names = triggers.map((t) => String(t.name ?? '')).sort();
    const terms = String(sm?.formula ?? '').split('+').map((s) => s.trim()).sort();
    if (!sm?.formula) problems.push(`${where}: ${triggers.length} redis triggers but no scalingModifiers formula: the HPA would take the largest shard's list, not the sum`);
    else if (names.some((n) => !/^[A-Za-z_]\w*$/.test(n)) || JSON.stringify(terms) !== JSON.stringify(names)) problems.push(`${where}: formula ${JSON.stringify(sm.formula)} is not the sum of every redis trigger (${names.join(', ')})`);
    if (sm?.formula && !(Number(sm.target) > 0)) problems.push(`${where}: scalingModifiers needs a positive target (waiting jobs per replica)`);
  }

  if (redisUrl === undefined) return problems;
  let url: URL;
  try {
    url = new URL(redisUrl);
  } catch {
    return [...problems, `${where}: REDIS_URL is not a URL`];
  }
  const cluster = parseClusterUrl(redisUrl);
  const tls = url.protocol === 'rediss:' || url.protocol === 'rediss+cluster:';
  const secretValue = (ref: Obj | undefined): string | undefined => (ref ? dataValue(find('Secret', ref.name), ref.key) : undefined);
  if (config.REDIS_TLS_SERVERNAME) problems.push(`${where}: REDIS_TLS_SERVERNAME is set, but KEDA's redis scalers check the certificate against the address they dial and take no other name`);
  for (const t of triggers) {
    const tw = `${where} trigger ${t.name ?? t.metadata?.listName}`;
    const m = (t.metadata ?? {}) as Record<string, string>;
    if (cluster) {
      const want = cluster.nodes.map((n) => `${n.host}:${n.port}`).sort();
      const got = String(m.addresses ?? m.address ?? '').split(',').map((s) => s.trim()).filter(Boolean).sort();
      if (t.type !== 'redis-cluster') problems.push(`${tw}: REDIS_URL names a Redis Cluster, so the trigger must be redis-cluster, not ${t.type}`);
      if (JSON.stringify(got) !== JSON.stringify(want)) problems.push(`${tw}: addresses ${got.join(',')} are not REDIS_URL's seeds ${want.join(',')}`);
    } else {
      const want = `${url.hostname}:${url.port || '6379'}`;
      if (t.type !== 'redis') problems.push(`${tw}: REDIS_URL names one server, so the trigger must be redis, not ${t.type}`);
      if (m.address !== want) problems.push(`${tw}: address ${m.address} is not REDIS_URL's ${want}`);
      const db = url.pathname.replace(/^\//, '') || '0';
      if ((m.databaseIndex ?? '0') !== db) problems.push(`${tw}: databaseIndex ${m.databaseIndex} is not REDIS_URL's database ${db}`);
    }
    const auth = t.authenticationRef ? find(t.authenticationRef.kind ?? 'TriggerAuthentication', t.authenticationRef.name) : undefined;
    if (t.authenticationRef && !auth) problems.push(`${tw}: authenticationRef names ${t.authenticationRef.name}, which is not rendered`);
    const refs = new Map<string, Obj>(((auth?.spec?.secretTargetRef ?? []) as Obj[]).map((r) => [r.parameter, r]));
    const enabled = m.enableTLS === 'true' || secretValue(refs.get('tls')) === 'enable';
    if (enabled !== tls) problems.push(`${tw}: TLS is ${enabled ? 'on' : 'off'}, but REDIS_URL is ${url.protocol}//`);
    for (const [part, parameter] of [[decodeURIComponent(url.username), 'username'], [decodeURIComponent(url.password), 'password']] as const) {
      if (part === '') continue;
      const ref = refs.get(parameter);
      if (!ref) { problems.push(`${tw}: REDIS_URL logs in with a ${parameter}, but the trigger's TriggerAuthentication gives none`); continue; }
      const value = secretValue(ref);
      if (value === undefined) problems.push(`${tw}: ${parameter} names key ${ref.key} of Secret ${ref.name}, which is not rendered`);
      else if (value !== part) problems.push(`${tw}: the ${parameter} KEDA gets (Secret ${ref.name} key ${ref.key}) is not REDIS_URL's${value.trim() === part ? ' (a trailing newline in the file?)' : ''}`);
    }
    // The CA, client certificate and key: the very files the pods read.
    for (const [variable, parameter] of TLS_PARAMETERS) {
      const path = config[variable];
      if (!path) continue;
      const mounts = (pod?.spec.template.spec.containers[0].volumeMounts ?? []) as Obj[];
      const mount = mounts.find((x) => path.startsWith(`${x.mountPath}/`));
      const secret = mount && ((pod?.spec.template.spec.volumes ?? []) as Obj[]).find((v) => v.name === mount.name)?.secret;
      const ref = refs.get(parameter);
      if (!secret) continue; // named by the container checks
      if (!ref || ref.name !== secret.secretName || ref.key !== path.slice(mount.mountPath.length + 1)) problems.push(`${tw}: the pods read ${variable}=${path} (Secret ${secret.secretName}), but KEDA's ${parameter} is ${ref ? `Secret ${ref.name} key ${ref.key}` : 'not given'}`);
    }
  }
  return problems;
}

/** What a schema cannot check: each problem is one line naming the object. */
function contractProblems(objects: readonly Obj[], image: RegExp): string[] {
  const problems: string[] = [];
  const find = (kind: string, name: string): Obj | undefined => objects.find((o) => o.kind === kind && o.metadata.name === name);
  const config = objects.find((o) => o.kind === 'ConfigMap' && o.metadata.name === 'breachwave-config')?.data as Record<string, string> | undefined;
  if (!config) return ['ConfigMap breachwave-config is missing'];
  for (const key of Object.keys(config)) if (!KNOWN_VARIABLES.has(key)) problems.push(`ConfigMap breachwave-config: ${key} is not a variable packages/config knows`);
  for (const cm of objects.filter((o) => o.kind === 'ConfigMap')) {
    for (const [key, value] of Object.entries((cm.data ?? {}) as Record<string, string>)) {
      if (urlsWithPassword(value).length) problems.push(`ConfigMap ${cm.metadata.name}: ${key} holds a URL with a password; a password belongs in a Secret`);
    }
  }
  const metricsPort = Number(config.BW_METRICS_PORT ?? 0);
  const opsPort = Number(config.BW_OPS_PORT ?? 8080);
  if (metricsPort === 0) problems.push('BW_METRICS_PORT is 0: the workers would serve no /healthz or /readyz for the probes');
  for (const host of ['BW_METRICS_HOST', 'BW_OPS_HOST']) if (config[host] !== '0.0.0.0') problems.push(`${host} must be 0.0.0.0: the kubelet probes the pod's own address`);

  for (const o of objects.filter((x) => x.kind === 'Deployment' || x.kind === 'Job')) {
    const where = `${o.kind} ${o.metadata.name}`;
    const spec = o.spec.template.spec as Obj;
    if (spec.securityContext?.runAsNonRoot !== SECURE.runAsNonRoot || spec.securityContext?.runAsUser !== SECURE.runAsUser) problems.push(`${where}: the pod must run as non-root uid 10001`);
    const volumes = new Map<string, Obj>((spec.volumes ?? []).map((v: Obj) => [v.name, v]));
    for (const v of volumes.values()) {
      if (v.secret && !find('Secret', v.secret.secretName)) problems.push(`${where}: volume ${v.name} names Secret ${v.secret.secretName}, which is not rendered`);
      if (v.persistentVolumeClaim && !find('PersistentVolumeClaim', v.persistentVolumeClaim.claimName)) problems.push(`${where}: volume ${v.name} names PVC ${v.persistentVolumeClaim.claimName}, which is not rendered`);
    }
    for (const c of spec.containers as Obj[]) {
      const cw = `${where} container ${c.name}`;
      if (!image.test(String(c.image))) problems.push(`${cw}: image ${c.image} is not the breachwave image`);
      const process = (c.args ?? [])[0] as string | undefined;
      if (!process || !PROCESSES.has(process)) problems.push(`${cw}: args[0] ${process} is not a process of the image (${[...PROCESSES].join(', ')})`);
      // Probes: the port a process serves them on, by name or number.
      const port = (p: unknown): number | undefined => (typeof p === 'number' ? p : (c.ports ?? []).find((x: Obj) => x.name === p)?.containerPort);
      const serves = process === 'ops-api' ? opsPort : metricsPort;
      for (const kind of ['livenessProbe', 'readinessProbe', 'startupProbe']) {
        const probe = c[kind] as Obj | undefined;
        if (!probe) { if (kind !== 'startupProbe' && o.kind === 'Deployment') problems.push(`${cw}: no ${kind}`); continue; }
        if (!['/healthz', '/readyz'].includes(probe.httpGet?.path)) problems.push(`${cw}: ${kind} path ${probe.httpGet?.path} is not /healthz or /readyz`);
        if (port(probe.httpGet?.port) !== serves) problems.push(`${cw}: ${kind} port ${probe.httpGet?.port} is not ${serves}, where ${process} serves its health endpoints`);
      }
      if (o.kind === 'Deployment' && c.livenessProbe?.httpGet?.path !== '/healthz') problems.push(`${cw}: liveness must be /healthz (readiness follows Redis; a Redis outage must not restart every pod)`);
      const r = c.resources ?? {};
      for (const what of ['cpu', 'memory']) {
        if (!r.requests?.[what] || !r.limits?.[what]) problems.push(`${cw}: ${what} request and limit must both be set`);
      }
      const sc = c.securityContext ?? {};
      if (sc.readOnlyRootFilesystem !== true || sc.allowPrivilegeEscalation !== false || !(sc.capabilities?.drop ?? []).includes('ALL')) {
        problems.push(`${cw}: read-only root, no privilege escalation, all capabilities dropped`);
      }
      const mounts = (c.volumeMounts ?? []) as Obj[];
      if (!mounts.some((m) => m.mountPath === '/tmp')) problems.push(`${cw}: /tmp must be a writable volume (the root is read-only)`);
      for (const m of mounts) if (!volumes.has(m.name)) problems.push(`${cw}: mounts ${m.name}, which is no volume of the pod`);
      for (const e of (c.env ?? []) as Obj[]) {
        if (!KNOWN_VARIABLES.has(e.name)) problems.push(`${cw}: env ${e.name} is not a variable packages/config knows`);
        const ref = e.valueFrom?.secretKeyRef ?? e.valueFrom?.configMapKeyRef;
        if (ref) {
          const kind = e.valueFrom.secretKeyRef ? 'Secret' : 'ConfigMap';
          const target = find(kind, ref.name);
          if (!target) problems.push(`${cw}: env ${e.name} names ${kind} ${ref.name}, which is not rendered`);
          else if (!(ref.key in (target.data ?? {}))) problems.push(`${cw}: env ${e.name} names key ${ref.key}, which ${kind} ${ref.name} lacks`);
        }
      }
      for (const e of (c.envFrom ?? []) as Obj[]) {
        const ref = e.configMapRef ?? e.secretRef;
        const kind = e.configMapRef ? 'ConfigMap' : 'Secret';
        if (!find(kind, ref.name)) problems.push(`${cw}: envFrom names ${kind} ${ref.name}, which is not rendered`);
      }
      // REDIS_URL carries the Redis password: from a Secret, in every process.
      const redis = variableSource(c, 'REDIS_URL', find);
      if (!redis) problems.push(`${cw}: gets no REDIS_URL`);
      else if (redis.kind !== 'Secret') problems.push(`${cw}: REDIS_URL comes from ${redis.kind === 'value' ? 'a literal value' : `ConfigMap ${redis.name}`}, but it carries the Redis password: take it from a Secret`);
      // The REDIS_TLS_* files must be where the redis-tls Secret volume puts them.
      for (const v of ['REDIS_TLS_CA_FILE', 'REDIS_TLS_CERT_FILE', 'REDIS_TLS_KEY_FILE']) {
        const path = config[v];
        if (!path) continue;
        const mount = mounts.find((m) => path.startsWith(`${m.mountPath}/`));
        const secret = mount && volumes.get(mount.name)?.secret;
        if (!mount || !secret) { problems.push(`${cw}: ${v}=${path} is on no Secret volume`); continue; }
        const s = find('Secret', secret.secretName);
        if (s && !(path.slice(mount.mountPath.length + 1) in (s.data ?? {}))) problems.push(`${cw}: ${v}=${path}: Secret ${secret.secretName} has no such key`);
      }
    }
    if (o.kind === 'Deployment') {
      const pdb = objects.find((p) => p.kind === 'PodDisruptionBudget' && Object.entries(p.spec.selector.matchLabels ?? {}).every(([k, v]) => o.spec.template.metadata.labels?.[k] === v));
      if (!pdb) problems.push(`${where}: no PodDisruptionBudget selects its pods`);
    }
  }

  const audit = find('Deployment', 'audit-writer');
  if (!audit) problems.push('Deployment audit-writer is missing');
  else {
    if (audit.spec.replicas !== 1 || audit.spec.strategy?.type !== 'Recreate') problems.push('Deployment audit-writer: one replica, strategy Recreate (one writer per chain)');
    const auditDir = config.BW_AUDIT_DIR ?? '/var/lib/breachwave/audit';
    const spec = audit.spec.template.spec as Obj;
    const mount = (spec.containers[0].volumeMounts as Obj[]).find((m) => m.mountPath === auditDir);
    if (!mount || !(spec.volumes as Obj[]).find((v) => v.name === mount.name)?.persistentVolumeClaim) problems.push(`Deployment audit-writer: BW_AUDIT_DIR ${auditDir} must be on a PersistentVolumeClaim`);
  }
  for (const so of objects.filter((o) => o.kind === 'ScaledObject')) {
    const target = so.spec.scaleTargetRef;
    if ((target.kind ?? 'Deployment') !== 'Deployment' || target.name !== 'notifier' || !find('Deployment', target.name)) problems.push(`ScaledObject ${so.metadata.name} must target the notifier Deployment`);
    const notifier = find('Deployment', 'notifier');
    const source = notifier && variableSource(notifier.spec.template.spec.containers[0], 'REDIS_URL', find);
    const redisUrl = source?.kind === 'Secret' || source?.kind === 'ConfigMap' ? dataValue(find(source.kind, source.name), source.key) : undefined;
    problems.push(...scalerProblems(so, objects, config, redisUrl, notifier));
  }
  for (const ta of objects.filter((o) => o.kind === 'TriggerAuthentication')) {
    for (const ref of (ta.spec.secretTargetRef ?? []) as Obj[]) {
      const s = find('Secret', ref.name);
      if (!s) problems.push(`TriggerAuthentication ${ta.metadata.name}: ${ref.parameter} names Secret ${ref.name}, which is not rendered`);
      else if (!(ref.key in (s.data ?? {}))) problems.push(`TriggerAuthentication ${ta.metadata.name}: ${ref.parameter} names key ${ref.key}, which Secret ${ref.name} lacks`);
    }
  }
  return problems;
}

/** The environment a pod of the overlay would get, the placeholder secrets replaced by right values. */
function podEnvironment(objects: readonly Obj[]): Record<string, string> {
  const config = objects.find((o) => o.kind === 'ConfigMap' && o.metadata.name === 'breachwave-config')?.data as Record<string, string>;
  const secret = objects.find((o) => o.kind === 'Secret' && o.metadata.name === 'breachwave-secrets')?.data as Record<string, string>;
  const env: Record<string, string> = { ...config };
  for (const key of Object.keys(secret)) {
    // The URL is kept as the overlay writes it: its shape is what is checked; only its password is a placeholder.
    if (key === 'REDIS_URL') env[key] = Buffer.from(secret[key] as string, 'base64').toString('utf8');
    else if (key === 'BW_AUDIT_SIGNING_KEY') env[key] = generateKeyPairSync('ed25519').privateKey.export({ type: 'pkcs8', format: 'pem' }).toString();
    else if (key === 'TWILIO_ACCOUNT_SID') env[key] = `AC${randomBytes(16).toString('hex')}`;
    else if (key === 'TWILIO_MESSAGING_SERVICE_SID') env[key] = `MG${randomBytes(16).toString('hex')}`;
    else env[key] = randomBytes(key.endsWith('_TOKEN') ? 33 : 32).toString('base64');
  }
  return env;
}

const OVERLAY_IMAGE = /^registry\.example\.com\/breachwave:[\w.-]+$/;

test('the example overlays render, and every object is valid against its Kubernetes (and KEDA) schema', () => {
  for (const overlay of [OVERLAY, CLUSTER_OVERLAY]) {
    const objects = [...render(overlay), feederJob(render(overlay))];
    const kinds = objects.map((o) => `${o.kind}/${o.metadata.name}`).sort();
    for (const want of ['Deployment/notifier', 'Deployment/pin-rotator', 'Deployment/code-issuer', 'Deployment/audit-writer', 'Deployment/ops-api', 'Job/feeder-w20260101T120000Z-abc123', 'ScaledObject/notifier', 'TriggerAuthentication/breachwave-redis', 'Service/ops-api', 'Service/breachwave-metrics', 'ConfigMap/breachwave-config', 'Secret/breachwave-secrets', 'Secret/breachwave-redis-auth', 'Secret/breachwave-redis-tls']) {
      assert.ok(kinds.includes(want), `${overlay}: ${want} is rendered (got ${kinds.join(', ')})`);
    }
    assert.deepEqual(schemaProblems(objects), [], overlay);
  }
});

test('the schema check bites: a wrong type, a missing required field and an unknown KEDA field type are refused', () => {
  const objects = render(OVERLAY);
  const d = structuredClone(objects.find((o) => o.kind === 'Deployment')!);
  d.spec.template.spec.containers[0].ports[0].containerPort = '9464';
  const noSelector = structuredClone(d);
  delete noSelector.spec.selector;
  const so = structuredClone(objects.find((o) => o.kind === 'ScaledObject')!);
  so.spec.triggers[0].metadata.listLength = 500;
  for (const bad of [d, noSelector, so]) assert.equal(schemaProblems([bad]).length, 1, JSON.stringify(bad.spec).slice(0, 80));
});

test('the manifests keep the image contract and the configuration: images, processes, probes, variables, references, resources, security, audit volume, REDIS_URL from a Secret, scaler', () => {
  for (const overlay of [OVERLAY, CLUSTER_OVERLAY]) {
    const objects = [...render(overlay), feederJob(render(overlay))];
    assert.deepEqual(contractProblems(objects, OVERLAY_IMAGE), [], overlay);
  }
  // The base and the Job template as committed run the locally built image, as compose does;
  // the base needs only the Secrets an overlay makes.
  const base = contractProblems([...render(join(K8S, 'base')), feederJob()], /^breachwave:local$/);
  assert.deepEqual(base.filter((p) => !/Secret breachwave-(secrets|redis-tls|redis-auth), which is not rendered/.test(p)), []);
});

test('the scaler fits the Redis of each overlay: address, TLS and login as REDIS_URL says, every shard\'s list summed', () => {
  const example = render(OVERLAY);
  const so = example.find((o) => o.kind === 'ScaledObject')!;
  assert.equal(so.spec.triggers.length, 1);
  assert.deepEqual({ ...so.spec.triggers[0].metadata, listLength: undefined, activationListLength: undefined }, { address: 'redis.breachwave.svc:6380', listName: 'bw:bw-notify:wait', enableTLS: 'true', databaseIndex: '0', listLength: undefined, activationListLength: undefined });
  const auth = example.find((o) => o.kind === 'TriggerAuthentication')!;
  assert.deepEqual(auth.spec.secretTargetRef.map((r: Obj) => r.parameter).sort(), ['ca', 'cert', 'key', 'password', 'username']);
  const cluster = render(CLUSTER_OVERLAY);
  const cso = cluster.find((o) => o.kind === 'ScaledObject')!;
  assert.deepEqual(cso.spec.triggers.map((t: Obj) => [t.type, t.name, t.metadata.listName]), [['redis-cluster', 'shard0', '{bw}:bw-notify:wait'], ['redis-cluster', 'shard1', '{bw:s1}:bw-notify:wait'], ['redis-cluster', 'shard2', '{bw:s2}:bw-notify:wait']]);
  assert.equal(cso.spec.advanced.scalingModifiers.formula, 'shard0 + shard1 + shard2');
});

test('the contract checks bite: each kind of mistake in a rendered copy is named', () => {
  const objects = [...render(OVERLAY), feederJob(render(OVERLAY))];
  const clustered = [...render(CLUSTER_OVERLAY), feederJob(render(CLUSTER_OVERLAY))];
  const mutate = (edit: (objs: Obj[]) => void, from: readonly Obj[] = objects): string[] => {
    const copy = structuredClone(from) as Obj[];
    edit(copy);
    return contractProblems(copy, OVERLAY_IMAGE);
  };
  const dep = (objs: Obj[], name: string): Obj => objs.find((o) => o.kind === 'Deployment' && o.metadata.name === name)!;
  const one = (objs: Obj[], kind: string): Obj => objs.find((o) => o.kind === kind)!;
  const c0 = (objs: Obj[], name: string): Obj => dep(objs, name).spec.template.spec.containers[0];
  const trigger = (objs: Obj[], i = 0): Obj => one(objs, 'ScaledObject').spec.triggers[i];
  const secret = (objs: Obj[], name: string): Obj => objs.find((o) => o.kind === 'Secret' && o.metadata.name === name)!;
  const b64 = (s: string): string => Buffer.from(s).toString('base64');
  const withoutRedisUrl = (c: Obj): void => { c.env = (c.env as Obj[]).filter((e) => e.name !== 'REDIS_URL'); };
  const cases: [string, (objs: Obj[]) => void, RegExp][] = [
    ['another image', (o) => { c0(o, 'notifier').image = 'node:20'; }, /image node:20 is not the breachwave image/],
    ['an unknown process', (o) => { c0(o, 'pin-rotator').args = ['pin-rotater']; }, /args\[0\] pin-rotater is not a process/],
    ['a probe on the wrong port', (o) => { c0(o, 'ops-api').readinessProbe.httpGet.port = 9464; }, /readinessProbe port 9464 is not 8080/],
    ['a probe path nobody serves', (o) => { c0(o, 'notifier').livenessProbe.httpGet.path = '/health'; }, /livenessProbe path \/health/],
    ['an unknown variable', (o) => { c0(o, 'code-issuer').env.push({ name: 'BW_CODE_KEYS', value: 'x' }); }, /env BW_CODE_KEYS is not a variable/],
    ['an unknown ConfigMap key', (o) => { one(o, 'ConfigMap').data.REDIS_HOST = 'r'; }, /REDIS_HOST is not a variable/],
    ['a Secret key that does not exist', (o) => { c0(o, 'notifier').env[0].valueFrom.secretKeyRef.key = 'BW_ENVELOPE'; }, /names key BW_ENVELOPE, which Secret breachwave-secrets lacks/],
    ['no memory limit', (o) => { delete c0(o, 'audit-writer').resources.limits.memory; }, /memory request and limit/],
    ['a writable root', (o) => { c0(o, 'ops-api').securityContext.readOnlyRootFilesystem = false; }, /read-only root/],
    ['root', (o) => { dep(o, 'notifier').spec.template.spec.securityContext.runAsUser = 0; }, /non-root uid 10001/],
    ['two audit writers', (o) => { dep(o, 'audit-writer').spec.replicas = 2; }, /audit-writer: one replica/],
    ['a scaler on another Deployment', (o) => { one(o, 'ScaledObject').spec.scaleTargetRef.name = 'pin-rotator'; }, /must target the notifier/],
    ['a scaler on another list', (o) => { one(o, 'ScaledObject').spec.triggers[0].metadata.listName = 'bw:notify:wait'; }, /listName bw:notify:wait/],
    ['a TLS file outside the mounted Secret', (o) => { one(o, 'ConfigMap').data.REDIS_TLS_CA_FILE = '/etc/ssl/ca.crt'; }, /REDIS_TLS_CA_FILE=\/etc\/ssl\/ca.crt is on no Secret volume/],
    ['metrics off', (o) => { one(o, 'ConfigMap').data.BW_METRICS_PORT = '0'; }, /BW_METRICS_PORT is 0/],
    // REDIS_URL and its password.
    ['a password in the ConfigMap', (o) => { one(o, 'ConfigMap').data.REDIS_URL = 'rediss://breachwave:s3cret@redis.breachwave.svc:6380'; }, /ConfigMap breachwave-config: REDIS_URL holds a URL with a password/],
    ['REDIS_URL from the ConfigMap', (o) => { withoutRedisUrl(c0(o, 'pin-rotator')); one(o, 'ConfigMap').data.REDIS_URL = 'rediss://redis.breachwave.svc:6380'; }, /pin-rotator container pin-rotator: REDIS_URL comes from ConfigMap breachwave-config/],
    ['REDIS_URL as a literal', (o) => { c0(o, 'audit-writer').env[0] = { name: 'REDIS_URL', value: 'rediss://redis.breachwave.svc:6380' }; }, /audit-writer: REDIS_URL comes from a literal value/],
    ['no REDIS_URL', (o) => { withoutRedisUrl(o.find((x) => x.kind === 'Job')!.spec.template.spec.containers[0]); }, /Job feeder-\S+ container feeder: gets no REDIS_URL/],
    // The scaler against REDIS_URL: the base's defaults left in place, as before the overlay patched them.
    ['a scaler dialling the base\'s Redis', (o) => { trigger(o).metadata.address = 'redis:6379'; }, /address redis:6379 is not REDIS_URL's redis\.breachwave\.svc:6380/],
    ['a scaler without TLS', (o) => { trigger(o).metadata.enableTLS = 'false'; }, /TLS is off, but REDIS_URL is rediss:/],
    ['a scaler that does not log in', (o) => { delete trigger(o).authenticationRef; }, /REDIS_URL logs in with a password, but the trigger's TriggerAuthentication gives none/],
    ['a scaler with another password', (o) => { secret(o, 'breachwave-redis-auth').data.password = b64('another'); }, /the password KEDA gets \(Secret breachwave-redis-auth key password\) is not REDIS_URL's/],
    ['a username file ending in a newline', (o) => { secret(o, 'breachwave-redis-auth').data.username = b64('breachwave\n'); }, /username KEDA gets .* not REDIS_URL's \(a trailing newline/],
    ['a scaler trusting another CA', (o) => { one(o, 'TriggerAuthentication').spec.secretTargetRef.find((r: Obj) => r.parameter === 'ca').key = 'client.crt'; }, /the pods read REDIS_TLS_CA_FILE=\S+ca\.crt \(Secret breachwave-redis-tls\), but KEDA's ca is Secret breachwave-redis-tls key client\.crt/],
    ['a TriggerAuthentication naming a missing Secret', (o) => { one(o, 'TriggerAuthentication').spec.secretTargetRef[0].name = 'redis-auth'; }, /TriggerAuthentication breachwave-redis: username names Secret redis-auth, which is not rendered/],
    ['shards with one trigger', (o) => { Object.assign(one(o, 'ConfigMap').data, { BW_PREFIX: '{bw}', BW_SHARDS: '3' }); }, /no trigger counts shard 2's waiting list \{bw:s2\}:bw-notify:wait/],
  ];
  for (const [name, edit, expected] of cases) {
    const problems = mutate(edit);
    assert.ok(problems.some((p) => expected.test(p)), `${name}: expected a problem matching ${expected}, got ${JSON.stringify(problems)}`);
  }
  const clusterCases: [string, (objs: Obj[]) => void, RegExp][] = [
    ['a shard not counted', (o) => { one(o, 'ScaledObject').spec.triggers.pop(); one(o, 'ScaledObject').spec.advanced.scalingModifiers.formula = 'shard0 + shard1'; }, /no trigger counts shard 2's waiting list \{bw:s2\}:bw-notify:wait/],
    ['a shard left out of the sum', (o) => { one(o, 'ScaledObject').spec.advanced.scalingModifiers.formula = 'shard0 + shard1'; }, /formula "shard0 \+ shard1" is not the sum of every redis trigger/],
    ['triggers with no sum', (o) => { delete one(o, 'ScaledObject').spec.advanced; }, /3 redis triggers but no scalingModifiers formula/],
    ['the one-server trigger on a cluster', (o) => { trigger(o, 1).type = 'redis'; }, /REDIS_URL names a Redis Cluster, so the trigger must be redis-cluster/],
    ['a seed missing', (o) => { trigger(o, 2).metadata.addresses = 'redis-0.redis.breachwave.svc:6380'; }, /addresses redis-0\S+ are not REDIS_URL's seeds/],
  ];
  for (const [name, edit, expected] of clusterCases) {
    const problems = mutate(edit, clustered);
    assert.ok(problems.some((p) => expected.test(p)), `cluster: ${name}: expected a problem matching ${expected}, got ${JSON.stringify(problems)}`);
  }
});

test('the overlay\'s configuration loads: every service would start with it once the placeholder secrets are real', () => {
  const env = podEnvironment(render(OVERLAY));
  const c = loadConfig(env);
  assert.equal(c.redisUrl, 'rediss://breachwave:PLACEHOLDER-replace-with-BW_REDIS_PASSWORD@redis.breachwave.svc:6380');
  assert.deepEqual(c.redisTls, { caFile: '/etc/breachwave/redis-tls/ca.crt', certFile: '/etc/breachwave/redis-tls/client.crt', keyFile: '/etc/breachwave/redis-tls/client.key' });
  assert.equal(c.metrics.port, 9464);
  assert.equal(loadAuditWriterSettings(env).auditDir, '/var/lib/breachwave/audit');
  const clustered = loadConfig(podEnvironment(render(CLUSTER_OVERLAY)));
  assert.deepEqual([clustered.redisUrl.split('@')[1], clustered.prefix, clustered.shards], ['redis-0.redis.breachwave.svc:6380?nodes=redis-1.redis.breachwave.svc:6380,redis-2.redis.breachwave.svc:6380', '{bw}', 3]);
  assert.deepEqual(clustered.redisTls, c.redisTls);
});

const kubectl = spawnSync('kubectl', ['version', '--client'], { encoding: 'utf8' }).status === 0;
const noKubectl = kubectl ? false : 'kubectl is not installed: the renderer here is NOT compared with kubectl kustomize (the checks above still ran on its output)';
if (noKubectl) process.stderr.write(`\n*** ${noKubectl} ***\n\n`);

test('kubectl kustomize renders the overlays exactly as the renderer here does', { skip: noKubectl }, () => {
  for (const overlay of [OVERLAY, CLUSTER_OVERLAY]) {
    const r = spawnSync('kubectl', ['kustomize', overlay], { encoding: 'utf8' });
    assert.equal(r.status, 0, r.stderr);
    const theirs = parseYaml(r.stdout).map((d) => d.toJS() as Obj);
    const key = (o: Obj): string => `${o.kind}/${o.metadata.name}`;
    const sort = (objs: Obj[]): Obj[] => [...objs].sort((a, b) => key(a).localeCompare(key(b)));
    // kubectl folds long base64 values over lines; the bytes are the same.
    for (const o of theirs) if (o.kind === 'Secret') for (const k of Object.keys(o.data ?? {})) o.data[k] = String(o.data[k]).replace(/\s+/g, '');
    assert.deepEqual(sort(render(overlay)), sort(theirs), overlay);
  }
});
