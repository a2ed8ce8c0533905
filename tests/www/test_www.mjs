// The web page in a real browser: Debian's Chromium, driven by
// playwright-core, against a running vecsnapd (run.sh starts it).  Clicks
// through what a person would do: create a collection, search, snapshot and
// watch the job's progress over SSE (EventSource, then fetch() with a
// token), verify, download, upload, delete, restore, auto-save, export and
// import; no console error, nothing fetched from elsewhere, screenshots at
// 1280 and 390 px.  Each step is one check; a failed step does not stop the
// ones after it.
//
// Environment: BASE (http://127.0.0.1:PORT), OUT (a directory for the
// screenshots and downloads), COUNTS (file to write "checks failures" to),
// BROWSER_PID_FILE (the browser's PID, for run.sh), DATA_DIR (the server's
// data directory, to damage a snapshot file), CHROMIUM
// (/usr/bin/chromium by default), VS_NODE_MODULES_WWW (where
// playwright-core is installed).
import fs from 'node:fs';
import path from 'node:path';
import {pathToFileURL} from 'node:url';

// playwright-core from VS_NODE_MODULES_WWW (run.sh sets it), else from
// the node_modules beside this file.
const modules = process.env.VS_NODE_MODULES_WWW;
const {chromium} = await import(modules ?
  pathToFileURL(path.join(modules, 'playwright-core', 'index.mjs')).href :
  'playwright-core');

const BASE = process.env.BASE;
const OUT = process.env.OUT || '.';
const COUNTS = process.env.COUNTS;
const PID_FILE = process.env.BROWSER_PID_FILE;
const CHROMIUM = process.env.CHROMIUM || '/usr/bin/chromium';
const DATA_DIR = process.env.DATA_DIR;
const JOB_TIMEOUT = 30000;
const TOKEN = 'www-test-token';

let checks = 0;
let failures = 0;

function writeCounts() {
  if (COUNTS) fs.writeFileSync(COUNTS, `${checks} ${failures}\n`);
}

function assert(cond, what) {
  if (!cond) throw new Error(what);
}

async function step(name, fn, statuses = []) {
  checks++;
  expectedStatuses = statuses;
  const t0 = Date.now();
  try {
    await fn();
    console.log(`ok   ${name} (${Date.now() - t0} ms)`);
  } catch (e) {
    failures++;
    console.log(`FAIL ${name}: ${String(e && e.message || e).split('\n')[0]}`);
  }
  expectedStatuses = [];
  writeCounts();
}

const watchdog = setTimeout(() => {
  console.log('FAIL the browser test took longer than 240 s');
  failures++;
  writeCounts();
  process.exit(1);
}, 240000);

if (!BASE) {
  console.error('test_www.mjs: BASE is not set');
  process.exit(2);
}
fs.mkdirSync(OUT, {recursive: true});

const server = await chromium.launchServer({
  executablePath: CHROMIUM,
  headless: true,
  args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-quic',
    '--no-first-run', '--disable-background-networking',
    '--disable-component-update', '--disable-sync'],
});
if (PID_FILE) fs.writeFileSync(PID_FILE, `${server.process().pid}\n`);
const browser = await chromium.connect(server.wsEndpoint());
const context = await browser.newContext({
  viewport: {width: 1280, height: 900},
  acceptDownloads: true,
});
const page = await context.newPage();
page.setDefaultTimeout(10000);

// Chromium logs every 4xx reply as a console error: the steps that ask for
// one on purpose name the statuses they expect; anything else counts.
const consoleErrors = [];
const foreign = [];
const eventRequests = [];
let expectedStatuses = [];
page.on('console', (m) => {
  if (m.type() !== 'error') return;
  const t = m.text();
  const st = /^Failed to load resource: the server responded with a status of (\d+)/
    .exec(t);
  if (st && expectedStatuses.includes(Number(st[1]))) return;
  consoleErrors.push(t);
});
page.on('pageerror', (e) => consoleErrors.push(`page error: ${e.message}`));
page.on('dialog', (d) => d.accept());
page.on('request', (r) => {
  const u = r.url();
  if (!u.startsWith(BASE) && !/^(data|blob):/.test(u)) foreign.push(u);
  if (/\/v1\/jobs\/[^/]+\/events$/.test(new URL(u, BASE).pathname)) {
    eventRequests.push({url: u, auth: r.headers().authorization || ''});
  }
});

