export { AUDIT_FIELD, DEFAULT_PREFIX, appendAuditRecord, auditStreamKey, type AuditRecord } from './record.js';
export { GENESIS_HASH, canonicalJson, chainAuditLine, compareStreamIds, hashAuditLine, type AuditLine } from './chain.js';
export { auditFileName, auditShardDir, isAuditFileName, listAuditFiles } from './files.js';
export { shardPrefixes } from '@breachwave/ledger/shards';
export { auditHeadKey, auditWriterLeaseKey, readAuditHead, type AuditHead } from './head.js';
export { chainBrokenError, verifyAuditFiles, type VerifyFailure, type VerifyOk, type VerifyOptions, type VerifyResult } from './verify.js';
export {
  CHECKPOINT_FILE, auditCheckpointKey, checkCheckpointSignature, createCheckpointSigner, parseCheckpoint, parsePublicKeys, publicKeyId,
  readCheckpointFile, readRedisCheckpoint, signCheckpoint,
  type Checkpoint, type CheckpointBody, type CheckpointEntry, type CheckpointReason, type CheckpointSigner, type PublicKeyRing, type SignatureCheck,
} from './checkpoint.js';
export { verifyAuditTrail, type TrailOk, type TrailOptions, type TrailResult } from './trail.js';
export { PRIVATE_DIR_MODE, PRIVATE_FILE_MODE } from './private-files.js';
export { createAuditWriter, type AuditPosition, type AuditWriter, type AuditWriterOptions } from './writer.js';
