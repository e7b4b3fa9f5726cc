import type { LanBurstFigures } from '../lan-burst.js';
import type { Calibration } from './calibration.js';
import { POLICIES, type Policy } from './inputs.js';
import { runFleet } from './run-fleet.js';
import { testbedInputs } from './scenarios.js';

// The model against the LAN bench's own bursts: the same hosts, blob and policy on the testbed's
// shared machine, predicted total time beside the measured median of the same run.

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
}

export function validate(cal: Calibration, lan: LanBurstFigures): ValidationRow[] {
  const rows: ValidationRow[] = [];
  for (const byHosts of lan.byHosts) {
    for (const policy of POLICIES) {
      const measured = byHosts.variants.find((v) => v.variant === policy);
      if (!measured) continue;
      const predicted = runFleet(testbedInputs(cal, byHosts.hosts, policy));
      const ratio = predicted.max / measured.medianSeconds;
      rows.push({ hosts: byHosts.hosts, policy, predictedSeconds: predicted.max, measuredSeconds: measured.medianSeconds, ratio, pass: Math.abs(ratio - 1) <= VALIDATION_TOLERANCE, limit: predicted.limit });
    }
  }
  return rows;
}
