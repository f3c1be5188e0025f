import { readdirSync, readFileSync, readlinkSync } from 'node:fs';
import { getPriority } from 'node:os';
import { Worker } from 'node:worker_threads';
import sharp from 'sharp';
import { describe, expect, it } from 'vitest';
import { BACKGROUND_NICENESS } from './thread-priority.js';

const tidOf = (link: string) => Number(link.split('/').at(-1));
const libvipsThreads = () => readdirSync('/proc/self/task').filter((task) => readFileSync(`/proc/self/task/${task}/comm`, 'utf8').trim() === 'libvips worker').map(Number);

describe.runIf(process.platform === 'linux')('background threads', () => {
  it('a feature thread lowers its own priority and libvips decoding threads, never the thread that answers', async () => {
    await sharp({ create: { width: 64, height: 64, channels: 3, background: '#808080' } }).resize(8).raw().toBuffer(); // libvips starts its threads
    expect(libvipsThreads().length).toBeGreaterThan(0);
    const here = tidOf(readlinkSync('/proc/thread-self'));
    const before = getPriority(here);
    const source = new URL('./thread-priority.ts', import.meta.url).href;
    const worker = new Worker(
      `const { parentPort } = require('node:worker_threads');
       import('tsx/esm/api').then(({ register }) => { register(); return import(${JSON.stringify(source)}); })
         .then((m) => parentPort.postMessage({ lowered: m.lowerThreadPriority(), self: require('node:fs').readlinkSync('/proc/thread-self') }));`,
      { eval: true },
    );
    const reply = await new Promise<{ lowered: number[]; self: string }>((resolve, reject) => worker.once('message', resolve).once('error', reject));
    await worker.terminate();

    const self = tidOf(reply.self);
    expect(self).not.toBe(here);
    expect(reply.lowered).toContain(self);
    for (const tid of libvipsThreads()) {
      expect(reply.lowered).toContain(tid);
      expect(getPriority(tid)).toBeGreaterThanOrEqual(BACKGROUND_NICENESS);
    }
    expect(getPriority(here)).toBe(before);
    expect(getPriority(process.pid)).toBe(before);
  });
});
