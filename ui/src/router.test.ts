import { describe, expect, it } from 'vitest';
import { DEFAULT_PAGE, hashForPage, pageFromHash } from './router';

describe('pageFromHash', () => {
  it.each([
    ['#/status', 'status'],
    ['#status', 'status'],
    ['#/logs?query=error', 'logs'],
    ['#/traces/4bf92f3577b34da6a3ce929d0e0e4736', 'traces'],
    ['', DEFAULT_PAGE],
    ['#/nope', DEFAULT_PAGE],
  ])('%s -> %s', (hash, page) => {
    expect(pageFromHash(hash)).toBe(page);
  });

  it('round-trips with hashForPage', () => {
    expect(pageFromHash(hashForPage('alerts'))).toBe('alerts');
  });
});