// ---- helpers -----------------------------------------------------------

// fetch() from the page (same origin, the page's own token if any).
function pageFetch(method, url, body) {
  return page.evaluate(async ([m, u, b]) => {
    const init = {method: m, headers: {}};
    if (b !== undefined) {
      init.body = JSON.stringify(b);
      init.headers['Content-Type'] = 'application/json';
    }
    const r = await fetch(u, init);
    const text = await r.text();
    let json = null;
    try {
      json = JSON.parse(text);
    } catch (e) {
      json = null;
    }
    return {status: r.status, json, text};
  }, [method, url, body]);
}

async function msgOf(panel) {
  const m = page.locator(`#${panel}-msg`);
  return {text: (await m.textContent()) || '', cls: await m.getAttribute('class')};
}

// Waits until the panel's message contains `needle` (a string or RegExp).
async function waitMsg(panel, needle, timeout = 10000) {
  await page.waitForFunction(([p, n, isRe]) => {
    const t = document.querySelector(`#${p}-msg`).textContent || '';
    return isRe ? new RegExp(n).test(t) : t.includes(n);
  }, [panel, needle instanceof RegExp ? needle.source : needle,
    needle instanceof RegExp], {timeout});
  return msgOf(panel);
}

// The newest job item of an operation, once it has ended.
async function waitJobEnd(operation, knownIds) {
  const handle = await page.waitForFunction(([op, known]) => {
    for (const li of document.querySelectorAll('#jobs-list li.job')) {
      const o = li.querySelector('.op').textContent;
      if (o !== op || known.includes(li.dataset.jobId)) continue;
      if (['done', 'failed', 'cancelled'].includes(li.dataset.state)) {
        const bar = li.querySelector('.bar');
        return {id: li.dataset.jobId, state: li.dataset.state,
          source: li.dataset.source, events: Number(li.dataset.events),
          now: bar.getAttribute('aria-valuenow'),
          width: bar.firstElementChild.style.width,
          pct: li.querySelector('.pct').textContent,
          count: li.querySelector('.count').textContent,
          msg: li.querySelector('.jmsg').textContent};
      }
    }
    return null;
  }, [operation, knownIds], {timeout: JOB_TIMEOUT});
  return handle.jsonValue();
}

async function jobIds() {
  return page.$$eval('#jobs-list li.job', (els) => els.map((e) => e.dataset.jobId));
}

function snapRow(name) {
  return page.locator('#snapshots-rows tr').filter({
    has: page.locator('td:first-child strong', {hasText: new RegExp(`^${name}$`)}),
  });
}

async function snapshotByName(name) {
  const r = await pageFetch('GET', '/v1/snapshots');
  assert(r.status === 200, `GET /v1/snapshots: ${r.status} ${r.text.slice(0, 200)}`);
  return {list: r.json.snapshots, current: r.json.current,
    snap: r.json.snapshots.find((s) => s.name === name)};
}

function vec(i) {
  return [Math.cos(i), Math.sin(i), (i % 7) / 7, 1];
}

const seen = {};

// ---- the main scenario: a server without tokens -------------------------

