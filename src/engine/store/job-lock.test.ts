import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Store } from './store.js';
import { LOCK_STALE_MS } from './job-lock.js';

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
      a.db.prepare('UPDATE job_lock SET pid = ?').run(Number(gone.stdout));
      expect(b.jobLock.claim('index')).toBeNull();

      b.db.prepare('UPDATE job_lock SET heartbeat_at = ?').run(Date.now() - LOCK_STALE_MS - 1000);
      expect(a.jobLock.claim('train')).toBeNull();
      expect(b.jobLock.heartbeat().held).toBe(false); // b learns its claim was taken over
    } finally {
      a.close();
      b.close();
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
