import type { BackendInfo, GpuAdapterInfo } from '../../../shared/api';

/** "42 s", "3 min", "1 h 05 min". */
export function formatEta(seconds: number | null | undefined): string {
  if (seconds === null || seconds === undefined || !Number.isFinite(seconds)) return '';
  const s = Math.max(0, Math.round(seconds));
  if (s < 60) return `${s} s left`;
  const m = Math.round(s / 60);
  if (m < 60) return `${m} min left`;
  return `${Math.floor(m / 60)} h ${String(m % 60).padStart(2, '0')} min left`;
}

export function formatCount(n: number): string {
  return n.toLocaleString('en-US');
}

/** "1 file", "2 files", "1,204 photos": the count and the word that agrees with it. */
export function countOf(n: number, one: string, many = `${one}s`): string {
  return `${formatCount(n)} ${n === 1 ? one : many}`;
}

export function formatMetric(value: number | null | undefined): string {
  return value === null || value === undefined || !Number.isFinite(value) ? '–' : value.toFixed(3);
}

export function formatDistance(value: number): string {
  return value < 10 ? value.toFixed(3) : value.toFixed(1);
}

export function formatLoss(value: number | null | undefined): string {
  if (value === null || value === undefined || !Number.isFinite(value)) return '–';
  if (value === 0) return '0';
  return Math.abs(value) >= 100 ? value.toFixed(0) : value.toPrecision(3);
}

export function formatDate(iso: string): string {
  const date = new Date(iso);
  if (Number.isNaN(date.getTime())) return iso;
  return date.toLocaleString(undefined, { month: 'short', day: 'numeric', hour: '2-digit', minute: '2-digit' });
}

/** Signed difference, e.g. "+0.124". */
export function formatDelta(after: number | null | undefined, before: number | null | undefined): string {
  if (after === null || after === undefined || before === null || before === undefined) return '';
  const d = after - before;
  return `${d >= 0 ? '+' : '−'}${Math.abs(d).toFixed(3)}`;
}

export function fileName(path: string): string {
  return path.split(/[\\/]/).pop() ?? path;
}

/** How long a run took, from its stored start and end ("2 min 05 s"); '' while it has no end. */
export function formatDuration(startIso: string, endIso: string | null): string {
  if (!endIso) return '';
  const seconds = Math.round((Date.parse(endIso.replace(' ', 'T')) - Date.parse(startIso.replace(' ', 'T'))) / 1000);
  if (!Number.isFinite(seconds) || seconds < 0) return '';
  if (seconds < 60) return `${seconds} s`;
  const minutes = Math.floor(seconds / 60);
  if (minutes < 60) return `${minutes} min ${String(seconds % 60).padStart(2, '0')} s`;
  return `${Math.floor(minutes / 60)} h ${String(minutes % 60).padStart(2, '0')} min`;
}

/** "63 images/s", "8,582 images/s", "0.59 images/s". */
export function formatRate(imagesPerSecond: number | null | undefined): string {
  if (imagesPerSecond === null || imagesPerSecond === undefined || !Number.isFinite(imagesPerSecond) || imagesPerSecond <= 0) return '';
  const shown = imagesPerSecond >= 10 ? Math.round(imagesPerSecond).toLocaleString('en-US') : imagesPerSecond.toPrecision(2);
  return `${shown} images/s`;
}

/** "NVIDIA H200", "SwiftShader driver 5.0.0 (software)". */
export function adapterName(adapter: GpuAdapterInfo): string {
  const name = adapter.description || [adapter.vendor, adapter.architecture].filter(Boolean).join(' ') || 'unknown GPU';
  return adapter.software ? `${name} (software)` : name;
}

/** Where a kind of work runs: the backbone (features) or TF.js (training), e.g. "TF.js webgpu on NVIDIA H200". */
export function whereItRuns(backend: BackendInfo, work: 'features' | 'train'): string {
  if (work === 'features' && backend.backboneRuntime === 'onnxruntime') return 'ONNX Runtime on the CPU';
  const device = backend.adapter ? adapterName(backend.adapter) : backend.gpu ? 'the GPU' : 'the CPU';
  return `TF.js ${backend.name} on ${device}`;
}
