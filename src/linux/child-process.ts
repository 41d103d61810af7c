// node:child_process, loaded at its first use rather than at start-up: the
// plugin on Bun spawns nothing in the common case (rtnetlink and nfnetlink
// instead), and loading the module, node:events with it, cost every plugin
// run about 0.5 ms of CPU (make bench-cni). weftd and the Node build load it
// at their first spawn.
export const childProcess = (): typeof import('node:child_process') => process.getBuiltinModule('node:child_process');
