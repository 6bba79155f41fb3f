// Opens the UI in headless Chromium, navigates to Status, and checks that the page
// shows the server's version and its ingest table. Saves a screenshot either way.
//
//   node status.mjs <base-url> <expected-version> <screenshot.png>
//
// Exit 0 on success; on failure prints why and exits 1.

import { chromium } from 'playwright-core';

const [baseUrl, expectedVersion, screenshotPath] = process.argv.slice(2);
if (!baseUrl || !expectedVersion || !screenshotPath) {
  console.error('usage: node status.mjs <base-url> <expected-version> <screenshot.png>');
  process.exit(2);
}

const browser = await chromium.launch({
  executablePath: process.env.CHROMIUM_PATH ?? '/usr/bin/chromium',
  args: [
    '--headless',
    '--no-sandbox',
    '--disable-gpu',
    '--disable-background-networking',
    '--disable-component-update',
    '--disable-sync',
    '--no-first-run',
  ],
});
const page = await browser.newPage({ viewport: { width: 1280, height: 800 } });
const consoleErrors = [];
page.on('console', (message) => {
  if (message.type() === 'error') consoleErrors.push(message.text());
});
page.on('pageerror', (error) => consoleErrors.push(String(error)));

let failure = null;
try {
  await page.goto(baseUrl, { waitUntil: 'load' });
  await page.getByRole('navigation', { name: 'Main' }).getByRole('link', { name: 'Status' }).click();
  await page.waitForURL(/#\/status$/);
  const version = page.getByTestId('version');
  await version.waitFor({ state: 'visible', timeout: 15000 });
  const shown = (await version.textContent())?.trim();
  if (shown !== expectedVersion) {
    throw new Error(`Status page shows version ${JSON.stringify(shown)}, expected ${JSON.stringify(expectedVersion)}`);
  }
  const readiness = (await page.getByTestId('readiness').textContent())?.trim();
  if (readiness !== 'ready') {
    throw new Error(`Status page shows readiness ${JSON.stringify(readiness)}, expected "ready"`);
  }
  const ingestRows = await page.getByTestId('ingest').locator('tbody tr').count();
  if (ingestRows === 0) throw new Error('Status page shows no ingest rows');
  for (const title of ['Services', 'Metrics', 'Logs', 'Traces', 'Alerts']) {
    const link = page.getByRole('navigation', { name: 'Main' }).getByRole('link', { name: title });
    if ((await link.count()) !== 1) throw new Error(`navigation has no single "${title}" link`);
  }
  if (consoleErrors.length > 0) {
    throw new Error(`the page logged errors:\n${consoleErrors.join('\n')}`);
  }
} catch (error) {
  failure = error;
} finally {
  await page.screenshot({ path: screenshotPath, fullPage: true }).catch((error) => {
    console.error(`could not save screenshot: ${error}`);
  });
  await browser.close();
}

if (failure) {
  console.error(String(failure?.stack ?? failure));
  process.exit(1);
}
console.log(`ok: Status shows version ${expectedVersion}; screenshot at ${screenshotPath}`);
