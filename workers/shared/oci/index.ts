// Platform-neutral OCI helpers shared by the edge Worker and the Node sidecar.
// Web-standard globals only: no hono, no cloudflare:*, no node:*.
export * from './errors.js';
export * from './digest.js';
export * from './names.js';
export * from './media-types.js';
export * from './range.js';
