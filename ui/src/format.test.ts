import { describe, expect, it } from 'vitest';
import { formatBytes, formatCount, formatUnixSeconds, formatUptime } from './format';

describe('formatBytes', () => {
  it.each([
    [0, '0 B'],
    [1023, '1023 B'],
    [1536, '1.50 KiB'],
    [16 * 1024 * 1024, '16.0 MiB'],
    [150 * 1024 ** 3, '150 GiB'],
    [-1, '-'],
    [Number.NaN, '-'],
  ])('%d bytes -> %s', (bytes, shown) => {
    expect(formatBytes(bytes)).toBe(shown);
  });
});

describe('formatUptime', () => {
  it.each([
    [0, '0s'],
    [59.9, '59s'],
    [60, '1m'],
    [3 * 3600 + 4 * 60, '3h 4m'],
    [86400 + 2 * 3600 + 3 * 60, '1d 2h 3m'],
    [86400, '1d 0h 0m'],
  ])('%d s -> %s', (seconds, shown) => {
    expect(formatUptime(seconds)).toBe(shown);
  });
});

describe('formatCount', () => {
  it('separates thousands', () => {
    expect(formatCount(1234567)).toBe('1\u2009234\u2009567');
    expect(formatCount(999)).toBe('999');
    expect(formatCount(2.6)).toBe('3');
  });
});

describe('formatUnixSeconds', () => {
  it('prints UTC without milliseconds', () => {
    expect(formatUnixSeconds(1795309228.267)).toBe('2026-11-22 01:00:28 UTC');
  });
});
