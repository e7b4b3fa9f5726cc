import type { ClientInfo } from '../../workers/shared/oci/client-info.js';
import { fail, ok, warn, type Finding } from './findings.js';
import { isRegistryAnswer, probe } from './http.js';

export interface EdgeView {
  reachable: boolean;
  /** What the edge sees of this host; undefined when it cannot say (unreachable or an older edge). */
  info?: ClientInfo;
}

/** Is the edge a registry that answers, and what does it see of this host? */
export async function checkEdge(edge: string, options: { timeoutMs: number; token?: string }): Promise<{ findings: Finding[]; view: EdgeView }> {
  const base = await probe(`${edge}/v2/`, options);
  if (!isRegistryAnswer(base)) {
    const why = base.error ?? `HTTP ${base.status}`;
    return {
      findings: [fail('edge.reachable', `the edge ${edge} does not answer GET /v2/ (${why})`, `Start the edge or point doctor at it: fastreg doctor --edge <url> (or FASTREG_EDGE=<url>).`)],
      view: { reachable: false },
    };
  }
  const findings = [ok('edge.reachable', `the edge ${edge} answers GET /v2/ (HTTP ${base.status})`)];
  const answer = await probe(`${edge}/client-info`, options);
  if (answer.status === 401) {
    findings.push(fail('edge.client-info', `the edge needs a token to say what it sees of this host (PULL_ACCESS=token)`, `Pass the token: fastreg doctor --token <FASTREG_TOKEN> (or FASTREG_TOKEN=…).`));
    return { findings, view: { reachable: true } };
  }
  if (answer.status !== 200) {
    findings.push(warn('edge.client-info', `the edge has no /client-info (HTTP ${answer.status ?? answer.error}); registries default to docker.io`, `Deploy a current edge (npm run deploy), or name the registries: fastreg doctor --registry docker.io --registry ghcr.io`));
    return { findings, view: { reachable: true } };
  }
  let info: ClientInfo;
  try {
    info = JSON.parse(answer.body ?? '') as ClientInfo;
    if (!Array.isArray(info.upstreams)) throw new Error('no upstreams');
  } catch {
    findings.push(warn('edge.client-info', `${edge}/client-info did not answer with FastReg's JSON; is ${edge} a FastReg edge?`, `Point doctor at the FastReg edge: --edge <url>, or name the registries: --registry docker.io`));
    return { findings, view: { reachable: true } };
  }
  findings.push(ok('edge.client-info', `the edge sees this host as ${info.clientIp} (site ${info.site}) and mirrors ${info.upstreams.join(', ')}`));
  return { findings, view: { reachable: true, info } };
}
