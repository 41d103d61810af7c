// The weft CNI plugin: one process per ADD/DEL/CHECK/GC/STATUS/VERSION. This
// file is only the process's I/O; src/cni/dispatch.ts decides everything.
// Keep imports light: start-up time is on every pod's critical path.
import { MAX_STDIN_BYTES, runPlugin, type Stdin } from '../src/cni/dispatch.ts';
import { files } from '../src/linux/files.ts';

// Something to Atomics.wait on: a short sleep for a non-blocking pipe.
const pause = new Int32Array(new SharedArrayBuffer(4));

/**
 * Reads stdin up to the cap and stops there, so a huge stdin costs no memory.
 * The buffer starts at what a network config takes and doubles as needed.
 */
function readStdin(): Stdin {
  let buf = Buffer.allocUnsafe(64 << 10);
  let length = 0;
  for (;;) {
    if (length === buf.length) {
      const bigger = Buffer.allocUnsafe(Math.min(buf.length * 2, MAX_STDIN_BYTES + 1));
      buf.copy(bigger, 0, 0, length);
      buf = bigger;
    }
    let n: number;
    try {
      n = files().read(0, buf, length, buf.length - length);
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

/**
 * Writes all of `text` to `fd` before returning: a synchronous write of the
 * few hundred bytes a plugin prints costs a Bun program several milliseconds
 * less than process.stdout (measured with make bench-cni).
 */
function writeAllSync(fd: number, text: string): void {
  const data = Buffer.from(text);
  for (let off = 0; off < data.length; ) {
    try {
      off += files().write(fd, data, off, data.length - off);
    } catch (err) {
      // A non-blocking pipe that is full: wait for the reader.
      if ((err as NodeJS.ErrnoException).code !== 'EAGAIN') throw err;
      Atomics.wait(pause, 0, 0, 2);
    }
  }
}

const out = runPlugin(process.env, readStdin());
if (out.stdout) writeAllSync(1, out.stdout);
if (out.stderr) writeAllSync(2, out.stderr);
// At once: everything is written, and nothing else is pending. Bun's
// teardown at a natural end cost each run about 0.5 ms of CPU more.
process.exit(out.exitCode);
