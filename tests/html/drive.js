#!/usr/bin/env node
/*
 * Drives pages written by `samplectl tree --html` (and synthetic ones from
 * test_render_html --page) in Debian's headless Chromium through
 * playwright-core, and prints TAP lines ("ok - ...", "not ok - ...").
 *
 *   node drive.js --artifacts DIR [--live PAGE --samples N] [--threads PAGE]
 *                 [--unfolded PAGE] [--big PAGE] [--big-threads PAGE]
 *                 [--fold-raw PAGE --fold-c0 PAGE --fold-c1 PAGE --fold-share X]
 *
 * Each group of checks runs when its pages are given.  playwright-core is
 * found through NODE_PATH (the test installs it under the build
 * directory); it never downloads a browser: /usr/bin/chromium is used.
 */
'use strict';

const fs = require('fs');
const os = require('os');
const path = require('path');
const url = require('url');
const { chromium } = require('playwright-core');

const CHROMIUM = process.env.CHROMIUM || '/usr/bin/chromium';
const ARGS = ['--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run',
  '--disable-background-networking', '--disable-component-update', '--disable-sync'];
const RENDER_LIMIT_MS = 5000;   // generous: the target is 1 s, a loaded machine must not flake

const opt = {};
for (let i = 2; i < process.argv.length; i += 2) {
  if (!process.argv[i].startsWith('--') || i + 1 >= process.argv.length) {
    console.error('usage: drive.js --NAME VALUE ...');
    process.exit(2);
  }
  opt[process.argv[i].slice(2)] = process.argv[i + 1];
}

let failed = 0;
function ok(cond, desc, diag) {
  console.log((cond ? 'ok - ' : 'not ok - ') + desc);
  if (!cond) {
    failed++;
    if (diag !== undefined) for (const l of String(diag).split('\n')) console.log('# ' + l);
  }
  return cond;
}
function note(text) { console.log('# ' + text); }

/* The JSON data block of a page file, read without a browser. */
function dataOf(file) {
  const html = fs.readFileSync(file, 'utf8');
  const m = html.match(/<script type="application\/json" id="sampled-data">([\s\S]*?)<\/script>/);
  if (!m) throw new Error(file + ': no data block');
  return { html: html, data: JSON.parse(m[1]) };
}

/* Top-level thread nodes of a page's data: [{index, name, total}]. */
function threadsOf(d) {
  const out = [];
  const X = d.nodes, F = d.frames;
  for (let i = 1; i < X.length / 4; i++) {
    if (X[i * 4] !== 0) continue;
    const f = X[i * 4 + 1];
    if (d.kinds[F[f * 6 + 4]] === 'thread') out.push({ index: i, name: d.strings[F[f * 6]], total: X[i * 4 + 3] });
  }
  return out;
}

let ctx;

/* Opens a page, collecting console errors and any request that is not the file itself. */
async function open(file) {
  const page = await ctx.newPage();
  const errors = [], requests = [];
  const href = url.pathToFileURL(path.resolve(file)).href;
  page.on('console', (m) => { if (m.type() === 'error') errors.push(m.text()); });
  page.on('pageerror', (e) => errors.push(e.message));
  page.on('request', (r) => { if (r.url() !== href) requests.push(r.url()); });
  const t0 = Date.now();
  await page.goto(href);
  await page.waitForSelector('body[data-ready="1"]', { timeout: 30000 }).catch(() => {});
  const wall = Date.now() - t0;
  return { page, errors, requests, wall };
}

const rows = (page) => page.$$eval('#tree .row', (els) => els.length);
const rowInfo = (page) => page.$$eval('#tree .row', (els) => els.map((e) => ({
  fn: (e.querySelector('.fn') || {}).textContent || '',
  mod: (e.querySelector('.mod') || {}).textContent || '',
  expanded: e.getAttribute('aria-expanded'),
  sel: e.classList.contains('sel'),
  hit: e.classList.contains('hit'),
  samples: +e.dataset.samples,
  text: e.textContent,
})));
const selIndex = (page) => page.$$eval('#tree .row', (els) => els.findIndex((e) => e.classList.contains('sel')));

