// The weft CNI plugin: one process per ADD/DEL/CHECK/GC/STATUS/VERSION. This
// file is only the process's I/O; src/cni/dispatch.ts decides everything.
// Keep imports light: start-up time is on every pod's critical path.
import { readSync } from 'node:fs';
import { MAX_STDIN_BYTES, runPlugin, type Stdin } from '../src/cni/dispatch.ts';

/** Reads stdin up to the cap and stops there, so a huge stdin costs no memory. */
function readStdin(): Stdin {
  const buf = Buffer.allocUnsafe(MAX_STDIN_BYTES + 1);
  const pause = new Int32Array(new SharedArrayBuffer(4));
  let length = 0;
  for (;;) {
    let n: number;
    try {
      n = readSync(0, buf, length, buf.length - length, null);
    } catch (err) {
      // A non-blocking pipe with nothing in it yet: wait a moment. Anything
      // else (no stdin at all) ends the input.
      if ((err as NodeJS.ErrnoException).code === 'EAGAIN') {
        Atomics.wait(pause, 0, 0, 2);
        continue;
      }
      break;
    }
    if (n === 0) break;
    length += n;
    if (length > MAX_STDIN_BYTES) return { text: '', tooLarge: true };
  }
  return { text: buf.toString('utf8', 0, length), tooLarge: false };
}

const out = runPlugin(process.env, readStdin());
if (out.stdout) process.stdout.write(out.stdout);
if (out.stderr) process.stderr.write(out.stderr);
process.exitCode = out.exitCode;
