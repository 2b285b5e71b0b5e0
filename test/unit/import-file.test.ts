import { describe, expect, it } from 'vitest';
import { ImportError, parseCsv, parseTokenFile } from '../../src/cli/import-file.js';

const A = 'So11111111111111111111111111111111111111112';
const B = 'EPjFWdd5AufqSSqeM2qN1xzybapC8G4wEGGkZwyTDt1v';

describe('tokens import file parsing', () => {
  it('parses CSV with quotes, empty rank = none, booleans as true/false/1/0, and warns once on unknown columns', () => {
    const text = `address,symbol,name,rank,in_contest,volume_24h,color,size\n${A},SOL,"Wrapped, ""SOL""",1,true,123.5,red,1\n${B},USDC,USD Coin,,0,,blue,2\n`;
    const r = parseTokenFile(text, 'csv');
    expect(r.rows).toEqual([
      { address: A, symbol: 'SOL', name: 'Wrapped, "SOL"', rank: 1, in_contest: true, volume_24h: 123.5 },
      { address: B, symbol: 'USDC', name: 'USD Coin', rank: null, in_contest: false, volume_24h: null },
    ]);
    expect(r.warnings).toEqual(['ignored unknown columns: color, size']);
  });

  it.each([
    [`address,rank\n${A},1\nnot-an-address,2\n`, /^line 3: address/],
    [`address,rank\n${A},-1\n`, /^line 2: rank: must be null \(no rank\) or an integer from 1 \(top\)/],
    [
      `address,refresh_interval_seconds\n${A},5\n`,
      /^line 2: refresh_interval_seconds: must be null \(automatic\) or an integer from 15 to 3600/,
    ],
    [`address,in_contest\n${A},maybe\n`, /^line 2: in_contest/],
    [`address,rank\n${A},1\n${A},2\n`, /^line 3: address .* already appears on line 2/],
    [`symbol\nSOL\n`, /no `address` column/],
    [`address,rank\n${A}\n`, /^line 2: expected 2 fields, found 1/],
    [`address,name\n${A},"open\n`, /unterminated/],
  ])('a bad CSV row aborts with its line number (%#)', (text, msg) => {
    expect(() => parseTokenFile(text, 'csv')).toThrow(ImportError);
    expect(() => parseTokenFile(text, 'csv')).toThrow(msg);
  });

  it('counts physical lines across quoted newlines', () => {
    const text = `address,name\n${A},"two\nlines"\nbad,x\n`;
    expect(() => parseTokenFile(text, 'csv')).toThrow(/^line 4:/);
    expect(parseCsv('a,b\r\n1,2\r\n').map((r) => r.fields)).toEqual([
      ['a', 'b'],
      ['1', '2'],
    ]);
  });

  it('parses a JSON array with the same keys and numbers elements from 1 in errors', () => {
    const r = parseTokenFile(JSON.stringify([{ address: A, rank: 3, is_active: false }]), 'json');
    expect(r.rows).toEqual([{ address: A, rank: 3, is_active: false }]);
    expect(() => parseTokenFile(JSON.stringify([{ address: A }, { address: B, rank: 'x' }]), 'json')).toThrow(
      /^line 2: rank: not a number/,
    );
    expect(() => parseTokenFile('{"address":1}', 'json')).toThrow(/must be an array/);
    expect(() => parseTokenFile('[1,', 'json')).toThrow(/not valid JSON/);
  });
});
