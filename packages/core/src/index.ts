export * from './errors.js';
export * from './guest-memory.js';
export * from './platform.js';
