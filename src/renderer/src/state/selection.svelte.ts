import { SvelteSet } from 'svelte/reactivity';

export interface ClickModifiers {
  shiftKey: boolean;
  ctrlKey: boolean;
  metaKey: boolean;
}

/**
 * Photos picked in a grid, the way file managers do it: a click picks one, Ctrl/Cmd+click adds or
 * removes one, Shift+click picks the run from the last clicked photo. Positions are indexes in the
 * grid's order; `idAt` says which photo is at a position (null when not loaded).
 */
export class PhotoSelection {
  readonly ids = new SvelteSet<number>();
  private anchor: number | null = null;

  get size(): number {
    return this.ids.size;
  }

  has(id: number): boolean {
    return this.ids.has(id);
  }

  click(index: number, id: number, modifiers: ClickModifiers, idAt: (index: number) => number | null): void {
    if (modifiers.shiftKey && this.anchor !== null) {
      if (!(modifiers.ctrlKey || modifiers.metaKey)) this.ids.clear();
      const [from, to] = this.anchor < index ? [this.anchor, index] : [index, this.anchor];
      for (let i = from; i <= to; i++) {
        const at = idAt(i);
        if (at !== null) this.ids.add(at);
      }
      return;
    }
    if (modifiers.ctrlKey || modifiers.metaKey) this.toggle(index, id);
    else {
      this.ids.clear();
      this.ids.add(id);
      this.anchor = index;
    }
  }

  toggle(index: number, id: number): void {
    if (this.ids.has(id)) this.ids.delete(id);
    else this.ids.add(id);
    this.anchor = index;
  }

  selectAll(ids: Iterable<number>): void {
    for (const id of ids) this.ids.add(id);
  }

  clear(): void {
    this.ids.clear();
    this.anchor = null;
  }
}
