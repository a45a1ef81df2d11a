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
  WAVE_LANES, BreachwaveError, CHANNELS, DATA_CATEGORIES, DEFAULT_ACTION_RULES, DEFAULT_CHANNEL_ORDER, SEGMENTS, effectiveDeadline, isFormattableTimeZone, templateValueProblem,
  type ActionRule, type ActionRules, type Channel, type ChannelPolicy, type CodeSource, type PinDelivery, type RegulatoryClock, type RegulatoryRule,
  type Segment, type WaveLane, type WaveManifest,
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
/**
 * Channels in the order they are tried: the channels the notifier has a port for, each once.
 * A channel left out is never used for those accounts.
 */
const channelList = z.array(z.enum(CHANNELS, { error: orRequired((v) => `unknown channel ${JSON.stringify(v)} (the notifier sends by ${CHANNELS.join(' and ')})`) }))
  .min(1, 'list at least one channel')
  .refine((l) => new Set(l).size === l.length, 'lists a channel twice');
/** A sender id as `pace set --sender` takes it: `twilio:<number or Messaging Service>`, `smtp:<host>:<port>`. */
const senderId = z.string().regex(/^(twilio:\S{1,120}|smtp:[^\s:]{1,200}:\d{1,5})$/, 'must be a sender id as `pace set --sender` takes it: twilio:<number or MG…>, smtp:<host>:<port>');
/** A value said in every notice: one line that names no data category or remediation (`templateValueProblem`). */
const templateText = (max: number) => z.string().trim().min(1, 'must not be empty').max(max, `must be at most ${max} characters`)
  .superRefine((v, ctx) => {
    const problem = templateValueProblem(v);
    if (problem) ctx.addIssue({ code: 'custom', message: problem });
  });
/** An operator identity: `NAME` or `operator:NAME`, as BW_OPERATOR or an API token names the operator. */
const operatorName = z.string({ error: 'must be an operator name' }).regex(/^(operator:)?[A-Za-z0-9][A-Za-z0-9._@+-]{0,63}$/, 'must be an operator name (letters, digits, . _ @ + -), as BW_OPERATOR or an API token names the operator');
const deadlineRule = z.strictObject({
  rule: z.string().trim().min(1, 'must not be empty').max(200, 'must be at most 200 characters').describe('the rule, for people, e.g. "FCC 47 CFR 64.2011"'),
  days: z.int('must be an integer').min(1, 'must be 1 to 3650').max(3650, 'must be 1 to 3650').optional().describe('days after determinedAt'),
  hours: z.int('must be an integer').min(1, 'must be 1 to 87600').max(87_600, 'must be 1 to 87600').optional().describe('hours after determinedAt'),
  at: isoTime.optional().describe('a fixed deadline'),
});

/** `true` and `false` are short for `{}` and `{ enabled: false }`. */
const action = z.preprocess((v) => (v === true ? {} : v === false ? { enabled: false } : v), actionRule);

