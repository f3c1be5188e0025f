import type { LabelChange, LabelsResult, LabelsState } from '../../../shared/api';
import type { AppState } from './app.svelte';
import { PhotoSelection } from './selection.svelte';

/** Labels chosen in the app (classes over the folders) and the selections they are given from (grid, results, map). */
export class Labelling {
  labels = $state.raw<LabelsState | null>(null);
  /** Ticks after every change: views listing photos reload their class names. */
  version = $state(0);
  busy = $state(false);
  readonly grid = new PhotoSelection();
  readonly results = new PhotoSelection();
  readonly map = new PhotoSelection();

  constructor(private readonly app: AppState) {}

  async refresh(): Promise<void> {
    this.labels = this.app.library ? await this.app.transport.api.labels() : null;
  }

  change(change: LabelChange): Promise<boolean> {
    return this.apply(() => this.app.transport.api.changeLabels(change));
  }

  undo(): Promise<boolean> {
    return this.apply(() => this.app.transport.api.undoLabels());
  }

  /** Moves the files as the preview named by `fingerprint` listed them. */
  writeToFolders(fingerprint: string): Promise<boolean> {
    return this.apply(() => this.app.transport.api.writeLabels({ fingerprint }));
  }

  undoWrite(): Promise<boolean> {
    return this.apply(() => this.app.transport.api.undoLabelWrite());
  }

  private async apply(call: () => Promise<LabelsResult>): Promise<boolean> {
    if (this.busy) return false;
    this.busy = true;
    try {
      const { library, labels } = await call();
      this.app.library = library;
      this.labels = labels;
      this.version++;
      if (this.app.classFilter !== undefined && !library.classes.some((c) => c.id === this.app.classFilter)) this.app.classFilter = undefined;
      if (this.app.similarResult) void this.app.runSimilar();
      return true;
    } catch (error) {
      this.app.notify(error);
      return false;
    } finally {
      this.busy = false;
    }
  }
}
