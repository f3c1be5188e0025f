import type { EngineService } from '../engine/jobs/service/service-contract.js';

/**
 * "Show in folder" for a photo id from the page: only a photo of the open library, resolved by the
 * engine (its real path inside the library root, never a path the page sent), goes to `show`
 * (Electron's shell.showItemInFolder in the app).
 */
export async function revealPhoto(service: EngineService, photoId: unknown, show: (file: string) => void): Promise<void> {
  const file = Number.isInteger(photoId) ? await service.photoFile(photoId as number, 'full') : null;
  if (!file) throw new Error(`no photo ${String(photoId)} in the open library`);
  show(file);
}
