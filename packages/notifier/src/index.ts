export * from './processor.js';
export * from './policies/suppression.js';
export * from './policies/undelivered.js';
export * from './policies/quiet-hours.js';
export * from './policies/pacing.js';
