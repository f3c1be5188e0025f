import type { ModelInfo, PhotoItem, SimilarResult } from '../../../shared/api';
import type { FeatureHost } from './feature-host';
import { messageOf } from './messages';

/** What "Find similar" was asked about: a photo of the library, or an image from outside it. */
export type SimilarQuerySource =
  | { kind: 'photo'; photoId: number; path: string; className: string | null }
  | { kind: 'file'; name: string; base64: string; previewUrl: string };

export interface SimilarHost extends Pick<FeatureHost, 'api' | 'notify'> {
  /** Reloads the marks of the query (its photo is `queryPhotoId`). */
  refreshMarks(): Promise<void>;
  /** Brings the Find similar view forward. */
  show(): void;
}

/** Find similar: the query, its answer, and the k and model it is asked with. */
export class FindSimilar {
  source = $state.raw<SimilarQuerySource | null>(null);
  result = $state.raw<SimilarResult | null>(null);
  loading = $state(false);
  error = $state<string | null>(null);
  k = $state(30);
  /** undefined: the engine's default (the newest trained model, else the baseline). */
  modelId = $state<number | undefined>(undefined);
  /** Set when a search started from the keyboard or a menu: the first result takes the focus when it comes. */
  focusFirstResult = $state(false);

  /** Ticks with every request, and when the query is cleared: only the answer to the latest one is shown. */
  private serial = 0;

  constructor(private readonly host: SimilarHost) {}

  /** The photo asked about; null when there is none or the query is an image from outside the library. */
  get queryPhotoId(): number | null {
    return this.source?.kind === 'photo' ? this.source.photoId : null;
  }

  async ask(source: SimilarQuerySource): Promise<void> {
    if (this.source !== source) this.forgetPreview();
    // Another query: the old results must not stand under it while the new ones come.
    if (this.source !== source) this.result = null;
    this.source = source;
    this.host.show();
    await this.askAgain();
  }

  askAboutPhoto(photo: PhotoItem): Promise<void> {
    return this.ask({ kind: 'photo', photoId: photo.id, path: photo.path, className: photo.className });
  }

  /** Asks again with the current query, k and model; a newer request wins over an older one. */
  async askAgain(): Promise<void> {
    const source = this.source;
    if (!source) return;
    const serial = ++this.serial;
    this.loading = true;
    this.error = null;
    try {
      const { k, modelId } = this;
      const result =
        source.kind === 'photo'
          ? await this.host.api.findSimilar({ photoId: source.photoId, k, modelId })
          : await this.host.api.findSimilar({ imageBase64: source.base64, fileName: source.name, k, modelId });
      // The query's marks first, so its tiles never show with another query's.
      if (serial === this.serial) await this.host.refreshMarks().catch((error: unknown) => this.host.notify(error));
      if (serial === this.serial) this.result = result;
    } catch (error) {
      if (serial === this.serial) {
        this.error = messageOf(error);
        this.result = null;
      }
    } finally {
      if (serial === this.serial) this.loading = false;
    }
  }

  /** The library's classes changed: results on show are asked again under the new ones. */
  refreshResults(): void {
    if (this.result) void this.askAgain();
  }

  /** The models list changed: a chosen model that is gone gives way to the engine's default. */
  modelsChanged(models: readonly ModelInfo[]): void {
    if (this.modelId !== undefined && !models.some((m) => m.id === this.modelId)) this.modelId = undefined;
  }

  /** Another library: nothing of the query before stays, and an answer still on its way is dropped. */
  clear(): void {
    this.serial++;
    this.forgetPreview();
    this.source = null;
    this.result = null;
    this.error = null;
    this.loading = false;
    this.modelId = undefined;
  }

  private forgetPreview(): void {
    if (this.source?.kind === 'file') URL.revokeObjectURL(this.source.previewUrl);
  }
}
