// Test-only entry for `fastreg sidecar`: the same command as the production CLI, plus fault
// injection read from FASTREG_TEST_* variables. The production CLI never reads these.
import '../../sidecar/polyfills.js';
import { Command } from 'commander';
import { setTimeout as sleep } from 'node:timers/promises';
import { sidecarCommand } from '../../sidecar/cli/sidecar-command.js';
import type { SidecarHooks } from '../../sidecar/hooks.js';

/** Paces calls so that, on average, no more than `bytesPerSecond` pass. */
function pacer(bytesPerSecond: number): (bytes: number) => Promise<void> {
  let start = 0;
  let total = 0;
  return async (bytes) => {
    if (start === 0) start = performance.now();
    total += bytes;
    const due = start + (total / bytesPerSecond) * 1000;
    const wait = due - performance.now();
    if (wait > 1) await sleep(wait);
  };
}

const hooks: SidecarHooks = {};
if (process.env.FASTREG_TEST_CORRUPT_SERVE === '1') {
  hooks.mutateServed = (chunk) => {
    const copy = Buffer.from(chunk);
    copy[0] = (copy[0] ?? 0) ^ 0xff;
    return copy;
  };
}
if (process.env.FASTREG_TEST_SERVE_BPS) hooks.beforeServeChunk = pacer(Number(process.env.FASTREG_TEST_SERVE_BPS));
if (process.env.FASTREG_TEST_RECEIVE_BPS) hooks.beforeReceiveChunk = pacer(Number(process.env.FASTREG_TEST_RECEIVE_BPS));

const program = new Command('fastreg-test').addCommand(sidecarCommand(hooks));
await program.parseAsync(process.argv);
