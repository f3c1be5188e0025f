// `npm run bench -- <name> [args]`: runs bench/<name>.ts and prints its report (a table; with --json,
// one JSON object as the last line of stdout). Each bench exports run(args): Promise<BenchReport>.
import { printReport, type BenchReport } from './report.js';

const BENCHES = ['knn', 'embed', 'int8', 'train', 'evaluate', 'scale', 'gpu', 'duplicates', 'audit', 'suggest', 'map', 'library'] as const;
const [name, ...args] = process.argv.slice(2);

if (!BENCHES.includes(name as (typeof BENCHES)[number])) {
  process.stderr.write(`usage: npm run bench -- <${BENCHES.join('|')}> [--json] [options]\n`);
  process.exit(2);
}
const bench = (await import(`./${name}.ts`)) as { run: (args: string[]) => Promise<BenchReport> };
printReport(await bench.run(args), args.includes('--json'));
