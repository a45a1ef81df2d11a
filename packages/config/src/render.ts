import { variableDocs, type VariableDoc } from './docs.js';
import { sections, type SectionName, type Variable, type VariableName } from './variables.js';

/** The markers around the generated table in the README; everything between them is replaced. */
export const README_START = '<!-- config-table:start -->';
export const README_END = '<!-- config-table:end -->';

/** How to bring the generated files up to date; the drift test prints it. */
export const REGENERATE = 'pnpm config:docs';

const TITLES: { readonly [S in SectionName]: string } = {
  connection: 'Every process',
  keys: 'Keys',
  notices: 'Notices',
  feeder: 'Feeder',
  notifier: 'Notifier',
  twilio: 'SMS (Twilio)',
  smtp: 'Email (SMTP)',
  opsApi: 'ops-api',
  pin: 'PIN rotation and verification',
  codes: 'Enrollment codes',
  workers: 'Action workers and recovery',
  metrics: 'Metrics and probes',
  auditWriter: 'Audit writer',
  cli: 'CLI',
};

type DefaultValue = { readonly kind: 'required' } | { readonly kind: 'unset' } | { readonly kind: 'value'; readonly raw: string };

/** The default as the schema applies it: parsing an absent value says whether there is one. */
function defaultOf(variable: Variable): DefaultValue {
  const parsed = variable.schema.safeParse(undefined);
  if (!parsed.success) return { kind: 'required' };
  const value: unknown = parsed.data;
  if (value === undefined || (Array.isArray(value) && value.length === 0)) return { kind: 'unset' };
  return { kind: 'value', raw: String(value) };
}

function shownDefault(variable: Variable, doc: VariableDoc): string {
  if (doc.default !== undefined) return doc.default;
  const d = defaultOf(variable);
  return d.kind === 'required' ? '**required**' : d.kind === 'unset' ? '—' : `\`${d.raw}\``;
}

/** An example is a value (shown as code) unless it says how to get one ("generate one with: cmd", "from …"). */
function exampleMarkdown(example: string): string {
  const generate = /^generate one with: (.+)$/.exec(example);
  if (generate) return `generate one with \`${generate[1]}\``;
  return example.startsWith('from ') ? example : `\`${example}\``;
}

const cell = (s: string): string => s.replace(/\|/g, '\\|').replace(/\n/g, ' ');

function entries(section: SectionName): [VariableName, Variable][] {
  return Object.entries(sections[section]) as [VariableName, Variable][];
}

/** The README's configuration tables (one per section), generated from the schema and its docs. */
export function renderConfigTable(): string {
  const out: string[] = [
    '<!-- Generated from packages/config (variables.ts, docs.ts) by `' + REGENERATE + '`; edit those, not this table. -->',
    '',
    'Every variable is parsed once at start by `@breachwave/config`; an empty value counts as unset. A bad',
    'configuration stops the process with `BW_CONFIG_INVALID`, one line per bad variable (a secret\'s value is',
    'never shown). `.env.example` lists the same variables.',
  ];
  for (const section of Object.keys(sections) as SectionName[]) {
    out.push('', `#### ${TITLES[section]}`, '', '| variable | default | value | read by | meaning |', '| --- | --- | --- | --- | --- |');
    for (const [name, variable] of entries(section)) {
      const doc = variableDocs[name];
      out.push(`| \`${name}\`${doc.secret ? ' (secret)' : ''} | ${cell(shownDefault(variable, doc))} | ${cell(variable.expects)} | ${doc.services.join(', ')} | ${cell(`${doc.description} E.g. ${exampleMarkdown(doc.example)}.`)} |`);
    }
  }
  return out.join('\n');
}

/** Replaces what lies between the README's markers with the generated table. */
export function withConfigTable(readme: string): string {
  const start = readme.indexOf(README_START);
  const end = readme.indexOf(README_END);
  if (start < 0 || end < start) throw new Error(`the README lacks the markers ${README_START} … ${README_END}`);
  return `${readme.slice(0, start + README_START.length)}\n${renderConfigTable()}\n${readme.slice(end)}`;
}

