/**
 * The wave manifest file: a versioned description of a wave (JSON or YAML) that an operator
 * writes, reviews and keeps beside the affected-account file, instead of a long command line.
 * `parseWaveManifest` checks it against {@link WAVE_MANIFEST_SCHEMA} and reports every problem at
 * once, each on its own line with the field's path; `manifestFromPlan` turns a plan back into a
 * manifest (what `wave create --write-manifest` writes).
 */
import { readFile } from 'node:fs/promises';
import { dirname, extname, isAbsolute, relative, resolve } from 'node:path';
import { parse as parseYaml, stringify as stringifyYaml } from 'yaml';
import { z } from 'zod';
import {
  WAVE_LANES, BreachwaveError, DATA_CATEGORIES, DEFAULT_ACTION_RULES, SEGMENTS, isFormattableTimeZone,
  type ActionRule, type ActionRules, type CodeSource, type PinDelivery, type RegulatoryClock, type WaveLane, type WaveManifest,
} from '@breachwave/domain';
import { fieldPath, planColumns, type ColumnMapping } from './columns.js';
import type { CreateWaveOptions } from './wave.js';

/** The manifest version this code reads and writes. A manifest of another version is refused. */
export const MANIFEST_VERSION = 1;

/** SMS segments a rendered notice may need before `wave create` warns, when the manifest does not say. */
export const DEFAULT_SMS_SEGMENT_BUDGET = 3;
/** The zone quiet hours assume for a recipient whose zone neither the account nor the area code gives. */
export const DEFAULT_QUIET_HOURS_ZONE = 'America/New_York';

const OPTIONAL_ACTIONS = ['rotate-pin', 'issue-code'] as const;
type OptionalAction = (typeof OPTIONAL_ACTIONS)[number];

/** The message for a value that is absent where one is required, or else `message(input)`. */
const orRequired = (message: (input: unknown) => string) => (iss: { input?: unknown }) => (iss.input === undefined ? 'required' : message(iss.input));

const segment = z.enum(SEGMENTS, { error: orRequired((v) => `unknown segment ${JSON.stringify(v)} (expected one of ${SEGMENTS.join(', ')})`) });
const category = z.enum(DATA_CATEGORIES, { error: orRequired((v) => `unknown data category ${JSON.stringify(v)} (expected one of ${DATA_CATEGORIES.join(', ')})`) });
const isoDate = z.string().regex(/^\d{4}-\d{2}-\d{2}$/, { error: 'must be a date YYYY-MM-DD', abort: true }).refine((v) => !Number.isNaN(Date.parse(`${v}T00:00:00Z`)), 'is not a calendar date');
/** A date (midnight UTC) or a date and time with `Z` or an offset. */
const isoTime = z.string()
  .regex(/^\d{4}-\d{2}-\d{2}(T\d{2}:\d{2}(:\d{2}(\.\d+)?)?(Z|[+-]\d{2}:\d{2}))?$/, { error: 'must be an ISO date (YYYY-MM-DD) or date and time with a zone (2026-05-01T14:30:00Z)', abort: true })
  .refine((v) => !Number.isNaN(Date.parse(v)), 'is not a valid time');
const hhmm = z.string().regex(/^([01]\d|2[0-3]):[0-5]\d$|^24:00$/, 'must be HH:MM (24-hour; 24:00 allowed as an end)');
const zone = z.string().refine(isFormattableTimeZone, 'must be an IANA time zone, e.g. America/Chicago');

const actionRule = z.strictObject({
  enabled: z.boolean().optional().describe('default true: an action listed is on unless enabled is false'),
  segments: z.array(segment).min(1, 'list at least one segment (leave the field out for the default rule)').optional()
    .describe('the action applies to accounts of these segments; default: the action\'s default rule'),
  exposedAny: z.array(category).min(1, 'list at least one data category (leave the field out for the default rule)').optional()
    .describe('…and whose exposed data includes one of these; default: the action\'s default rule'),
});
/** `true` and `false` are short for `{}` and `{ enabled: false }`. */
const action = z.preprocess((v) => (v === true ? {} : v === false ? { enabled: false } : v), actionRule);