async function search(page, q) {
  await page.fill('#search', q);
  await page.press('#search', 'Enter');
}

/* The page's file is all there is: no external script, style, font or image. */
function checkSelfContained(label, html) {
  const ext = html.match(/<(script|link|img|iframe)\b[^>]*\b(src|href)\s*=/i) ||
    html.match(/@import|url\((?!\s*["']?data:)/i);
  ok(!ext, label + ': the page references no external resource', ext && ext[0]);
  ok(/Content-Security-Policy" content="default-src 'none'/.test(html),
    label + ': a Content-Security-Policy forbids network loads');
}

/* ------------------------------------------------------------ the live page */

async function livePage(file, samples, shots) {
  const { html } = dataOf(file);
  checkSelfContained('live page', html);
  const { page, errors, requests } = await open(file);
  ok(errors.length === 0, 'live page: no console errors', errors.join('\n'));
  ok(requests.length === 0, 'live page: no network requests', requests.join('\n'));

  let info = await rowInfo(page);
  const root = info[0] || {};
  ok(root.samples === samples && root.text.includes(samples.toLocaleString('en-US') + ' samples'),
    'live page: the root row shows all ' + samples + ' samples', JSON.stringify(root));
  const hdr = await page.textContent('#hdr');
  ok(/split -t 2 -s 30/.test(hdr) && /pid/.test(hdr) && /99 Hz|Hz/.test(hdr) && /cpu|wall/.test(hdr),
    'live page: the header names the command line, pid, rate and mode', hdr);
  await page.screenshot({ path: path.join(shots, 'html.png') });

  /* Clicks: the root closes to one row and opens to the same rows again. */
  const before = await rows(page);
  await page.click('#tree .row >> nth=0');
  const closed = await rows(page);
  const exp0 = await page.getAttribute('#tree .row >> nth=0', 'aria-expanded');
  await page.click('#tree .row >> nth=0');
  const reopened = await rows(page);
  ok(before > 1 && closed === 1 && exp0 === 'false' && reopened === before,
    'live page: clicking a row collapses and expands it', `rows ${before} -> ${closed} -> ${reopened}`);

  /* A deeper row with children: a click flips it, a second click flips it back. */
  info = await rowInfo(page);
  const idx = info.findIndex((r, i) => i > 0 && r.expanded !== null);
  const n0 = await rows(page);
  await page.click(`#tree .row >> nth=${idx}`);
  const n1 = await rows(page);
  const x1 = await page.getAttribute(`#tree .row >> nth=${idx}`, 'aria-expanded');
  await page.click(`#tree .row >> nth=${idx}`);
  const n2 = await rows(page);
  const x2 = await page.getAttribute(`#tree .row >> nth=${idx}`, 'aria-expanded');
  ok(idx > 0 && n1 !== n0 && x1 !== info[idx].expanded && n2 === n0 && x2 === info[idx].expanded,
    'live page: clicking a row with children shows and hides them', `row ${idx}: rows ${n0} -> ${n1} -> ${n2}`);

  /* Keys: Home, Left/Right on the root, Down, Enter twice, Left twice back to the root. */
  await page.focus('#tree');
  await page.keyboard.press('Home');
  const s0 = await selIndex(page);
  await page.keyboard.press('ArrowLeft');
  const k1 = await rows(page);
  await page.keyboard.press('ArrowRight');
  const k2 = await rows(page);
  await page.keyboard.press('ArrowDown');
  const s1 = await selIndex(page);
  ok(s0 === 0 && k1 === 1 && k2 > 1 && s1 === 1,
    'live page: Home, Left, Right and Down select, collapse and expand', `sel ${s0}, rows ${k1}, ${k2}, sel ${s1}`);
  info = await rowInfo(page);
  const e0 = info[1].expanded;
  await page.keyboard.press('Enter');
  const e1 = (await rowInfo(page))[1].expanded;
  await page.keyboard.press('Enter');
  const e2 = (await rowInfo(page))[1].expanded;
  ok(e0 !== null && e1 !== e0 && e2 === e0, 'live page: Enter toggles the selected row', `${e0} ${e1} ${e2}`);
  if (e2 === 'true') await page.keyboard.press('ArrowLeft');
  const e3 = (await rowInfo(page))[1].expanded;
  await page.keyboard.press('ArrowLeft');
  const s2 = await selIndex(page);
  await page.keyboard.press('ArrowDown');
  await page.keyboard.press('ArrowUp');
  const s3 = await selIndex(page);
  ok(e3 === 'false' && s2 === 0 && s3 === 0, 'live page: Left collapses, then goes to the parent; Up goes back',
    `${e3} sel ${s2} ${s3}`);

  /* Search: compare is found, marked, and a and b (which never call it) are filtered out. */
  await search(page, 'compare');
  info = await rowInfo(page);
  const hit = info.find((r) => r.hit && r.fn.includes('compare'));
  const marks = await page.$$eval('#tree mark', (els) => els.map((e) => e.textContent.toLowerCase()));
  ok(hit && marks.includes('compare'), 'live page: searching "compare" highlights the compare row',
    info.map((r) => r.fn).join(', '));
  ok(info.length > 2 && !info.some((r) => r.fn === 'a' || r.fn === 'b'),
    'live page: the search filters the tree to paths that lead to compare', info.map((r) => r.fn).join(', '));
  await page.screenshot({ path: path.join(shots, 'html-search.png') });
  await page.press('#search', 'Escape');
  info = await rowInfo(page);
  ok(info.some((r) => r.fn === 'a') && !(await page.$('#tree mark')),
    'live page: clearing the search brings the whole tree back');

  /* The flame graph: a canvas with boxes, a tooltip, zoom and back. */
  await page.click('#tab-flame');
  const vis = await page.evaluate(() => ({
    flame: !document.getElementById('flame').hidden,
    tree: !document.getElementById('tree').hidden,
    boxes: window.sampledPage.flameBoxes(),
  }));
  const canvas = await page.$('#flame-canvas');
  const box = canvas && await canvas.boundingBox();
  const painted = await page.evaluate(() => {
    const c = document.getElementById('flame-canvas');
    const d = c.getContext('2d').getImageData(0, 0, c.width, Math.min(c.height, 80)).data;
    let n = 0;
    for (let i = 3; i < d.length; i += 4) if (d[i] > 0) n++;
    return n;
  });
  ok(vis.flame && !vis.tree && vis.boxes >= 5 && box && box.width > 300 && painted > 1000,
    'live page: the view switch shows the flame graph (canvas with boxes drawn)', JSON.stringify({ vis, box, painted }));
  await page.mouse.move(box.x + 40, box.y + 9, { steps: 2 });
  const tip = await page.evaluate(() => {
    const t = document.getElementById('tip');
    return t.hidden ? '' : t.textContent;
  });
  ok(tip.includes('all samples') && tip.includes(samples.toLocaleString('en-US') + ' samples'), 'live page: hovering a flame box shows its tooltip', tip);
  await page.screenshot({ path: path.join(shots, 'html-flame.png') });
  await page.mouse.click(box.x + 40, box.y + 18 + 9);
  const zoomed = await page.$('#flame-reset');
  const zinfo = await page.textContent('#flame-info');
  await page.keyboard.press('Escape');
  const unzoomed = !(await page.$('#flame-reset'));
  ok(zoomed && !/Showing everything/.test(zinfo) && unzoomed, 'live page: clicking a flame box zooms in, Esc zooms out', zinfo);
  await page.click('#tab-tree');
  ok(await page.isVisible('#tree') && !(await page.isVisible('#flame')), 'live page: the view switch goes back to the tree');
  ok(errors.length === 0, 'live page: still no console errors after all that', errors.join('\n'));
  await page.close();
}

/* ------------------------------------------------------- the per-thread page */

async function threadPage(file, samples) {
  const { data } = dataOf(file);
  const threads = threadsOf(data);
  const { page, errors } = await open(file);
  const options = await page.$$eval('#thread option', (els) => els.map((e) => e.textContent));
  ok(await page.isVisible('#thread-box') && threads.length >= 2 && options.length === threads.length + 1 &&
    /All threads/.test(options[0]) && threads.every((t, i) => options[i + 1].startsWith(t.name)),
  'threads page: the thread selector lists every thread (' + threads.length + ')', options.join(' | '));
  let info = await rowInfo(page);
  ok(info[0].samples === samples, 'threads page: the root row holds all samples', JSON.stringify(info[0]));
  const t = threads[1];
  await page.selectOption('#thread', String(t.index));
  info = await rowInfo(page);
  ok(info[0].fn === t.name && info[0].samples === t.total,
    'threads page: choosing a thread shows that thread alone', JSON.stringify(info[0]) + ' want ' + JSON.stringify(t));
  await page.selectOption('#thread', '-1');
  info = await rowInfo(page);
  ok(info[0].samples === samples && info.filter((r) => r.text.includes('samples') && r !== info[0]).length >= 0,
    'threads page: "All threads" brings every thread back');
  ok(errors.length === 0, 'threads page: no console errors', errors.join('\n'));
  await page.close();
}

/* ----------------------------------------------------- the unfolded live page */

async function unfoldedPage(file, samples) {
  const { page, errors } = await open(file);
  const hidden = (info) => info.filter((r) => /frames hidden/.test(r.fn)).length;
  let info = await rowInfo(page);
  ok(hidden(info) > 0, 'unfolded page: library runs are folded in the page by default',
    info.map((r) => r.fn).join(', '));
  /* A group's "show" link lays its frames out one by one; "fold" folds them again. */
  const g = info.findIndex((r) => /frames hidden/.test(r.fn));
  await page.click(`#tree .row >> nth=${g} >> .reveal`);
  const shownInfo = await rowInfo(page);
  const libRows = shownInfo.filter((r) => /libc\.so/.test(r.fn + r.mod) && !/frames hidden/.test(r.fn)).length;
  const linkText = await page.textContent(`#tree .row >> nth=${g} >> .reveal`);
  await page.click(`#tree .row >> nth=${g} >> .reveal`);
  const foldedInfo = await rowInfo(page);
  ok(libRows >= 2 && linkText === 'fold' && foldedInfo.length === info.length,
    'unfolded page: a group\'s "show" lists its library frames and "fold" folds them back',
    `${libRows} library rows, link "${linkText}", rows ${info.length} -> ${shownInfo.length} -> ${foldedInfo.length}`);
  await search(page, 'qsort_r');
  info = await rowInfo(page);
  ok(info.some((r) => r.hit && r.fn === 'qsort_r'),
    'unfolded page: searching "qsort_r" opens its folded run and highlights it', info.map((r) => r.fn).join(', '));
  await page.press('#search', 'Escape');
  await page.uncheck('#hide-lib');
  info = await rowInfo(page);
  ok(hidden(info) === 0 && info.some((r) => /libc\.so/.test(r.mod)),
    'unfolded page: "Hide library frames" off shows libc frames one by one', info.map((r) => r.fn + ' ' + r.mod).join(', '));
  await page.check('#hide-lib');
  info = await rowInfo(page);
  ok(hidden(info) > 0, 'unfolded page: switching it back on folds them again');
  /* The slider, moved as a person would: whole tree walks before and after. */
  const flat = (t, out) => { out.push(t); t[4].forEach((k) => flat(k, out)); return out; };
  const all0 = flat(await page.evaluate(() => window.sampledPage.snapshot()), []);
  const slider = await page.$('#threshold');
  const sb = await slider.boundingBox();
  await page.mouse.click(sb.x + sb.width - 2, sb.y + sb.height / 2);
  await page.waitForTimeout(100);
  const all1 = flat(await page.evaluate(() => window.sampledPage.snapshot()), []);
  const thr = await page.textContent('#threshold-value');
  const pct = parseFloat(thr) / 100;
  info = await rowInfo(page);
  ok(pct >= 0.15 && all1.length < all0.length && all1.every((t) => t[2] >= pct * samples) &&
    info.every((r) => r.samples >= pct * samples),
  'unfolded page: the threshold slider leaves out nodes below it', `${all0.length} -> ${all1.length} nodes at ${thr}`);
  ok(errors.length === 0, 'unfolded page: no console errors', errors.join('\n'));
  await page.close();
}

/* ------------------------------------------------------------- big pages */

async function bigPage(file, shots) {
  const { data } = dataOf(file);
  const nodes = data.nodes.length / 4 - 1;
  const size = fs.statSync(file).size;
  const { page, errors, wall } = await open(file);
  const t = await page.evaluate(() => ({
    ready: window.sampledPage.readyAt, script: window.sampledPage.renderMs,
    rows: document.querySelectorAll('#tree .row').length,
  }));
  note(`big page: ${nodes} nodes, ${(size / 1048576).toFixed(1)} MiB; first view ready ${t.ready.toFixed(0)} ms ` +
    `after navigation (script ${t.script.toFixed(0)} ms, ${t.rows} rows), load wall time ${wall} ms`);
  ok(nodes >= 99000 && t.ready < RENDER_LIMIT_MS,
    `big page: the first view of ${nodes} nodes renders in ${t.ready.toFixed(0)} ms (< ${RENDER_LIMIT_MS} ms)`);
  let t0 = Date.now();
  await search(page, 'handler_1');
  await page.waitForTimeout(0);
  const searchMs = Date.now() - t0;
  const hits = await page.$$eval('#tree .row.hit', (els) => els.length);
  note(`big page: search "handler_1" shows ${hits} highlighted rows in ${searchMs} ms`);
  ok(hits > 0 && searchMs < RENDER_LIMIT_MS, 'big page: search stays usable');
  await page.press('#search', 'Escape');
  t0 = Date.now();
  await page.evaluate(() => window.sampledPage.setMinShare(0));
  const zeroMs = Date.now() - t0;
  t0 = Date.now();
  await page.click('#tab-flame');
  const flameMs = Date.now() - t0;
  const boxes = await page.evaluate(() => window.sampledPage.flameBoxes());
  note(`big page: threshold 0 in ${zeroMs} ms; flame graph of ${boxes} boxes in ${flameMs} ms`);
  ok(boxes > 100 && flameMs < RENDER_LIMIT_MS, 'big page: the flame graph draws');
  await page.screenshot({ path: path.join(shots, 'html-big-flame.png') });
  ok(errors.length === 0, 'big page: no console errors', errors.join('\n'));
  await page.close();
}

async function bigThreadsPage(file) {
  const { data } = dataOf(file);
  const threads = threadsOf(data);
  const { page, errors } = await open(file);
  const ready = await page.evaluate(() => window.sampledPage.readyAt);
  const options = await page.$$eval('#thread option', (els) => els.length);
  note(`big per-thread page: first view ready ${ready.toFixed(0)} ms after navigation`);
  ok(options === threads.length + 1 && threads.length === 4, 'big per-thread page: 4 threads in the selector');
  await page.selectOption('#thread', String(threads[2].index));
  const root = (await rowInfo(page))[0];
  ok(root.fn === threads[2].name, 'big per-thread page: a thread can be chosen', JSON.stringify(root));
  ok(errors.length === 0, 'big per-thread page: no console errors', errors.join('\n'));
  await page.close();
}

/* ------------------------------------------ the page's folding vs view_collapse */

function normal(t) {
  const kids = t[4].map(normal);
  kids.sort((a, b) => b[2] - a[2] || (a[0] < b[0] ? -1 : a[0] > b[0] ? 1 : 0) || (a[1] < b[1] ? -1 : a[1] > b[1] ? 1 : 0));
  return [t[0], t[1], t[2], t[3], kids];
}

function firstDiff(a, b, at) {
  for (let i = 0; i < 4; i++) if (a[i] !== b[i]) return `${at}: ${JSON.stringify(a.slice(0, 4))} vs ${JSON.stringify(b.slice(0, 4))}`;
  if (a[4].length !== b[4].length) {
    return `${at}/${a[0]}: ${a[4].length} vs ${b[4].length} children: ` +
      a[4].map((k) => k[0]).join(',') + ' vs ' + b[4].map((k) => k[0]).join(',');
  }
  for (let i = 0; i < a[4].length; i++) {
    const d = firstDiff(a[4][i], b[4][i], at + '/' + a[0]);
    if (d) return d;
  }
  return null;
}

function count(t) { return 1 + t[4].reduce((n, k) => n + count(k), 0); }

async function foldCheck(raw, folded, share) {
  const a = await open(raw), b = await open(folded);
  await a.page.evaluate((s) => window.sampledPage.setMinShare(s), share);
  await b.page.evaluate((s) => window.sampledPage.setMinShare(s), share);
  const ta = normal(await a.page.evaluate(() => window.sampledPage.snapshot()));
  const tb = normal(await b.page.evaluate(() => window.sampledPage.snapshot()));
  const diff = firstDiff(ta, tb, '');
  ok(!diff && count(ta) > 100, `folding in the page matches view_collapse at ${share * 100}% (${count(ta)} nodes)`, diff);
  ok(a.errors.length === 0 && b.errors.length === 0, `fold pages at ${share * 100}%: no console errors`,
    a.errors.concat(b.errors).join('\n'));
  await a.page.close();
  await b.page.close();
}

/* ------------------------------------------------------------------ main */

(async () => {
  const shots = opt.artifacts || '.';
  fs.mkdirSync(shots, { recursive: true });
  const userDataDir = fs.mkdtempSync(path.join(os.tmpdir(), 'sampled-chromium-'));
  try {
    ctx = await chromium.launchPersistentContext(userDataDir, {
      executablePath: CHROMIUM, headless: true, args: ARGS, offline: true,
      viewport: { width: 1280, height: 800 },
    });
    const version = ctx.browser() ? ctx.browser().version() : '';
    note('chromium ' + version + ', playwright-core ' + require('playwright-core/package.json').version);
    const samples = +opt.samples;
    if (opt.live) await livePage(opt.live, samples, shots);
    if (opt.threads) await threadPage(opt.threads, samples);
    if (opt.unfolded) await unfoldedPage(opt.unfolded, samples);
    if (opt.big) await bigPage(opt.big, shots);
    if (opt['big-threads']) await bigThreadsPage(opt['big-threads']);
    if (opt['fold-raw'] && opt['fold-c0']) await foldCheck(opt['fold-raw'], opt['fold-c0'], 0);
    if (opt['fold-raw'] && opt['fold-c1']) await foldCheck(opt['fold-raw'], opt['fold-c1'], +opt['fold-share']);
  } catch (e) {
    ok(false, 'the browser session ran to its end', e.stack || String(e));
  } finally {
    if (ctx) await ctx.close().catch(() => {});
    fs.rmSync(userDataDir, { recursive: true, force: true });
  }
  process.exit(failed ? 1 : 0);
})();
