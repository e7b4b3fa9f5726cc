import { writeFileSync } from 'node:fs';
import path from 'node:path';
import type { Environment, SuiteSections } from '../report.js';
import { calibrate, measuredFigures, readCalibration } from './calibration.js';
import { fleetCdfs, fleetReport, type FleetReport } from './fleet-report.js';

export const CALIBRATION_FILE = 'calibration.json';

/**
 * After the sections of `npm run bench`: writes calibration.json (this run's figures over the last
 * calibration's), runs the fleet model with it and writes its CDFs. Undefined (logged) when the
 * model fails: the rest of the report still gets written.
 */
export function writeFleetModel(outDir: string, sections: SuiteSections, environment: Environment, log: (line: string) => void): FleetReport | undefined {
  try {
    const file = path.join(outDir, CALIBRATION_FILE);
    const calibration = calibrate(measuredFigures(sections, environment.cores), environment.date, readCalibration(file));
    writeFileSync(file, `${JSON.stringify(calibration, null, 2)}\n`);
    const started = performance.now();
    const report = fleetReport(calibration, sections.lan.figures, log);
    for (const { file: name, svg } of fleetCdfs(report)) writeFileSync(path.join(outDir, name), svg);
    log(`fleet model: ${((performance.now() - started) / 1000).toFixed(0)} s`);
    return report;
  } catch (err) {
    log(`fleet model failed: ${err instanceof Error ? err.message : String(err)}`);
    return undefined;
  }
}
