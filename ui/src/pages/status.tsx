import { useEffect, useRef, useState } from 'preact/hooks';
import { type Overview, fetchOverview } from '../api';
import { formatBytes, formatCount, formatUnixSeconds, formatUptime } from '../format';
import { ratesPerSecond } from '../rates';

const POLL_MS = 2000;

interface Snapshot {
  overview: Overview;
  rates: Map<string, number>;
}

function useOverview(): { snapshot: Snapshot | null; error: string | null } {
  const [snapshot, setSnapshot] = useState<Snapshot | null>(null);
  const [error, setError] = useState<string | null>(null);
  const previous = useRef<Overview | null>(null);
  useEffect(() => {
    const controller = new AbortController();
    let timer: ReturnType<typeof setTimeout> | undefined;
    const poll = async () => {
      try {
        const overview = await fetchOverview(controller.signal);
        const rates = ratesPerSecond(previous.current, overview);
        previous.current = overview;
        setSnapshot({ overview, rates });
        setError(null);
      } catch (err) {
        if (controller.signal.aborted) return;
        setError(err instanceof Error ? err.message : String(err));
      }
      timer = setTimeout(poll, POLL_MS);
    };
    void poll();
    return () => {
      controller.abort();
      clearTimeout(timer);
    };
  }, []);
  return { snapshot, error };
}

export function StatusPage() {
  const { snapshot, error } = useOverview();
  return (
    <section class="page">
      <h1>Status</h1>
      {error && (
        <p class="error" role="alert">
          Cannot read the server's status: {error}
        </p>
      )}
      {!snapshot && !error && <p class="empty">Loading…</p>}
      {snapshot && <StatusDetails {...snapshot} />}
    </section>
  );
}

function StatusDetails({ overview, rates }: Snapshot) {
  return (
    <>
      <dl class="facts">
        <div>
          <dt>Version</dt>
          <dd data-testid="version">{overview.version}</dd>
        </div>
        <div>
          <dt>Revision</dt>
          <dd>
            {overview.revision} ({overview.branch})
          </dd>
        </div>
        <div>
          <dt>Commit date</dt>
          <dd>{overview.buildDate}</dd>
        </div>
        <div>
          <dt>Started</dt>
          <dd>{formatUnixSeconds(overview.startTimeSeconds)}</dd>
        </div>
        <div>
          <dt>Uptime</dt>
          <dd data-testid="uptime">{formatUptime(overview.uptimeSeconds)}</dd>
        </div>
        <div>
          <dt>Readiness</dt>
          <dd class={overview.ready ? 'ok' : 'warn'} data-testid="readiness">
            {overview.readyMessage}
          </dd>
        </div>
      </dl>

      <h2>Ingest</h2>
      <table data-testid="ingest">
        <thead>
          <tr>
            <th>Protocol</th>
            <th>Signal</th>
            <th class="num">Accepted</th>
            <th class="num">Per second</th>
            <th class="num">Bytes</th>
            <th class="num">Rejected</th>
          </tr>
        </thead>
        <tbody>
          {overview.ingest.map((row) => (
            <tr key={row.protocol}>
              <td>{row.protocol}</td>
              <td>{row.signal}</td>
              <td class="num">{formatCount(row.items)}</td>
              <td class="num">{formatCount(rates.get(row.protocol) ?? 0)}</td>
              <td class="num">{formatBytes(row.bytes)}</td>
              <td class={row.rejected > 0 ? 'num warn' : 'num'}>{formatCount(row.rejected)}</td>
            </tr>
          ))}
        </tbody>
      </table>

      <h2>Stores</h2>
      <table data-testid="stores">
        <thead>
          <tr>
            <th>Store</th>
            <th class="num">On disk</th>
          </tr>
        </thead>
        <tbody>
          {overview.stores.map((store) => (
            <tr key={store.name}>
              <td>{store.name}</td>
              <td class="num">{formatBytes(store.sizeBytes)}</td>
            </tr>
          ))}
        </tbody>
      </table>
    </>
  );
}
