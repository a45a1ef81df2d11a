import { BreachwaveError } from '@breachwave/domain';
import { AUDIT_FIELD_LUA, auditRecordJson } from './audit-stream.js';

/**
 * A wave's operator lifecycle:
 *
 *   created ─dry run─▶ created (dry run recorded) ─approve─▶ approved ─start─▶ feeding ─▶ fed ─▶ completed
 *                                      │ pause / resume (a flag on approved, feeding and fed waves)
 *   cancel from created, approved, feeding or fed ─▶ cancelled
 *
 * Approval is the two-person rule: the operator who created the wave cannot approve it, each
 * approver counts once, a wave that names its approvers is approved only by them, and the wave is approved once `approvals` operators other than its
 * creator have approved it, after a dry run over the wave's accepted accounts as they are now (a
 * `wave add` after the dry run asks for a new one). A wave created with `approvals` 0 needs none
 * and may be fed from `created`. Every applied step is audited with the operator's identity in the
 * same script; a refused one changes nothing and says why.
 */

/** Operator steps on a wave. */
export type WaveControlOp = 'dry-run' | 'approve' | 'pause' | 'resume' | 'cancel';

/** Why a step was refused (the `reason` of its error's detail). */
export type WaveControlRefusal = 'missing' | 'state' | 'creator' | 'not-named' | 'bad-actor' | 'already-approved' | 'no-dry-run' | 'stale-dry-run' | 'overlap' | 'already-paused' | 'not-paused';

export interface WaveControlResult {
  /** The wave's status after the step. */
  readonly status: string;
  readonly paused: boolean;
  /** Operators who approved so far (approve). */
  readonly approvers: readonly string[];
  /** Approvals the wave needs. */
  readonly approvals: number;
}

/**
 * KEYS: wave hash, audit stream. ARGV: op, actor, audit record JSON without its closing braces
 * (the script appends what it decided), the accepted count the dry run saw, now (epoch ms), and
 * the overlap with earlier waves the dry run found (dry run) or '1' to approve despite it (approve).
 * A step that changes the status keeps when (`first:<status>`, `last:<status>`).
 * Returns {'ok', status, paused, approversCsv, approvals} or {'refused', reason, status[, named approvers JSON]}.
 *
 * The approvers so far are kept as a comma-separated list (`approved_by`), so an actor is one
 * non-empty name without a comma: "operator:bo,operator:cy" would otherwise count as two
 * approvals from one person. The named approvers (`approvers_named`, set at creation) are a JSON array.
 */
export const WAVE_CONTROL = `
local op, actor = ARGV[1], ARGV[2]
local st = redis.call('HGET', KEYS[1], 'status')
if not st then return {'refused', 'missing', ''} end
if actor == '' or string.find(actor, ',', 1, true) then return {'refused', 'bad-actor', st} end
local paused = redis.call('HGET', KEYS[1], 'paused') == '1'
local approvals = tonumber(redis.call('HGET', KEYS[1], 'approvals') or '0')
local approvers = redis.call('HGET', KEYS[1], 'approved_by') or ''
local running = st == 'approved' or st == 'feeding' or st == 'fed'
local extra = ''
if op == 'dry-run' then
  if st ~= 'created' and not running then return {'refused', 'state', st} end
  redis.call('HSET', KEYS[1], 'dryrun_accepted', ARGV[4], 'dryrun_by', actor, 'dryrun_overlap', ARGV[6])
elseif op == 'approve' then
  if st ~= 'created' then return {'refused', 'state', st} end
  if redis.call('HGET', KEYS[1], 'created_by') == actor then return {'refused', 'creator', st} end
  local named = redis.call('HGET', KEYS[1], 'approvers_named')
  if named then
    local listed = false
    for _, a in ipairs(cjson.decode(named)) do if a == actor then listed = true end end
    if not listed then return {'refused', 'not-named', st, named} end
  end
  for a in string.gmatch(approvers, '[^,]+') do if a == actor then return {'refused', 'already-approved', st} end end
  local dry = redis.call('HGET', KEYS[1], 'dryrun_accepted')
  if not dry then return {'refused', 'no-dry-run', st} end
  if dry ~= (redis.call('HGET', KEYS[1], 'accepted') or '0') then return {'refused', 'stale-dry-run', st} end
  local overlap = tonumber(redis.call('HGET', KEYS[1], 'dryrun_overlap') or '0')
  if overlap > 0 and ARGV[6] ~= '1' then return {'refused', 'overlap', st} end
  if overlap > 0 then extra = ',"overlapAllowed":' .. overlap end
  if approvers == '' then approvers = actor else approvers = approvers .. ',' .. actor end
  redis.call('HSET', KEYS[1], 'approved_by', approvers)
  local n = 0
  for _ in string.gmatch(approvers, '[^,]+') do n = n + 1 end
  if n >= math.max(1, approvals) then
    st = 'approved'
  end
  extra = extra .. ',"approvals":' .. approvals .. ',"approvedBy":' .. n
elseif op == 'pause' then
  if not running then return {'refused', 'state', st} end
  if paused then return {'refused', 'already-paused', st} end
  paused = true
  redis.call('HSET', KEYS[1], 'paused', '1')
elseif op == 'resume' then
  if not running then return {'refused', 'state', st} end
  if not paused then return {'refused', 'not-paused', st} end
  paused = false
  redis.call('HSET', KEYS[1], 'paused', '0')
elseif op == 'cancel' then
  if st ~= 'created' and not running then return {'refused', 'state', st} end
  st = 'cancelled'
  paused = false
  redis.call('HSET', KEYS[1], 'paused', '0')
else
  return redis.error_reply('unknown wave step ' .. op)
end
if st ~= redis.call('HGET', KEYS[1], 'status') then
  redis.call('HSET', KEYS[1], 'status', st, 'last:' .. st, ARGV[5])
  redis.call('HSETNX', KEYS[1], 'first:' .. st, ARGV[5])
end
redis.call('XADD', KEYS[2], '*', ${AUDIT_FIELD_LUA}, ARGV[3] .. ',"status":' .. cjson.encode(st) .. extra .. '}}')
return {'ok', st, paused and '1' or '0', approvers, tostring(approvals)}
`;