async function mainScenario() {
  await step('the page loads and the server reports ready', async () => {
    const res = await page.goto(`${BASE}/`);
    assert(res.status() === 200, `GET / answered ${res.status()}`);
    assert(await page.title() === 'vecsnapd', 'title');
    await page.locator('#health', {hasText: 'ready'}).waitFor();
    await page.locator('#collections-empty').waitFor({state: 'visible'});
  });

  await step('create a collection from the form', async () => {
    await page.getByLabel('Name', {exact: true}).first().fill('docs');
    await page.locator('#col-dim').fill('4');
    await page.locator('#col-metric').selectOption('cosine');
    await page.getByRole('button', {name: 'Create', exact: true}).click();
    await page.locator('#collections-rows tr[data-collection="docs"]').waitFor();
    const m = await waitMsg('collections', 'created "docs"');
    assert(!m.cls.includes('error'), 'message is not an error');
    assert(await page.locator('#search-collection').inputValue() === 'docs',
      'the search form picks the new collection');
  });

  await step('a conflicting create shows the server\'s error body', async () => {
    await page.locator('#col-name').fill('docs');
    await page.locator('#col-dim').fill('8');
    await page.getByRole('button', {name: 'Create', exact: true}).click();
    const m = await waitMsg('collections', '(409)');
    assert(m.cls.includes('error'), 'shown as an error');
    assert(/docs/.test(m.text), `names the collection: ${m.text}`);
    assert(await page.locator('#collections-msg').getAttribute('role') === 'alert',
      'errors are announced');
  }, [409]);

  await step('upsert vectors with fetch() from the page', async () => {
    const vectors = Array.from({length: 40}, (_, i) => ({id: `v${i}`,
      vector: vec(i), metadata: {i, tag: i % 2 ? 'odd' : 'even'}}));
    const r = await pageFetch('PUT', '/v1/collections/docs/vectors', {vectors});
    assert(r.status === 200 && r.json.upserted === 40, `upsert: ${r.status} ${r.text}`);
    await page.locator('#collections [data-refresh="collections"]').click();
    await page.locator('#collections-rows tr[data-collection="docs"] td.count',
      {hasText: /^40$/}).waitFor();
  });

  await step('search from the UI shows the results table', async () => {
    await page.locator('#search-collection').selectOption('docs');
    await page.locator('#search-vector').fill(JSON.stringify(vec(7)));
    await page.locator('#search-k').fill('5');
    await page.getByRole('button', {name: 'Search', exact: true}).click();
    await waitMsg('search', '5 results from "docs"');
    const rows = page.locator('#results-rows tr');
    assert(await rows.count() === 5, `${await rows.count()} rows`);
    assert(await rows.first().locator('.rid').textContent() === 'v7',
      'the exact vector ranks first');
    const score = Number(await rows.first().locator('.score').textContent());
    assert(score > 0.9999, `top score ${score}`);
    assert(/"tag":"odd"/.test(await rows.first().locator('.meta').textContent()),
      'metadata shown');
  });

  await step('search errors: bad JSON locally, bad dimension from the server',
    async () => {
      await page.locator('#search-vector').fill('[1, 2');
      await page.getByRole('button', {name: 'Search', exact: true}).click();
      let m = await waitMsg('search', 'not JSON');
      assert(m.cls.includes('error'), 'bad JSON shown as an error');
      await page.locator('#search-vector').fill('[1, 2]');
      await page.getByRole('button', {name: 'Search', exact: true}).click();
      m = await waitMsg('search', '(400)');
      assert(m.cls.includes('error'), 'server error shown as an error');
      assert(/dimension|2/.test(m.text), `the server's message: ${m.text}`);
    }, [400]);

  await step('create a snapshot: progress reaches 100 % over EventSource',
    async () => {
      const known = await jobIds();
      await page.locator('#snap-name').fill('ui-snap');
      await page.locator('#snap-format').selectOption('binary');
      await page.locator('#snap-compression').selectOption('zstd');
      await page.getByRole('button', {name: 'Create snapshot'}).click();
      const j = await waitJobEnd('snapshot', known);
      seen.job1 = j;
      assert(j.state === 'done', `job ${j.id} ended ${j.state}: ${j.msg}`);
      assert(j.source === 'eventsource', `followed by ${j.source}`);
      assert(j.events >= 1, `${j.events} events`);
      assert(j.now === '100' && j.width === '100%', `bar at ${j.now} (${j.width})`);
      assert(j.pct === '100 %', `percentage text ${j.pct}`);
      assert(eventRequests.some((e) => e.url.includes(encodeURIComponent(j.id))),
        'the events stream was requested');
    });

  await step('the snapshot is listed, newest first, marked CURRENT', async () => {
    const row = snapRow('ui-snap');
    await row.waitFor();
    const {snap, current} = await snapshotByName('ui-snap');
    assert(snap, 'listed by the API');
    seen.snap1 = snap;
    assert(current === snap.id, 'a whole-store snapshot becomes CURRENT');
    assert(await row.getAttribute('class') === 'current', 'row marked current');
    assert(await row.locator('.badge.current').textContent() === 'CURRENT',
      'CURRENT badge');
    const cells = await row.locator('td').allTextContents();
    assert(cells[2] === 'binary' && cells[3] === 'zstd', `format ${cells[2]}/${cells[3]}`);
    assert(cells[5] === '40', `records ${cells[5]}`);
    assert(/^[0-9a-f]{12}$/.test(cells[6]) && snap.sha256.startsWith(cells[6]),
      `sha256 short ${cells[6]}`);
    assert(/^\d{4}-\d\d-\d\d \d\d:\d\d:\d\d$/.test(cells[1]), `created ${cells[1]}`);
    assert(await row.locator('a', {hasText: 'Download'}).getAttribute('href') ===
      `/v1/snapshots/${encodeURIComponent(snap.id)}/download`, 'download link');
  });

  await step('verify the snapshot from its row', async () => {
    await page.getByRole('button', {name: 'Verify snapshot ui-snap', exact: true})
      .click();
    const m = await waitMsg('snapshots', /verified: ok|failed/, JOB_TIMEOUT);
    assert(/verified: ok, 40 records/.test(m.text), m.text);
  });

  await step('download the snapshot file', async () => {
    assert(seen.snap1, 'no snapshot');
    const [dl] = await Promise.all([
      page.waitForEvent('download'),
      snapRow('ui-snap').locator('a', {hasText: 'Download'}).click(),
    ]);
    const file = path.join(OUT, dl.suggestedFilename());
    await dl.saveAs(file);
    seen.snapFile = file;
    assert(fs.statSync(file).size === seen.snap1.bytes,
      `${fs.statSync(file).size} bytes, manifest says ${seen.snap1.bytes}`);
    assert(dl.suggestedFilename().startsWith(`vecsnap-${seen.snap1.id}`),
      `file name ${dl.suggestedFilename()}`);
  });

  await step('with a token: Authorization sent, SSE read by fetch()', async () => {
    await page.locator('#token').fill(TOKEN);
    await page.getByRole('button', {name: 'Use token'}).click();
    assert(await page.evaluate(() => localStorage.getItem('vecsnap.token')) ===
      TOKEN, 'token kept in localStorage');
    const known = await jobIds();
    const before = eventRequests.length;
    const [req] = await Promise.all([
      page.waitForRequest((r) => r.url().endsWith('/v1/snapshots') &&
        r.method() === 'POST'),
      (async () => {
        await page.locator('#snap-name').fill('ui-snap-2');
        await page.locator('#snap-format').selectOption('json');
        await page.locator('#snap-compression').selectOption('gzip');
        await page.getByRole('button', {name: 'Create snapshot'}).click();
      })(),
    ]);
    assert(req.headers().authorization === `Bearer ${TOKEN}`,
      'POST carries the bearer token');
    const j = await waitJobEnd('snapshot', known);
    assert(j.state === 'done', `job ${j.id} ended ${j.state}: ${j.msg}`);
    assert(j.source === 'fetch', `followed by ${j.source}`);
    assert(j.now === '100', `bar at ${j.now}`);
    const evs = eventRequests.slice(before);
    assert(evs.length > 0 && evs.every((e) => e.auth === `Bearer ${TOKEN}`),
      'the events stream carries the token');
  });

  await step('two snapshots newest first, CURRENT moved to the newest', async () => {
    await snapRow('ui-snap-2').waitFor();
    const names = await page.locator('#snapshots-rows tr td:first-child strong')
      .allTextContents();
    assert(names[0] === 'ui-snap-2' && names[1] === 'ui-snap', names.join(','));
    assert(await page.locator('#snapshots-rows tr.current').count() === 1,
      'one CURRENT row');
    assert(await snapRow('ui-snap-2').getAttribute('class') === 'current',
      'the newest is CURRENT');
    await page.getByRole('button', {name: 'Clear'}).click();
    assert(await page.evaluate(() => localStorage.getItem('vecsnap.token')) ===
      null, 'token cleared');
  });

  await step('a fresh page lists the finished jobs', async () => {
    await page.reload();
    await page.locator('#health', {hasText: 'ready'}).waitFor();
    await page.locator('#jobs-list li.job[data-state="done"]').first().waitFor();
    const ops = await page.$$eval('#jobs-list li.job', (els) =>
      els.map((e) => `${e.querySelector('.op').textContent}:${e.dataset.state}`));
    assert(ops.filter((o) => o === 'snapshot:done').length >= 2, ops.join(' '));
    assert(ops.includes('verify:done'), ops.join(' '));
    assert(await page.locator('#token').inputValue() === '', 'no token after reload');
  });

  await step('auto-save: shown and edited', async () => {
    await page.locator('#autosave-facts dd[data-fact="Enabled"]').waitFor();
    await page.locator('#as-interval').fill('60');
    await page.locator('#as-changes').fill('10');
    await page.getByRole('button', {name: 'Apply'}).click();
    await waitMsg('autosave', 'applied');
    assert(await page.locator('#autosave-facts dd[data-fact="Interval"]')
      .textContent() === '60 s', 'interval shown');
    const r = await pageFetch('GET', '/v1/autosave');
    assert(r.json && r.json.interval_s === 60 && r.json.after_changes === 10,
      `server has ${r.text}`);
  });

  await step('upload a snapshot file', async () => {
    assert(seen.snapFile, 'no downloaded file');
    await page.locator('#upload-file').setInputFiles(seen.snapFile);
    await page.locator('#upload-name').fill('uploaded');
    await page.getByRole('button', {name: 'Upload', exact: true}).click();
    await waitMsg('snapshots', /uploaded .* as |\(\d+\)/);
    const m = await msgOf('snapshots');
    assert(!m.cls.includes('error'), m.text);
    const row = snapRow('uploaded');
    await row.waitFor();
    assert(await row.locator('.badge', {hasText: 'uploaded'}).count() === 1,
      'marked as uploaded');
    assert(await row.getAttribute('class') !== 'current', 'an upload is not CURRENT');
  });

  await step('a damaged snapshot fails verification: the job\'s error is shown',
    async () => {
      assert(DATA_DIR, 'DATA_DIR is not set');
      const {snap} = await snapshotByName('uploaded');
      assert(snap, 'no uploaded snapshot');
      const file = path.join(DATA_DIR, 'snapshots', snap.id, snap.file);
      const buf = fs.readFileSync(file);
      buf[Math.floor(buf.length / 2)] ^= 0xff;
      fs.writeFileSync(file, buf);
      const known = await jobIds();
      await page.getByRole('button', {name: 'Verify snapshot uploaded',
        exact: true}).click();
      const j = await waitJobEnd('verify', known);
      assert(j.state === 'failed', `verify ended ${j.state}`);
      assert(j.source === 'eventsource', `followed by ${j.source}`);
      assert(/corrupt/.test(j.msg), `job message: ${j.msg}`);
      const m = await waitMsg('snapshots', 'failed');
      assert(m.cls.includes('error') && /corrupt/.test(m.text), m.text);
    });

  await step('delete: the CURRENT one is refused, another is gone', async () => {
    await page.getByRole('button', {name: 'Delete snapshot ui-snap-2'}).click();
    const m = await waitMsg('snapshots', '(409)');
    assert(m.cls.includes('error'), m.text);
    await page.getByRole('button', {name: 'Delete snapshot uploaded'}).click();
    await waitMsg('snapshots', 'deleted');
    await snapRow('uploaded').waitFor({state: 'detached'});
  }, [409]);

  await step('restore (replace) brings the collection back to 40', async () => {
    const vectors = Array.from({length: 10}, (_, i) => ({id: `w${i}`,
      vector: vec(100 + i)}));
    const r = await pageFetch('PUT', '/v1/collections/docs/vectors', {vectors});
    assert(r.status === 200, `upsert: ${r.status}`);
    await page.locator('#collections [data-refresh="collections"]').click();
    await page.locator('#collections-rows tr[data-collection="docs"] td.count',
      {hasText: /^50$/}).waitFor();
    const known = await jobIds();
    await page.locator('#restore-mode').selectOption('replace');
    await page.getByRole('button', {name: 'Restore snapshot ui-snap', exact: true})
      .click();
    const j = await waitJobEnd('restore', known);
    assert(j.state === 'done', `restore ended ${j.state}: ${j.msg}`);
    await page.locator('#collections-rows tr[data-collection="docs"] td.count',
      {hasText: /^40$/}).waitFor();
  });

  await step('"Save now" saves the store as the new CURRENT', async () => {
    const known = await jobIds();
    await page.getByRole('button', {name: 'Save now'}).click();
    const j = await waitJobEnd('save', known);
    assert(j.state === 'done', `save ended ${j.state}: ${j.msg}`);
    assert(j.source === 'eventsource' && j.now === '100',
      `${j.source}, ${j.now} %`);
    const r = await pageFetch('GET', '/v1/snapshots');
    const newest = r.json.snapshots[0];
    assert(newest && newest.origin === 'save' && r.json.current === newest.id,
      `current ${r.json.current}, newest ${newest && newest.id}`);
    await page.locator(`#snapshots-rows tr[data-snapshot="${newest.id}"].current`)
      .waitFor();
    assert(await page.locator('#snapshots-rows tr').first()
      .getAttribute('data-snapshot') === newest.id, 'listed first');
  });

  await step('export link follows the form; import the export', async () => {
    await page.locator('#exp-format').selectOption('json');
    await page.locator('#exp-compression').selectOption('gzip');
    const href = await page.locator('#export-link').getAttribute('href');
    assert(href === '/v1/export?format=json&compression=gzip', href);
    const [dl] = await Promise.all([
      page.waitForEvent('download'),
      page.getByRole('link', {name: 'Download export'}).click(),
    ]);
    const file = path.join(OUT, dl.suggestedFilename());
    await dl.saveAs(file);
    assert(fs.statSync(file).size > 0, 'export is empty');
    await page.locator('#import-file').setInputFiles(file);
    await page.locator('#import-mode').selectOption('merge');
    await page.getByRole('button', {name: 'Import', exact: true}).click();
    const m = await waitMsg('transfer', /imported|\(\d+\)/);
    assert(/imported 40 records/.test(m.text), m.text);
  });

  await step('screenshots at 1280 and 390 px, no sideways scroll', async () => {
    await page.locator('#search-vector').fill(JSON.stringify(vec(3)));
    await page.getByRole('button', {name: 'Search', exact: true}).click();
    await waitMsg('search', 'results from');
    await page.setViewportSize({width: 1280, height: 900});
    await page.screenshot({path: path.join(OUT, 'www-1280.png'), fullPage: true});
    let w = await page.evaluate(() => document.documentElement.scrollWidth);
    assert(w <= 1280, `scroll width ${w} at 1280`);
    await page.setViewportSize({width: 390, height: 844});
    await page.screenshot({path: path.join(OUT, 'www-390.png'), fullPage: true});
    w = await page.evaluate(() => document.documentElement.scrollWidth);
    assert(w <= 390, `scroll width ${w} at 390`);
    await page.setViewportSize({width: 1280, height: 900});
  });

  await step('drop the collection', async () => {
    await page.getByRole('button', {name: 'Drop collection docs'}).click();
    await waitMsg('collections', 'dropped "docs"');
    await page.locator('#collections-empty').waitFor({state: 'visible'});
  });
}

