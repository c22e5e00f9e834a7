// browser.mjs - the browser test's driver (run by test_browser.sh): headless
// Debian Chromium through playwright-core, against a running `catdog serve`.
//
// Environment: CATDOG_URL (server), CAT_PHOTO, DOG_PHOTO, NOT_IMAGE (files to
// upload), SHOTS (folder for screenshots), CHECK_VERDICTS=1 when the served
// model is the trained one (then the cat photo must get the cat verdict and
// the dog photo the dog verdict; with a random model only the verdict's shape
// is checked).  Exits 0 on success, 1 with a message on failure.
import { chromium } from 'playwright-core';
import fs from 'node:fs';
import path from 'node:path';

const base = process.env.CATDOG_URL;
const shots = process.env.SHOTS;
const checkVerdicts = process.env.CHECK_VERDICTS === '1';
fs.mkdirSync(shots, { recursive: true });

let failures = 0;
function check(cond, what) {
  if (cond) {
    console.log(`ok - ${what}`);
  } else {
    console.log(`FAIL - ${what}`);
    failures++;
  }
}

const browser = await chromium.launch({
  executablePath: '/usr/bin/chromium',
  headless: true,
  args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-background-networking',
    '--disable-component-update', '--no-first-run'],
});

// Whether an <img> shows a picture: waits for it to be decoded (decode()
// settles once the image is loaded and decoded, or could not be), so the
// answer never depends on how far decoding got when the check ran.
function imageShown(locator) {
  return locator.evaluate((i) => (i.getAttribute('src') ? i.decode().then(() => i.naturalWidth > 0, () => false) : false));
}

// Requests that leave the server, and CSP complaints, are failures.
function watch(page, label) {
  const problems = [];
  page.on('request', (r) => {
    const u = r.url();
    if (!u.startsWith(base) && !u.startsWith('blob:') && !u.startsWith('data:')) problems.push(`outside request ${u}`);
  });
  // (Refused uploads answer 4xx on purpose; the console notes those too.)
  page.on('console', (m) => {
    if (m.type() === 'error' && !/^Failed to load resource: the server responded with a status of 4\d\d/.test(m.text())) {
      problems.push(`console error: ${m.text()}`);
    }
  });
  page.on('pageerror', (e) => problems.push(`page error: ${e.message}`));
  return () => check(problems.length === 0, `${label}: no outside requests, CSP violations or script errors ${problems.join('; ')}`);
}

async function uploadAndRead(page, file, label, shotName) {
  await page.goto(`${base}/template?lang=en`);
  check((await page.title()) === 'Upload your photo', `${label}: upload page title`);
  await page.setInputFiles('#inputfile', file);
  // catdog.js shows a preview of the chosen photo (object URL, allowed by the
  // CSP): its src is set on the change event; visible once decoded.
  const preview = page.locator('#preview');
  await page.waitForFunction(() => document.getElementById('preview')?.getAttribute('src'), null, { timeout: 15000 })
    .catch(() => null);
  const previewShown = (await imageShown(preview)) && (await preview.isVisible());
  await Promise.all([page.waitForNavigation(), page.click('#submit')]);
  const verdict = (await page.locator('.verdict-text').first().textContent()).trim();
  const prob = (await page.locator('.probability').first().textContent()).trim();
  await page.screenshot({ path: path.join(shots, shotName), fullPage: true });
  return { verdict, prob, previewShown };
}

// ---- desktop, JavaScript on ----
const ctx = await browser.newContext({ viewport: { width: 1280, height: 900 }, locale: 'en-US' });
const page = await ctx.newPage();
const done = watch(page, 'desktop');

await page.goto(`${base}/`);
check(page.url() === `${base}/template`, 'GET / lands on /template');
check((await page.title()) === 'Загрузите ваше фото' || (await page.title()) === 'Upload your photo', 'seed title');
// MaterializeCSS is applied (served from /static): its nav is 56/64 px high and teal.
const navBg = await page.locator('nav').evaluate((n) => getComputedStyle(n).backgroundColor);
check(navBg === 'rgb(0, 150, 136)', `MaterializeCSS styles the page (nav ${navBg})`);
await page.screenshot({ path: path.join(shots, 'upload-page.png'), fullPage: true });

const cat = await uploadAndRead(page, process.env.CAT_PHOTO, 'cat', 'result-cat.png');
check(cat.previewShown, 'cat: the chosen photo is previewed before upload');
check(/^The (Cat|Dog) is at the picture$/.test(cat.verdict), `cat: a verdict is shown ("${cat.verdict}")`);
check(/^\d+\.\d%$/.test(cat.prob), `cat: a probability is shown (${cat.prob})`);
if (checkVerdicts) check(cat.verdict === 'The Cat is at the picture', `cat photo gets the cat verdict ("${cat.verdict}")`);
const photoOk = await imageShown(page.locator('img.photo'));
check(photoOk, 'cat: the uploaded photo is shown');

