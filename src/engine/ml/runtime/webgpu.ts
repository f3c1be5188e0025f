/**
 * WebGPU in plain Node through dawn.node (the `webgpu` package): finds an adapter and installs it as
 * `navigator.gpu`, with Dawn's globals (GPUBufferUsage, …), which @tensorflow/tfjs-backend-webgpu
 * looks for when it is evaluated. So this runs before that module is imported.
 */
import { spawnSync } from 'node:child_process';
import { existsSync, readdirSync } from 'node:fs';
import { createRequire } from 'node:module';
import { homedir } from 'node:os';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import type { GpuAdapterInfo } from '../../../shared/api.js';

export type WebGpuSetup = { adapter: GpuAdapterInfo } | { adapter: null; reason: string };

interface DawnAdapter {
  info: { vendor: string; architecture: string; description: string; isFallbackAdapter?: boolean };
  isFallbackAdapter?: boolean;
}

interface DawnGpu {
  requestAdapter(options?: { powerPreference?: 'high-performance' | 'low-power' }): Promise<DawnAdapter | null>;
}

interface DawnModule {
  create(flags: string[]): DawnGpu;
  globals: Record<string, unknown>;
}

/** CPU rasterisers that pass for a GPU: correct, but slower than our CPU paths. */
const SOFTWARE_ADAPTER = /swiftshader|llvmpipe|lavapipe|softpipe|microsoft basic render/i;

/**
 * Opens dawn.node and asks for a high-performance adapter. With `needDriverFiles` (the automatic
 * choice) a Linux machine with no Vulkan driver manifest at all is passed over before Dawn is
 * loaded, so machines without a GPU do not get the Vulkan loader's warnings on every start.
 */
export async function setUpWebGpu(options: { needDriverFiles?: boolean } = {}): Promise<WebGpuSetup> {
  if (options.needDriverFiles && process.platform === 'linux' && vulkanDriverManifests().length === 0) {
    return { adapter: null, reason: 'no Vulkan driver installed (no ICD manifest in the loader’s search path; VK_ICD_FILENAMES names one)' };
  }
  if (options.needDriverFiles) {
    // Dawn and the Vulkan loader write their warnings (XDG_RUNTIME_DIR, missing drivers, Dawn's build
    // paths) straight to stderr: ask in a child first, and load Dawn here only for a real GPU.
    const probed = probeInChild();
    if (process.env.LOOKALIKE_VERBOSE && probed.stderr.trim()) process.stderr.write(`GPU probe (dawn.node) said:\n${probed.stderr}`);
    if (probed.outcome !== 'hardware') return { adapter: null, reason: probed.reason };
  }
  let dawn: DawnModule;
  try {
    dawn = (await import('webgpu')) as unknown as DawnModule;
  } catch (error) {
    return { adapter: null, reason: `dawn.node could not be loaded (${firstLine(error)})` };
  }
  let gpu: DawnGpu;
  let adapter: DawnAdapter | null;
  try {
    gpu = dawn.create([]);
    adapter = await gpu.requestAdapter({ powerPreference: 'high-performance' });
  } catch (error) {
    return { adapter: null, reason: `dawn.node found no adapter (${firstLine(error)})` };
  }
  if (!adapter) return { adapter: null, reason: noAdapterReason() };
  installGlobals(dawn, gpu);
  return { adapter: describeAdapter(adapter) };
}

