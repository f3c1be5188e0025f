import type { MarksState } from '../../../shared/api';
import type { FeatureHost } from './feature-host';

/** Why an image from outside the library cannot carry marks (the button's tooltip, the X key's notice). */
export const OUTSIDE_QUERY_NOTE = 'Marks need a query photo from the library: an image from outside it cannot be stored as one';

export interface MarksHost extends FeatureHost {
  /** The photo Find similar was asked about; null when there is none or the query is an image from outside the library. */
  queryPhotoId(): number | null;
}

/** Results marked "not similar" to the query in Find similar, and how many marks the next training uses. */
export class Marks {
  state = $state.raw<MarksState | null>(null);
  /** The photo the marks in `state.marked` are against; null when the query is not a library photo. */
  queryPhotoId = $state<number | null>(null);
  /** A mark or unmark in flight, by photo id. */
  pending = $state<number | null>(null);

  constructor(private readonly host: MarksHost) {}

  has(photoId: number): boolean {
    return this.queryPhotoId !== null && (this.state?.marked.includes(photoId) ?? false);
  }

  /** Reloads the counts, and the marks of the current query when it is a library photo. */
  async refresh(): Promise<void> {
    if (!this.host.library()) {
      this.state = null;
      this.queryPhotoId = null;
      return;
    }
    const queryPhotoId = this.host.queryPhotoId();
    this.state = await this.host.api.marks(queryPhotoId === null ? {} : { queryPhotoId });
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
      this.host.notify(OUTSIDE_QUERY_NOTE);
      return;
    }
    if (this.pending !== null) return;
    try {
      for (const photoId of photoIds.filter((id) => this.has(id) !== marked)) {
        this.pending = photoId;
        const state = await this.host.api.markNotSimilar({ queryPhotoId, photoId, marked });
        // Another query may have come meanwhile: its own marks, not these.
        if (this.queryPhotoId !== queryPhotoId) {
          await this.refresh();
          return;
        }
        this.state = state;
      }
    } catch (error) {
      this.host.notify(error);
    } finally {
      this.pending = null;
    }
  }
}