/** The manifest file's schema (version 1). Unknown fields are refused, so a typo is never silently ignored. */
export const WAVE_MANIFEST_SCHEMA = z.strictObject({
  version: z.literal(MANIFEST_VERSION).describe('the manifest format version; only 1 exists'),
  name: z.string().trim().min(1, 'must not be empty').max(200, 'must be at most 200 characters').optional().describe('a name for people, e.g. "Prepaid PIN exposure, first wave"'),
  accounts: z.string().min(1, 'must not be empty').optional().describe('the affected-account file, relative to the manifest\'s directory; --accounts overrides it'),
  brand: z.string().trim().min(1, 'must not be empty').max(60, 'must be at most 60 characters').optional().describe('brand named in the notices; default BW_BRAND'),
  helpUrl: z.url({ protocol: /^https?$/, error: 'must be an http(s) URL' }).optional().describe('link in the notices; default BW_HELP_URL'),
  actions: z.strictObject({ 'rotate-pin': action.optional(), 'issue-code': action.optional() }).optional()
    .describe('optional actions before the notice (the notice itself always goes out); default none'),
  pinDelivery: z.enum(['none', 'sms-temporary'], { error: orRequired((v) => `unknown PIN delivery ${JSON.stringify(v)} (expected none or sms-temporary)`) }).optional()
    .describe('none (the notice says the PIN was reset) or sms-temporary; default none'),
  codeSource: z.union([z.literal('generated'), z.strictObject({ pool: z.string().regex(/^[A-Za-z0-9_-]{1,64}$/, 'must be 1–64 letters, digits, "-" or "_"') })],
    { error: 'must be "generated" or { pool: NAME }' }).optional().describe('where enrollment codes come from; required when issue-code is on'),
  enrollBy: isoDate.optional().describe('enrollment deadline printed in the notices (YYYY-MM-DD)'),
  quietHours: z.union([z.literal(false), z.strictObject({ defaultZone: zone, window: z.strictObject({ start: hhmm, end: hhmm }).optional() })],
    { error: 'must be false or { defaultZone, window?: { start, end } }' }).optional()
    .describe(`false: SMS at any hour; default { defaultZone: ${DEFAULT_QUIET_HOURS_ZONE} } with the 08:00–21:00 window and stricter state rules`),
  consolidate: z.boolean().optional()
    .describe('true (default): accounts whose notice goes to the same phone or email get one notice naming each account (masked); false: one notice per account'),
  smsSegmentBudget: z.int('must be an integer').min(1, 'must be 1 to 10').max(10, 'must be 1 to 10').optional()
    .describe(`warn when a rendered SMS needs more segments than this; default ${DEFAULT_SMS_SEGMENT_BUDGET}`),
  approvals: z.int('must be an integer').min(0, 'must be 0 to 5').max(5, 'must be 0 to 5').optional()
    .describe('operators other than the creator who must approve the wave; default BW_APPROVALS_REQUIRED'),
  lane: z.enum(WAVE_LANES).optional()
    .describe('queue lane: urgent (taken before every other waiting job), normal (default), reminder (after the others)'),
  regulatory: z.strictObject({
    determinedAt: isoTime.describe('when the breach was determined'),
    deadline: isoTime.optional().describe('by when every notice must be out; or deadlineDays'),
    deadlineDays: z.int('must be an integer').min(1, 'must be 1 to 3650').max(3650, 'must be 1 to 3650').optional().describe('days after determinedAt; or deadline'),
    rule: z.string().trim().min(1, 'must not be empty').max(200, 'must be at most 200 characters').optional().describe('the rule the deadline comes from'),
  }).optional().describe('the regulatory clock the wave runs against'),
  columns: z.record(z.string(), z.string({ error: 'must be the file\'s header, a string' })).optional()
    .describe('canonical column → the file\'s header, e.g. { phone: MSISDN, exposed: "Exposed Data" }'),
  ignoreColumns: z.array(z.string({ error: 'must be a column name' })).optional().describe('columns the file may carry that the pipeline does not read'),
});

/**
 * Problems that involve more than one field. Checked on the raw data, next to the schema, so
 * they are reported together with the schema's problems rather than only once those are fixed.
 */
