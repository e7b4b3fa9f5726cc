import { cloudflareTest } from '@cloudflare/vitest-pool-workers';
import { defineConfig } from 'vitest/config';

// Two projects: `workers` runs inside workerd through the Workers vitest pool, `node` runs
// integration tests (real processes, real clients) in Node. `npm test` runs them one after another.
export default defineConfig({
  test: {
    projects: [
      {
        plugins: [
          cloudflareTest(({ inject }) => ({
            main: './workers/index.ts',
            wrangler: { configPath: './wrangler.toml' },
            miniflare: {
              bindings: {
                UPSTREAMS: JSON.stringify({ 'docker.io': inject('fakeUpstreamUrl'), 'ghcr.io': inject('fakeUpstreamUrl') }),
                FASTREG_TOKEN: 'test-token-0123456789abcdef',
                SIDECAR_ENROLL_TOKEN: 'test-enroll-token-0123456789abcdef',
                SIDECAR_KEY: 'test-sidecar-key-0123456789abcdef-0123456789',
                LEASE_TTL_MS: '2000',
                LEASE_SHARD_CAPACITY: '20',
                UPSTREAM_TIMEOUT_MS: '3000',
                BLOB_PIECE_BYTES: String(1024 * 1024),
              },
            },
          })),
        ],
        test: {
          name: 'workers',
          include: ['test/workers/**/*.test.ts'],
          globalSetup: ['test/global-setup.ts'],
          testTimeout: 30_000,
        },
      },
      {
        test: {
          name: 'node',
          include: ['test/node/**/*.test.ts'],
          environment: 'node',
          // Edges started by the tests (and the npm start they spawn) ignore a developer's .dev.vars.
          env: { FASTREG_LOCAL_VARS: '0' },
          testTimeout: 120_000,
          hookTimeout: 180_000,
          fileParallelism: false,
        },
      },
    ],
  },
});
