/**
 * The feeder: turns an affected-account file into a wave (`ingestFile`, `createWave`) and feeds
 * the wave's accounts into the action queues at a bounded pace (`createFeeder`).
 */
export {
  ingestFile, normaliseColumn, SPOOL_FILE, REJECTS_FILE, REJECTS_HEADER,
  type IngestOptions, type IngestResult, type IngestProgress, type InputFormat, type SpoolEntry,
} from './ingest.js';
export { addToWave, createWave, readWaveWarnings, type AddToWaveOptions, type AddedToWave, WARNING_FIELD_PREFIX, type CreateWaveOptions, type CreatedWave, type WaveStats, type WaveWarnings } from './wave.js';
export { createReminderWave, type CreateReminderWaveOptions, type CreatedReminderWave } from './reminder.js';
export { dryRunAndRecord, dryRunWave, type DryRunOptions, type DryRunOverlap, type DryRunQuietHours, type DryRunReport, type DryRunTemplate, type PaceChoice } from './dry-run.js';
export { createFeeder, type Feeder, type FeederDeps, type FeederLedger, type FeedOptions, type FeedResult } from './feed.js';
export { parseCsvLine, csvField, reportCell, CsvRecords, UNTERMINATED, type CsvLine, type CsvRecord, type PhysicalLine } from './csv.js';
export { splitLines, TOO_LONG, type LineBatch } from './lines.js';
export { SpoolReader, readSpool, MAX_SPOOL_LINE, type SpoolLine, type SpoolReaderOptions } from './spool.js';
export { IdIndex } from './id-index.js';
export {
  planColumns, suggestColumn, unknownColumnProblem, fieldPath,
  type AccountColumn, type ColumnMapping, type ColumnPlan, type ColumnProblem, type ColumnResolution,
} from './columns.js';
export {
  parseWaveManifest, readWaveManifest, manifestFromPlan, formatWaveManifest, waveManifestJsonSchema, plannedWaveOptions,
  WAVE_MANIFEST_SCHEMA, MANIFEST_VERSION, DEFAULT_SMS_SEGMENT_BUDGET, DEFAULT_QUIET_HOURS_ZONE,
  type WaveManifestFile, type WavePlan, type PlannedWaveOptions,
} from './manifest.js';
export { saveUpload, uploadPath, removeUpload, sweepUploads, UPLOAD_ID, UPLOAD_TTL_MS, UPLOADS_DIR, type SavedUpload } from './uploads.js';