/**
 * KEYS: wave hash, audit stream. ARGV: new status, audit record JSON, now (epoch ms).
 * Moves a wave's feed status (feeding, fed, completed) unless an operator ended it first
 * (cancelled) or it is completed: those are final. Keeps the first and the last time the wave
 * entered the status. Returns the status the wave has after.
 */
export const WAVE_STATUS = `
local st = redis.call('HGET', KEYS[1], 'status')
if not st then return '' end
if st == 'cancelled' or st == 'completed' then return st end
redis.call('HSET', KEYS[1], 'status', ARGV[1], 'last:' .. ARGV[1], ARGV[3])
redis.call('HSETNX', KEYS[1], 'first:' .. ARGV[1], ARGV[3])
redis.call('XADD', KEYS[2], '*', ${AUDIT_FIELD_LUA}, ARGV[2])
return ARGV[1]
`;

const MESSAGES: Readonly<Record<WaveControlRefusal, string>> = {
  missing: 'no such wave',
  state: 'not allowed in the wave\'s current state',
  creator: 'the operator who created the wave cannot approve it (two-person rule)',
  'not-named': 'this operator is not one of the approvers the wave names',
  'bad-actor': 'the operator\'s identity must be one non-empty name without a comma',
  'already-approved': 'this operator has already approved the wave',
  'no-dry-run': 'the wave has no dry run yet: run wave dry-run first',
  'stale-dry-run': 'accounts were added after the dry run: run wave dry-run again',
  overlap: 'the dry run found accounts (or phones and emails) that earlier waves already notified, or accounts whose PIN they already rotated; approve with --allow-overlap (audited) only if this wave must reach them again',
  'already-paused': 'the wave is already paused',
  'not-paused': 'the wave is not paused',
};

/** The error for a refused step: a stable code, and a detail that names the step, the wave and why. */
export function waveControlError(op: WaveControlOp, waveId: string, reason: string, status: string, actor?: string, named?: string): BreachwaveError {
  if (reason === 'missing') return new BreachwaveError('BW_WAVE_NOT_FOUND', { detail: waveId });
  let why = MESSAGES[reason as WaveControlRefusal] ?? reason;
  if (reason === 'not-named' && named) {
    const list = (JSON.parse(named) as string[]).join(', ');
    why = `${actor ?? 'this operator'} is not one of the approvers the wave names (${list})`;
  }
  const code = reason === 'creator' || reason === 'not-named' || reason === 'already-approved' || reason === 'no-dry-run' || reason === 'stale-dry-run' || reason === 'overlap' ? 'BW_APPROVAL_REFUSED'
    : reason === 'bad-actor' ? 'BW_INPUT_INVALID' : 'BW_WAVE_STATE';
  return new BreachwaveError(code, { detail: `${op} ${waveId}: ${why} (status ${status || 'unknown'})` });
}

/** The audit record a step writes, open-ended: the script closes its detail with what it decided. */
export function controlRecord(op: WaveControlOp, waveId: string, actor: string, detail: Readonly<Record<string, unknown>>, at: Date): string {
  const type = op === 'dry-run' ? 'wave.dry-run' : op === 'approve' ? 'wave.approval' : `wave.${op === 'cancel' ? 'cancelled' : op === 'pause' ? 'paused' : 'resumed'}`;
  // `detail` is the record's last field and never empty (`step`): dropping the two closing braces
  // leaves it open for the script's `,"status":…}}`.
  return auditRecordJson({ type, actor, wave: waveId, detail: { step: op, ...detail } }, at).slice(0, -2);
}
