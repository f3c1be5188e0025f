import type { LabelChange, LabelsResult, LabelsState, LibrarySummary } from '../../../shared/api';
import type { FeatureHost } from './feature-host';
import { PhotoSelection } from './selection.svelte';

export interface LabellingHost extends FeatureHost {
  /** A change of labels gave the library new classes and counts: the app takes them in. */
  labelsChanged(library: LibrarySummary): void;
}

/** Labels chosen in the app (classes over the folders) and the selections they are given from (grid, results, map). */
export class Labelling {
  labels = $state.raw<LabelsState | null>(null);
  /** Ticks after every change: views listing photos reload their class names. */
  version = $state(0);
  busy = $state(false);
  readonly grid = new PhotoSelection();
  readonly results = new PhotoSelection();
  readonly map = new PhotoSelection();

  constructor(private readonly host: LabellingHost) {}

  async refresh(): Promise<void> {
    this.labels = this.host.library() ? await this.host.api.labels() : null;
  }

  change(change: LabelChange): Promise<boolean> {
    return this.apply(() => this.host.api.changeLabels(change));
  }

  undo(): Promise<boolean> {
    return this.apply(() => this.host.api.undoLabels());
  }

  /** Moves the files as the preview named by `fingerprint` listed them. */
  writeToFolders(fingerprint: string): Promise<boolean> {
    return this.apply(() => this.host.api.writeLabels({ fingerprint }));
  }

  undoWrite(): Promise<boolean> {
    return this.apply(() => this.host.api.undoLabelWrite());
  }

  private async apply(call: () => Promise<LabelsResult>): Promise<boolean> {
    if (this.busy) return false;
    this.busy = true;
    try {
      const { library, labels } = await call();
      this.labels = labels;
      this.version++;
      this.host.labelsChanged(library);
      return true;
    } catch (error) {
      this.host.notify(error);
      // A write stopped part way moved some photos: its Undo, and the photos' new places, must show.
      await this.refresh().catch(() => undefined);
      this.version++;
      return false;
    } finally {
      this.busy = false;
    }
  }
}
