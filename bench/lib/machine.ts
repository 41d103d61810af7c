// What a benchmark result was measured on, so numbers from different
// machines or runtimes are never compared by mistake.
import { availableParallelism, cpus, release } from 'node:os';

export type MachineInfo = {
  node: string;
  kernel: string;
  nproc: number;
  cpu: string;
  date: string;
};

export function machineInfo(): MachineInfo {
  return {
    node: process.version,
    kernel: release(),
    nproc: availableParallelism(),
    cpu: cpus()[0]?.model ?? 'unknown',
    date: new Date().toISOString(),
  };
}
