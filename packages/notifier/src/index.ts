export * from './processor.js';
export * from './worker.js';
