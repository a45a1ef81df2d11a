export * from './processor.js';
export * from './policies/suppression.js';
export * from './policies/undelivered.js';
