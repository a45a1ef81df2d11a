export * from './twilio-server.js';
export * from './smtp-sink.js';
export * from './redis.js';
export * from './redis-cluster.js';
export * from './wait-for.js';
export * from './dump.js';
export * from './certificate.js';
export * from './log.js';
