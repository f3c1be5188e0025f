import { describe, expect, it } from 'vitest';
import { defaultDbPath, userCacheDir, userDataDir } from './paths.js';

describe('per-user folders', () => {
  it('follows XDG on Linux, the platform folders elsewhere, and LOOKALIKE_HOME over all', () => {
    expect(userDataDir({ XDG_DATA_HOME: '/x/data' }, 'linux')).toBe('/x/data/lookalike');
    expect(userCacheDir({ XDG_CACHE_HOME: '/x/cache' }, 'linux')).toBe('/x/cache/lookalike');
    expect(defaultDbPath({ XDG_DATA_HOME: '/x/data' }, 'linux')).toBe('/x/data/lookalike/lookalike.db');
    expect(userDataDir({ APPDATA: 'C:/Users/a/AppData/Roaming' }, 'win32')).toMatch(/AppData.Roaming.Lookalike$/);
    expect(userDataDir({}, 'darwin')).toMatch(/Library.Application Support.Lookalike$/);
    expect(defaultDbPath({ LOOKALIKE_HOME: '/tmp/lk' }, 'darwin')).toBe('/tmp/lk/lookalike.db');
  });
});
