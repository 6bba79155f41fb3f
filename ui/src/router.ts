// Hash routing: `#/status` and friends. The server only maps paths to files, so every
// view lives behind the one index.html.

export const PAGES = [
  { id: 'services', title: 'Services' },
  { id: 'metrics', title: 'Metrics' },
  { id: 'logs', title: 'Logs' },
  { id: 'traces', title: 'Traces' },
  { id: 'alerts', title: 'Alerts' },
  { id: 'status', title: 'Status' },
] as const;

export type PageId = (typeof PAGES)[number]['id'];

export const DEFAULT_PAGE: PageId = 'services';

/** The page a location hash names; unknown or empty hashes go to the default page. */
export function pageFromHash(hash: string): PageId {
  const id = hash.replace(/^#\/?/, '').split(/[/?]/, 1)[0];
  const page = PAGES.find((candidate) => candidate.id === id);
  return page ? page.id : DEFAULT_PAGE;
}

export function hashForPage(id: PageId): string {
  return `#/${id}`;
}
