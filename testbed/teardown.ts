// What a test cluster, a benchmark or the demo made, undone in reverse order:
// at the end, on failure and on Ctrl-C. Every step is tried even when an
// earlier one fails, and what could not be undone is returned so the caller
// can name it.
export class Teardown {
  private readonly steps: { what: string; undo: () => Promise<unknown> | unknown }[] = [];
  private running: Promise<string[]> | undefined;
  /** The signal that interrupted the run, if one did. */
  interrupted: NodeJS.Signals | undefined;

  /**
   * Registers an undo step; it runs before every step registered earlier.
   * The function returned drops it again, for a thing undone in the normal
   * course of the run.
   */
  add(what: string, undo: () => Promise<unknown> | unknown): () => void {
    const step = { what, undo };
    this.steps.push(step);
    return () => {
      const i = this.steps.lastIndexOf(step);
      if (i >= 0) this.steps.splice(i, 1);
    };
  }

  /** Runs every step once, newest first; later calls wait for the first. */
  run(): Promise<string[]> {
    this.running ??= (async () => {
      const failed: string[] = [];
      while (this.steps.length > 0) {
        const step = this.steps.pop()!;
        try {
          await step.undo();
        } catch (err) {
          failed.push(`${step.what}: ${(err as Error).message}`);
        }
      }
      return failed;
    })();
    return this.running;
  }

  /**
   * On SIGINT/SIGTERM: tear down, then exit 130. The handlers stay for the
   * whole run, so a second Ctrl-C cannot cut the clean-up short.
   */
  onSignals(name: string): void {
    for (const sig of ['SIGINT', 'SIGTERM'] as const) {
      process.on(sig, () => {
        this.interrupted ??= sig;
        if (this.running) return;
        console.error(`\n${name}: interrupted by ${sig}, removing what it made`);
        // Work still in flight fails as its processes go away: that must not
        // end this process before the clean-up has run.
        process.on('unhandledRejection', () => {});
        process.on('uncaughtException', () => {});
        void this.run().then((failed) => {
          for (const f of failed) console.error(`${name}: could not remove ${f}`);
          process.exit(130);
        });
      });
    }
  }
}

/**
 * Runs a script (a benchmark, the demo) on a teardown stack of its own:
 * Ctrl-C handled, a failure or an interrupt reported, and everything `body`
 * registered removed at the end, whatever happened. Sets the exit code.
 */
export async function runScript(name: string, body: (teardown: Teardown) => Promise<void>): Promise<void> {
  const teardown = new Teardown();
  teardown.onSignals(name);
  try {
    await body(teardown);
  } catch (err) {
    // Ctrl-C also kills the running child, whose failure lands here before
    // the SIGINT handler has had a turn: give it one, so an interrupt reads as one.
    await new Promise((resolve) => setImmediate(resolve));
    if (teardown.interrupted) {
      console.error(`${name} interrupted by ${teardown.interrupted}, no result`);
      process.exitCode = 130;
    } else {
      console.error(`${name} failed: ${(err as Error).stack ?? err}`);
      process.exitCode = 1;
    }
  } finally {
    const failed = await teardown.run();
    for (const f of failed) console.error(`${name} could not remove ${f}`);
    if (failed.length > 0) process.exitCode ||= 1;
  }
}