/** The manifest file's schema (version 1). Unknown fields are refused, so a typo is never silently ignored. */
export const WAVE_MANIFEST_SCHEMA = z.strictObject({
  version: z.literal(MANIFEST_VERSION).describe('the manifest format version; only 1 exists'),
  name: z.string().trim().min(1, 'must not be empty').max(200, 'must be at most 200 characters').optional().describe('a name for people, e.g. "Prepaid PIN exposure, first wave"'),
  accounts: z.string().min(1, 'must not be empty').optional().describe('the affected-account file, relative to the manifest\'s directory; --accounts overrides it'),
  brand: templateText(60).optional().describe('brand named in the notices; default BW_BRAND (or templates.carrierName)'),
  helpUrl: z.url({ protocol: /^https?$/, error: 'must be an http(s) URL' }).optional().describe('link in the notices; default BW_HELP_URL (or templates.supportUrl)'),
  templates: z.strictObject({
    carrierName: templateText(60).optional().describe('the carrier named in the notices (same as brand)'),
    supportUrl: z.url({ protocol: /^https?$/, error: 'must be an http(s) URL' }).optional().describe('the link in the notices (same as helpUrl)'),
    supportPhone: z.string().regex(/^\+?[0-9][0-9 ().-]{5,23}$/, 'must be a phone number (digits, spaces, + ( ) . -)').optional().describe('a support number the notices give beside the link'),
    signOff: templateText(80).optional().describe('the email notices\' closing line, e.g. "The Acme Mobile security team"'),
  }).optional().describe('the values the notices may carry besides what happened to each account; never free text: the categories and remediation are always the account\'s own'),
  channels: z.strictObject({
    order: channelList.optional().describe(`channels in the order tried (the next ones are fallbacks); default ${DEFAULT_CHANNEL_ORDER.join(', ')}`),
    segments: z.partialRecord(segment, channelList).optional().describe('a segment\'s own order instead'),
  }).optional().describe('which channels the notices may use, in which order, per segment; a channel left out is never used'),
  pace: z.record(senderId, z.number({ error: 'must be a number of messages per second' }).positive('must be above 0').max(10_000, 'must be at most 10000'), { error: 'must be { SENDER: messages per second }' }).optional()
    .describe('the pace (messages/s) set for each sender when the wave is first fed, as `pace set` would; a pace set while it runs wins'),
  approvers: z.array(operatorName).min(1, 'list at least one operator (leave the field out to let any other operator approve)').optional()
    .describe('the operators who may approve the wave; default any operator but its creator'),
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
    .describe('operators other than the creator who must approve the wave (of approvers, when named); default BW_APPROVALS_REQUIRED'),
  lane: z.enum(WAVE_LANES).optional()
    .describe('queue lane: urgent (taken before every other waiting job), normal (default), reminder (after the others)'),
  regulatory: z.strictObject({
    determinedAt: isoTime.describe('when the breach was determined'),
    deadline: isoTime.optional().describe('by when every notice must be out; or deadlineDays, or deadlines'),
    deadlineDays: z.int('must be an integer').min(1, 'must be 1 to 3650').max(3650, 'must be 1 to 3650').optional().describe('days after determinedAt; or deadline, or deadlines'),
    rule: z.string().trim().min(1, 'must not be empty').max(200, 'must be at most 200 characters').optional().describe('the rule the deadline comes from'),
    deadlines: z.array(deadlineRule).min(1, 'list at least one rule').optional()
      .describe('several rules (FCC, each state\'s), each { rule, days | hours | at }: the earliest deadline is the wave\'s, and status names its rule'),
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
  if (r && r.deadlines !== undefined) {
    const single = ['deadline', 'deadlineDays', 'rule'].filter((f) => r[f] !== undefined);
    if (single.length > 0) out.push(`regulatory: give deadlines, or deadline/deadlineDays with rule, not both (${single.join(', ')} given with deadlines)`);
    if (Array.isArray(r.deadlines)) {
      r.deadlines.forEach((d: unknown, i) => {
        const e = obj(d);
        if (!e) return;
        const given = ['days', 'hours', 'at'].filter((f) => e[f] !== undefined);
        if (given.length !== 1) out.push(`regulatory.deadlines[${i}]: give exactly one of days, hours or at`);
        else if (typeof e.at === 'string' && typeof r.determinedAt === 'string' && Date.parse(e.at) <= Date.parse(r.determinedAt)) out.push(`regulatory.deadlines[${i}].at: must be after determinedAt`);
      });
      const names = r.deadlines.map((d: unknown) => obj(d)?.rule).filter((n): n is string => typeof n === 'string').map((n) => n.trim());
      const twice = names.find((n, i) => names.indexOf(n) !== i);
      if (twice !== undefined) out.push(`regulatory.deadlines: the rule ${JSON.stringify(twice)} is listed twice`);
    }
  } else if (r) {
    if ((r.deadline === undefined) === (r.deadlineDays === undefined)) out.push('regulatory: give exactly one of deadline, deadlineDays or deadlines');
    else if (typeof r.deadline === 'string' && typeof r.determinedAt === 'string' && Date.parse(r.deadline) <= Date.parse(r.determinedAt)) out.push('regulatory.deadline: must be after determinedAt');
  }
  const templates = obj(data.templates);
  if (templates?.carrierName !== undefined && data.brand !== undefined) out.push('templates.carrierName: give the carrier\'s name once (brand or templates.carrierName)');
  if (templates?.supportUrl !== undefined && data.helpUrl !== undefined) out.push('templates.supportUrl: give the link once (helpUrl or templates.supportUrl)');
  if (Array.isArray(data.approvers)) {
    const names = data.approvers.filter((a): a is string => typeof a === 'string').map(operatorIdentity);
    const twice = names.find((n, i) => names.indexOf(n) !== i);
    if (twice !== undefined) out.push(`approvers: ${twice} is listed twice`);
    if (typeof data.approvals === 'number' && data.approvals > names.length) out.push(`approvals: ${data.approvals} approvals cannot come from the ${names.length} operator(s) listed in approvers`);
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

/** An operator's identity as the audit names it: `operator:NAME`. */
export function operatorIdentity(name: string): string {
  return name.startsWith('operator:') ? name : `operator:${name}`;
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
  /** Which channels, in which order, per segment; default SMS then email for every segment. */
  readonly channels: ChannelPolicy;
  /** Messages/s per sender id, set when the wave is first fed. */
  readonly pace?: Readonly<Record<string, number>>;
  /** Who may approve (`operator:NAME`); absent: any operator but the creator. */
  readonly approvers?: readonly string[];
  readonly supportPhone?: string;
  readonly signOff?: string;
}

function manifestError(file: string, problems: readonly string[]): BreachwaveError {
  const lines = problems.map((p) => `manifest ${file}: ${p}`);
  const detail = lines.length === 1 ? (lines[0] ?? '') : `manifest ${file} has ${lines.length} problems:\n${lines.join('\n')}`;
  return new BreachwaveError('BW_INPUT_INVALID', { detail });
}

/** An issue as one line: the field's path, then what is wrong (unknown fields one line each). */
function issueLines(issue: z.core.$ZodIssue): string[] {
  const at = fieldPath(issue.path);
  if (issue.code === 'unrecognized_keys') {
    // A segment's own channel list is keyed by the segment: an unknown key is an unknown segment.
    const what = issue.path.join('.') === 'channels.segments' ? (k: string) => `unknown segment ${JSON.stringify(k)} (expected one of ${SEGMENTS.join(', ')})` : () => 'unknown field';
    return issue.keys.map((k) => `${fieldPath([...issue.path, k])}: ${what(k)}`);
  }
  // A record key that fails its own check (a sender id): that check's message, at the key.
  if (issue.code === 'invalid_key') return [`${at || '(top level)'}: ${issue.issues[0]?.message ?? issue.message}`];
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
  const regulatory = m.regulatory && regulatoryClock(m.regulatory);
  const channels: ChannelPolicy = {
    order: [...(m.channels?.order ?? DEFAULT_CHANNEL_ORDER)],
    ...(m.channels?.segments && Object.keys(m.channels.segments).length > 0
      ? { segments: Object.fromEntries(Object.entries(m.channels.segments).filter((e): e is [string, Channel[]] => e[1] !== undefined)) as Partial<Record<Segment, Channel[]>> }
      : {}),
  };
  const brand = m.brand ?? m.templates?.carrierName;
  const helpUrl = m.helpUrl ?? m.templates?.supportUrl;
  const codeSource: CodeSource | undefined = m.codeSource === undefined ? undefined : m.codeSource === 'generated' ? { kind: 'generated' } : { kind: 'pool', pool: m.codeSource.pool };
  return {
    manifestVersion: m.version,
    ...(m.name ? { name: m.name } : {}),
    ...(m.accounts ? { accounts: resolve(baseDir, m.accounts) } : {}),
    ...(brand ? { brand } : {}),
    ...(helpUrl ? { helpUrl } : {}),
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
    channels,
    ...(m.pace && Object.keys(m.pace).length > 0 ? { pace: m.pace } : {}),
    ...(m.approvers ? { approvers: m.approvers.map(operatorIdentity) } : {}),
    ...(m.templates?.supportPhone ? { supportPhone: m.templates.supportPhone } : {}),
    ...(m.templates?.signOff ? { signOff: m.templates.signOff } : {}),
  };
}

/**
 * The clock a manifest's `regulatory` gives: one deadline (`deadline` or `deadlineDays`), or
 * several rules whose earliest deadline is the wave's, named by its rule.
 */
function regulatoryClock(r: NonNullable<z.output<typeof WAVE_MANIFEST_SCHEMA>['regulatory']>): RegulatoryClock {
  const determinedAt = new Date(r.determinedAt).toISOString();
  const from = Date.parse(r.determinedAt);
  if (!r.deadlines) {
    return {
      determinedAt,
      deadline: r.deadline !== undefined ? new Date(r.deadline).toISOString() : new Date(from + (r.deadlineDays ?? 0) * 86_400_000).toISOString(),
      ...(r.rule ? { rule: r.rule } : {}),
    };
  }
  const rules: RegulatoryRule[] = r.deadlines.map((d) => ({
    rule: d.rule,
    deadline: new Date(d.at !== undefined ? Date.parse(d.at) : from + (d.days ?? 0) * 86_400_000 + (d.hours ?? 0) * 3_600_000).toISOString(),
    ...(d.days !== undefined ? { days: d.days } : {}),
    ...(d.hours !== undefined ? { hours: d.hours } : {}),
  }));
  const first = effectiveDeadline(rules) as RegulatoryRule;
  return { determinedAt, deadline: first.deadline, rule: first.rule, rules };
}

/** A clock as the manifest writes it (the inverse of {@link regulatoryClock}). */
function regulatoryField(c: RegulatoryClock): NonNullable<WaveManifestFile['regulatory']> {
  if (!c.rules) return { determinedAt: c.determinedAt, deadline: c.deadline, ...(c.rule ? { rule: c.rule } : {}) };
  return {
    determinedAt: c.determinedAt,
    deadlines: c.rules.map((r) => ({ rule: r.rule, ...(r.days !== undefined ? { days: r.days } : r.hours !== undefined ? { hours: r.hours } : { at: r.deadline }) })),
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
    ...(plan.approvers ? { approvers: [...plan.approvers] } : {}),
    ...(plan.regulatory ? { regulatory: regulatoryField(plan.regulatory) } : {}),
    ...(plan.columns && Object.keys(plan.columns).length > 0 ? { columns: { ...plan.columns } as Record<string, string> } : {}),
    ...(plan.ignoreColumns && plan.ignoreColumns.length > 0 ? { ignoreColumns: [...plan.ignoreColumns] } : {}),
    channels: {
      order: [...(plan.channels.order ?? DEFAULT_CHANNEL_ORDER)],
      ...(plan.channels.segments ? { segments: Object.fromEntries(Object.entries(plan.channels.segments).map(([k, v]) => [k, [...(v ?? [])]])) } : {}),
    },
    ...(plan.pace ? { pace: { ...plan.pace } } : {}),
    ...(plan.supportPhone || plan.signOff ? { templates: { ...(plan.supportPhone ? { supportPhone: plan.supportPhone } : {}), ...(plan.signOff ? { signOff: plan.signOff } : {}) } } : {}),
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
  'manifestVersion' | 'columns' | 'ignoreColumns' | 'approvals' | 'lane' | 'consolidate' | 'channels' | 'pace' | 'approvers' | 'supportPhone' | 'signOff'>;

/**
 * What `plan` gives `createWave`, the same whichever way the wave is created (the CLI's flags or
 * manifest, the ops API's manifest). Unset fields stay absent so `createWave`'s defaults apply;
 * `approvals` falls back to `defaults.approvals` (with named `approvers`: at least 1, at most as
 * many as are named).
 */
export function plannedWaveOptions(plan: Omit<WavePlan, 'manifestVersion'> & { readonly manifestVersion?: number }, defaults: { readonly brand: string; readonly helpUrl: string; readonly approvals: number }): PlannedWaveOptions {
  return {
    brand: plan.brand ?? defaults.brand,
    helpUrl: plan.helpUrl ?? defaults.helpUrl,
    rules: plan.rules,
    pinDelivery: plan.pinDelivery,
    // Named approvers mean an approval is wanted: at least one, at most as many as are named.
    approvals: plan.approvals ?? (plan.approvers ? Math.min(plan.approvers.length, Math.max(1, defaults.approvals)) : defaults.approvals),
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
    channels: plan.channels,
    ...(plan.pace ? { pace: plan.pace } : {}),
    ...(plan.approvers ? { approvers: plan.approvers } : {}),
    ...(plan.supportPhone ? { supportPhone: plan.supportPhone } : {}),
    ...(plan.signOff ? { signOff: plan.signOff } : {}),
  };
}
