import { pathToFileURL } from 'node:url';
import { describe, expect, it } from 'vitest';
import { trustedPage } from './trust.js';

const rendererHtml = '/opt/Lookalike/resources/app.asar/out/renderer/index.html';

describe('trustedPage', () => {
  it('in development, trusts the dev server origin only, compared whole', () => {
    const isTrusted = trustedPage({ rendererHtml, devUrl: 'http://localhost:5173' });
    expect(isTrusted('http://localhost:5173')).toBe(true);
    expect(isTrusted('http://localhost:5173/')).toBe(true);
    expect(isTrusted('http://localhost:5173/src/App.svelte?x=1#y')).toBe(true);
    for (const foreign of [
      'http://localhost:51730/',
      'http://localhost:5173.evil.example/',
      'http://localhost:5173@evil.example/',
      'https://localhost:5173/',
      'http://127.0.0.1:5173/',
      'http://localhost:5174/',
      'not a url',
      '',
    ]) {
      expect(isTrusted(foreign), foreign).toBe(false);
    }
  });

  it('trusts the built page file, with or without query and hash, and nothing beside it', () => {
    const isTrusted = trustedPage({ rendererHtml });
    const page = pathToFileURL(rendererHtml).href;
    expect(isTrusted(page)).toBe(true);
    expect(isTrusted(`${page}?a=1#b`)).toBe(true);
    expect(isTrusted(page.replace('index.html', 'other.html'))).toBe(false);
    expect(isTrusted(`${page}x`)).toBe(false);
    expect(isTrusted('http://localhost:5173/')).toBe(false);
    expect(isTrusted('file:///etc/passwd')).toBe(false);
  });
});