function crossProblems(data: Record<string, unknown>): string[] {
  const out: string[] = [];
  const obj = (v: unknown): Record<string, unknown> | undefined => (v !== null && typeof v === 'object' && !Array.isArray(v) ? v as Record<string, unknown> : undefined);
  const actions = obj(data.actions);
  const on = (a: OptionalAction): boolean => { const v = actions?.[a]; return v === true || (obj(v) !== undefined && obj(v)?.enabled !== false); };
  if (on('issue-code') && data.codeSource === undefined) out.push('codeSource: required when issue-code is on ("generated" or { pool: NAME })');
  if (data.pinDelivery === 'sms-temporary' && !on('rotate-pin')) out.push('pinDelivery: sms-temporary delivers rotated PINs, but rotate-pin is not on');
  const r = obj(data.regulatory);
  if (r) {
    if ((r.deadline === undefined) === (r.deadlineDays === undefined)) out.push('regulatory: give exactly one of deadline or deadlineDays');
    else if (typeof r.deadline === 'string' && typeof r.determinedAt === 'string' && Date.parse(r.deadline) <= Date.parse(r.determinedAt)) out.push('regulatory.deadline: must be after determinedAt');
  }
  const columns = obj(data.columns);
  const ignore = data.ignoreColumns;
  const mapping = Object.fromEntries(Object.entries(columns ?? {}).filter((e): e is [string, string] => typeof e[1] === 'string'));
  const ignoreList = Array.isArray(ignore) ? ignore.map((v) => (typeof v === 'string' ? v : '\u0000')) : [];
  for (const p of planColumns(mapping, ignoreList).problems) {
    // A non-string entry is the schema's to report.
    if (p.path[0] === 'ignoreColumns' && ignoreList[p.path[1] as number] === '\u0000') continue;
    out.push(`${fieldPath(p.path)}: ${p.message}`);
  }
  return out;
}

/** A manifest file as written (the schema's input). */
export type WaveManifestFile = z.input<typeof WAVE_MANIFEST_SCHEMA>;

/** What a manifest says, in the terms `createWave` takes. Absent values fall back as the fields say. */
export interface WavePlan {
  readonly manifestVersion: number;
  readonly name?: string;
  /** The affected-account file, resolved against the manifest's directory. */
  readonly accounts?: string;
  readonly brand?: string;
  readonly helpUrl?: string;
  readonly rules: ActionRules;
  readonly pinDelivery: PinDelivery;
  readonly codeSource?: CodeSource;
  readonly enrollBy?: string;
  /** Absent: quiet hours are off. */
  readonly quietHours?: WaveManifest['quietHours'];
  readonly smsSegmentBudget: number;
  /** One notice per contact point (default true) or one per account. */
  readonly consolidate: boolean;
  readonly approvals?: number;
  readonly lane?: WaveLane;
  readonly regulatory?: RegulatoryClock;
  readonly columns?: ColumnMapping;
  readonly ignoreColumns?: readonly string[];
}

function manifestError(file: string, problems: readonly string[]): BreachwaveError {
  const lines = problems.map((p) => `manifest ${file}: ${p}`);
  const detail = lines.length === 1 ? (lines[0] ?? '') : `manifest ${file} has ${lines.length} problems:\n${lines.join('\n')}`;
  return new BreachwaveError('BW_INPUT_INVALID', { detail });
}

/** An issue as one line: the field's path, then what is wrong (unknown fields one line each). */
function issueLines(issue: z.core.$ZodIssue): string[] {
  const at = fieldPath(issue.path);
  if (issue.code === 'unrecognized_keys') return issue.keys.map((k) => `${fieldPath([...issue.path, k])}: unknown field`);
  let message = issue.message;
  if (issue.code === 'invalid_type') message = /received undefined$/.test(message) ? 'required' : `must be ${issue.expected === 'int' ? 'an integer' : `a ${issue.expected}`}`;
  return [`${at || '(top level)'}: ${message}`];
}

/**
 * Checks a manifest's text and returns its plan.
 * @param file the manifest's path: names it in errors, and relative `accounts` paths resolve against its directory.
 * @param format `yaml` (JSON is YAML too) unless the text is to be read as strict JSON.
 * @throws BreachwaveError BW_INPUT_INVALID naming every problem, one line each (`manifest FILE: path: what`).
 */
export function parseWaveManifest(text: string, file: string, format: 'json' | 'yaml' = 'yaml'): WavePlan {
  let data: unknown;
  try {
    data = format === 'json' ? JSON.parse(text) : parseYaml(text, { prettyErrors: true });
  } catch (err) {
    const first = (err instanceof Error ? err.message : String(err)).split('\n')[0] ?? '';
    throw manifestError(file, [`not valid ${format === 'json' ? 'JSON' : 'YAML'}: ${first}`]);
  }
  if (data === null || typeof data !== 'object' || Array.isArray(data)) throw manifestError(file, ['must be a mapping of fields (version, accounts, …)']);
  // Another version's fields may mean other things: that is the only thing said about it.
  const version = (data as { version?: unknown }).version;
  if (version === undefined) throw manifestError(file, [`version: required (this breachwave reads manifest version ${MANIFEST_VERSION})`]);
  if (version !== MANIFEST_VERSION) throw manifestError(file, [`version: unsupported manifest version ${JSON.stringify(version)} (this breachwave reads version ${MANIFEST_VERSION})`]);
  const parsed = WAVE_MANIFEST_SCHEMA.safeParse(data);
  const problems = [...(parsed.success ? [] : parsed.error.issues.flatMap(issueLines)), ...crossProblems(data as Record<string, unknown>)];
  if (problems.length > 0 || !parsed.success) throw manifestError(file, problems);
  return planFromManifest(parsed.data, dirname(file));
}

