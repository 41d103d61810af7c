// What a benchmark made, undone in reverse order: at the end, on failure and
// on Ctrl-C (SIGINT/SIGTERM run the same list, once, then exit 130). Every
// step is tried even when an earlier one fails; what could not be removed is
// returned so the benchmark can name it.
export type Step = { what: string; undo: () => Promise<void> | void };

export class Teardown {
  private readonly steps: Step[] = [];
  private running: Promise<string[]> | undefined;
  /** The signal that interrupted the run, if one did. */
  interrupted: NodeJS.Signals | undefined;

  /** Registers an undo step; it runs before every step registered earlier. */
  add(what: string, undo: () => Promise<void> | void): void {
    this.steps.push({ what, undo });
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
   * whole run, so a second Ctrl-C cannot cut the clean-up short. A child
   * killed by the same Ctrl-C may fail the run first: the caller's catch
   * should yield a turn (setImmediate) and then check `interrupted`.
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
