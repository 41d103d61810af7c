// Collects check outcomes, prints one line per check as it is decided, and
// renders the summary and the optional JSON report.
import { writeFileSync } from 'node:fs';
import { escapeControls } from './spec.ts';
import type { Gate } from './suite.ts';

export type Status = 'PASS' | 'FAIL' | 'N/A';

export type Check = { id: string; title: string };

export type CheckOutcome = Check & { status: Status; detail: string };

export type Summary = { passed: number; failed: number; notApplicable: number };

export class Report {
  readonly outcomes: CheckOutcome[] = [];
  readonly #print: (line: string) => void;

  constructor(print: (line: string) => void) {
    this.#print = print;
  }

  pass(check: Check, detail = ''): void {
    this.#record({ ...check, status: 'PASS', detail });
  }

  fail(check: Check, reason: string): void {
    this.#record({ ...check, status: 'FAIL', detail: reason });
  }

  notApplicable(check: Check, reason: string): void {
    this.#record({ ...check, status: 'N/A', detail: reason });
  }

  /** PASS when there are no problems, else FAIL listing them. */
  verdict(check: Check, problems: readonly string[], passDetail = ''): void {
    if (problems.length === 0) this.pass(check, passDetail);
    else this.fail(check, problems.join('; '));
  }

  /** FAIL as not reached when there was nothing to judge, else as `verdict`. */
  verdictOn(check: Check, judged: readonly unknown[], nothingJudged: string, problems: readonly string[]): void {
    if (judged.length === 0) this.unreached([check], nothingJudged);
    else this.verdict(check, problems);
  }

  /** Checks that could not run because an earlier step failed count as failed. */
  unreached(checks: readonly Check[], reason: string): void {
    for (const check of checks) this.fail(check, `not reached: ${reason}`);
  }

  /** Records the checks as not applicable or unreached when the gate is closed; true when it is. */
  closed(checks: readonly Check[], gate: Gate): boolean {
    if (gate.open) return false;
    for (const check of checks) {
      if (gate.applicable) this.fail(check, `not reached: ${gate.reason}`);
      else this.notApplicable(check, gate.reason);
    }
    return true;
  }

  summary(): Summary {
    const count = (status: Status) => this.outcomes.filter((o) => o.status === status).length;
    return { passed: count('PASS'), failed: count('FAIL'), notApplicable: count('N/A') };
  }

  summaryLine(): string {
    const { passed, failed, notApplicable } = this.summary();
    return `conformance: ${passed} passed, ${failed} failed, ${notApplicable} not applicable`;
  }

  #record(outcome: CheckOutcome): void {
    this.outcomes.push(outcome);
    // Details quote plugin output and hostile input; escaped, each check stays one line and cannot drive the terminal.
    const detail = outcome.detail ? ` — ${escapeControls(outcome.detail)}` : '';
    this.#print(`${outcome.status.padEnd(4)}  ${outcome.id}: ${outcome.title}${detail}`);
  }
}

export type JsonReport = {
  conf: string;
  cniPath: string[];
  cniVersion: string;
  supportedVersions: Record<string, string[]>;
  outcomes: CheckOutcome[];
  summary: Summary;
};

export function writeJsonReport(file: string, report: JsonReport): void {
  writeFileSync(file, `${JSON.stringify(report, null, 2)}\n`);
}
