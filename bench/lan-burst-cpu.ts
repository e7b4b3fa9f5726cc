import { readdirSync, readFileSync } from 'node:fs';

// Where a LAN burst's CPU went: every process's utime + stime (/proc/PID/stat) and the machine's
// busy time (/proc/stat) at the start and the end of the burst. The bench's parts (sidecars, edge,
// the bench process that runs every client, the upstream registry) are told apart by PID; the rest
// is other work on the machine, which the burst had to share its cores with.

export const TICKS_PER_SECOND = 100; // USER_HZ on Linux

export interface CpuShares {
  /** Core seconds over the burst, per part. */
  sidecars: number;
  /** Each sidecar's, in the order of the PIDs given. */
  perSidecar: number[];
  edge: number;
  bench: number;
  /** The bench's other children (the upstream registry). */
  registry: number;
  /** Processes outside the bench and the kernel's own work: load the testbed did not cause (mostly). */
  other: number;
  /** The busiest processes outside the bench, e.g. "node 3.1, esbuild 0.4" (core seconds). */
  otherTop: string;
  /** Busy core seconds of the whole machine (all of the above, the kernel's own work too). */
  machineBusy: number;
  /** Wall seconds × cores. */
  machineTotal: number;
}

export interface CpuSnapshot {
  at: number;
  ticks: Map<number, ProcessStat>;
  machine: { busy: number; total: number };
}

export function cpuSnapshot(): CpuSnapshot {
  const ticks = new Map<number, ProcessStat>();
  for (const entry of readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    const stat = processStat(Number(entry));
    if (stat) ticks.set(Number(entry), stat);
  }
  return { at: performance.now(), ticks, machine: machineTicks() };
}

/** The burst's CPU by part between two snapshots; `sidecars` and `edge` are PIDs. */
export function cpuShares(before: CpuSnapshot, after: CpuSnapshot, parts: { sidecars: number[]; edge: number[] }): CpuShares {
  const delta = (pid: number) => {
    const end = after.ticks.get(pid);
    return end ? (end.ticks - (before.ticks.get(pid)?.ticks ?? 0)) / TICKS_PER_SECOND : 0;
  };
  const sum = (pids: Iterable<number>) => [...pids].reduce((total, pid) => total + delta(pid), 0);
  const sidecars = new Set(parts.sidecars);
  const edge = new Set(parts.edge);
  const ours = new Set([process.pid, ...sidecars, ...edge]);
  const registry = [...after.ticks].filter(([pid, s]) => s.ppid === process.pid && !ours.has(pid)).map(([pid]) => pid);
  for (const pid of registry) ours.add(pid);
  const machineBusy = (after.machine.busy - before.machine.busy) / TICKS_PER_SECOND;
  const measured = sum(ours);
  const others = [...after.ticks.keys()].filter((pid) => !ours.has(pid)).map((pid) => ({ name: after.ticks.get(pid)!.name, seconds: delta(pid) }));
  const otherTop = others
    .filter((o) => o.seconds >= 0.1)
    .sort((a, b) => b.seconds - a.seconds)
    .slice(0, 4)
    .map((o) => `${o.name} ${o.seconds.toFixed(1)}`)
    .join(', ');
  return {
    sidecars: sum(sidecars),
    perSidecar: parts.sidecars.map(delta),
    edge: sum(edge),
    bench: delta(process.pid),
    registry: sum(registry),
    other: Math.max(0, machineBusy - measured),
    otherTop,
    machineBusy,
    machineTotal: (after.machine.total - before.machine.total) / TICKS_PER_SECOND,
  };
}

interface ProcessStat {
  ticks: number;
  ppid: number;
  name: string;
}

/** utime + stime of a process in clock ticks, its parent and name; undefined once it is gone. */
function processStat(pid: number): ProcessStat | undefined {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    const close = stat.lastIndexOf(') ');
    const fields = stat.slice(close + 2).split(' ');
    return { ticks: Number(fields[11]) + Number(fields[12]), ppid: Number(fields[1]), name: stat.slice(stat.indexOf('(') + 1, close) };
  } catch {
    return undefined;
  }
}

/** Busy cores over one sample: the machine's, and the bench's parts'. */
export interface BusySample {
  machine: number;
  sidecars: number;
  edge: number;
  bench: number;
}

/** Samples busy cores every `everyMs` until stopped: when in the burst the cores were busy, and with what. */
export function busyTimeline(everyMs: number, parts: { sidecars: number[]; edge: number[] }): () => BusySample[] {
  const samples: BusySample[] = [];
  const read = () => ({ machine: machineTicks().busy, sidecars: ticksOf(parts.sidecars), edge: ticksOf(parts.edge), bench: ticksOf([process.pid]) });
  let last = read();
  const timer = setInterval(() => {
    const now = read();
    const cores = (key: keyof typeof now) => (now[key] - last[key]) / TICKS_PER_SECOND / (everyMs / 1000);
    samples.push({ machine: cores('machine'), sidecars: cores('sidecars'), edge: cores('edge'), bench: cores('bench') });
    last = now;
  }, everyMs);
  return () => {
    clearInterval(timer);
    return samples;
  };
}

/** utime + stime of the processes together, in clock ticks (0 for one that is gone). */
export function ticksOf(pids: number[]): number {
  return pids.reduce((sum, pid) => sum + (processStat(pid)?.ticks ?? 0), 0);
}

/** The machine's busy and total ticks (all cores), from /proc/stat's first line. */
function machineTicks(): { busy: number; total: number } {
  const [, ...values] = readFileSync('/proc/stat', 'utf8').split('\n')[0]!.trim().split(/\s+/);
  const [user, nice, system, idle, iowait, irq, softirq, steal] = values.map(Number) as number[];
  const busy = user! + nice! + system! + irq! + softirq! + (steal ?? 0);
  return { busy, total: busy + idle! + (iowait ?? 0) };
}
