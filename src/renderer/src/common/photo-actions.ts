import type { PhotoItem } from '../../../shared/api';
import type { AppState } from '../state/app.svelte';

/** Right-click (or the context-menu key / Shift+F10 on a focused photo) opens the photo menu. */
export function openPhotoMenu(app: AppState, photo: PhotoItem, event: MouseEvent | KeyboardEvent): void {
  event.preventDefault();
  if (event instanceof MouseEvent && event.type === 'contextmenu' && (event.clientX !== 0 || event.clientY !== 0)) {
    app.menu = { x: event.clientX, y: event.clientY, photo };
    return;
  }
  const rect = (event.currentTarget as HTMLElement).getBoundingClientRect();
  app.menu = { x: rect.left + rect.width / 2, y: rect.top + rect.height / 2, photo };
}

export function isMenuKey(event: KeyboardEvent): boolean {
  return event.key === 'ContextMenu' || (event.shiftKey && event.key === 'F10');
}
