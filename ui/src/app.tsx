import { useEffect, useState } from 'preact/hooks';
import { PAGES, type PageId, hashForPage, pageFromHash } from './router';
import { StatusPage } from './pages/status';
import { UpcomingPage } from './pages/upcoming';

function useHashPage(): PageId {
  const [page, setPage] = useState<PageId>(() => pageFromHash(window.location.hash));
  useEffect(() => {
    const onHashChange = () => setPage(pageFromHash(window.location.hash));
    window.addEventListener('hashchange', onHashChange);
    return () => window.removeEventListener('hashchange', onHashChange);
  }, []);
  return page;
}

export function App() {
  const page = useHashPage();
  const title = PAGES.find((candidate) => candidate.id === page)?.title ?? '';
  useEffect(() => {
    document.title = `${title} · Sightline`;
  }, [title]);
  return (
    <div class="shell">
      <header class="topbar">
        <a class="brand" href={hashForPage('services')}>
          <img src="/favicon.svg" alt="" width={22} height={22} />
          Sightline
        </a>
        <nav aria-label="Main">
          {PAGES.map((candidate) => (
            <a
              key={candidate.id}
              href={hashForPage(candidate.id)}
              class={candidate.id === page ? 'active' : undefined}
              aria-current={candidate.id === page ? 'page' : undefined}
            >
              {candidate.title}
            </a>
          ))}
        </nav>
      </header>
      <main>{page === 'status' ? <StatusPage /> : <UpcomingPage page={page} />}</main>
    </div>
  );
}