/**
 * Reads and checks a manifest file: `.json` as JSON, anything else (`.yaml`, `.yml`) as YAML.
 * @throws BreachwaveError BW_INPUT_FILE when it cannot be read; BW_INPUT_INVALID as {@link parseWaveManifest}.
 */
export async function readWaveManifest(file: string): Promise<WavePlan> {
  let text: string;
  try {
    text = await readFile(file, 'utf8');
  } catch (err) {
    const code = (err as NodeJS.ErrnoException | undefined)?.code;
    throw new BreachwaveError('BW_INPUT_FILE', { detail: `${code === 'ENOENT' ? 'manifest not found' : `cannot read the manifest (${code ?? 'error'})`}: ${file}`, cause: err });
  }
  return parseWaveManifest(text, file, extname(file).toLowerCase() === '.json' ? 'json' : 'yaml');
}

function ruleOf(a: OptionalAction, v: z.output<typeof actionRule> | undefined): ActionRule | undefined {
  if (v === undefined || v.enabled === false) return undefined;
  const d = DEFAULT_ACTION_RULES[a];
  const segments = v.segments ?? d.segments;
  const exposedAny = v.exposedAny ?? d.exposedAny;
  return { ...(segments ? { segments } : {}), ...(exposedAny ? { exposedAny } : {}) };
}

function planFromManifest(m: z.output<typeof WAVE_MANIFEST_SCHEMA>, baseDir: string): WavePlan {
  const rules: Partial<Record<OptionalAction, ActionRule>> = {};
  for (const a of OPTIONAL_ACTIONS) {
    const rule = ruleOf(a, m.actions?.[a]);
    if (rule) rules[a] = rule;
  }
  const r = m.regulatory;
  const regulatory: RegulatoryClock | undefined = r && {
    determinedAt: new Date(r.determinedAt).toISOString(),
    deadline: r.deadline !== undefined ? new Date(r.deadline).toISOString() : new Date(Date.parse(r.determinedAt) + (r.deadlineDays ?? 0) * 86_400_000).toISOString(),
    ...(r.rule ? { rule: r.rule } : {}),
  };
  const codeSource: CodeSource | undefined = m.codeSource === undefined ? undefined : m.codeSource === 'generated' ? { kind: 'generated' } : { kind: 'pool', pool: m.codeSource.pool };
  return {
    manifestVersion: m.version,
    ...(m.name ? { name: m.name } : {}),
    ...(m.accounts ? { accounts: resolve(baseDir, m.accounts) } : {}),
    ...(m.brand ? { brand: m.brand } : {}),
    ...(m.helpUrl ? { helpUrl: m.helpUrl } : {}),
    rules,
    pinDelivery: m.pinDelivery ?? 'none',
    ...(codeSource ? { codeSource } : {}),
    ...(m.enrollBy ? { enrollBy: m.enrollBy } : {}),
    ...(m.quietHours === false ? {} : { quietHours: m.quietHours ?? { defaultZone: DEFAULT_QUIET_HOURS_ZONE } }),
    smsSegmentBudget: m.smsSegmentBudget ?? DEFAULT_SMS_SEGMENT_BUDGET,
    consolidate: m.consolidate ?? true,
    ...(m.approvals !== undefined ? { approvals: m.approvals } : {}),
    ...(m.lane ? { lane: m.lane } : {}),
    ...(regulatory ? { regulatory } : {}),
    ...(m.columns && Object.keys(m.columns).length > 0 ? { columns: m.columns } : {}),
    ...(m.ignoreColumns && m.ignoreColumns.length > 0 ? { ignoreColumns: m.ignoreColumns } : {}),
  };
}

/**
 * The manifest file that says what `plan` says (version {@link MANIFEST_VERSION}): every field
 * written out, defaults included, so the operator sees what the wave will do. `accounts` is
 * written relative to `manifestDir` (where the file goes).
 */
