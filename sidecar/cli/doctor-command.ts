import { Command, Option } from 'commander';
import { DOCTOR_CHECKS, runDoctor, type DoctorCheck, type DoctorOptions } from '../doctor/run.js';
import type { Finding } from '../doctor/findings.js';
import { positiveInt, edgeOption, tokenOption } from './arguments.js';
import { printJson } from './output.js';
import { CliError } from '../errors.js';

// `fastreg doctor`: is this host's container runtime really using the mirror?

const MARK: Record<Finding['status'], string> = { ok: 'ok  ', warn: 'WARN', fail: 'FAIL', skip: 'skip' };

export function doctorCommand(): Command {
  return new Command('doctor')
    .description("check that this host's Docker and containerd pull through the edge, and that its sidecar is seen")
    .addOption(edgeOption())
    .addOption(tokenOption('bearer token, needed when the edge has PULL_ACCESS=token'))
    .addOption(new Option('--sidecar <url>', "this host's sidecar HTTP bridge").env('FASTREG_SIDECAR').default('http://127.0.0.1:5050'))
    .addOption(new Option('--docker-config <path>', "Docker's daemon.json").env('FASTREG_DOCKER_CONFIG').default('/etc/docker/daemon.json'))
    .addOption(new Option('--containerd-config <path>', "containerd's config.toml").env('FASTREG_CONTAINERD_CONFIG').default('/etc/containerd/config.toml'))
    .addOption(new Option('--hosts-dir <dir>', "containerd hosts.toml folder (default: the config's config_path, else /etc/containerd/certs.d)").env('FASTREG_HOSTS_DIR'))
    .option('--registry <host>', "registry that needs a hosts.toml, repeatable (default: the edge's UPSTREAMS)", collect)
    .addOption(new Option('--skip <check>', 'leave a check out, repeatable').choices([...DOCTOR_CHECKS]).argParser(collectCheck))
    .addOption(new Option('--timeout <ms>', 'deadline of each HTTP probe').argParser(positiveInt).default(3_000))
    .option('--json', 'print the findings as JSON')
    .addHelpText(
      'after',
      `
Each finding that is not ok comes with the exact fix. Exit code: 0 when nothing failed (warnings
allowed), 1 when something did.

Examples:
  $ fastreg doctor --edge https://mirror.example.com
  $ fastreg doctor --json --skip docker
  $ fastreg doctor --docker-config ./daemon.json --containerd-config ./config.toml --hosts-dir ./certs.d`,
    )
    .action(async (options: Omit<DoctorOptions, 'skip' | 'registries' | 'timeoutMs'> & { registry?: string[]; skip?: DoctorCheck[]; timeout: number; json?: boolean }) => {
      try {
        new URL(options.edge);
        new URL(options.sidecar);
      } catch {
        throw new CliError('--edge and --sidecar must be URLs, e.g. http://127.0.0.1:8787', 2);
      }
      const report = await runDoctor({
        edge: options.edge,
        sidecar: options.sidecar,
        dockerConfig: options.dockerConfig,
        containerdConfig: options.containerdConfig,
        skip: options.skip ?? [],
        timeoutMs: options.timeout,
        ...(options.token && { token: options.token }),
        ...(options.hostsDir && { hostsDir: options.hostsDir }),
        ...(options.registry && { registries: options.registry }),
      });
      if (options.json) printJson(report);
      else {
        for (const finding of report.findings) {
          process.stdout.write(`${MARK[finding.status]}  ${finding.summary}\n`);
          if (finding.fix) process.stdout.write(`${finding.fix.replace(/^/gm, '        ')}\n`);
        }
        const failed = report.findings.filter((f) => f.status === 'fail').length;
        const warned = report.findings.filter((f) => f.status === 'warn').length;
        process.stdout.write(failed === 0 ? `\nall good${warned ? ` (${warned} warning(s))` : ''}\n` : `\n${failed} problem(s)${warned ? `, ${warned} warning(s)` : ''}\n`);
      }
      if (!report.ok) process.exitCode = 1;
    });
}

function collect(value: string, previous: string[] | undefined): string[] {
  return [...(previous ?? []), value];
}

function collectCheck(value: string, previous: DoctorCheck[] | undefined): DoctorCheck[] {
  return [...(previous ?? []), value as DoctorCheck];
}
