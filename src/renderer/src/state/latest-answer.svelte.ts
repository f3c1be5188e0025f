import { messageOf } from './messages';

/**
 * What a view shows from its latest request: a view that asks again on every change (a label, a job
 * ending, a slider) keeps only the answer to the last question, never a slower earlier one.
 */
export class LatestAnswer<T> {
  value = $state.raw<T | null>(null);
  loading = $state(false);
  failure = $state<string | null>(null);
  #asked = 0;
  readonly #ask: () => Promise<T>;

  constructor(ask: () => Promise<T>) {
    this.#ask = ask;
  }

  async load(): Promise<void> {
    const mine = ++this.#asked;
    this.loading = true;
    this.failure = null;
    try {
      const found = await this.#ask();
      if (mine === this.#asked) this.value = found;
    } catch (error) {
      if (mine === this.#asked) this.failure = messageOf(error);
    } finally {
      if (mine === this.#asked) this.loading = false;
    }
  }

  /** An answer that came another way (the reply to a change made in the view); a request in flight is dropped. */
  set(value: T): void {
    this.#asked++;
    this.value = value;
    this.loading = false;
  }
}