// ---- with tokens: the page asks for one, roles are enforced -------------

async function authScenario() {
  const ADMIN = process.env.AUTH_ADMIN;
  const READ = process.env.AUTH_READ;

  await step('without a token the page loads and says a token is needed',
    async () => {
      const res = await page.goto(`${BASE}/`);
      assert(res.status() === 200, `GET / answered ${res.status()}`);
      await page.locator('#health', {hasText: 'ready'}).waitFor();
      const m = await waitMsg('collections', '(401)');
      assert(m.cls.includes('error') && m.text.includes('check the bearer token'),
        m.text);
    }, [401]);

  await step('the read token reads; a write is refused with 403', async () => {
    await page.locator('#token').fill(READ);
    await page.getByRole('button', {name: 'Use token'}).click();
    await page.waitForFunction(() =>
      !document.querySelector('#collections-msg').classList.contains('error'));
    await page.locator('#collections-empty').waitFor({state: 'visible'});
    await page.locator('#col-name').fill('authc');
    await page.locator('#col-dim').fill('3');
    await page.getByRole('button', {name: 'Create', exact: true}).click();
    const m = await waitMsg('collections', '(403)');
    assert(m.cls.includes('error'), m.text);
  }, [403]);

  await step('the admin token writes; its snapshot job is followed by fetch()',
    async () => {
      await page.locator('#token').fill(ADMIN);
      await page.getByRole('button', {name: 'Use token'}).click();
      await page.getByRole('button', {name: 'Create', exact: true}).click();
      await page.locator('#collections-rows tr[data-collection="authc"]')
        .waitFor();
      const known = await jobIds();
      await page.locator('#snap-name').fill('auth-snap');
      await page.getByRole('button', {name: 'Create snapshot'}).click();
      const j = await waitJobEnd('snapshot', known);
      assert(j.state === 'done', `job ${j.id} ended ${j.state}: ${j.msg}`);
      assert(j.source === 'fetch', `followed by ${j.source}`);
      assert(j.events >= 1 && j.now === '100', `${j.events} events, ${j.now} %`);
      assert(eventRequests.length > 0 &&
        eventRequests.every((e) => e.auth === `Bearer ${ADMIN}`),
      'every events stream carries the token');
    });

  await step('a download with the token goes through fetch()', async () => {
    const row = snapRow('auth-snap');
    await row.waitFor();
    const r = await page.evaluate(async (t) => {
      const x = await fetch('/v1/snapshots', {headers: {Authorization: `Bearer ${t}`}});
      return x.json();
    }, ADMIN);
    const snap = r.snapshots.find((s) => s.name === 'auth-snap');
    assert(snap, 'listed');
    const [dl] = await Promise.all([
      page.waitForEvent('download'),
      row.locator('a', {hasText: 'Download'}).click(),
    ]);
    const file = path.join(OUT, `auth-${dl.suggestedFilename()}`);
    await dl.saveAs(file);
    assert(fs.statSync(file).size === snap.bytes,
      `${fs.statSync(file).size} bytes, manifest says ${snap.bytes}`);
    assert(dl.suggestedFilename().startsWith(`vecsnap-${snap.id}`),
      dl.suggestedFilename());
  });
}

if (process.env.SCENARIO === 'auth') await authScenario();
else await mainScenario();

await step('every form control has a label', async () => {
  const bare = await page.$$eval('input, select, textarea', (els) => els
    .filter((e) => !(e.labels && e.labels.length) && !e.getAttribute('aria-label'))
    .map((e) => e.id || e.name || e.outerHTML.slice(0, 60)));
  assert(bare.length === 0, bare.join(', '));
});

await step('nothing is fetched from another origin', async () => {
  assert(foreign.length === 0, foreign.slice(0, 3).join(' '));
});

await step('no console error', async () => {
  assert(consoleErrors.length === 0,
    `${consoleErrors.length}: ${consoleErrors.slice(0, 3).join(' | ')}`);
});

await browser.close();
await server.close();
clearTimeout(watchdog);
writeCounts();
console.log(`browser test: ${checks} checks, ${failures} failures`);
process.exit(failures ? 1 : 0);
