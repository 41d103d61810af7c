// The start-up floor of a CNI plugin built the way weft is: a single
// executable that only answers `{}`, built on each runtime (tools/build.ts
// floor-node, floor-bun; Deno runs it as it is, bench/cni-plugins.ts says
// why). Written with one write(2): on Bun, going through
// process.stdout instead costs more than the rest of the program.
import { writeSync } from 'node:fs';

writeSync(1, '{}\n');