/** What a child process finds with dawn.node: a hardware adapter, or why not; and what it wrote to stderr. */
function probeInChild(): { outcome: 'hardware' | 'none'; reason: string; stderr: string } {
  let entry: string;
  try {
    entry = pathToFileURL(createRequire(import.meta.url).resolve('webgpu')).href;
  } catch (error) {
    return { outcome: 'none', reason: `dawn.node could not be loaded (${firstLine(error)})`, stderr: '' };
  }
  const script = `import(${JSON.stringify(entry)}).then(async (dawn) => {
    const adapter = await (dawn.default ?? dawn).create([]).requestAdapter({ powerPreference: 'high-performance' });
    process.stdout.write(JSON.stringify(adapter ? { info: adapter.info, isFallbackAdapter: adapter.isFallbackAdapter } : null));
    process.exit(0);
  }, (error) => { process.stdout.write(JSON.stringify({ error: String(error && error.message) })); process.exit(0); });`;
  const child = spawnSync(process.execPath, ['--input-type=module', '-e', script], { encoding: 'utf8', timeout: 30_000, env: { ...process.env, ELECTRON_RUN_AS_NODE: '1' } });
  const stderr = child.stderr ?? '';
  let found: (DawnAdapter & { error?: string }) | null;
  try {
    found = JSON.parse(child.stdout || 'null') as (DawnAdapter & { error?: string }) | null;
  } catch {
    return { outcome: 'none', reason: 'dawn.node’s probe gave no answer', stderr };
  }
  if (found?.error) return { outcome: 'none', reason: `dawn.node could not be loaded (${found.error.split('\n')[0]})`, stderr };
  if (!found?.info) return { outcome: 'none', reason: noAdapterReason(), stderr };
  const adapter = describeAdapter(found);
  return adapter.software ? { outcome: 'none', reason: `only a software adapter, ${adapterLabel(adapter)}, slower than the CPU`, stderr } : { outcome: 'hardware', reason: '', stderr };
}

function noAdapterReason(): string {
  const loader = vulkanLoaderFound() ? '' : '; the Vulkan loader libvulkan.so.1 was not found either (Debian: libvulkan1)';
  return `dawn.node found no adapter (no usable Vulkan/Metal/D3D12 driver${process.platform === 'linux' ? loader : ''})`;
}

export function describeAdapter(adapter: DawnAdapter): GpuAdapterInfo {
  const { vendor, architecture, description } = adapter.info;
  const fallback = adapter.info.isFallbackAdapter ?? adapter.isFallbackAdapter ?? false;
  return { vendor, architecture, description, software: fallback || SOFTWARE_ADAPTER.test(`${vendor} ${architecture} ${description}`) };
}

/** "nvidia hopper (NVIDIA H200)", "google swiftshader (SwiftShader driver 5.0.0)". */
export function adapterLabel(adapter: GpuAdapterInfo): string {
  const name = [adapter.vendor, adapter.architecture].filter(Boolean).join(' ') || 'unknown adapter';
  return adapter.description ? `${name} (${adapter.description})` : name;
}

function installGlobals(dawn: DawnModule, gpu: DawnGpu): void {
  Object.assign(globalThis, dawn.globals);
  const existing = (globalThis as { navigator?: object }).navigator;
  if (existing) Object.defineProperty(existing, 'gpu', { value: gpu, configurable: true, writable: true });
  // Node 20 has no navigator; Node 21+ and Electron have one whose `gpu` we set above.
  else Object.defineProperty(globalThis, 'navigator', { value: { gpu }, configurable: true, writable: true });
}

/** Where the Vulkan loader looks for driver manifests on Linux (its documented search order). */
function vulkanDriverManifests(): string[] {
  const env = process.env;
  const named = [env.VK_DRIVER_FILES, env.VK_ICD_FILENAMES, env.VK_ADD_DRIVER_FILES].flatMap((list) => (list ? list.split(':') : []));
  if (named.some((file) => file && existsSync(file))) return named.filter((file) => file && existsSync(file));
  const configDirs = (env.XDG_CONFIG_DIRS || '/etc/xdg').split(':');
  const dataDirs = [env.XDG_DATA_HOME || join(homedir(), '.local/share'), ...(env.XDG_DATA_DIRS || '/usr/local/share:/usr/share').split(':')];
  const folders = [...configDirs, '/etc', ...dataDirs].filter(Boolean).map((dir) => join(dir, 'vulkan/icd.d'));
  return folders.flatMap((folder) => {
    try {
      return readdirSync(folder).filter((name) => name.endsWith('.json')).map((name) => join(folder, name));
    } catch {
      return [];
    }
  });
}

function vulkanLoaderFound(): boolean {
  const multiarch = process.arch === 'arm64' ? 'aarch64-linux-gnu' : 'x86_64-linux-gnu';
  const dirs = [...(process.env.LD_LIBRARY_PATH ?? '').split(':'), `/usr/lib/${multiarch}`, `/lib/${multiarch}`, '/usr/lib64', '/usr/lib', '/usr/local/lib'];
  return dirs.some((dir) => dir && existsSync(join(dir, 'libvulkan.so.1')));
}

function firstLine(error: unknown): string {
  return String(error instanceof Error ? error.message : error).split('\n')[0];
}
