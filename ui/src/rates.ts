import type { Overview } from './api';

/**
 * Items per second for each protocol between two polls, from the counter deltas over the
 * uptime delta. A counter that went down (the server restarted) counts from zero.
 */
export function ratesPerSecond(previous: Overview | null, current: Overview): Map<string, number> {
  const rates = new Map<string, number>();
  if (!previous) return rates;
  const restarted = current.startTimeSeconds !== previous.startTimeSeconds;
  const elapsed = restarted
    ? current.uptimeSeconds
    : current.uptimeSeconds - previous.uptimeSeconds;
  if (!(elapsed > 0)) return rates;
  const before = new Map(previous.ingest.map((row) => [row.protocol, row.items]));
  for (const row of current.ingest) {
    const start = restarted ? 0 : (before.get(row.protocol) ?? 0);
    const delta = row.items >= start ? row.items - start : row.items;
    rates.set(row.protocol, delta / elapsed);
  }
  return rates;
}
