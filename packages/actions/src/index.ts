export * from './worker.js';
export * from './chain.js';
export * from './engine.js';
export * from './fate.js';
export * from './outcomes.js';
export * from './recovery.js';
export * from './gate.js';
export { createShardWorkers } from './shards.js';
export * from './service.js';