const dog = await uploadAndRead(page, process.env.DOG_PHOTO, 'dog', 'result-dog.png');
check(/^The (Cat|Dog) is at the picture$/.test(dog.verdict), `dog: a verdict is shown ("${dog.verdict}")`);
check(/^\d+\.\d%$/.test(dog.prob), `dog: a probability is shown (${dog.prob})`);
if (checkVerdicts) check(dog.verdict === 'The Dog is at the picture', `dog photo gets the dog verdict ("${dog.verdict}")`);

// Both models side by side, when the transfer model is served.
await page.goto(`${base}/template?lang=en`);
const both = page.locator('input[name="model"][value="both"]');
if (await both.isEnabled()) {
  await page.check('input[name="model"][value="both"]', { force: true });
  await page.setInputFiles('#inputfile', process.env.DOG_PHOTO);
  await Promise.all([page.waitForNavigation(), page.click('#submit')]);
  const models = await page.locator('.verdict .model-name').allTextContents();
  check(models.join(',') === 'binary,transfer', `both models: one verdict card each (${models.join(',')})`);
  if (checkVerdicts) {
    const t = (await page.locator('.verdict[data-model="transfer"] .verdict-text').textContent()).trim();
    check(t === 'The Dog is at the picture', `transfer model: dog photo gets the dog verdict ("${t}")`);
  }
  await page.screenshot({ path: path.join(shots, 'result-both.png'), fullPage: true });
} else {
  console.log('# transfer model not served (backbone weights not found): skipping the side-by-side check');
}

// A file that is not an image: the help page.
await page.goto(`${base}/template?lang=en`);
await page.setInputFiles('#inputfile', process.env.NOT_IMAGE);
await Promise.all([page.waitForNavigation(), page.click('#submit')]);
const helpTitle = (await page.locator('#help-title').textContent()).trim();
check(helpTitle === "File didn't load", `a non-image shows the help page ("${helpTitle}")`);
const link = page.locator('#help-link');
check((await link.textContent()).trim() === "Push to load correct 'name'.jpg file", 'help page link text');
await page.screenshot({ path: path.join(shots, 'help-page.png'), fullPage: true });
await Promise.all([page.waitForNavigation(), link.click()]);
check(page.url().startsWith(`${base}/template`), 'the help link goes back to /template');

// History: for the admin only.  A visitor is refused; the login form lets
// the admin in (cookie); the uploads are listed with thumbnails; a feedback
// button (its form carries the CSRF token) works.
const refused = await page.goto(`${base}/history`);
check(refused.status() === 401, `a visitor is refused the history (${refused.status()})`);
await page.goto(`${base}/login`);
await page.fill('#token', process.env.ADMIN_TOKEN);
await Promise.all([page.waitForNavigation(), page.click('#login')]);
check(page.url().startsWith(`${base}/history`), `the login leads to the history (${page.url()})`);
const rows = await page.locator('.history-row').count();
check(rows >= 2, `history lists the uploads (${rows})`);
const thumbOk = await imageShown(page.locator('.history-row img.thumb').first());
check(thumbOk, 'history thumbnails load');
await Promise.all([page.waitForNavigation(), page.locator('.history-row .feedback-dog').first().click()]);
check(await page.locator('.history-row .feedback-given').first().isVisible(), 'feedback is recorded and shown');
await page.screenshot({ path: path.join(shots, 'history.png'), fullPage: true });

// Russian through the switch.
await page.goto(`${base}/template?lang=en`);
await Promise.all([page.waitForNavigation(), page.click('#lang-switch')]);
check((await page.title()) === 'Загрузите ваше фото', 'the language switch gives the Russian page');
done();
await ctx.close();

// ---- a phone, JavaScript off: the plain form still works ----
const phone = await browser.newContext({
  viewport: { width: 390, height: 844 }, deviceScaleFactor: 2, isMobile: true, hasTouch: true,
  javaScriptEnabled: false, locale: 'ru-RU',
});
const p2 = await phone.newPage();
const done2 = watch(p2, 'phone');
await p2.goto(`${base}/template`);
check((await p2.title()) === 'Загрузите ваше фото', 'phone: Russian by Accept-Language');
const width = await p2.evaluate(() => document.documentElement.scrollWidth);
check(width <= 390, `phone: the page fits the screen (scroll width ${width})`);
await p2.screenshot({ path: path.join(shots, 'phone-upload.png'), fullPage: true });
await p2.setInputFiles('#inputfile', process.env.CAT_PHOTO);
await Promise.all([p2.waitForNavigation(), p2.click('#submit')]);
const v2 = (await p2.locator('.verdict-text').first().textContent()).trim();
check(/^На картинке (кошка|собака)$/.test(v2), `phone, no JavaScript: the form posts and shows a verdict ("${v2}")`);
await p2.screenshot({ path: path.join(shots, 'phone-result.png'), fullPage: true });
done2();
await phone.close();

await browser.close();
console.log(failures ? `${failures} check(s) failed` : 'all browser checks passed');
process.exit(failures ? 1 : 0);
