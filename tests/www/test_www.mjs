// The web page in a real browser: Debian's Chromium, driven by
// playwright-core, against a running vecsnapd (run.sh starts it).  Clicks
// through what a person would do: create a collection, search, snapshot and
// watch the job's progress over SSE (EventSource, then fetch() with a
// token), verify, download, upload, delete, restore, auto-save, incremental
// snapshots (parent links, compaction, cascade delete), point-in-time
// restore, the write-ahead log, retention (dry run, apply), export and
// import; no console error, nothing fetched from elsewhere, screenshots at
// 1280 and 390 px.  Each step is one check; a failed step does not stop the
// ones after it.  SCENARIO: main (no token, no remote storage), auth
// (tokens), remote (an S3 server and an encryption key: upload, fetch,
// restore and delete remote snapshots, retention on remote storage).
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
// one on purpose name the statuses they expect; anything else counts, but
// the 400 with which a server without remote storage answers the page's
// one question about it.
const SCENARIO = process.env.SCENARIO || 'main';
const quiet = SCENARIO === 'remote' ? [] :
  [{status: 400, path: '/v1/remote/snapshots'}];
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
  const url = (m.location() || {}).url || '';
  if (st && quiet.some((q) => Number(st[1]) === q.status &&
      url === `${BASE}${q.path}`)) return;
  consoleErrors.push(`${t} (${url})`);
});
page.on('pageerror', (e) => consoleErrors.push(`page error: ${e.message}`));
// Every confirm() is accepted, and its text kept.
const dialogs = [];
page.on('dialog', (d) => {
  dialogs.push(d.message());
  d.accept();
});
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

