import { pathToFileURL } from 'node:url';

/**
 * Whether a frame's URL is our own page: the built renderer file, or (in development) a page of the
 * dev server's origin. Origins are compared whole (scheme, host and port), never as string prefixes:
 * `http://localhost:51730` or `http://localhost:5173.evil.example` are not `http://localhost:5173`.
 */
export function trustedPage(options: { rendererHtml: string; devUrl?: string }): (url: string) => boolean {
  const devOrigin = options.devUrl ? originOf(options.devUrl) : null;
  const pageUrl = pathToFileURL(options.rendererHtml).href;
  return (url: string) => {
    if (devOrigin !== null && devOrigin !== 'null' && originOf(url) === devOrigin) return true;
    return url.split(/[?#]/)[0] === pageUrl;
  };
}

function originOf(url: string): string | null {
  try {
    return new URL(url).origin;
  } catch {
    return null;
  }
}
