import { describe, expect, it } from 'vitest';
import type { Api, ModelInfo, SimilarQuery, SimilarResult } from '../../../shared/api';
import { FindSimilar } from './similar.svelte';

/** An answer naming the query photo, so a test can tell whose answer is shown. */
function answerFor(photoId: number): SimilarResult {
  return { query: { photoId, path: `q/${photoId}.jpg`, className: null }, modelId: 1, results: [], distances: null };
}

const photo = (id: number) => ({ id, path: `q/${id}.jpg`, className: 'cat', split: null });

/** Find similar over a fake engine whose answers wait until the test lets each one go, in any order. */
function findSimilarOverFakeEngine() {
  const asked: Array<{ query: SimilarQuery; answer(result: SimilarResult): void; fail(error: Error): void }> = [];
  const notices: unknown[] = [];
  const calls = { marksRefreshed: 0, shown: 0 };
  const api: Partial<Api> = {
    findSimilar: (query) => new Promise((answer, fail) => asked.push({ query, answer, fail })),
  };
  const similar = new FindSimilar({
    api: api as Api,
    notify: (error) => notices.push(error),
    refreshMarks: async () => {
      calls.marksRefreshed++;
    },
    show: () => {
      calls.shown++;
    },
  });
  return { similar, asked, notices, calls };
}

/** Lets every settled promise's callbacks run. */
const settle = () => new Promise((resolve) => setTimeout(resolve, 0));

describe('the Find similar store', () => {
  it('shows the answer to the latest query: a late answer to an older one is dropped', async () => {
    const { similar, asked, calls } = findSimilarOverFakeEngine();
    similar.k = 12;
    void similar.askAboutPhoto(photo(1));
    void similar.askAboutPhoto(photo(2));
    expect(asked.map((a) => a.query)).toEqual([
      { photoId: 1, k: 12, modelId: undefined },
      { photoId: 2, k: 12, modelId: undefined },
    ]);
    expect(calls.shown).toBe(2);
    asked[1].answer(answerFor(2));
    await settle();
    expect(similar.result?.query.photoId).toBe(2);
    expect(similar.loading).toBe(false);
    asked[0].answer(answerFor(1));
    await settle();
    expect(similar.result?.query.photoId).toBe(2);
    expect(similar.loading).toBe(false);
    // The marks were loaded for the answer shown, not for the one dropped.
    expect(calls.marksRefreshed).toBe(1);
  });

  it('takes the old results down as soon as another query is asked, and a failure shows its reason', async () => {
    const { similar, asked } = findSimilarOverFakeEngine();
    void similar.askAboutPhoto(photo(1));
    asked[0].answer(answerFor(1));
    await settle();
    void similar.ask({ kind: 'file', name: 'outside.png', base64: 'iVBORw0KGgo=', previewUrl: 'blob:preview' });
    expect(similar.result).toBeNull();
    expect(similar.loading).toBe(true);
    expect(asked[1].query).toEqual({ imageBase64: 'iVBORw0KGgo=', fileName: 'outside.png', k: 30, modelId: undefined });
    asked[1].fail(new Error('outside.png: not an image (unsupported format)'));
    await settle();
    expect(similar.error).toBe('outside.png: not an image (unsupported format)');
    expect(similar.result).toBeNull();
    expect(similar.loading).toBe(false);
  });

  it('a library change clears the query and its results, and drops the answer still on its way', async () => {
    const { similar, asked } = findSimilarOverFakeEngine();
    similar.modelId = 4;
    void similar.askAboutPhoto(photo(1));
    asked[0].answer(answerFor(1));
    await settle();
    void similar.askAboutPhoto(photo(2));
    similar.clear();
    expect([similar.source, similar.result, similar.error, similar.modelId, similar.loading]).toEqual([null, null, null, undefined, false]);
    asked[1].answer(answerFor(2));
    await settle();
    expect(similar.result).toBeNull();
    expect(similar.queryPhotoId).toBeNull();
  });

  it('labels changed: shown results are asked again, a query that failed is not', async () => {
    const { similar, asked } = findSimilarOverFakeEngine();
    void similar.askAboutPhoto(photo(3));
    asked[0].fail(new Error('no model indexed yet'));
    await settle();
    similar.refreshResults();
    expect(asked).toHaveLength(1);
    void similar.askAgain();
    asked[1].answer(answerFor(3));
    await settle();
    similar.refreshResults();
    expect(asked.map((a) => a.query)).toEqual([
      { photoId: 3, k: 30, modelId: undefined },
      { photoId: 3, k: 30, modelId: undefined },
      { photoId: 3, k: 30, modelId: undefined },
    ]);
  });

  it('a chosen model that is gone from the list gives way to the engine default; one still there stays', () => {
    const { similar } = findSimilarOverFakeEngine();
    const model = { id: 4 } as ModelInfo;
    similar.modelId = 4;
    similar.modelsChanged([model]);
    expect(similar.modelId).toBe(4);
    similar.modelsChanged([{ ...model, id: 5 }]);
    expect(similar.modelId).toBeUndefined();
  });
});
