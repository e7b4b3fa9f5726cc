import { createApp } from './app.js';

export { BlobLease } from '../durable-objects/blob-lease.js';
export { LeaseShard } from '../durable-objects/lease-shard.js';
export { ServiceRegistry } from '../durable-objects/service-registry.js';
export { EdgeMetrics } from '../durable-objects/edge-metrics.js';
export { SiteFill } from '../durable-objects/site-fill.js';

export default createApp();
