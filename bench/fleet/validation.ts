import type { LanBurstFigures } from '../lan-burst.js';
import { edgeCosts, type Calibration } from './calibration.js';
import { POLICIES, type Policy } from './inputs.js';
import { runFleet } from './run-fleet.js';
import { testbedInputs } from './scenarios.js';
import { testbedCosts } from './testbed-costs.js';

// The model against the LAN bench's own bursts: the same hosts, blob and policy on the testbed's
// shared machine, predicted total time beside the measured median of the same run. Two checks:
// - in sample: the testbed's CPU costs fitted over every burst, the predicted ones included;
// - held out: each host count predicted with costs fitted on the other host counts' bursts only, so
//   no figure of the bursts it predicts goes into the prediction (besides the single-pull baselines).

export const VALIDATION_TOLERANCE = 0.25;

export interface ValidationRow {
  hosts: number;
  policy: Policy;
  predictedSeconds: number;
  measuredSeconds: number;
  /** Predicted ÷ measured. */
  ratio: number;
  pass: boolean;
  /** The testbed component that bound the predicted burst. */
  limit: string;
  /** Held out: the host counts whose bursts the costs were fitted on. */
  fittedOn?: number[];
}

export function validate(cal: Calibration, lan: LanBurstFigures): ValidationRow[] {
  return lan.byHosts.flatMap((byHosts) => predictRows(cal, byHosts));
}

/**
 * Each host count predicted from the other host counts' bursts: their sidecar costs, and the client
 * costs, the edge's fill and the other work of the nearest host count among them. None when the run
 * measured one host count only.
 */
export function validateHeldOut(cal: Calibration, lan: LanBurstFigures): ValidationRow[] {
  return lan.byHosts.flatMap((byHosts) => {
    const others = lan.byHosts.filter((b) => b.hosts !== byHosts.hosts);
    const fitted = testbedCosts({ ...lan, byHosts: others }, 'held out', edgeCosts(cal));
    const nearest = [...fitted].sort((a, b) => Math.abs(a.hosts - byHosts.hosts) - Math.abs(b.hosts - byHosts.hosts))[0];
    if (!nearest) return [];
    const heldOut: Calibration = { ...cal, testbed: [{ ...nearest, hosts: byHosts.hosts }] };
    return predictRows(heldOut, byHosts).map((row) => ({ ...row, fittedOn: fitted.map((c) => c.hosts) }));
  });
}

function predictRows(cal: Calibration, byHosts: LanBurstFigures['byHosts'][number]): ValidationRow[] {
  const { hosts } = byHosts;
  const rows: ValidationRow[] = [];
  for (const policy of POLICIES) {
    const measured = byHosts.variants.find((v) => v.variant === policy);
    if (!measured) continue;
    const predicted = runFleet(testbedInputs(cal, hosts, policy));
    const ratio = predicted.max / measured.medianSeconds;
    rows.push({ hosts, policy, predictedSeconds: predicted.max, measuredSeconds: measured.medianSeconds, ratio, pass: Math.abs(ratio - 1) <= VALIDATION_TOLERANCE, limit: predicted.limit });
  }
  return rows;
}
