import { getContext, setContext } from 'svelte';
import type { AppState } from './app.svelte';

const KEY = Symbol('lookalike-app');

export function provideApp(app: AppState): void {
  setContext(KEY, app);
}

export function useApp(): AppState {
  return getContext<AppState>(KEY);
}
