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
import { loadAuditWriterSettings, loadConfig, variables } from '@breachwave/config';
import { QUEUES } from '@breachwave/jobs';

const ROOT = resolve(import.meta.dirname, '..', '..');
const K8S = join(ROOT, 'infra', 'k8s');
const OVERLAY = join(K8S, 'overlays', 'example');
const FEEDER_JOB = join(K8S, 'jobs', 'feeder-job.yaml');

// Loose JSON shapes: the schemas below are what checks them.
type Obj = { [k: string]: any }; // eslint-disable-line @typescript-eslint/no-explicit-any

// YAML 1.1, as kubectl reads it (`0440` is octal there, decimal 440 in YAML 1.2).
const parseYaml = (text: string) => parseAllDocuments(text, { version: '1.1' });
const readYaml = (file: string): Obj[] =>
  parseYaml(readFileSync(file, 'utf8')).map((d) => d.toJS() as Obj | null).filter((o): o is Obj => o !== null);

/** The kustomization features the manifests use; any other key is refused rather than ignored. */
const SUPPORTED = new Set(['apiVersion', 'kind', 'resources', 'namespace', 'images', 'configMapGenerator', 'secretGenerator', 'generatorOptions', 'replicas']);

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

/** What a schema cannot check: each problem is one line naming the object. */
function contractProblems(objects: readonly Obj[], image: RegExp): string[] {
  const problems: string[] = [];
  const find = (kind: string, name: string): Obj | undefined => objects.find((o) => o.kind === kind && o.metadata.name === name);
  const config = objects.find((o) => o.kind === 'ConfigMap' && o.metadata.name === 'breachwave-config')?.data as Record<string, string> | undefined;
  if (!config) return ['ConfigMap breachwave-config is missing'];
  for (const key of Object.keys(config)) if (!KNOWN_VARIABLES.has(key)) problems.push(`ConfigMap breachwave-config: ${key} is not a variable packages/config knows`);
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
    const wait = `${config.BW_PREFIX ?? 'bw'}:${QUEUES.notify}:wait`;
    for (const t of so.spec.triggers as Obj[]) {
      if (t.type === 'redis' && t.metadata.listName !== wait) problems.push(`ScaledObject ${so.metadata.name}: listName ${t.metadata.listName} is not the notify queue's waiting list ${wait}`);
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
    if (key === 'BW_AUDIT_SIGNING_KEY') env[key] = generateKeyPairSync('ed25519').privateKey.export({ type: 'pkcs8', format: 'pem' }).toString();
    else if (key === 'TWILIO_ACCOUNT_SID') env[key] = `AC${randomBytes(16).toString('hex')}`;
    else if (key === 'TWILIO_MESSAGING_SERVICE_SID') env[key] = `MG${randomBytes(16).toString('hex')}`;
    else env[key] = randomBytes(key.endsWith('_TOKEN') ? 33 : 32).toString('base64');
  }
  return env;
}

const OVERLAY_IMAGE = /^registry\.example\.com\/breachwave:[\w.-]+$/;

test('the example overlay renders, and every object is valid against its Kubernetes (and KEDA) schema', () => {
  const objects = [...render(OVERLAY), feederJob(render(OVERLAY))];
  const kinds = objects.map((o) => `${o.kind}/${o.metadata.name}`).sort();
  for (const want of ['Deployment/notifier', 'Deployment/pin-rotator', 'Deployment/code-issuer', 'Deployment/audit-writer', 'Deployment/ops-api', 'Job/feeder-w20260101T120000Z-abc123', 'ScaledObject/notifier', 'Service/ops-api', 'Service/breachwave-metrics', 'ConfigMap/breachwave-config', 'Secret/breachwave-secrets']) {
    assert.ok(kinds.includes(want), `${want} is rendered (got ${kinds.join(', ')})`);
  }
  assert.deepEqual(schemaProblems(objects), []);
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

test('the manifests keep the image contract and the configuration: images, processes, probes, variables, references, resources, security, audit volume, scaler', () => {
  const objects = [...render(OVERLAY), feederJob(render(OVERLAY))];
  assert.deepEqual(contractProblems(objects, OVERLAY_IMAGE), []);
  // The base alone runs the locally built image, as compose does.
  // The base and the Job template as committed run the locally built image, as compose does;
  // the base needs only the Secrets an overlay makes.
  const base = contractProblems([...render(join(K8S, 'base')), feederJob()], /^breachwave:local$/);
  assert.deepEqual(base.filter((p) => !/Secret breachwave-(secrets|redis-tls), which is not rendered/.test(p)), []);
});

test('the contract checks bite: each kind of mistake in a rendered copy is named', () => {
  const objects = [...render(OVERLAY), feederJob(render(OVERLAY))];
  const mutate = (edit: (objs: Obj[]) => void): string[] => {
    const copy = structuredClone(objects) as Obj[];
    edit(copy);
    return contractProblems(copy, OVERLAY_IMAGE);
  };
  const dep = (objs: Obj[], name: string): Obj => objs.find((o) => o.kind === 'Deployment' && o.metadata.name === name)!;
  const one = (objs: Obj[], kind: string): Obj => objs.find((o) => o.kind === kind)!;
  const c0 = (objs: Obj[], name: string): Obj => dep(objs, name).spec.template.spec.containers[0];
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
  ];
  for (const [name, edit, expected] of cases) {
    const problems = mutate(edit);
    assert.ok(problems.some((p) => expected.test(p)), `${name}: expected a problem matching ${expected}, got ${JSON.stringify(problems)}`);
  }
});

test('the overlay\'s configuration loads: every service would start with it once the placeholder secrets are real', () => {
  const env = podEnvironment(render(OVERLAY));
  const c = loadConfig(env);
  assert.equal(c.redisUrl, 'rediss://redis.breachwave.svc:6380');
  assert.deepEqual(c.redisTls, { caFile: '/etc/breachwave/redis-tls/ca.crt', certFile: '/etc/breachwave/redis-tls/client.crt', keyFile: '/etc/breachwave/redis-tls/client.key' });
  assert.equal(c.metrics.port, 9464);
  assert.equal(loadAuditWriterSettings(env).auditDir, '/var/lib/breachwave/audit');
});

const kubectl = spawnSync('kubectl', ['version', '--client'], { encoding: 'utf8' }).status === 0;
const noKubectl = kubectl ? false : 'kubectl is not installed: the renderer here is NOT compared with kubectl kustomize (the checks above still ran on its output)';
if (noKubectl) process.stderr.write(`\n*** ${noKubectl} ***\n\n`);

test('kubectl kustomize renders the overlay exactly as the renderer here does', { skip: noKubectl }, () => {
  const r = spawnSync('kubectl', ['kustomize', OVERLAY], { encoding: 'utf8' });
  assert.equal(r.status, 0, r.stderr);
  const theirs = parseYaml(r.stdout).map((d) => d.toJS() as Obj);
  const key = (o: Obj): string => `${o.kind}/${o.metadata.name}`;
  const sort = (objs: Obj[]): Obj[] => [...objs].sort((a, b) => key(a).localeCompare(key(b)));
  // kubectl folds long base64 values over lines; the bytes are the same.
  for (const o of theirs) if (o.kind === 'Secret') for (const k of Object.keys(o.data ?? {})) o.data[k] = String(o.data[k]).replace(/\s+/g, '');
  assert.deepEqual(sort(render(OVERLAY)), sort(theirs));
});
