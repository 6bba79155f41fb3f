import type { PageId } from '../router';

// What each view will show, for the views whose data paths are still being built.
const DESCRIPTIONS: Record<Exclude<PageId, 'status'>, { heading: string; body: string }> = {
  services: {
    heading: 'Golden signals per service',
    body: 'Traffic, errors, latency and saturation for every service that sends spans or metrics, derived as they arrive.',
  },
  metrics: {
    heading: 'PromQL explorer',
    body: 'Query metrics from remote-write and StatsD with PromQL and chart the results.',
  },
  logs: {
    heading: 'Log search',
    body: 'Full-text and field search over every log line, and every line of one request by its trace or correlation id.',
  },
  traces: {
    heading: 'Traces',
    body: 'Find slow or failed requests and open one trace to see where its time went.',
  },
  alerts: {
    heading: 'Alerts',
    body: 'Alert rules in Prometheus rule-file format, their state, and the notifications they sent.',
  },
};

export function UpcomingPage({ page }: { page: Exclude<PageId, 'status'> }) {
  const { heading, body } = DESCRIPTIONS[page];
  return (
    <section class="page">
      <h1>{heading}</h1>
      <p class="empty">{body}</p>
      <p class="empty">
        This view is not built yet. The <a href="#/status">Status</a> page shows what the
        server is receiving now.
      </p>
    </section>
  );
}
