/** Where the page keeps the bridge's token: sessionStorage belongs to this origin (scheme, host and port) and this tab. */
export const TOKEN_KEY = 'lookalike-token';

/**
 * The bridge's access token for this page. The address `lookalike serve` prints carries it in the
 * fragment (`#token=…`, never sent to a server); the first load moves it to sessionStorage and cleans
 * the address bar, so a reload, a bookmark or a shared screen does not hold it. Null when this page was
 * opened without it.
 */
export function takeBridgeToken(where: Location = location, storage: Storage = sessionStorage, history: History = window.history): string | null {
  const fromUrl = new URLSearchParams(where.hash.slice(1)).get('token');
  if (fromUrl) {
    storage.setItem(TOKEN_KEY, fromUrl);
    history.replaceState(history.state, '', where.pathname + where.search);
    return fromUrl;
  }
  return storage.getItem(TOKEN_KEY);
}
