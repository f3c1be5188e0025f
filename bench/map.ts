// `npm run bench -- map [--json] [--sizes 10000,100000] [--dim 128] [--classes 20] [--no-frames]`
// The library map (engine/jobs/map.ts) on synthetic clustered embeddings in a real store: time to
// map N photos (worker thread, vectors read from the file), and how well the map keeps each photo
// among its own cluster (share of its 10 nearest on the map in its cluster, on 500 photos), against
// a plain PCA to 2D in the same run (the baseline the ratios are against). Then, at the largest N,
// frame times of the Map view in Chromium while zooming and panning (rAF intervals; WebGL on
// whatever Chromium has here: SwiftShader, a software rasteriser, without a GPU).
import { mkdtemp, rm } from 'node:fs/promises';
import { loadavg, tmpdir } from 'node:os';
import { join } from 'node:path';
import { chromium } from 'playwright-core';
import type { ApiHandlers, LibraryMap, LibrarySummary } from '../src/shared/api.js';
import type { EngineService } from '../src/engine/jobs/service/service-contract.js';
import { DEFAULT_SETTINGS } from '../src/shared/settings.js';
import { startBridge } from '../src/bridge/server.js';
import { libraryMap } from '../src/engine/jobs/curation/map.js';
import { applyPca, fitPca } from '../src/engine/ml/curation/pca.js';
import { normaliseLayout } from '../src/engine/ml/curation/map-projection.js';
import { Store } from '../src/engine/store/store.js';
import { createRng, shuffle } from '../src/engine/common/rng.js';
import { clusteredVectors, mapNeighbourAgreement, neighbourAgreement } from '../src/engine/testing/clustered-vectors.js';
import { CHROMIUM, CHROMIUM_ARGS, buildRenderer } from '../e2e/harness.js';
import { flag, percentile, printReport, type BenchReport } from './report.js';

const QUERIES = 500;
const K = 10;
const FRAMES = 120;
/** Noise per value: at 3.5 (128-d, 20 clusters) some of a photo's nearest neighbours are of another cluster, as in real classes. */
const SPREAD = 3.5;

