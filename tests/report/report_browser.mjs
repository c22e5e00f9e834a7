// report_browser.mjs - opens an evaluate --report page (file://) in headless
// Debian Chromium through playwright-core and checks that it renders as a
// self-contained page: no request leaves the file (only data: thumbnails), no
// console or page error, the three charts laid out with a size, every
// thumbnail decoded.  Run by test_report_browser.sh; argv: PAGE SCREENSHOT.
// Exits 0 on success, 1 with a message on failure.
import { chromium } from 'playwright-core';
import { pathToFileURL } from 'node:url';

const [page_path, shot] = process.argv.slice(2);
const url = pathToFileURL(page_path).href;
const browser = await chromium.launch({
  executablePath: '/usr/bin/chromium',
  headless: true,
  args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-background-networking',
    '--disable-component-update', '--no-first-run'],
});
const problems = [];
const page = await browser.newPage({ viewport: { width: 1400, height: 1000 } });
page.on('request', (r) => {
  const u = r.url();
  if (u !== url && !u.startsWith('data:')) problems.push(`request outside the page: ${u}`);
});
page.on('console', (m) => { if (m.type() === 'error' || m.type() === 'warning') problems.push(`console ${m.type()}: ${m.text()}`); });
page.on('pageerror', (e) => problems.push(`page error: ${e.message}`));
await page.goto(url, { waitUntil: 'load' });
const charts = await page.locator('svg.chart').evaluateAll((svgs) => svgs.map((s) => {
  const b = s.getBoundingClientRect();
  return [b.width, b.height, s.querySelectorAll('polyline').length];
}));
if (charts.length !== 3 || charts.some(([w, h, n]) => w < 300 || h < 300 || n < 2)) {
  problems.push(`charts not laid out: ${JSON.stringify(charts)}`);
}
const imgs = await page.locator('figure.mistake img').evaluateAll((list) =>
  Promise.all(list.map((i) => i.decode().then(() => i.naturalWidth, () => 0))));
if (imgs.length === 0 || imgs.some((w) => w <= 0)) problems.push(`thumbnails not decoded: ${JSON.stringify(imgs)}`);
await page.screenshot({ path: shot, fullPage: true });
await browser.close();
if (problems.length) {
  console.log(`FAIL - ${problems.join('; ')}`);
  process.exit(1);
}
console.log(`ok - ${charts.length} charts, ${imgs.length} thumbnails decoded, no outside request or console error`);
