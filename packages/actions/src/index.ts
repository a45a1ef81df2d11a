export * from './worker.js';
export * from './chain.js';
