import { defineConfig } from 'vitest/config';

// The dev server proxies API calls to a Sightline running on its default port, so
// `npm run dev` works against a real server.
const SIGHTLINE = process.env.SIGHTLINE_URL ?? 'http://127.0.0.1:7413';

export default defineConfig({
  oxc: {
    jsx: { runtime: 'automatic', importSource: 'preact' },
  },
  build: {
    outDir: 'dist',
    emptyOutDir: true,
    sourcemap: false,
  },
  server: {
    proxy: {
      '/api': SIGHTLINE,
      '/metrics': SIGHTLINE,
      '/-': SIGHTLINE,
    },
  },
  test: {
    include: ['src/**/*.test.ts'],
  },
});
