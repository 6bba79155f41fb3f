import { describe, expect, it } from 'vitest';
import { ApiError, type Overview, parseOverview } from './api';
import { ratesPerSecond } from './rates';

const overviewBody = {
  status: 'success',
  data: {
    version: '0.1.0',
    revision: 'abc123',
    branch: 'main',
    buildDate: '20261122-00:00:00',
    startTimeSeconds: 1000,
    uptimeSeconds: 10,
    ready: true,
    readyMessage: 'ready',
    ingest: [{ protocol: 'statsd', signal: 'metrics', items: 50, bytes: 900, rejected: 1 }],
    stores: [{ name: 'tsdb', sizeBytes: 4096 }],
  },
};

describe('parseOverview', () => {
  it('reads a well-formed answer', () => {
    const overview = parseOverview(overviewBody);
    expect(overview.version).toBe('0.1.0');
    expect(overview.ingest[0]).toEqual({
      protocol: 'statsd',
      signal: 'metrics',
      items: 50,
      bytes: 900,
      rejected: 1,
    });
    expect(overview.stores).toEqual([{ name: 'tsdb', sizeBytes: 4096 }]);
  });

  it('passes on the server error message', () => {
    expect(() =>
      parseOverview({ status: 'error', errorType: 'internal', error: 'disk on fire' }),
    ).toThrow(new ApiError('disk on fire'));
  });

  it('names the field that is wrong', () => {
    const broken = { ...overviewBody, data: { ...overviewBody.data, uptimeSeconds: '10' } };
    expect(() => parseOverview(broken)).toThrow(/"uptimeSeconds" should be a number/);
    expect(() => parseOverview([])).toThrow(/not a JSON object/);
  });
});

describe('ratesPerSecond', () => {
  const at = (uptimeSeconds: number, items: number, startTimeSeconds = 1000): Overview => ({
    ...parseOverview(overviewBody),
    startTimeSeconds,
    uptimeSeconds,
    ingest: [{ protocol: 'statsd', signal: 'metrics', items, bytes: 0, rejected: 0 }],
  });

  it('is empty for the first poll', () => {
    expect(ratesPerSecond(null, at(10, 50)).size).toBe(0);
  });

  it('divides the counter delta by the time between polls', () => {
    expect(ratesPerSecond(at(10, 50), at(12, 150)).get('statsd')).toBe(50);
  });

  it('counts from zero after a restart', () => {
    expect(ratesPerSecond(at(100, 5000), at(4, 40, 2000)).get('statsd')).toBe(10);
  });
});