export async function run(args: string[]): Promise<BenchReport> {
  const sizes = flag(args, 'sizes', '10000,100000').split(',').map(Number);
  const dim = Number(flag(args, 'dim', '128'));
  const classes = Number(flag(args, 'classes', '20'));
  const dir = await mkdtemp(join(tmpdir(), 'lookalike-bench-map-'));
  const results: Array<Record<string, unknown>> = [];
  const notes: string[] = [];
  let largest: LibraryMap | null = null;
  try {
    for (const n of sizes) {
      const { store, libraryId, vectors, cluster } = build(join(dir, `map-${n}.db`), n, dim, classes);
      try {
        const loadBefore = loadavg()[0];
        const started = performance.now();
        const map = await libraryMap(store, libraryId, undefined);
        const seconds = (performance.now() - started) / 1000;
        const loadAfter = loadavg()[0];
        const clusterOf = clusterByPhoto(store, libraryId, cluster);
        const step = Math.max(1, Math.floor(n / QUERIES));
        const agreement = mapNeighbourAgreement(interleave(map.x, map.y), map.photoIds.map((id) => clusterOf.get(id)!), K, step);
        const ceiling = embeddingAgreement(vectors, cluster, step);
        const pca = pcaLayout(vectors, dim);
        const pcaAgreement = mapNeighbourAgreement(pca.xy, cluster, K, step);
        results.push({
          photos: n,
          dim,
          classes,
          seconds: round(seconds),
          load_avg_1m: `${loadBefore.toFixed(1)}→${loadAfter.toFixed(1)}`,
          agreement_at_10: round(agreement),
          embedding_agreement_at_10: round(ceiling),
          pca_seconds: round(pca.seconds),
          pca_agreement_at_10: round(pcaAgreement),
          agreement_ratio_vs_pca: round(agreement / pcaAgreement),
          seconds_ratio_vs_pca: round(seconds / pca.seconds),
        });
        if (n === Math.max(...sizes)) largest = map;
      } finally {
        store.close();
      }
    }
    if (largest && !args.includes('--no-frames')) {
      const frames = await frameTimes(dir, largest);
      results.push({ photos: largest.photoIds.length, frames: FRAMES, ...frames });
      notes.push(`frame times: rAF intervals in Chromium (${frames.renderer}) while zooming by the wheel each frame, then panning by drag`);
    }
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
  notes.push(`${tmpdir()} store; load average is the 1-minute one before and after mapping (the machine is shared)`);
  return { bench: 'map', results, notes };
}

const round = (value: number) => Math.round(value * 1000) / 1000;
const interleave = (x: number[], y: number[]) => x.flatMap((value, i) => [value, y[i]]);

/** N photo rows in `classes` folders, their clustered embeddings written the way the app writes them. */
function build(path: string, n: number, dim: number, classes: number) {
  const store = Store.open(path);
  const libraryId = store.upsertLibrary('/synthetic');
  const names = Array.from({ length: classes }, (_, i) => `class-${String(i).padStart(2, '0')}`);
    // Clusters in random order: photo i in cluster i mod classes would alias with every evenly spaced sample (the PCA's, the queries').
  const made = clusteredVectors(n, dim, classes, { seed: 5, spread: SPREAD });
  const order = shuffle(createRng(6), Array.from({ length: n }, (_, i) => i));
  const vectors = order.map((i) => made.vectors[i]);
  const cluster = Int32Array.from(order, (i) => made.cluster[i]);
  const photos = vectors.map((_, i) => ({ relPath: `${names[cluster[i]]}/${String(i).padStart(7, '0')}.jpg`, className: names[cluster[i]], size: 1000, mtimeMs: 1, hash: `h${i}` }));
  store.syncLibrary(libraryId, names, photos);
  const modelId = store.createModel({ libraryId, name: 'Untrained synthetic', kind: 'baseline', backbone: 'synthetic', backboneDim: dim, dim, config: {}, runId: null });
  const rows = store.photos(libraryId);
  const position = new Map(photos.map((p, i) => [p.relPath, i]));
  for (let start = 0; start < rows.length; start += 5000) {
    store.putEmbeddings(modelId, dim, rows.slice(start, start + 5000).map((p) => ({ photoId: p.id, hash: p.hash, vector: vectors[position.get(p.relPath)!] })));
  }
  return { store, libraryId, vectors, cluster };
}

function clusterByPhoto(store: Store, libraryId: number, cluster: Int32Array): Map<number, number> {
  return new Map(store.photos(libraryId).map((p) => [p.id, cluster[Number(/(\d+)\.jpg$/.exec(p.relPath)![1])]]));
}

/** The same share in the embedding space itself, for scale (UMAP can exceed it: it keeps the graph's clusters, not every neighbour). */
function embeddingAgreement(vectors: Float32Array[], cluster: Int32Array, step: number): number {
  return neighbourAgreement(cluster, K, step, (i, j) => {
    const [a, b] = [vectors[i], vectors[j]];
    let sum = 0;
    for (let d = 0; d < a.length; d++) sum += (a[d] - b[d]) ** 2;
    return sum;
  });
}

/** The baseline: the first two principal components (fitted on 2,000 vectors, as the map's own PCA is). */
function pcaLayout(vectors: Float32Array[], dim: number): { xy: Float32Array; seconds: number } {
  const started = performance.now();
  const n = vectors.length;
  const sample = new Float32Array(Math.min(n, 2000) * dim);
  for (let i = 0; i < sample.length / dim; i++) sample.set(vectors[Math.floor((i * n) / (sample.length / dim))], i * dim);
  const basis = fitPca(sample, sample.length / dim, dim, 2);
  const xy = new Float32Array(n * 2);
  const all = new Float32Array(n * dim);
  vectors.forEach((v, i) => all.set(v, i * dim));
  applyPca(basis, all, n, xy, 0);
  return { xy: normaliseLayout(xy, n), seconds: (performance.now() - started) / 1000 };
}

/** The Map view in Chromium over a handler table that serves this map (no engine). */
async function frameTimes(dir: string, map: LibraryMap): Promise<Record<string, unknown>> {
  const rendererDir = join(dir, 'renderer');
  await buildRenderer(rendererDir);
  const summary: LibrarySummary = { libraryId: 1, root: dir, photoCount: map.photoIds.length, unlabelledCount: 0, classes: map.classes.map((name, i) => ({ id: i + 1, name, photoCount: 0 })), problems: [], moveNotices: [] };
  const none = async () => {
    throw new Error('not used here');
  };
  const model = { id: map.modelId, name: map.modelName, kind: 'baseline' as const, backbone: 'synthetic', dim: 128, createdAt: '', runId: null, metrics: null, indexedCount: map.photoIds.length, imported: false, problem: null, classNote: null };
  const handlers = {
    status: async () => ({ library: summary, backend: null, job: null, defaults: DEFAULT_SETTINGS }),
    listRuns: async () => [],
    listModels: async () => [model],
    labels: async () => ({ folders: [], photoLabels: 0, lastChange: null, undoSteps: [], lastWrite: null }),
    marks: async () => ({ marked: [], total: 0, usable: 0, standIn: 0, unused: [] }),
    libraryMap: async () => map,
  } as Partial<ApiHandlers>;
  const all = new Proxy(handlers, { get: (target, name: string) => target[name as keyof ApiHandlers] ?? none }) as ApiHandlers;
  const service: EngineService = { handlers: all, subscribe: () => () => undefined, photoFile: async () => null, libraryRoot: () => dir, close: async () => undefined };
  const bridge = await startBridge({ service, rendererDir });
  const browser = await chromium.launch({ executablePath: CHROMIUM, args: CHROMIUM_ARGS });
  try {
    const page = await browser.newPage({ viewport: { width: 1360, height: 860 } });
    await page.goto(bridge.url);
    await page.click('[data-testid=tab-map]');
    await page.waitForSelector(`[data-testid=map-baseline][data-points="${map.photoIds.length}"]`, { timeout: 120_000 });
    // tsx names the functions declared in the page script with a helper the page does not have.
    await page.evaluate('window.__name = (fn) => fn');
    const measured = await page.evaluate(async (frames) => {
      const canvas = document.querySelector<HTMLCanvasElement>('[data-testid=map-baseline] canvas')!;
      const gl = canvas.getContext('webgl')!;
      const info = gl.getExtension('WEBGL_debug_renderer_info');
      const renderer = info ? String(gl.getParameter(info.UNMASKED_RENDERER_WEBGL)) : String(gl.getParameter(gl.RENDERER));
      const box = canvas.getBoundingClientRect();
      const at = { clientX: box.left + box.width / 2, clientY: box.top + box.height / 2 };
      const nextFrame = () => new Promise<number>((resolve) => requestAnimationFrame(resolve));
      const intervals = async (act: (i: number) => void) => {
        const times: number[] = [];
        let last = await nextFrame();
        for (let i = 0; i < frames; i++) {
          act(i);
          const now = await nextFrame();
          times.push(now - last);
          last = now;
        }
        return times;
      };
      const zoom = await intervals((i) => canvas.dispatchEvent(new WheelEvent('wheel', { ...at, deltaY: i < frames / 2 ? -40 : 40, bubbles: true, cancelable: true })));
      canvas.dispatchEvent(new PointerEvent('pointerdown', { ...at, button: 0, pointerId: 1, bubbles: true }));
      const pointer = { ...at };
      const pan = await intervals((i) => {
        const movementX = i % 40 < 20 ? 6 : -6;
        pointer.clientX += movementX;
        pointer.clientY += 1;
        canvas.dispatchEvent(new PointerEvent('pointermove', { ...pointer, movementX, movementY: 1, buttons: 1, pointerId: 1, bubbles: true }));
      });
      canvas.dispatchEvent(new PointerEvent('pointerup', { ...pointer, button: 0, pointerId: 1, bubbles: true }));
      return { renderer, zoom, pan };
    }, FRAMES);
    const stats = (times: number[]) => {
      const sorted = [...times].sort((a, b) => a - b);
      return { p50: round(percentile(sorted, 50)), p95: round(percentile(sorted, 95)), max: round(sorted.at(-1)!) };
    };
    const zoom = stats(measured.zoom);
    const pan = stats(measured.pan);
    return { renderer: measured.renderer, zoom_frame_ms_p50: zoom.p50, zoom_frame_ms_p95: zoom.p95, pan_frame_ms_p50: pan.p50, pan_frame_ms_p95: pan.p95, frame_ms_max: Math.max(zoom.max, pan.max) };
  } finally {
    await browser.close();
    await bridge.close();
  }
}

if (import.meta.url === `file://${process.argv[1]}`) printReport(await run(process.argv.slice(2)), process.argv.includes('--json'));
