// Clean-up that survives the test process: a shell that runs `script` once
// its stdin reaches end of file, when release() closes it or when the thread
// that started it ends, which closes the pipe. An 'exit' handler would not do:
// ava ends its worker threads with terminate(), which runs none.
import { spawn } from 'node:child_process';
import type { Socket } from 'node:net';
import { SYSTEM_PATH } from './shell.ts';

/** `script` runs with `args` as $0, $1, … once its owner is gone or releases it. */
export function startJanitor(script: string, args: string[]): { release(): Promise<void> } {
  // Ctrl-C signals the whole process group, the janitor included: it must
  // outlive the test to do its work, so it ignores those signals.
  const janitor = spawn('sh', ['-c', `trap '' INT TERM HUP; cat >/dev/null; ${script}`, ...args], {
    stdio: ['pipe', 'ignore', 'ignore'],
    env: { PATH: SYSTEM_PATH },
  });
  const exited = new Promise((resolve) => janitor.once('exit', resolve));
  // The janitor must not keep a test process alive; release() waits for it.
  janitor.unref();
  (janitor.stdin as Socket).unref();
  return {
    async release() {
      janitor.ref();
      janitor.stdin?.end();
      await exited;
    },
  };
}
