/**
 * The page's Content-Security-Policy, written once: the built page's <meta> tag (injected at build
 * time, electron.vite.config.ts), Electron's response header (src/main) and the bridge's header
 * (src/bridge) differ only in what they add here.
 */
export interface CspOptions {
  /** Sources images may come from besides the page itself, blob: and data: (e.g. Electron's photo scheme). */
  images?: string[];
  /** Sources the page may connect to besides itself (e.g. the bridge's WebSocket). */
  connect?: string[];
  /** Only for a development server, whose hot reload injects <style> tags. */
  inlineStyles?: boolean;
  /** A response header, not a <meta> tag: only a header may forbid framing (browsers ignore it in <meta>, with a warning). */
  header?: boolean;
}

export function contentSecurityPolicy(options: CspOptions = {}): string {
  return [
    "default-src 'none'",
    "script-src 'self'",
    `style-src 'self'${options.inlineStyles ? " 'unsafe-inline'" : ''}`,
    ["img-src 'self' blob: data:", ...(options.images ?? [])].join(' '),
    ["connect-src 'self'", ...(options.connect ?? [])].join(' '),
    "font-src 'self'",
    "base-uri 'none'",
    "form-action 'none'",
    ...(options.header ? ["frame-ancestors 'none'"] : []),
  ].join('; ');
}