export function manifestFromPlan(plan: Omit<WavePlan, 'manifestVersion'>, manifestDir: string): WaveManifestFile {
  const actions: Partial<Record<OptionalAction, { segments?: string[]; exposedAny?: string[] }>> = {};
  for (const a of OPTIONAL_ACTIONS) {
    const rule = plan.rules[a];
    if (rule) actions[a] = { ...(rule.segments ? { segments: [...rule.segments] } : {}), ...(rule.exposedAny ? { exposedAny: [...rule.exposedAny] } : {}) };
  }
  const accounts = plan.accounts && (isAbsolute(plan.accounts) ? relative(manifestDir, plan.accounts) || plan.accounts : plan.accounts);
  const doc: WaveManifestFile = {
    version: MANIFEST_VERSION,
    ...(plan.name ? { name: plan.name } : {}),
    ...(accounts ? { accounts } : {}),
    ...(plan.brand ? { brand: plan.brand } : {}),
    ...(plan.helpUrl ? { helpUrl: plan.helpUrl } : {}),
    actions: actions as WaveManifestFile['actions'],
    pinDelivery: plan.pinDelivery,
    ...(plan.codeSource ? { codeSource: plan.codeSource.kind === 'generated' ? 'generated' : { pool: plan.codeSource.pool } } : {}),
    ...(plan.enrollBy ? { enrollBy: plan.enrollBy } : {}),
    quietHours: plan.quietHours ? { defaultZone: plan.quietHours.defaultZone, ...(plan.quietHours.window ? { window: { ...plan.quietHours.window } } : {}) } : false,
    smsSegmentBudget: plan.smsSegmentBudget,
    consolidate: plan.consolidate,
    ...(plan.approvals !== undefined ? { approvals: plan.approvals } : {}),
    ...(plan.lane ? { lane: plan.lane } : {}),
    ...(plan.regulatory ? { regulatory: { ...plan.regulatory } } : {}),
    ...(plan.columns && Object.keys(plan.columns).length > 0 ? { columns: { ...plan.columns } as Record<string, string> } : {}),
    ...(plan.ignoreColumns && plan.ignoreColumns.length > 0 ? { ignoreColumns: [...plan.ignoreColumns] } : {}),
  };
  return doc;
}

/** A manifest as file text: JSON for a `.json` path, YAML otherwise. */
export function formatWaveManifest(doc: WaveManifestFile, file: string): string {
  return extname(file).toLowerCase() === '.json' ? `${JSON.stringify(doc, null, 2)}\n` : stringifyYaml(doc);
}

/** The manifest schema as JSON Schema (draft 2020-12), for editors and reviews. */
export function waveManifestJsonSchema(): Record<string, unknown> {
  return z.toJSONSchema(WAVE_MANIFEST_SCHEMA, { io: 'input', unrepresentable: 'any' }) as Record<string, unknown>;
}

/** The part of `createWave`'s options a plan decides (brand and help URL fall back to the caller's defaults). */
export type PlannedWaveOptions = Pick<CreateWaveOptions,
  'brand' | 'helpUrl' | 'rules' | 'pinDelivery' | 'codeSource' | 'enrollBy' | 'quietHours' | 'name' | 'regulatory' |
  'manifestVersion' | 'columns' | 'ignoreColumns' | 'approvals' | 'lane' | 'consolidate'>;

/**
 * What `plan` gives `createWave`, the same whichever way the wave is created (the CLI's flags or
 * manifest, the ops API's manifest). Unset fields stay absent so `createWave`'s defaults apply;
 * `approvals` falls back to `defaults.approvals`.
 */
export function plannedWaveOptions(plan: Omit<WavePlan, 'manifestVersion'> & { readonly manifestVersion?: number }, defaults: { readonly brand: string; readonly helpUrl: string; readonly approvals: number }): PlannedWaveOptions {
  return {
    brand: plan.brand ?? defaults.brand,
    helpUrl: plan.helpUrl ?? defaults.helpUrl,
    rules: plan.rules,
    pinDelivery: plan.pinDelivery,
    approvals: plan.approvals ?? defaults.approvals,
    consolidate: plan.consolidate,
    ...(plan.codeSource ? { codeSource: plan.codeSource } : {}),
    ...(plan.enrollBy ? { enrollBy: plan.enrollBy } : {}),
    ...(plan.quietHours ? { quietHours: plan.quietHours } : {}),
    ...(plan.name ? { name: plan.name } : {}),
    ...(plan.regulatory ? { regulatory: plan.regulatory } : {}),
    ...(plan.manifestVersion !== undefined ? { manifestVersion: plan.manifestVersion } : {}),
    ...(plan.columns ? { columns: plan.columns } : {}),
    ...(plan.ignoreColumns ? { ignoreColumns: plan.ignoreColumns } : {}),
    ...(plan.lane ? { lane: plan.lane } : {}),
  };
}
