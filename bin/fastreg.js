#!/usr/bin/env node
// Entry of the `fastreg` command. The sources are TypeScript, loaded through tsx.
import { register } from 'tsx/esm/api';

register();
const { main } = await import('../sidecar/cli/main.ts');
await main(process.argv);
