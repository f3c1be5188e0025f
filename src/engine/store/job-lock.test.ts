import { spawn, spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Store } from './store.js';
import { LOCK_STALE_MS } from './job-lock.js';
import { runSql } from '../testing/raw-sql.js';

let dir: string;
beforeAll(() => {
  dir = mkdtempSync(join(tmpdir(), 'lookalike-lock-'));
});
afterAll(() => rmSync(dir, { recursive: true, force: true }));

/** Two connections to one file, as two processes have. */
function twoConnections(name: string): [Store, Store] {
  const path = join(dir, name);
  return [Store.open(path), Store.open(path)];
}

describe('one job at a time per database (JobLock)', () => {
  it('lets one connection claim it; the other is refused with who holds it, until it is released', () => {
    const [a, b] = twoConnections('claim.db');
    try {
      expect(a.jobLock.claim('train')).toBeNull();
      const holder = b.jobLock.claim('train');
      expect(holder).toMatchObject({ pid: process.pid, kind: 'train', owner: a.jobLock.owner });
      expect(a.jobLock.claim('index')).toBeNull(); // its own claim: handed from one job to the next
      a.jobLock.release();
      expect(b.jobLock.claim('index')).toBeNull();
      expect(a.jobLock.claim('train')).toMatchObject({ kind: 'index' });
    } finally {
      a.close();
      b.close();
    }
  });

  it('Stop from the other connection reaches the holder through its heartbeat', () => {
    const [a, b] = twoConnections('stop.db');
    try {
      expect(b.jobLock.requestStop()).toBeNull(); // nothing runs
      a.jobLock.claim('train');
      expect(a.jobLock.heartbeat()).toEqual({ held: true, stopRequested: false });
      expect(b.jobLock.requestStop()).toMatchObject({ kind: 'train', stopRequested: true });
      expect(a.jobLock.heartbeat()).toEqual({ held: true, stopRequested: true });
    } finally {
      a.close();
      b.close();
    }
  });

  it("takes over a crashed holder's claim: its process is gone, or its heartbeat is old", () => {
    const [a, b] = twoConnections('stale.db');
    try {
      a.jobLock.claim('train');
      // A process that has exited: its pid is not alive any more.
      const gone = spawnSync(process.execPath, ['-e', 'process.stdout.write(String(process.pid))'], { encoding: 'utf8' });
      runSql(a.path, 'UPDATE job_lock SET pid = ?', Number(gone.stdout));
      expect(b.jobLock.claim('index')).toBeNull();

      runSql(b.path, 'UPDATE job_lock SET heartbeat_at = ?', Date.now() - LOCK_STALE_MS - 1000);
      expect(a.jobLock.claim('train')).toBeNull();
      expect(b.jobLock.heartbeat().held).toBe(false); // b learns its claim was taken over
    } finally {
      a.close();
      b.close();
    }
  });

  it('takes over at once from a holder killed with SIGKILL, even before its parent has reaped it', async () => {
    const path = join(dir, 'killed.db');
    const script = `
      const { Store } = await import(${JSON.stringify(new URL('./store.ts', import.meta.url).href)});
      const { holdJobLock } = await import(${JSON.stringify(new URL('./job-lock.ts', import.meta.url).href)});
      const store = Store.open(${JSON.stringify(path)});
      if (store.jobLock.claim('train') !== null) process.exit(3);
      holdJobLock(store.jobLock, () => undefined);
      process.stdout.write('claimed');
      setInterval(() => undefined, 1000);`;
    const child = spawn(process.execPath, ['--import', 'tsx', '--input-type=module', '-e', script], { stdio: ['ignore', 'pipe', 'inherit'] });
    const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
    await new Promise<void>((resolve, reject) => {
      child.stdout.once('data', () => resolve());
      child.once('exit', (code) => reject(new Error(`the holder exited (${code}) before claiming`)));
    });
    const store = Store.open(path);
    try {
      expect(store.jobLock.claim('index')).toMatchObject({ pid: child.pid, kind: 'train' });
      child.kill('SIGKILL');
      // Until this test yields, Node cannot reap the child: it is a zombie, dead but still signalable.
      // The claim must not wait for that (nor for the stale heartbeat).
      let refusedWith: number | undefined;
      for (const until = Date.now() + 5_000; Date.now() < until; ) {
        refusedWith = store.jobLock.claim('index')?.pid;
        if (refusedWith === undefined) break;
      }
      expect(refusedWith).toBeUndefined();
      expect(child.exitCode).toBeNull(); // not reaped yet: the takeover came first
    } finally {
      child.kill('SIGKILL');
      await exited;
      store.close();
    }
  });

  it('gives the claim back when the store closes', () => {
    const [a, b] = twoConnections('close.db');
    a.jobLock.claim('train');
    a.close();
    expect(b.jobLock.claim('train')).toBeNull();
    b.close();
  });
});
