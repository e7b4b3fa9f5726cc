// The code layout: each module's job and the modules it may import. dependency-cruiser checks every
// import against it in `npm test` (npm run check:layout); README.md's "Code layout" section is written
// from this file by scripts/code-layout.ts, and a test fails when the two disagree.

/** name, what it holds, where it lives (a path pattern), and the modules it may import besides itself. */
const MODULES = [
  {
    name: 'shared',
    path: '^workers/shared/',
    job: 'The neutral module: the OCI types and errors, the HTTP headers, the service-record, sidecar-auth, lease batch API and metrics wire contracts, and the edge config reader. Web-standard globals only, so the edge, its Durable Objects and the Node sidecar all import it.',
    may: [],
  },
  {
    name: 'workers',
    path: '^workers/(?!shared/)',
    job: 'The edge: a Cloudflare Worker (Hono) serving the registry, leases, services, metrics and status routes.',
    may: ['durable-objects', 'shared'],
  },
  {
    name: 'durable-objects',
    path: '^durable-objects/',
    job: "The edge's Durable Objects (BlobLease, LeaseShard, SiteFill, ServiceRegistry, EdgeMetrics) and their clients.",
    may: ['shared'],
  },
  {
    name: 'sidecar',
    path: '^sidecar/',
    job: 'The Node sidecar and the `fastreg` CLI: libp2p node, verified blob store, P2P blob protocol, HTTP bridge, edge clients.',
    may: ['shared'],
  },
  {
    name: 'bin',
    path: '^bin/',
    job: 'The `fastreg` executable: runs the bundled CLI, or the TypeScript sources in a checkout.',
    may: ['sidecar'],
  },
  {
    name: 'scripts',
    path: '^scripts/',
    job: 'Developer and build tooling: npm start (local edge and sidecar), the sidecar bundle build, test prerequisites, this layout.',
    may: ['sidecar', 'shared'],
  },
  {
    name: 'test harness',
    path: '^test/helpers/',
    job: 'What tests and benchmarks start and drive: a local edge, sidecar clusters, a docker-registry upstream, images, loopback hosts.',
    may: ['scripts', 'sidecar', 'shared'],
  },
  {
    name: 'tests',
    path: '^test/(?!helpers/)',
    job: 'The vitest suites: test/workers in workerd, test/node in Node.',
    may: ['test harness', 'bench', 'scripts', 'sidecar', 'workers', 'durable-objects', 'shared'],
  },
  {
    name: 'bench',
    path: '^bench/',
    job: 'npm run bench and the fleet model: benchmarks of the edge, the sidecars and P2P, and their report.',
    may: ['test harness', 'scripts', 'sidecar', 'shared'],
  },
];

const pathOf = (name) => {
  const module = MODULES.find((m) => m.name === name);
  if (!module) throw new Error(`.dependency-cruiser.cjs: no module named ${name}`);
  return module.path;
};

/** Packages the neutral module may use: they run on workerd and Node alike. */
const SHARED_PACKAGES = '^node_modules/(zod|ipaddr\\.js|hono)/';

module.exports = {
  allowed: [
    // One rule a module; its comment is "name: job" (allowed rules have no name field).
    ...MODULES.map((module) => ({
      comment: `${module.name}: ${module.job}`,
      from: { path: module.path },
      to: { path: [module.path, ...module.may.map(pathOf)] },
    })),
    {
      comment: 'packages: Every module but shared may import npm packages and Node built-ins.',
      from: { pathNot: pathOf('shared') },
      to: { dependencyTypes: ['npm', 'npm-dev', 'npm-no-pkg', 'core'] },
    },
    {
      comment: 'shared packages: shared imports only packages that run on workerd and Node alike: zod, ipaddr.js, hono.',
      from: { path: pathOf('shared') },
      to: { path: SHARED_PACKAGES },
    },
    {
      comment: 'workerd modules: The edge, its Durable Objects and their tests import the cloudflare: modules of workerd.',
      from: { path: [pathOf('workers'), pathOf('durable-objects'), '^test/workers/'] },
      to: { path: '^cloudflare:' },
    },
  ],
  allowedSeverity: 'error',
  forbidden: [
    {
      name: 'no-circular',
      comment: 'No import cycles that exist at run time (type-only imports are erased, so they may go both ways).',
      severity: 'error',
      from: {},
      to: { circular: true, viaOnly: { dependencyTypesNot: ['type-only'] } },
    },
    {
      name: 'sidecar-no-edge-config',
      comment: 'The sidecar has its own config reader (sidecar/config.ts); the edge config in shared is the edge\'s.',
      severity: 'error',
      from: { path: pathOf('sidecar') },
      to: { path: '^workers/shared/edge-config\\.ts$' },
    },
    {
      name: 'sites-not-metrics',
      comment: 'workers/metrics counts sidecars per site (it reads workers/sites); workers/sites must not read workers/metrics back.',
      severity: 'error',
      from: { path: '^workers/sites/' },
      to: { path: '^workers/metrics/' },
    },
  ],
  options: {
    doNotFollow: { path: 'node_modules' },
    exclude: { path: '^dist/' },
    tsPreCompilationDeps: true,
    // Packages that publish only an "exports" map (libp2p and friends) resolve through it.
    enhancedResolveOptions: {
      exportsFields: ['exports'],
      conditionNames: ['import', 'require', 'node', 'default', 'types'],
      mainFields: ['module', 'main', 'types', 'typings'],
    },
  },
};
