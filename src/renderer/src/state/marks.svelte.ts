import type { MarksState } from '../../../shared/api';
import type { AppState } from './app.svelte';

/** Why an image from outside the library cannot carry marks (the button's tooltip, the X key's notice). */
export const OUTSIDE_QUERY_NOTE = 'Marks need a query photo from the library: an image from outside it cannot be stored as one';

/** Results marked "not similar" to the query in Find similar, and how many marks the next training uses. */
export class Marks {
  state = $state.raw<MarksState | null>(null);
  /** The photo the marks in `state.marked` are against; null when the query is not a library photo. */
  queryPhotoId = $state<number | null>(null);
  /** A mark or unmark in flight, by photo id. */
  pending = $state<number | null>(null);

  constructor(private readonly app: AppState) {}

  has(photoId: number): boolean {
    return this.queryPhotoId !== null && (this.state?.marked.includes(photoId) ?? false);
  }

  /** Reloads the counts, and the marks of the current query when it is a library photo. */
  async refresh(): Promise<void> {
    if (!this.app.library) {
      this.state = null;
      this.queryPhotoId = null;
      return;
    }
    const source = this.app.similarSource;
    const queryPhotoId = source?.kind === 'photo' ? source.photoId : null;
    this.state = await this.app.transport.api.marks(queryPhotoId === null ? {} : { queryPhotoId });
    this.queryPhotoId = queryPhotoId;
  }

  /** Marks a result as not similar to the query, or unmarks it when it is marked already. */
  toggle(photoId: number): Promise<void> {
    return this.setMany([photoId], !this.has(photoId));
  }

  /** Marks (or unmarks) several results of the query, one call each; those already as asked are left alone. */
  async setMany(photoIds: number[], marked: boolean): Promise<void> {
    const queryPhotoId = this.queryPhotoId;
    if (queryPhotoId === null) {
      this.app.notify(OUTSIDE_QUERY_NOTE);
      return;
    }
    if (this.pending !== null) return;
    try {
      for (const photoId of photoIds.filter((id) => this.has(id) !== marked)) {
        this.pending = photoId;
        const state = await this.app.transport.api.markNotSimilar({ queryPhotoId, photoId, marked });
        // Another query may have come meanwhile: its own marks, not these.
        if (this.queryPhotoId !== queryPhotoId) {
          await this.refresh();
          return;
        }
        this.state = state;
      }
    } catch (error) {
      this.app.notify(error);
    } finally {
      this.pending = null;
    }
  }
}