async function catalog() {
  const r = await pageFetch('GET', '/v1/snapshots');
  assert(r.status === 200, `GET /v1/snapshots: ${r.status} ${r.text.slice(0, 200)}`);
  return {list: r.json.snapshots, current: r.json.current};
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

  await step('without remote storage: the panel says so, nothing offers it',
    async () => {
      const off = page.locator('#remote-off');
      await off.waitFor({state: 'visible'});
      assert(/not configured/.test(await off.textContent()),
        await off.textContent());
      assert(await page.locator('#remote-on').isHidden(), 'the table is hidden');
      assert(await page.locator('#snap-upload-field').isHidden(),
        'no upload box on the snapshot form');
      assert(await page.locator('#ret-remote-field').isHidden(),
        'no remote box on the retention form');
      assert(!(await msgOf('remote')).cls.includes('error'), 'not an error');
    });

  await step('the write-ahead log and retention panels show the server\'s state',
    async () => {
      await page.locator('#wal-facts dd[data-fact="Enabled"]').waitFor();
      const r = await pageFetch('GET', '/v1/wal');
      const fact = async (k) => page.locator(`#wal-facts dd[data-fact="${k}"]`)
        .textContent();
      assert(await fact('Enabled') === 'yes', `enabled ${await fact('Enabled')}`);
      assert(await fact('Fsync') === r.json.fsync, `fsync ${await fact('Fsync')}`);
      assert(await fact('Last seq') === String(r.json.last_seq),
        `last seq ${await fact('Last seq')}`);
      assert(await fact('Writes') === 'accepted', await fact('Writes'));
      await page.locator('#retention-facts dd[data-fact="Policy"]').waitFor();
      const p = await page.locator('#retention-facts dd[data-fact="Policy"]')
        .textContent();
      assert(p === 'no rule set: nothing is deleted', p);
      assert(await page.locator('#ret-last').inputValue() === '0', 'keep last 0');
      assert(await page.locator('#ret-within').inputValue() === '', 'keep within unset');
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
    assert(cells[2] === 'full', `kind ${cells[2]}`);
    assert(cells[3] === 'binary' && cells[4] === 'zstd', `format ${cells[3]}/${cells[4]}`);
    assert(cells[6] === '40', `records ${cells[6]}`);
    assert(/^[0-9a-f]{12}$/.test(cells[7]) && snap.sha256.startsWith(cells[7]),
      `sha256 short ${cells[7]}`);
    assert(await row.locator('.badge', {hasText: 'encrypted'}).count() === 0,
      'not encrypted');
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
    const fact = (k) => page.locator(`#autosave-facts dd[data-fact="${k}"]`)
      .textContent();
    assert(await fact('Incremental') === 'no', `incremental ${await fact('Incremental')}`);
    assert(await fact('Full every') === '10', `full every ${await fact('Full every')}`);
    assert(await fact('Upload') === 'no', `upload ${await fact('Upload')}`);
    assert(await fact('Keeps') === 'the newest 10', `keeps ${await fact('Keeps')}`);
    await page.locator('#as-interval').fill('60');
    await page.locator('#as-changes').fill('10');
    await page.locator('#autosave').getByRole('button', {name: 'Apply'}).click();
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

  await step('an incremental snapshot: its kind, its parent linked, no format sent',
    async () => {
      const vectors = Array.from({length: 5}, (_, i) => ({id: `i${i}`,
        vector: vec(200 + i)}));
      const r = await pageFetch('PUT', '/v1/collections/docs/vectors', {vectors});
      assert(r.status === 200, `upsert: ${r.status}`);
      const parent = (await catalog()).current;
      const known = await jobIds();
      await page.locator('#snap-name').fill('incr-1');
      await page.locator('#snap-kind').selectOption('incremental');
      assert(await page.locator('#snap-format').isDisabled(), 'format still asked');
      assert(await page.locator('#snap-kind-hint').isVisible(), 'no hint');
      const [req] = await Promise.all([
        page.waitForRequest((q) => q.url().endsWith('/v1/snapshots') &&
          q.method() === 'POST'),
        page.getByRole('button', {name: 'Create snapshot'}).click(),
      ]);
      const sent = req.postDataJSON();
      assert(sent.kind === 'incremental' && !('format' in sent) &&
        !('upload' in sent), `sent ${JSON.stringify(sent)}`);
      const j = await waitJobEnd('snapshot', known);
      assert(j.state === 'done', `job ${j.id} ended ${j.state}: ${j.msg}`);
      const m = await waitMsg('snapshots', 'written (incremental');
      assert(/5 records changed, 0 deleted since its parent, 45 records/
        .test(m.text), m.text);
      const row = snapRow('incr-1');
      await row.waitFor();
      const kind = row.locator('td.kind');
      assert(await kind.locator('.badge', {hasText: 'incremental'}).count() === 1,
        'incremental badge');
      const link = kind.locator('a');
      assert(await link.getAttribute('href') === `#snap-${parent}`,
        `parent link ${await link.getAttribute('href')}, CURRENT was ${parent}`);
      await link.click();
      assert(await page.evaluate(() => decodeURIComponent(location.hash)) ===
        `#snap-${parent}`, 'the link leads to the parent\'s row');
      const {snap, current} = await snapshotByName('incr-1');
      assert(snap.kind === 'incremental' && snap.parent === parent &&
        current === snap.id, `manifest ${JSON.stringify(snap).slice(0, 200)}`);
      seen.incr1 = snap;
    });

  await step('compact the tip of a chain: a full snapshot that becomes CURRENT',
    async () => {
      const r = await pageFetch('PUT', '/v1/collections/docs/vectors',
        {vectors: [{id: 'i9', vector: vec(209)}]});
      assert(r.status === 200, `upsert: ${r.status}`);
      let known = await jobIds();
      await page.locator('#snap-name').fill('incr-2');
      await page.getByRole('button', {name: 'Create snapshot'}).click();
      let j = await waitJobEnd('snapshot', known);
      assert(j.state === 'done', `snapshot ended ${j.state}: ${j.msg}`);
      const tip = (await snapshotByName('incr-2')).snap;
      assert(tip && tip.kind === 'incremental' && seen.incr1 &&
        tip.parent === seen.incr1.id, 'incr-2 is a link after incr-1');
      await page.locator(`#snapshots-rows tr[data-snapshot="${tip.id}"]`).waitFor();
      assert(await page.getByRole('button', {name: /^Compact snapshot/}).count() === 2,
        'Compact is offered for the two incremental snapshots only');
      known = await jobIds();
      await page.getByRole('button', {name: 'Compact snapshot incr-2'}).click();
      j = await waitJobEnd('compact', known);
      assert(j.state === 'done', `compact ended ${j.state}: ${j.msg}`);
      const m = await waitMsg('snapshots', 'compacted');
      assert(m.text === `compacted ${tip.id} into full snapshot ` +
        `${(await catalog()).current}, now CURRENT`, m.text);
      const {list, current} = await catalog();
      const full = list.find((s) => s.origin === 'compact');
      assert(full && full.id === current && full.kind === 'full', 'CURRENT moved');
      const row = page.locator(`#snapshots-rows tr[data-snapshot="${full.id}"]`);
      await row.locator('.badge', {hasText: 'compacted'}).waitFor();
      assert(await row.getAttribute('class') === 'current', 'marked CURRENT');
      assert(await row.locator('td.kind').textContent() === 'full', 'kind full');
      seen.compacted = full;
    });

  await step('delete a parent: the 409 names what depends on it; cascade after a confirm',
    async () => {
      assert(seen.incr1, 'no incremental snapshot');
      const tip = (await catalog()).list.find((s) =>
        s.kind === 'incremental' && s.parent === seen.incr1.id);
      assert(tip, 'no link after incr-1');
      const before = dialogs.length;
      await page.getByRole('button', {name: 'Delete snapshot incr-1'}).click();
      const m = await waitMsg('snapshots', /deleted 2 snapshots|\(\d+\)/);
      assert(m.text === `deleted 2 snapshots: ${tip.id}, ${seen.incr1.id}`, m.text);
      const asked = dialogs.slice(before);
      assert(asked.length === 2, `${asked.length} questions`);
      assert(asked[0] === 'Delete snapshot "incr-1"?', asked[0]);
      assert(/parent or base of .*cascade/.test(asked[1]) &&
        asked[1].includes(tip.id) && /every snapshot that depends on it/
        .test(asked[1]), asked[1]);
      await page.locator(`#snapshots-rows tr[data-snapshot="${tip.id}"]`)
        .waitFor({state: 'detached'});
      await snapRow('incr-1').waitFor({state: 'detached'});
      const {list} = await catalog();
      assert(!list.some((s) => s.id === tip.id || s.id === seen.incr1.id),
        'the server still lists them');
    }, [409]);

  await step('point-in-time restore: the log replayed up to a seq', async () => {
    assert(seen.compacted, 'no compacted snapshot');
    const base = seen.compacted;
    const count = base.collections.find((c) => c.name === 'docs').count;
    for (let i = 0; i < 3; i++) {
      const r = await pageFetch('PUT', '/v1/collections/docs/vectors',
        {vectors: [{id: `p${i}`, vector: vec(300 + i)}]});
      assert(r.status === 200, `upsert: ${r.status}`);
    }
    await page.locator('#collections [data-refresh="collections"]').click();
    await page.locator('#collections-rows tr[data-collection="docs"] td.count',
      {hasText: new RegExp(`^${count + 3}$`)}).waitFor();
    const known = await jobIds();
    await page.locator('#restore-mode').selectOption('replace');
    await page.locator('#restore-until-seq').fill(String(base.seq + 2));
    const before = dialogs.length;
    const [req] = await Promise.all([
      page.waitForRequest((q) => q.url().endsWith('/restore')),
      page.locator(`#snapshots-rows tr[data-snapshot="${base.id}"]`)
        .getByRole('button', {name: /^Restore snapshot/}).click(),
    ]);
    assert(req.postDataJSON().until_seq === base.seq + 2,
      `sent ${req.postData()}`);
    assert(/replaying the log up to seq/.test(dialogs[before] || ''),
      `asked ${dialogs[before]}`);
    const j = await waitJobEnd('restore', known);
    assert(j.state === 'done', `restore ended ${j.state}: ${j.msg}`);
    const m = await waitMsg('snapshots', 'replayed');
    assert(new RegExp(`^restored ${count + 2} records from ${base.id} ` +
      `\\(replace\\); replayed 2 log records to seq ${base.seq + 2}; saved as `)
      .test(m.text), m.text);
    await page.locator('#collections-rows tr[data-collection="docs"] td.count',
      {hasText: new RegExp(`^${count + 2}$`)}).waitFor();
    await page.locator('#restore-until-seq').fill('');
  });

  await step('a bad point in time is refused with the server\'s message', async () => {
    assert(seen.compacted, 'no compacted snapshot');
    await page.locator('#restore-until').fill('last tuesday');
    await page.locator(`#snapshots-rows tr[data-snapshot="${seen.compacted.id}"]`)
      .getByRole('button', {name: /^Restore snapshot/}).click();
    const m = await waitMsg('snapshots', '(400)');
    assert(m.cls.includes('error') && m.text.includes('"until"') &&
      m.text.includes('RFC 3339'), m.text);
    await page.locator('#restore-until').fill('');
  }, [400]);

  await step('the log panel follows the writes', async () => {
    await page.locator('#wal [data-refresh="wal"]').click();
    const r = await pageFetch('GET', '/v1/wal');
    await page.locator('#wal-facts dd[data-fact="Last seq"]',
      {hasText: new RegExp(`^${r.json.last_seq}$`)}).waitFor();
    const segs = await page.locator('#wal-facts dd[data-fact="Segments"]')
      .textContent();
    assert(segs.startsWith(`${r.json.segments} (`), segs);
  });

  await step('retention: a dry run shows what stays, and why, and what would go',
    async () => {
      const before = (await catalog()).list.length;
      await page.locator('#ret-last').fill('2');
      const valid = (v) => page.locator('#ret-within').evaluate((e, x) => {
        e.value = x;
        return e.validity.valid;
      }, v);
      assert(await valid('1d12h') && await valid('3600') && !(await valid('7 days')),
        'keep within: a duration such as 7d, 1d12h');
      await page.locator('#ret-within').fill('');
      await page.locator('#ret-daily').fill('0');
      await page.locator('#ret-weekly').fill('0');
      const [req] = await Promise.all([
        page.waitForRequest((q) => q.url().endsWith('/v1/retention') &&
          q.method() === 'POST'),
        page.getByRole('button', {name: 'Dry run'}).click(),
      ]);
      assert(JSON.stringify(req.postDataJSON()) === JSON.stringify({keep_last: 2,
        keep_within: null, keep_daily: 0, keep_weekly: 0, dry_run: true}),
      `sent ${req.postData()}`);
      const m = await waitMsg('retention', /^dry run on|\(\d+\)/);
      const want = (await pageFetch('POST', '/v1/retention',
        {keep_last: 2, dry_run: true})).json.retention;
      assert(m.text === `dry run on the catalog: ${want.keep.length} snapshots ` +
        `kept, ${want.delete.length} would be deleted`, m.text);
      assert(want.delete.length > 0, 'nothing to delete: a poor test');
      assert(await page.locator('#retention-keep-rows tr').count() ===
        want.keep.length, 'kept rows');
      assert(await page.locator('#retention-delete-rows tr').count() ===
        want.delete.length, 'deleted rows');
      assert(await page.locator('#retention-delete-cap').textContent() ===
        'Would be deleted', 'caption');
      const reasons = await page.locator('#retention-keep-rows tr').first()
        .locator('.reasons li').allTextContents();
      assert(JSON.stringify(reasons) === JSON.stringify(want.keep[0].reasons),
        `reasons ${reasons.join(', ')}`);
      const all = (await page.locator('#retention-keep-rows .reasons li')
        .allTextContents()).join('|');
      assert(/\blast\b/.test(all) && /\bcurrent\b/.test(all), all);
      const why = await page.locator('#retention-delete-rows tr td:last-child')
        .first().textContent();
      assert(why === want.delete[0].reason, why);
      assert((await catalog()).list.length === before, 'nothing deleted');
      seen.retentionKeep = want.keep.map((k) => k.id).sort();
    });

  await step('retention: Apply, after a confirm, deletes the rest', async () => {
    const before = dialogs.length;
    await page.getByRole('button', {name: 'Apply now'}).click();
    const m = await waitMsg('retention', /^applied|\(\d+\)/);
    assert(/^applied to the catalog: \d+ deleted, \d+ snapshots kept$/.test(m.text),
      m.text);
    assert(/^Apply this retention policy now\?/.test(dialogs[before] || ''),
      `asked ${dialogs[before]}`);
    const {list} = await catalog();
    const ids = list.map((s) => s.id).sort();
    assert(JSON.stringify(ids) === JSON.stringify(seen.retentionKeep),
      `left ${ids.join(' ')}`);
    await page.waitForFunction((n) =>
      document.querySelectorAll('#snapshots-rows tr').length === n, ids.length);
    assert(await page.locator('#retention-delete-cap').textContent() === 'Deleted',
      'caption');
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
    const c = await pageFetch('GET', '/v1/collections/docs');
    assert(c.status === 200 && m.text.startsWith(`imported ${c.json.count} records`),
      `${m.text}; docs holds ${c.text}`);
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

// ---- with remote storage (an S3 server) and an encryption key -----------

function remoteRow(name) {
  return page.locator('#remote-rows tr').filter({
    has: page.locator('td:first-child strong', {hasText: new RegExp(`^${name}$`)}),
  });
}

async function remoteList() {
  const r = await pageFetch('GET', '/v1/remote/snapshots');
  assert(r.status === 200, `GET /v1/remote/snapshots: ${r.status} ${r.text.slice(0, 200)}`);
  return r.json.snapshots;
}

async function upsert(collection, from, n) {
  const vectors = Array.from({length: n}, (_, i) => ({id: `r${from + i}`,
    vector: vec(from + i)}));
  const r = await pageFetch('PUT', `/v1/collections/${collection}/vectors`,
    {vectors});
  assert(r.status === 200, `upsert: ${r.status} ${r.text}`);
}

async function remoteScenario() {
  await step('with remote storage: the panel lists it, the form offers an upload',
    async () => {
      const res = await page.goto(`${BASE}/`);
      assert(res.status() === 200, `GET / answered ${res.status()}`);
      await page.locator('#health', {hasText: 'ready'}).waitFor();
      await page.locator('#remote-empty').waitFor({state: 'visible'});
      assert(await page.locator('#remote-off').isHidden(), 'says not configured');
      assert(await page.locator('#snap-upload-field').isVisible(), 'no upload box');
      assert(!(await page.locator('#snap-upload').isChecked()),
        'upload_snapshots is off: the box starts unchecked');
      assert(await page.locator('#ret-remote-field').isVisible(),
        'no remote box for retention');
    });

  await step('a snapshot uploaded by its own job, encrypted', async () => {
    const r = await pageFetch('PUT', '/v1/collections/rc', {dimension: 4});
    assert(r.status === 201, `create: ${r.status}`);
    await upsert('rc', 0, 20);
    const known = await jobIds();
    await page.locator('#snap-name').fill('r-full');
    await page.locator('#snap-upload').check();
    const [req] = await Promise.all([
      page.waitForRequest((q) => q.url().endsWith('/v1/snapshots') &&
        q.method() === 'POST'),
      page.getByRole('button', {name: 'Create snapshot'}).click(),
    ]);
    assert(req.postDataJSON().upload === true, `sent ${req.postData()}`);
    const j = await waitJobEnd('snapshot', known);
    assert(j.state === 'done', `job ${j.id} ended ${j.state}: ${j.msg}`);
    const m = await waitMsg('snapshots', 'written');
    assert(/\(full, 20 records\); uploaded to remote storage \(encrypted\)$/
      .test(m.text), m.text);
    const row = remoteRow('r-full');
    await row.waitFor();
    assert(await row.locator('.badge', {hasText: 'encrypted'}).count() === 1,
      'remote: encrypted badge');
    assert(await row.locator('.badge', {hasText: 'local'}).count() === 1,
      'remote: local badge');
    assert(await snapRow('r-full').locator('.badge', {hasText: 'encrypted'})
      .count() === 1, 'local: encrypted badge (encrypt_local)');
    seen.rfull = (await snapshotByName('r-full')).snap;
  });

  await step('an incremental snapshot uploaded from its row, its parent linked',
    async () => {
      await upsert('rc', 20, 5);
      let known = await jobIds();
      await page.locator('#snap-name').fill('r-inc');
      await page.locator('#snap-upload').uncheck();
      await page.locator('#snap-kind').selectOption('incremental');
      await page.getByRole('button', {name: 'Create snapshot'}).click();
      let j = await waitJobEnd('snapshot', known);
      assert(j.state === 'done', `snapshot ended ${j.state}: ${j.msg}`);
      await snapRow('r-inc').waitFor();
      const inc = (await snapshotByName('r-inc')).snap;
      assert(inc.kind === 'incremental', `kind ${inc.kind}`);
      assert(!(await remoteList()).some((s) => s.id === inc.id),
        'uploaded though the box was unchecked');
      known = await jobIds();
      await page.getByRole('button',
        {name: 'Upload snapshot r-inc to remote storage'}).click();
      j = await waitJobEnd('upload', known);
      assert(j.state === 'done', `upload ended ${j.state}: ${j.msg}`);
      const m = await waitMsg('snapshots', 'uploaded');
      assert(m.text === `uploaded ${inc.id} to remote storage (encrypted)`, m.text);
      const row = remoteRow('r-inc');
      await row.waitFor();
      assert(await row.locator('td.kind a').getAttribute('href') ===
        `#rsnap-${seen.rfull.id}`, 'the remote parent link');
      seen.rinc = inc;
    });

  await step('fetch brings a remote snapshot back into the catalog', async () => {
    assert(seen.rinc, 'no incremental snapshot');
    await upsert('rc', 25, 5);
    let known = await jobIds();
    await page.locator('#snap-name').fill('r-last');
    await page.locator('#snap-kind').selectOption('full');
    await page.getByRole('button', {name: 'Create snapshot'}).click();
    const j0 = await waitJobEnd('snapshot', known);
    assert(j0.state === 'done', `snapshot ended ${j0.state}: ${j0.msg}`);
    await page.getByRole('button', {name: 'Delete snapshot r-inc'}).click();
    await waitMsg('snapshots', `deleted ${seen.rinc.id}`);
    await remoteRow('r-inc').locator('.badge', {hasText: 'local'})
      .waitFor({state: 'detached'});
    known = await jobIds();
    await page.getByRole('button', {name: 'Fetch remote snapshot r-inc'}).click();
    const j = await waitJobEnd('fetch', known);
    assert(j.state === 'done', `fetch ended ${j.state}: ${j.msg}`);
    const m = await waitMsg('remote', 'fetched');
    assert(m.text === `fetched ${seen.rinc.id} into the catalog (25 records)`,
      m.text);
    await snapRow('r-inc').waitFor();
    await remoteRow('r-inc').locator('.badge', {hasText: 'local'}).waitFor();
  });

  await step('restore straight from remote storage', async () => {
    assert(seen.rinc, 'no incremental snapshot');
    const d = await pageFetch('DELETE', `/v1/snapshots/${seen.rinc.id}`);
    assert(d.status === 204, `delete: ${d.status} ${d.text}`);
    await page.locator('#remote [data-refresh="remote"]').click();
    await page.locator('#remote-mode').selectOption('replace');
    const known = await jobIds();
    const before = dialogs.length;
    await page.getByRole('button', {name: 'Restore remote snapshot r-inc'}).click();
    const j = await waitJobEnd('restore', known);
    assert(j.state === 'done', `restore ended ${j.state}: ${j.msg}`);
    assert(/^Replace the whole live store with remote snapshot "r-inc"\?$/
      .test(dialogs[before] || ''), `asked ${dialogs[before]}`);
    const m = await waitMsg('remote', 'restored');
    assert(m.text.startsWith(`restored 25 records from ${seen.rinc.id} ` +
      '(replace), fetched from remote storage'), m.text);
    await page.locator('#collections-rows tr[data-collection="rc"] td.count',
      {hasText: /^25$/}).waitFor();
    await snapRow('r-inc').waitFor();
  });

  await step('retention on remote storage: a job; parents kept with the reason',
    async () => {
      await page.locator('#ret-last').fill('1');
      await page.locator('#ret-remote').check();
      const known = await jobIds();
      await page.getByRole('button', {name: 'Dry run'}).click();
      const j = await waitJobEnd('retention', known);
      assert(j.state === 'done', `retention ended ${j.state}: ${j.msg}`);
      const m = await waitMsg('retention', 'dry run on');
      assert(m.text === 'dry run on remote storage: 2 snapshots kept, ' +
        '0 would be deleted', m.text);
      const all = (await page.locator('#retention-keep-rows .reasons li')
        .allTextContents()).join('|');
      assert(/\blast\b/.test(all) && all.includes(`of ${seen.rinc.id}`), all);
      assert(await page.locator('#retention-delete-empty').isVisible(),
        'says nothing to delete');
      await page.locator('#ret-remote').uncheck();
    });

  await step('delete a remote base: the job names its dependents; cascade after a confirm',
    async () => {
      assert(seen.rfull && seen.rinc, 'no remote snapshots');
      const known = await jobIds();
      const before = dialogs.length;
      const cascaded = page.waitForRequest((q) => q.method() === 'DELETE' &&
        q.url().endsWith(`/v1/remote/snapshots/${seen.rfull.id}?cascade=true`));
      await page.getByRole('button', {name: 'Delete remote snapshot r-full'})
        .click();
      const j1 = await waitJobEnd('delete', known);
      assert(j1.state === 'failed' && /cascade/.test(j1.msg),
        `first delete ended ${j1.state}: ${j1.msg}`);
      await cascaded;
      const j2 = await waitJobEnd('delete', known.concat([j1.id]));
      assert(j2.state === 'done', `cascade ended ${j2.state}: ${j2.msg}`);
      const m = await waitMsg('remote', 'deleted');
      assert(m.text === `deleted 2 remote snapshots: ${seen.rinc.id}, ` +
        `${seen.rfull.id}`, m.text);
      const asked = dialogs.slice(before);
      assert(asked.length === 2, `${asked.length} questions`);
      assert(asked[0] === 'Delete snapshot "r-full" from remote storage?', asked[0]);
      assert(asked[1].includes(seen.rinc.id) &&
        asked[1].includes('Delete remote snapshot "r-full" and every snapshot'),
      asked[1]);
      await page.locator('#remote-empty').waitFor({state: 'visible'});
      assert((await remoteList()).length === 0, 'the bucket still lists some');
    });

  await step('screenshot with remote storage', async () => {
    await page.screenshot({path: path.join(OUT, 'www-remote-1280.png'),
      fullPage: true});
    const w = await page.evaluate(() => document.documentElement.scrollWidth);
    assert(w <= 1280, `scroll width ${w} at 1280`);
  });
}

if (SCENARIO === 'auth') await authScenario();
else if (SCENARIO === 'remote') await remoteScenario();
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
