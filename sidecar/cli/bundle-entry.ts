// Entry of the bundled CLI (scripts/build-sidecar.ts): plain JavaScript, no tsx at run time, which keeps
// a sidecar's resident memory about 90 MB lower than running the TypeScript sources.
import { main } from './main.js';

await main(process.argv);