/** Wraps `text` into `# `-prefixed lines of at most about 100 characters. */
function commentLines(text: string): string[] {
  const lines: string[] = [];
  let line = '#';
  for (const word of text.split(/\s+/).filter(Boolean)) {
    if (line.length + word.length + 1 > 100 && line !== '#') {
      lines.push(line);
      line = '#';
    }
    line += ` ${word}`;
  }
  if (line !== '#') lines.push(line);
  return lines;
}

/** A value as an env file needs it: quoted when it holds spaces or characters a shell would read. */
const envValue = (raw: string): string => (/^[\w./:@+-]*$/.test(raw) ? raw : JSON.stringify(raw));

/**
 * Variables that docker-compose.yml reads for the containers beside breachwave (Redis, Grafana):
 * no breachwave process reads them, so they are not in the schema, but `.env.example` must name
 * every variable compose uses.
 */
export const COMPOSE_VARIABLES: readonly { readonly name: string; readonly description: string; readonly value: string; readonly required: boolean }[] = [
  {
    name: 'BW_REDIS_PASSWORD',
    description: 'Password of the Redis user `breachwave` (infra/redis/start.sh puts its SHA-256 in the ACL file it makes; docker-compose.yml puts it in every process\'s REDIS_URL). The default user is off, so Redis refuses to start without it.',
    value: '32 to 128 letters, digits, _ and -; `breachwave keys generate` prints one',
    required: true,
  },
  {
    name: 'BW_REDIS_ADMIN_PASSWORD',
    description: 'When set, Redis also has a user `admin` with every command and key, for an operator\'s `redis-cli --user admin` (INFO, SLOWLOG, ACL LOG, CONFIG). Unset: no such user.',
    value: '32 to 128 letters, digits, _ and -; e.g. openssl rand -hex 32',
    required: false,
  },
  {
    name: 'GRAFANA_ADMIN_PASSWORD',
    description: 'Password of Grafana\'s `admin` (on 127.0.0.1:3000). Unset: `admin`, which Grafana asks you to change at the first login.',
    value: 'a password',
    required: false,
  },
];

/**
 * `.env.example`: every variable with its documentation as comments. Required ones stand
 * uncommented and empty (to be filled in); the others are commented out, with their default
 * unless they are secrets, which are always left empty.
 */
export function renderEnvExample(): string {
  const out: string[] = [
    '# breachwave configuration. Generated from packages/config by `' + REGENERATE + '`; edit those sources, not this file.',
    '# Copy to .env and fill in what you need. An empty value counts as unset. With Docker Compose,',
    '# `breachwave keys generate >> .env` fills in every secret a deployment makes for itself (README).',
  ];
  for (const section of Object.keys(sections) as SectionName[]) {
    out.push('', `# ─── ${TITLES[section]} ───`);
    for (const [name, variable] of entries(section)) {
      const doc = variableDocs[name];
      const d = defaultOf(variable);
      out.push('', ...commentLines(`${name}${doc.secret ? ' (secret)' : ''}: ${doc.description}`));
      out.push(...commentLines(`Value: ${variable.expects}; e.g. ${doc.example}. Default: ${(doc.default ?? (d.kind === 'value' ? d.raw : d.kind === 'required' ? 'none, required' : 'unset')).replace(/`/g, '')}. Read by: ${doc.services.join(', ')}.`));
      if (d.kind === 'required') out.push(`${name}=`);
      else out.push(`# ${name}=${d.kind === 'value' && !doc.secret ? envValue(d.raw) : ''}`);
    }
  }
  out.push('', '# ─── Docker Compose (read by docker-compose.yml for Redis and Grafana, not by the processes) ───');
  for (const v of COMPOSE_VARIABLES) {
    out.push('', ...commentLines(`${v.name} (secret): ${v.description}`), ...commentLines(`Value: ${v.value.replace(/`/g, '')}. ${v.required ? 'Required by docker-compose.yml.' : 'Optional.'}`));
    out.push(v.required ? `${v.name}=` : `# ${v.name}=`);
  }
  return `${out.join('\n')}\n`;
}
