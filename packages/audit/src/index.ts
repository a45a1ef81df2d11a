export { AUDIT_FIELD, DEFAULT_PREFIX, appendAuditRecord, auditStreamKey, type AuditRecord } from './record.js';
export { GENESIS_HASH, canonicalJson, chainAuditLine, compareStreamIds, hashAuditLine, type AuditLine } from './chain.js';
export { auditFileName, isAuditFileName, listAuditFiles } from './files.js';
export { auditHeadKey, auditWriterLeaseKey, readAuditHead, type AuditHead } from './head.js';
export { chainBrokenError, verifyAuditFiles, type VerifyFailure, type VerifyOk, type VerifyOptions, type VerifyResult } from './verify.js';
export { createAuditWriter, type AuditPosition, type AuditWriter, type AuditWriterOptions } from './writer.js';
