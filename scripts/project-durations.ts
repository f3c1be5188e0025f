import { mkdirSync, writeFileSync } from 'node:fs';
import { dirname } from 'node:path';
import type { Reporter, TestModule } from 'vitest/node';

export interface ProjectDuration {
  project: string;
  files: number;
  tests: number;
  /** From its first file queued to its last file done; projects run side by side in one `vitest run`. */
  wallSeconds: number;
  /** Import, setup and tests of its files added up: what the project costs alone, before the workers share it out. */
  fileSeconds: number;
  /** The line printed for it (and by .ci/run). */
  summary: string;
}

/** A Vitest reporter: how long each project (unit, integration, e2e) took, printed and written as JSON for CI. */
export class ProjectDurations implements Reporter {
  private readonly spans = new Map<string, { start: number; end: number }>();

  constructor(private readonly outputFile: string) {}

  onTestRunStart(): void {
    this.spans.clear();
  }

  onTestModuleQueued(module: TestModule): void {
    const span = this.spans.get(module.project.name);
    if (!span) this.spans.set(module.project.name, { start: Date.now(), end: Date.now() });
  }

  onTestModuleEnd(module: TestModule): void {
    const span = this.spans.get(module.project.name);
    if (span) span.end = Date.now();
  }

  onTestRunEnd(modules: ReadonlyArray<TestModule>): void {
    const rows: ProjectDuration[] = [...this.spans].sort(([a], [b]) => a.localeCompare(b)).map(([project, span]): ProjectDuration => {
      const own = modules.filter((module) => module.project.name === project);
      const fileMs = own.reduce((sum, module) => {
        const d = module.diagnostic();
        return sum + d.environmentSetupDuration + d.prepareDuration + d.collectDuration + d.setupDuration + d.duration;
      }, 0);
      const tests = own.reduce((sum, module) => sum + [...module.children.allTests()].length, 0);
      const wallSeconds = round((span.end - span.start) / 1000);
      const fileSeconds = round(fileMs / 1000);
      const summary = `${project}: ${countOf(own.length, 'file')}, ${countOf(tests, 'test')} in ${wallSeconds} s (${fileSeconds} s of file time)`;
      return { project, files: own.length, tests, wallSeconds, fileSeconds, summary };
    });
    for (const row of rows) console.log(row.summary);
    mkdirSync(dirname(this.outputFile), { recursive: true });
    writeFileSync(this.outputFile, `${JSON.stringify(rows, null, 2)}\n`);
  }
}

const round = (seconds: number) => Math.round(seconds * 10) / 10;
const countOf = (n: number, noun: string) => `${n} ${noun}${n === 1 ? '' : 's'}`;
