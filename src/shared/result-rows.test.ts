import { describe, expect, it } from 'vitest';
import { absolutePaths, resultRows, resultsCsv } from './result-rows.js';

const hits = [
  { rank: 1, photoId: 4, path: 'daisy/a.jpg', className: 'daisy', distance: 0 },
  { rank: 2, photoId: 9, path: 'odd, "quoted"/b.jpg', className: null, distance: 0.25199925899505615 },
  { rank: 3, photoId: 5, path: 'daisy/c.jpg', className: 'daisy', distance: 12.345678 },
];

describe('result rows (similar --json, CSV export, Copy paths)', () => {
  it('keeps rank, the relative and the absolute path, class, and the distance to 4 significant digits', () => {
    expect(resultRows(hits, '/photos')).toEqual([
      { rank: 1, path: 'daisy/a.jpg', absolutePath: '/photos/daisy/a.jpg', class: 'daisy', distance: 0 },
      { rank: 2, path: 'odd, "quoted"/b.jpg', absolutePath: '/photos/odd, "quoted"/b.jpg', class: null, distance: 0.252 },
      { rank: 3, path: 'daisy/c.jpg', absolutePath: '/photos/daisy/c.jpg', class: 'daisy', distance: 12.35 },
    ]);
  });

  it('writes CSV with a header and quotes what needs quoting; its absolute paths are what Copy paths copies', () => {
    const rows = resultRows(hits.slice(0, 2), '/photos/');
    expect(resultsCsv(rows)).toBe(
      'path,absolutePath,class,distance,rank\r\ndaisy/a.jpg,/photos/daisy/a.jpg,daisy,0,1\r\n"odd, ""quoted""/b.jpg","/photos/odd, ""quoted""/b.jpg",,0.252,2\r\n',
    );
    expect(rows.map((r) => r.absolutePath)).toEqual(absolutePaths('/photos/', hits.slice(0, 2)));
  });

  it('makes absolute paths with the root’s separators', () => {
    expect(absolutePaths('/photos/', [{ path: 'daisy/a.jpg' }])).toEqual(['/photos/daisy/a.jpg']);
    expect(absolutePaths('C:\\Photos', [{ path: 'daisy/a.jpg' }])).toEqual(['C:\\Photos\\daisy\\a.jpg']);
    expect(resultRows(hits.slice(0, 1), 'C:\\Photos')[0].absolutePath).toBe('C:\\Photos\\daisy\\a.jpg');
  });
});
