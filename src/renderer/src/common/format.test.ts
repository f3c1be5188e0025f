import { describe, expect, it } from 'vitest';
import { adapterName, countOf, fileName, formatDelta, formatDistance, formatEta, formatLoss, formatMetric, formatRate, whereItRuns } from './format';

describe('format', () => {
  it('puts the word that agrees with the count after it', () => {
    expect(countOf(1, 'file')).toBe('1 file');
    expect(countOf(0, 'file')).toBe('0 files');
    expect(countOf(1204, 'photo')).toBe('1,204 photos');
    expect(countOf(2, 'class', 'classes')).toBe('2 classes');
  });

  it('says how long is left in words a person reads at a glance', () => {
    expect(formatEta(null)).toBe('');
    expect(formatEta(42.4)).toBe('42 s left');
    expect(formatEta(185)).toBe('3 min left');
    expect(formatEta(3 * 3600 + 5 * 60)).toBe('3 h 05 min left');
  });

  it('shows metrics, deltas, losses and distances with fixed, readable precision', () => {
    expect(formatMetric(0.83456)).toBe('0.835');
    expect(formatMetric(null)).toBe('–');
    expect(formatDelta(0.9, 0.6)).toBe('+0.300');
    expect(formatDelta(0.5, 0.6)).toBe('−0.100');
    expect(formatDelta(0.5, null)).toBe('');
    expect(formatLoss(0)).toBe('0');
    expect(formatLoss(0.00119)).toBe('0.00119');
    expect(formatLoss(Number.NaN)).toBe('–');
    expect(formatDistance(0.36789)).toBe('0.368');
    expect(formatDistance(12.34)).toBe('12.3');
  });

  it('takes the file name from either kind of path', () => {
    expect(fileName('daisy/image_0801.jpg')).toBe('image_0801.jpg');
    expect(fileName('C:\\photos\\a.png')).toBe('a.png');
  });

  it('gives speeds in images per second, and where the work runs, GPU adapter named', () => {
    expect(formatRate(8582.4)).toBe('8,582 images/s');
    expect(formatRate(0.594)).toBe('0.59 images/s');
    expect(formatRate(null)).toBe('');
    const swiftshader = { vendor: 'google', architecture: 'swiftshader', description: 'SwiftShader driver 5.0.0', software: true };
    expect(adapterName(swiftshader)).toBe('SwiftShader driver 5.0.0 (software)');
    const gpu = { name: 'webgpu', reason: '', gpu: true, backboneRuntime: 'tfjs-webgpu', adapter: { vendor: 'nvidia', architecture: 'hopper', description: '', software: false } };
    expect(whereItRuns(gpu, 'features')).toBe('TF.js webgpu on nvidia hopper');
    const cpu = { name: 'wasm', reason: '', gpu: false, backboneRuntime: 'onnxruntime', adapter: null };
    expect(whereItRuns(cpu, 'features')).toBe('ONNX Runtime on the CPU');
    expect(whereItRuns(cpu, 'train')).toBe('TF.js wasm on the CPU');
  });
});
