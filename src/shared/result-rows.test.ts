import { describe, expect, it } from 'vitest';
import { absolutePaths, resultRows, resultsCsv } from './result-rows.js';

const hits = [
  { rank: 1, photoId: 4, path: 'daisy/a.jpg', className: 'daisy', distance: 0 },
  { rank: 2, photoId: 9, path: 'odd, "quoted"/b.jpg', className: null, distance: 0.4123 },
];

describe('result rows (similar --json, CSV export)', () => {
  it('keeps rank, path, class and distance', () => {
    expect(resultRows(hits)).toEqual([
      { rank: 1, path: 'daisy/a.jpg', class: 'daisy', distance: 0 },
      { rank: 2, path: 'odd, "quoted"/b.jpg', class: null, distance: 0.4123 },
    ]);
  });

  it('writes CSV with a header and quotes what needs quoting', () => {
    expect(resultsCsv(resultRows(hits))).toBe('path,class,distance,rank\r\ndaisy/a.jpg,daisy,0,1\r\n"odd, ""quoted""/b.jpg",,0.4123,2\r\n');
  });

  it('makes absolute paths with the root’s separators', () => {
    expect(absolutePaths('/photos/', [{ path: 'daisy/a.jpg' }])).toEqual(['/photos/daisy/a.jpg']);
    expect(absolutePaths('C:\\Photos', [{ path: 'daisy/a.jpg' }])).toEqual(['C:\\Photos\\daisy\\a.jpg']);
  });
});
