import { describe, expect, it } from 'vitest';
import { ApiError } from '../../shared/errors.js';
import { defaultDbPath, isInsideFolder, isStrictlyInside, typedFolderPath, userCacheDir, userDataDir } from './paths.js';

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

describe('folder paths typed into the app', () => {
  it('expands ~ to the home folder and keeps absolute paths', () => {
    expect(typedFolderPath('~', '/home/ann')).toBe('/home/ann');
    expect(typedFolderPath('  ~/Pictures/2024 ', '/home/ann')).toBe('/home/ann/Pictures/2024');
    expect(typedFolderPath('/srv/photos/../pics', '/home/ann')).toBe('/srv/pics');
  });

  it('refuses a relative path, another user’s ~ and an empty path as bad input, saying what to type', () => {
    for (const [typed, message] of [
      ['Pictures', /Pictures: give the full path of the folder, starting with \/ or ~\//],
      ['./photos', /give the full path/],
      ['~bob/photos', /only your own home folder/],
      ['  ', /choose a folder to open/],
    ] as const) {
      let thrown: unknown;
      try {
        typedFolderPath(typed, '/home/ann');
      } catch (error) {
        thrown = error;
      }
      expect(thrown, typed).toBeInstanceOf(ApiError);
      expect(thrown).toMatchObject({ kind: 'invalid-input', message: expect.stringMatching(message) });
    }
  });
});

describe('isInsideFolder', () => {
  it('works by path segments, also for a root that ends in a separator such as /', () => {
    expect(isStrictlyInside('/photos/daisy/a.jpg', '/')).toBe(true);
    expect(isInsideFolder('/', '/')).toBe(true);
    expect(isStrictlyInside('/', '/')).toBe(false);
    expect(isStrictlyInside('/photos/a.jpg', '/photos')).toBe(true);
    expect(isStrictlyInside('/photos/a.jpg', '/photos/')).toBe(true);
    expect(isInsideFolder('/photos2/a.jpg', '/photos')).toBe(false);
    expect(isInsideFolder('/a.jpg', '/photos')).toBe(false);
    expect(isInsideFolder('/photos/../etc/passwd', '/photos')).toBe(false);
    expect(isInsideFolder('/photos/..a/b.jpg', '/photos')).toBe(true);
  });
});
