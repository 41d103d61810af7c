// The start-up floor of a CNI plugin built the way weft is: a program that
// only answers `{}`, built on each runtime (tools/build.ts floor-node,
// floor-bun; Deno runs it as it is, bench/cni-plugins.ts says why). Each
// writes it the cheapest way its runtime has, one write(2), and loads no
// module it could do without: on Bun and Deno console.log (Bun's node:fs
// alone took 2 ms more), on Node fs.writeSync (process.stdout sets up a
// stream first).
const fs = process.versions.bun === undefined && process.versions.deno === undefined ? process.getBuiltinModule('node:fs') : undefined;
if (fs) fs.writeSync(1, '{}\n');
else console.log('{}');
