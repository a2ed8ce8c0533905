/*
 * vecsnapd web page: collections, search, snapshots (full and incremental,
 * point-in-time restore), remote storage, jobs, auto-save, the write-ahead
 * log, export and import, retention over the HTTP API v1.  No dependency,
 * no build step.
 *
 * Every call goes through api(): JSON in and out, the bearer token (kept in
 * localStorage) as Authorization header, and errors thrown as ApiError with
 * the code and message of the server's {"error":{"code","message"}} body.
 * Long operations answer 202 with a job; the jobs panel follows each one on
 * /v1/jobs/{id}/events: with EventSource when no token is set, else with a
 * fetch() stream parsed here (EventSource cannot send headers), and by
 * polling GET /v1/jobs/{id} when neither stream works.  Everything shown is
 * built with DOM calls and textContent: server data is never parsed as HTML.
 * Remote storage is asked about once: a 400 "not configured" hides what
 * needs it (the panel says so) until the page is loaded again.
 */
'use strict';

(() => {
  const TOKEN_KEY = 'vecsnap.token';
  const FINAL = new Set(['done', 'failed', 'cancelled']);
  const JOBS_SHOWN = 50;
  const STREAM_TRIES = 5;

  let token = '';
  try {
    token = localStorage.getItem(TOKEN_KEY) || '';
  } catch (e) {
    token = '';
  }

  const state = {
    collections: [],
    snapshots: [],
    current: null,
    jobs: new Map(), /* id -> job (record + view) */
    remote: {configured: null, note: '', snapshots: []},
    uploadTouched: false, /* the upload box no longer follows the config */
    retentionTouched: false, /* the policy form no longer follows it */
  };

  /* ---- small helpers ---- */

  const $ = (sel) => document.querySelector(sel);
  const enc = encodeURIComponent;
  const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

  /* el('td', {class: 'num', dataset: {label: 'Count'}}, 'text', node...) */
  function el(tag, attrs, ...kids) {
    const e = document.createElement(tag);
    for (const [k, v] of Object.entries(attrs || {})) {
      if (v === undefined || v === null || v === false) continue;
      if (k === 'class') e.className = v;
      else if (k === 'dataset') Object.assign(e.dataset, v);
      else if (k === 'on') {
        for (const [ev, fn] of Object.entries(v)) e.addEventListener(ev, fn);
      } else if (k in e && typeof v !== 'string') e[k] = v;
      else e.setAttribute(k, v === true ? '' : String(v));
    }
    for (const kid of kids) {
      if (kid === undefined || kid === null || kid === false) continue;
      e.append(kid instanceof Node ? kid : String(kid));
    }
    return e;
  }

  function fmtBytes(n) {
    if (typeof n !== 'number' || !isFinite(n)) return '—';
    const units = ['B', 'KiB', 'MiB', 'GiB', 'TiB'];
    let i = 0;
    let v = n;
    while (v >= 1024 && i < units.length - 1) {
      v /= 1024;
      i++;
    }
    return i === 0 ? `${n} B` : `${v.toFixed(v < 10 ? 2 : 1)} ${units[i]}`;
  }

  function fmtNum(n) {
    return typeof n === 'number' ? n.toLocaleString('en-US') : '—';
  }

  function fmtTime(iso) {
    if (!iso) return '—';
    const d = new Date(iso);
    if (isNaN(d)) return String(iso);
    const p = (x) => String(x).padStart(2, '0');
    return `${d.getFullYear()}-${p(d.getMonth() + 1)}-${p(d.getDate())} ` +
      `${p(d.getHours())}:${p(d.getMinutes())}:${p(d.getSeconds())}`;
  }

  function timeEl(iso) {
    return iso ? el('time', {datetime: iso, title: iso}, fmtTime(iso)) : '—';
  }

  /* ---- the API ---- */

  class ApiError extends Error {
    constructor(status, code, message, body) {
      super(message);
      this.status = status;
      this.code = code;
      this.body = body;
    }
    toString() {
      const where = this.status ? ` (${this.status})` : '';
      const hint = this.status === 401 || this.status === 403 ?
        ' — check the bearer token' : '';
      return `${this.code}${where}: ${this.message}${hint}`;
    }
  }

  function authHeaders(h) {
    const out = Object.assign({}, h || {});
    if (token) out.Authorization = `Bearer ${token}`;
    return out;
  }

  /* An ApiError from a reply that is not ok (its body as text). */
  function errorFrom(status, statusText, text) {
    let body = null;
    try {
      body = text ? JSON.parse(text) : null;
    } catch (e) {
      body = null;
    }
    const err = body && typeof body === 'object' ? body.error : null;
    if (err && typeof err === 'object') {
      return new ApiError(status, err.code || `http_${status}`,
        err.message || statusText, body);
    }
    const snippet = (text || '').trim().slice(0, 200);
    return new ApiError(status, `http_${status}`,
      snippet || statusText || 'request failed', body);
  }

  /* method, path, JSON body (object) or raw body (Blob); resolves to the
   * parsed JSON reply (null when empty) and its status. */
  async function call(method, path, body, extraHeaders) {
    const init = {method, headers: authHeaders({Accept: 'application/json'})};
    Object.assign(init.headers, extraHeaders || {});
    if (body instanceof Blob) {
      init.body = body;
    } else if (body !== undefined) {
      init.body = JSON.stringify(body);
      init.headers['Content-Type'] = 'application/json';
    }
    let res;
    try {
      res = await fetch(path, init);
    } catch (e) {
      throw new ApiError(0, 'network', `cannot reach the server: ${e.message}`);
    }
    const text = res.status === 204 || res.status === 304 ?
      '' : await res.text();
    if (!res.ok) throw errorFrom(res.status, res.statusText, text);
    let data = null;
    if (text) {
      try {
        data = JSON.parse(text);
      } catch (e) {
        throw new ApiError(res.status, 'bad_reply',
          `the server's reply is not JSON: ${text.slice(0, 120)}`);
      }
    }
    return {status: res.status, data};
  }

  async function api(method, path, body) {
    return (await call(method, path, body)).data;
  }

  /* A raw upload with progress (XMLHttpRequest: fetch reports none). */
  function upload(path, file, bar) {
    return new Promise((resolve, reject) => {
      const xhr = new XMLHttpRequest();
      xhr.open('POST', path);
      xhr.setRequestHeader('Content-Type', 'application/octet-stream');
      xhr.setRequestHeader('Accept', 'application/json');
      if (token) xhr.setRequestHeader('Authorization', `Bearer ${token}`);
      setBar(bar, 0);
      bar.hidden = false;
      xhr.upload.addEventListener('progress', (ev) => {
        if (ev.lengthComputable) setBar(bar, 100 * ev.loaded / ev.total);
      });
      xhr.addEventListener('load', () => {
        setTimeout(() => {
          bar.hidden = true;
        }, 1500);
        if (xhr.status >= 200 && xhr.status < 300) {
          setBar(bar, 100);
          try {
            resolve(xhr.responseText ? JSON.parse(xhr.responseText) : null);
          } catch (e) {
            reject(new ApiError(xhr.status, 'bad_reply',
              'the server\'s reply is not JSON'));
          }
        } else {
          reject(errorFrom(xhr.status, xhr.statusText, xhr.responseText));
        }
      });
      xhr.addEventListener('error', () => {
        bar.hidden = true;
        reject(new ApiError(0, 'network',
          'the upload failed: cannot reach the server'));
      });
      xhr.send(file);
    });
  }

  /* ---- messages ---- */

  function say(panel, what, kind) {
    const m = $(`#${panel}-msg`);
    if (!m) return;
    const isErr = what instanceof Error;
    m.textContent = isErr ? String(what) : (what || '');
    m.className = `msg ${isErr ? 'error' : (kind || '')}`;
    m.setAttribute('role', isErr ? 'alert' : 'status');
  }

  /* A panel that loaded fine no longer shows an old error. */
  function clearError(panel) {
    const m = $(`#${panel}-msg`);
    if (m && m.classList.contains('error')) say(panel, '');
  }

  function setBar(bar, pct) {
    const v = Math.max(0, Math.min(100, Number(pct) || 0));
    bar.setAttribute('aria-valuenow', String(Math.round(v)));
    bar.firstElementChild.style.width = `${v}%`;
  }

  /* Runs an action of a form or button: disables it meanwhile, reports
   * errors in `panel`. */
  async function guarded(panel, control, fn) {
    if (control) control.disabled = true;
    try {
      await fn();
    } catch (e) {
      say(panel, e instanceof Error ? e : new Error(String(e)));
    } finally {
      if (control) control.disabled = false;
    }
  }

  /* Authenticated download: a plain link cannot send the token, so fetch
   * the file and hand it over as an object URL. */
  async function download(href, fallbackName) {
    const res = await fetch(href, {headers: authHeaders({})});
    if (!res.ok) {
      throw errorFrom(res.status, res.statusText, await res.text());
    }
    const cd = res.headers.get('Content-Disposition') || '';
    const m = /filename="?([^";]+)"?/.exec(cd);
    const blob = await res.blob();
    const url = URL.createObjectURL(blob);
    const a = el('a', {href: url, download: m ? m[1] : fallbackName});
    document.body.append(a);
    a.click();
    a.remove();
    setTimeout(() => URL.revokeObjectURL(url), 60000);
  }

  function downloadLink(a, panel, fallbackName) {
    a.addEventListener('click', (ev) => {
      if (!token) return; /* the browser streams it to disk itself */
      ev.preventDefault();
      say(panel, 'downloading…');
      download(a.href, fallbackName).then(() => say(panel, 'download ready',
        'ok'), (e) => say(panel, e));
    });
  }

  /* ---- health ---- */

  async function checkHealth() {
    const pill = $('#health');
    try {
      const res = await fetch('/readyz', {cache: 'no-store'});
      const body = await res.json().catch(() => ({}));
      const s = body.status || `HTTP ${res.status}`;
      pill.textContent = s;
      pill.className = `pill ${res.ok ? 'ok' : 'warn'}`;
    } catch (e) {
      pill.textContent = 'unreachable';
      pill.className = 'pill err';
    }
  }

  /* ---- collections ---- */

  async function loadCollections() {
    try {
      const d = await api('GET', '/v1/collections');
      state.collections = Array.isArray(d && d.collections) ?
        d.collections : [];
      clearError('collections');
      renderCollections();
    } catch (e) {
      say('collections', e);
    }
  }

  function renderCollections() {
    const body = $('#collections-rows');
    body.replaceChildren(...state.collections.map((c) => el('tr',
      {dataset: {collection: c.name}},
      el('td', {dataset: {label: 'Name'}}, el('strong', {}, c.name)),
      el('td', {dataset: {label: 'Dimension'}}, c.dimension),
      el('td', {dataset: {label: 'Metric'}}, c.metric),
      el('td', {class: 'num count', dataset: {label: 'Count'}},
        fmtNum(c.count)),
      el('td', {class: 'actions'},
        el('button', {type: 'button', class: 'small',
          'aria-label': `Search in ${c.name}`,
          on: {click: () => pickForSearch(c.name)}}, 'Search'),
        el('button', {type: 'button', class: 'small danger',
          'aria-label': `Drop collection ${c.name}`,
          on: {click: (ev) => dropCollection(c.name, ev.currentTarget)}},
        'Drop')))));
    $('#collections-empty').hidden = state.collections.length > 0;

    const sel = $('#search-collection');
    const keep = sel.value;
    sel.replaceChildren(...state.collections.map((c) => el('option',
      {value: c.name}, `${c.name} (${c.dimension}, ${c.metric})`)));
    if (state.collections.some((c) => c.name === keep)) sel.value = keep;
  }

  function pickForSearch(name) {
    $('#search-collection').value = name;
    $('#search-vector').focus();
  }

  async function dropCollection(name, button) {
    if (!confirm(`Drop collection "${name}" and all its records?`)) return;
    await guarded('collections', button, async () => {
      await api('DELETE', `/v1/collections/${enc(name)}`);
      say('collections', `dropped "${name}"`, 'ok');
      await loadCollections();
    });
  }

  function onCreateCollection(ev) {
    ev.preventDefault();
    const f = ev.currentTarget;
    const name = $('#col-name').value.trim();
    const body = {dimension: Number($('#col-dim').value),
      metric: $('#col-metric').value};
    guarded('collections', f.querySelector('button[type=submit]'), async () => {
      const r = await call('PUT', `/v1/collections/${enc(name)}`, body);
      say('collections', r.status === 201 ? `created "${name}"` :
        `"${name}" already exists with these settings`, 'ok');
      await loadCollections();
      $('#search-collection').value = name;
    });
  }

  /* ---- search ---- */

  function parseVector(text) {
    let v;
    try {
      v = JSON.parse(text);
    } catch (e) {
      throw new ApiError(0, 'invalid', `the vector is not JSON: ${e.message}`);
    }
    if (!Array.isArray(v) || v.length === 0 ||
        !v.every((x) => typeof x === 'number' && isFinite(x))) {
      throw new ApiError(0, 'invalid',
        'the vector must be a non-empty JSON array of numbers');
    }
    return v;
  }

  function onSearch(ev) {
    ev.preventDefault();
    const f = ev.currentTarget;
    guarded('search', f.querySelector('button[type=submit]'), async () => {
      const name = $('#search-collection').value;
      if (!name) throw new ApiError(0, 'invalid', 'no collection to search');
      const vector = parseVector($('#search-vector').value);
      const k = Number($('#search-k').value);
      const t0 = performance.now();
      const d = await api('POST', `/v1/collections/${enc(name)}/search`,
        {vector, k});
      const ms = Math.round(performance.now() - t0);
      const results = Array.isArray(d && d.results) ? d.results : [];
      renderResults(results);
      say('search', `${results.length} result${results.length === 1 ?
        '' : 's'} from "${name}" in ${ms} ms`, 'ok');
    });
  }

  function renderResults(results) {
    $('#results-rows').replaceChildren(...results.map((r, i) => {
      const md = r.metadata === undefined ? '' : JSON.stringify(r.metadata);
      return el('tr', {},
        el('td', {class: 'num', dataset: {label: '#'}}, i + 1),
        el('td', {class: 'rid', dataset: {label: 'ID'}}, r.id),
        el('td', {class: 'num score', dataset: {label: 'Score'}},
          typeof r.score === 'number' ? r.score.toPrecision(6) : r.score),
        el('td', {class: 'meta', title: md, dataset: {label: 'Metadata'}},
          md));
    }));
    $('#results-table').hidden = false;
  }

  function onRandomVector() {
    const c = state.collections.find(
      (x) => x.name === $('#search-collection').value);
    if (!c) {
      say('search', new ApiError(0, 'invalid', 'pick a collection first'));
      return;
    }
    const v = Array.from({length: c.dimension},
      () => Math.round((Math.random() * 2 - 1) * 1000) / 1000);
    $('#search-vector').value = JSON.stringify(v);
  }

  /* ---- snapshots ---- */

  async function loadSnapshots() {
    try {
      const d = await api('GET', '/v1/snapshots');
      const list = Array.isArray(d && d.snapshots) ? d.snapshots.slice() : [];
      list.sort((a, b) => String(b.created || '').localeCompare(
        String(a.created || '')) || String(b.id).localeCompare(String(a.id)));
      state.snapshots = list;
      state.current = d ? d.current || null : null;
      clearError('snapshots');
      renderSnapshots();
      renderRemote(); /* its "local" badges */
    } catch (e) {
      say('snapshots', e);
    }
  }

  /* A snapshot's name for messages and labels: its name, or its id. */
  function snapLabel(s) {
    return s.name || s.id;
  }

  /* The label of a snapshot known here (local or remote) by its id. */
  function labelOf(id) {
    const s = state.snapshots.find((x) => x.id === id) ||
      state.remote.snapshots.find((x) => x.id === id);
    return s && s.name ? `${s.name} (${id})` : id;
  }

  const remoteOn = () => state.remote.configured === true;

  /* The badges after a snapshot's name. */
  function snapBadges(s, isCurrent) {
    const out = [];
    const badge = (cls, title, text) => {
      out.push(' ', el('span', {class: `badge ${cls}`, title}, text));
    };
    if (isCurrent) badge('current', 'the live state\'s base (CURRENT)',
      'CURRENT');
    if (s.origin === 'upload') badge('', 'uploaded as a file', 'uploaded');
    if (s.origin === 'compact') badge('', 'a chain compacted into one full ' +
      'snapshot', 'compacted');
    if (s.encrypted === true) badge('enc', 'the data file is encrypted',
      'encrypted');
    return out;
  }

  /* The kind cell: full, or incremental with its parent (a link to its
   * row when that is listed) and its base in the title. */
  function kindCell(s, rowPrefix, list) {
    const td = el('td', {class: 'kind', dataset: {label: 'Kind'}});
    if (s.kind !== 'incremental') {
      td.append(s.kind || 'full');
      return td;
    }
    const parent = list.find((x) => x.id === s.parent);
    const name = parent && parent.name ? parent.name : s.parent;
    td.append(el('div', {},
      el('span', {class: 'badge incr', title: `changes ${s.seq_from} < seq ` +
        `<= ${s.seq}: ${fmtNum(s.changed)} written, ${fmtNum(s.deleted)} ` +
        `deleted; base ${s.base || '?'}`},
      'incremental'),
      el('span', {class: 'sub'}, 'parent ', parent ?
        el('a', {href: `#${rowPrefix}${s.parent}`, title: s.parent}, name) :
        el('code', {title: 'not listed here'}, s.parent || '?'))));
    return td;
  }

  function smallButton(text, label, fn, cls) {
    return el('button', {type: 'button', class: `small ${cls || ''}`,
      'aria-label': label, on: {click: (ev) => fn(ev.currentTarget)}}, text);
  }

  function renderSnapshots() {
    $('#snapshots-rows').replaceChildren(...state.snapshots.map((s) => {
      const isCurrent = s.id === state.current;
      const label = snapLabel(s);
      const href = `/v1/snapshots/${enc(s.id)}/download`;
      const dl = el('a', {class: 'button small', href, download: '',
        'aria-label': `Download snapshot ${label}`}, 'Download');
      downloadLink(dl, 'snapshots', `vecsnap-${s.id}`);
      const sha = typeof s.sha256 === 'string' ? s.sha256 : '';
      return el('tr', {class: isCurrent ? 'current' : '', id: `snap-${s.id}`,
        dataset: {snapshot: s.id}, 'aria-current': isCurrent ? 'true' : null},
      el('td', {dataset: {label: 'Name'}}, el('div', {},
        s.name ? el('strong', {}, s.name) : el('em', {}, 'unnamed'),
        ...snapBadges(s, isCurrent),
        el('code', {class: 'sub'}, s.id))),
      el('td', {dataset: {label: 'Created'}}, timeEl(s.created)),
      kindCell(s, 'snap-', state.snapshots),
      el('td', {dataset: {label: 'Format'}}, s.format || '—'),
      el('td', {dataset: {label: 'Compression'}}, s.compression || '—'),
      el('td', {class: 'num', dataset: {label: 'Bytes'}, title:
        typeof s.bytes === 'number' ? `${s.bytes} bytes` : null},
      fmtBytes(s.bytes)),
      el('td', {class: 'num records', dataset: {label: 'Records'}},
        fmtNum(s.records)),
      el('td', {dataset: {label: 'SHA-256'}},
        el('code', {title: sha}, sha ? sha.slice(0, 12) : '—')),
      el('td', {class: 'actions'},
        smallButton('Restore', `Restore snapshot ${label}`,
          (b) => restoreSnapshot(s, b)),
        smallButton('Verify', `Verify snapshot ${label}`,
          (b) => verifySnapshot(s, b)),
        dl,
        remoteOn() ? smallButton('Upload',
          `Upload snapshot ${label} to remote storage`,
          (b) => pushSnapshot(s, b)) : null,
        s.kind === 'incremental' ? smallButton('Compact',
          `Compact snapshot ${label}`, (b) => compactSnapshot(s, b)) : null,
        smallButton('Delete', `Delete snapshot ${label}`,
          (b) => deleteSnapshot(s, b), 'danger')));
    }));
    $('#snapshots-empty').hidden = state.snapshots.length > 0;
  }

  /* A 202 job, or a synchronous answer: follow the job, or report.  The
   * job, if any. */
  function startedJob(panel, data, what, extra) {
    if (data && data.job) {
      const job = trackJob(data.job, true, panel, extra);
      if (job && !job.ended) {
        say(panel, `${what}: job ${data.job.id} ${data.job.state || 'queued'}`);
      }
      return job;
    }
    say(panel, `${what}: done`, 'ok');
    refreshAfter(what);
    return null;
  }

  function snapshotBody() {
    const kind = $('#snap-kind').value;
    const body = {compression: $('#snap-compression').value};
    if (kind === 'incremental') body.kind = kind; /* always binary */
    else body.format = $('#snap-format').value;
    const name = $('#snap-name').value.trim();
    if (name) body.name = name;
    if (remoteOn()) body.upload = $('#snap-upload').checked;
    return body;
  }

  function onSnapKind() {
    const incr = $('#snap-kind').value === 'incremental';
    $('#snap-format').disabled = incr;
    $('#snap-kind-hint').hidden = !incr;
  }

  function onCreateSnapshot(ev) {
    ev.preventDefault();
    const f = ev.currentTarget;
    guarded('snapshots', f.querySelector('button[type=submit]'), async () => {
      const body = snapshotBody();
      const d = await api('POST', '/v1/snapshots', body);
      startedJob('snapshots', d, 'snapshot',
        {want: {kind: body.kind || 'full'}});
    });
  }

  function onSaveNow(ev) {
    guarded('snapshots', ev.currentTarget, async () => {
      startedJob('snapshots', await api('POST', '/v1/save'), 'save');
    });
  }

  /* The point-in-time bound of the restore form, as request fields. */
  function restoreBound() {
    const out = {};
    const until = $('#restore-until').value.trim();
    const seq = $('#restore-until-seq');
    if (until) out.until = until;
    if (seq.value.trim() !== '' || seq.validity.badInput) {
      const n = Number(seq.value);
      if (!Number.isSafeInteger(n) || n < 1) {
        throw new ApiError(0, 'invalid',
          '"until seq" must be a whole number of at least 1');
      }
      out.until_seq = n;
    }
    return out;
  }

  async function restoreSnapshot(s, button) {
    const mode = $('#restore-mode').value;
    const label = snapLabel(s);
    let bound;
    try {
      bound = restoreBound();
    } catch (e) {
      say('snapshots', e);
      return;
    }
    const upTo = [bound.until, bound.until_seq !== undefined ?
      `seq ${bound.until_seq}` : ''].filter(Boolean).join(' or ');
    const pit = upTo ? `, replaying the log up to ${upTo}` : '';
    if (mode === 'replace' && !confirm(
      `Replace the whole live store with snapshot "${label}"${pit}?`)) return;
    await guarded('snapshots', button, async () => {
      const d = await api('POST', `/v1/snapshots/${enc(s.id)}/restore`,
        Object.assign({mode}, bound));
      startedJob('snapshots', d, 'restore');
    });
  }

  async function verifySnapshot(s, button) {
    await guarded('snapshots', button, async () => {
      const d = await api('POST', `/v1/snapshots/${enc(s.id)}/verify`);
      if (d && d.verify) {
        reportVerify(d.verify);
        return;
      }
      startedJob('snapshots', d, 'verify');
    });
  }

  function reportVerify(v) {
    say('snapshots', `snapshot ${v.snapshot} verified: ` +
      `${v.ok === false ? 'NOT ok' : 'ok'}, ${fmtNum(v.records)} records, ` +
      `${fmtBytes(v.bytes)}, sha256 ${String(v.sha256 || '').slice(0, 12)}`,
    v.ok === false ? 'error' : 'ok');
  }

  async function pushSnapshot(s, button) {
    await guarded('snapshots', button, async () => {
      const d = await api('POST', `/v1/snapshots/${enc(s.id)}/upload`);
      startedJob('snapshots', d, 'upload');
    });
  }

  async function compactSnapshot(s, button) {
    await guarded('snapshots', button, async () => {
      const d = await api('POST', `/v1/snapshots/${enc(s.id)}/compact`);
      startedJob('snapshots', d, 'compact');
    });
  }

  /* A 409 that names snapshots depending on the one to delete, answered
   * with "… or delete with cascade": ask whether to take them along. */
  function offersCascade(code, message) {
    return code === 'busy' && /cascade/.test(message || '');
  }

  function askCascade(what, message) {
    return confirm(`${message}.\n\nDelete ${what} and every snapshot that ` +
      'depends on it?');
  }

  function deletedText(ids, where) {
    const list = Array.isArray(ids) ? ids : [];
    return `deleted ${list.length} ${where}snapshot${list.length === 1 ?
      '' : 's'}: ${list.join(', ')}`;
  }

  async function deleteSnapshot(s, button) {
    const label = snapLabel(s);
    if (!confirm(`Delete snapshot "${label}"?`)) return;
    await guarded('snapshots', button, async () => {
      try {
        await api('DELETE', `/v1/snapshots/${enc(s.id)}`);
        say('snapshots', `deleted ${s.id}`, 'ok');
      } catch (e) {
        if (!(e instanceof ApiError && e.status === 409 &&
              offersCascade(e.code, e.message)) ||
            !askCascade(`snapshot "${label}"`, e.message)) throw e;
        const d = await api('DELETE',
          `/v1/snapshots/${enc(s.id)}?cascade=true`);
        say('snapshots', deletedText(d && d.deleted ? d.deleted : [s.id],
          ''), 'ok');
      }
      await loadSnapshots();
    });
  }

  function onUpload(ev) {
    ev.preventDefault();
    const f = ev.currentTarget;
    const file = $('#upload-file').files[0];
    if (!file) return;
    const q = new URLSearchParams({filename: file.name});
    const name = $('#upload-name').value.trim();
    if (name) q.set('name', name);
    guarded('snapshots', f.querySelector('button[type=submit]'), async () => {
      say('snapshots', `uploading ${file.name}…`);
      const d = await upload(`/v1/snapshots/upload?${q}`, file,
        $('#upload-bar'));
      const s = d && d.snapshot;
      say('snapshots', `uploaded ${file.name} as ${s ? s.id : 'a snapshot'}`,
        'ok');
      f.reset();
      await loadSnapshots();
    });
  }

  /* ---- jobs ---- */

  const isFinal = (job) => FINAL.has(job.state);

  async function loadJobs() {
    try {
      const d = await api('GET', '/v1/jobs');
      const list = Array.isArray(d && d.jobs) ? d.jobs : [];
      clearError('jobs');
      for (const rec of list.slice(0, JOBS_SHOWN).reverse()) {
        trackJob(rec, false, 'jobs');
      }
    } catch (e) {
      say('jobs', e);
    }
  }

  /* Show a job and follow it until it ends.  `watched`: it was started
   * from this page, so its end refreshes what it changed and is reported
   * in `panel`; `extra` rides along (want: what was asked, after: called
   * with the job once it ended). */
  function trackJob(rec, watched, panel, extra) {
    if (!rec || !rec.id) return null;
    let job = state.jobs.get(rec.id);
    if (!job) {
      job = {id: rec.id, events: 0, source: 'none', stream: null,
        watched: watched || !FINAL.has(rec.state), panel: panel || 'jobs',
        ended: false, lastEventId: ''};
      state.jobs.set(rec.id, job);
      job.view = jobView(job);
      $('#jobs-list').prepend(job.view.root);
      trimJobs();
    } else if (watched) { /* listed by a refresh before its 202 came */
      job.watched = true;
      job.panel = panel;
      job.ended = false; /* report its end here, once more */
    }
    if (extra) Object.assign(job, extra);
    Object.assign(job, pickRecord(rec));
    renderJob(job);
    if (isFinal(job)) finishJob(job);
    else if (!job.stream) follow(job);
    $('#jobs-empty').hidden = state.jobs.size > 0;
    return job;
  }

  function trimJobs() {
    const ids = [...state.jobs.keys()];
    for (const id of ids.slice(0, Math.max(0, ids.length - JOBS_SHOWN))) {
      const job = state.jobs.get(id);
      if (!isFinal(job)) continue;
      job.view.root.remove();
      state.jobs.delete(id);
    }
  }

  function pickRecord(r) {
    const out = {};
    for (const k of ['operation', 'state', 'percentage', 'current', 'total',
      'message', 'result', 'error', 'created', 'started', 'finished']) {
      if (r[k] !== undefined) out[k] = r[k];
    }
    return out;
  }

  function jobView(job) {
    const v = {};
    v.op = el('span', {class: 'op'});
    v.state = el('span', {class: 'badge state'});
    v.cancel = el('button', {type: 'button', class: 'small danger',
      on: {click: () => cancelJob(job)}}, 'Cancel');
    v.bar = el('div', {class: 'bar', role: 'progressbar', 'aria-valuemin': 0,
      'aria-valuemax': 100, 'aria-valuenow': 0}, el('div', {class: 'fill'}));
    v.pct = el('span', {class: 'pct'});
    v.count = el('span', {class: 'count'});
    v.msg = el('span', {class: 'jmsg'});
    v.time = el('span', {class: 'when'});
    v.root = el('li', {class: 'job', dataset: {jobId: job.id}},
      el('div', {class: 'job-head'}, v.op, v.state,
        el('code', {class: 'jid'}, job.id), v.cancel),
      v.bar,
      el('div', {class: 'job-meta'}, v.pct, v.count, v.msg, v.time));
    return v;
  }

  function renderJob(job) {
    const v = job.view;
    const op = job.operation || 'job';
    const pct = Number(job.percentage) || 0;
    v.op.textContent = op;
    v.state.textContent = job.state || '?';
    v.state.className = `badge state ${job.state || ''}`;
    setBar(v.bar, pct);
    v.bar.setAttribute('aria-label', `${op} ${job.id} progress`);
    v.pct.textContent = `${Math.round(pct * 10) / 10} %`;
    v.count.textContent = typeof job.total === 'number' && job.total > 0 ?
      `${fmtNum(job.current)} / ${fmtNum(job.total)}` :
      (typeof job.current === 'number' ? fmtNum(job.current) : '');
    const err = job.error && typeof job.error === 'object' ?
      `${job.error.code}: ${job.error.message}` : '';
    v.msg.textContent = err || job.message || '';
    v.msg.classList.toggle('failed', !!err);
    v.time.replaceChildren(timeEl(job.finished || job.started ||
      job.created));
    v.cancel.hidden = isFinal(job);
    v.cancel.setAttribute('aria-label', `Cancel ${op} job ${job.id}`);
    v.root.dataset.state = job.state || '';
    v.root.dataset.source = job.source;
    v.root.dataset.events = String(job.events);
  }

  function applyEvent(job, type, text) {
    let d = {};
    try {
      d = text ? JSON.parse(text) : {};
    } catch (e) {
      return; /* not ours */
    }
    if (!d || typeof d !== 'object') return;
    job.events++;
    Object.assign(job, pickRecord(d));
    if (type === 'done' && !FINAL.has(job.state)) job.state = 'done';
    if (type === 'error' && !FINAL.has(job.state)) job.state = 'failed';
    renderJob(job);
    if (isFinal(job)) finishJob(job);
  }

  function follow(job) {
    const url = `/v1/jobs/${enc(job.id)}/events`;
    if (!token && typeof EventSource === 'function') {
      followEventSource(job, url);
    } else {
      followFetch(job, url);
    }
  }

  function followEventSource(job, url) {
    const es = new EventSource(url);
    let failures = 0;
    job.source = 'eventsource';
    job.stream = {close: () => es.close()};
    const frame = (type) => (ev) => {
      failures = 0;
      if (ev.lastEventId) job.lastEventId = ev.lastEventId;
      applyEvent(job, type, ev.data);
    };
    es.addEventListener('progress', frame('progress'));
    es.addEventListener('done', frame('done'));
    es.onmessage = frame('message');
    es.addEventListener('error', (ev) => {
      if (typeof ev.data === 'string') { /* an "error" frame of the job */
        frame('error')(ev);
        return;
      }
      /* The connection: EventSource retries by itself (with
       * Last-Event-ID) while CONNECTING; give up after a few tries or when
       * it has closed for good (an HTTP error), and poll instead. */
      if (isFinal(job)) return;
      if (es.readyState === EventSource.CLOSED || ++failures > STREAM_TRIES) {
        es.close();
        job.stream = null;
        poll(job);
      }
    });
  }

  /* The fetch() reader: frames "id:", "event:", "data:", comments ":". */
  async function readEvents(body, onEvent) {
    const reader = body.pipeThrough(new TextDecoderStream()).getReader();
    let buf = '';
    let type = '';
    let data = [];
    let id = null;
    const line = (s) => {
      if (s === '') {
        if (data.length) onEvent(type || 'message', data.join('\n'), id);
        type = '';
        data = [];
        return;
      }
      if (s[0] === ':') return;
      const i = s.indexOf(':');
      const field = i < 0 ? s : s.slice(0, i);
      let value = i < 0 ? '' : s.slice(i + 1);
      if (value[0] === ' ') value = value.slice(1);
      if (field === 'event') type = value;
      else if (field === 'data') data.push(value);
      else if (field === 'id' && !value.includes('\0')) id = value;
    };
    for (;;) {
      const {value, done} = await reader.read();
      if (done) break;
      buf += value;
      const lines = buf.split(/\r\n|\r(?!$)|\n/);
      buf = lines.pop();
      lines.forEach(line);
    }
    if (buf) line(buf.replace(/\r$/, ''));
  }

  async function followFetch(job, url) {
    const ctl = new AbortController();
    job.source = 'fetch';
    job.stream = {close: () => ctl.abort()};
    renderJob(job);
    let tries = 0;
    while (!isFinal(job) && tries < STREAM_TRIES) {
      tries++;
      try {
        const headers = authHeaders({Accept: 'text/event-stream'});
        if (job.lastEventId) headers['Last-Event-ID'] = job.lastEventId;
        const res = await fetch(url, {headers, signal: ctl.signal,
          cache: 'no-store'});
        if (!res.ok || !res.body) {
          throw errorFrom(res.status, res.statusText, await res.text());
        }
        await readEvents(res.body, (type, data, id) => {
          tries = 0;
          if (id) job.lastEventId = id;
          applyEvent(job, type, data);
        });
      } catch (e) {
        if (ctl.signal.aborted) return;
        if (e instanceof ApiError && e.status >= 400 && e.status < 500) break;
        await sleep(300 * tries);
      }
    }
    if (!isFinal(job) && !ctl.signal.aborted) {
      job.stream = null;
      poll(job);
    }
  }

  /* The last resort: GET /v1/jobs/{id} once a second. */
  async function poll(job) {
    job.source = 'poll';
    job.stream = {close: () => {}};
    renderJob(job);
    while (!isFinal(job)) {
      try {
        const d = await api('GET', `/v1/jobs/${enc(job.id)}`);
        if (d && d.job) Object.assign(job, pickRecord(d.job));
        renderJob(job);
      } catch (e) {
        if (e.status === 404) {
          say(job.panel, e);
          return;
        }
      }
      if (isFinal(job)) break;
      await sleep(1000);
    }
    finishJob(job);
  }

  function finishJob(job) {
    if (job.stream) {
      job.stream.close();
      job.stream = null;
    }
    renderJob(job);
    if (job.ended) return;
    job.ended = true;
    if (!job.watched) return;
    const op = job.operation || 'job';
    if (job.state === 'failed') {
      const e = job.error || {};
      say(job.panel, new ApiError(0, e.code || 'failed',
        `${op} ${job.id} failed: ${e.message || job.message || 'no reason'}`));
    } else if (job.state === 'cancelled') {
      say(job.panel, `${op} ${job.id} cancelled`);
    } else if (op === 'verify') {
      const r = job.result || {};
      reportVerify(r.verify || r);
    } else if (op === 'retention') {
      const r = job.result && job.result.retention;
      if (r) renderRetentionResult(r);
      say(job.panel, r ? retentionText(r) : `${op} ${job.id} done`, 'ok');
    } else {
      say(job.panel, doneText(job, op), 'ok');
    }
    refreshAfter(op);
    if (typeof job.after === 'function') {
      const after = job.after;
      job.after = null;
      setTimeout(() => after(job), 0); /* after the message is shown */
    }
  }

  const plural = (n, one) => `${fmtNum(n)} ${one}${n === 1 ? '' : 's'}`;

  /* What a finished job did, from its result (JobResult). */
  function doneText(job, op) {
    const r = job.result || {};
    const s = r.snapshot || {};
    const want = job.want || {};
    if ((op === 'snapshot' || op === 'save') && s.id) {
      let t = `snapshot ${s.id} written (${s.kind || 'full'}`;
      if (s.kind === 'incremental') {
        t += `: ${plural(s.changed, 'record')} changed, ` +
          `${fmtNum(s.deleted)} deleted since its parent`;
      }
      t += `, ${plural(s.records, 'record')})`;
      if (want.kind === 'incremental' && s.kind !== 'incremental') {
        t += '; taken full: there was nothing to build on';
      }
      if (r.remote) {
        t += `; uploaded to remote storage${r.remote.encrypted ?
          ' (encrypted)' : ''}`;
      }
      return t;
    }
    if ((op === 'restore' || op === 'load') && r.restore) {
      const x = r.restore;
      let t = `restored ${plural(x.records, 'record')} from ${x.snapshot} ` +
        `(${x.mode})`;
      if (r.fetched) t += ', fetched from remote storage';
      if (typeof x.replayed === 'number') {
        t += `; replayed ${plural(x.replayed, 'log record')} to seq ` +
          `${x.replayed_to_seq}`;
        if (x.until_seq_reached === false) {
          t += ' (the log ended before the bound)';
        }
      }
      if (x.saved_as) t += `; saved as ${x.saved_as}`;
      return t;
    }
    if (op === 'compact' && s.id) {
      return `compacted ${r.compacted || 'the chain'} into full snapshot ` +
        `${s.id}${r.current ? ', now CURRENT' : ''}`;
    }
    if (op === 'upload' && r.remote) {
      return `uploaded ${r.remote.id} to remote storage` +
        `${r.remote.encrypted ? ' (encrypted)' : ''}`;
    }
    if (op === 'fetch' && s.id) {
      return `fetched ${s.id} into the catalog (${plural(s.records,
        'record')})`;
    }
    if (op === 'delete' && Array.isArray(r.deleted)) {
      return deletedText(r.deleted, 'remote ');
    }
    return `${op} ${job.id} done`;
  }

  function refreshAfter(op) {
    if (op === 'snapshot' || op === 'save') {
      loadSnapshots();
      loadAutosave();
      loadRemote();
      loadWal();
    } else if (op === 'restore' || op === 'load' || op === 'import') {
      loadCollections();
      loadSnapshots();
      loadAutosave();
      loadWal();
    } else if (op === 'compact' || op === 'fetch') {
      loadSnapshots();
    } else if (op === 'upload' || op === 'delete') {
      loadRemote();
    } else if (op === 'retention') {
      loadSnapshots();
      loadRemote();
    }
  }

  async function cancelJob(job) {
    await guarded('jobs', job.view.cancel, async () => {
      const d = await api('DELETE', `/v1/jobs/${enc(job.id)}`);
      if (d && d.job) Object.assign(job, pickRecord(d.job));
      renderJob(job);
      say('jobs', `cancel asked for ${job.id}`);
    });
  }

  /* ---- auto-save ---- */

  async function loadAutosave() {
    try {
      renderAutosave(await api('GET', '/v1/autosave'));
      clearError('autosave');
    } catch (e) {
      say('autosave', e);
    }
  }

  function renderAutosave(a) {
    if (!a) return;
    const facts = [
      ['Enabled', a.enabled ? 'yes' : 'no'],
      ['Interval', a.interval_s ? `${fmtNum(a.interval_s)} s` : 'off'],
      ['After changes', fmtNum(a.after_changes)],
      ['Changes since save', fmtNum(a.changes)],
      ['Last save', timeEl(a.last_save)],
      ['Last error', a.last_error || 'none'],
      ['Writes', [a.format, a.compression].filter(Boolean).join(' + ') ||
        '—'],
    ];
    if (typeof a.keep === 'number') {
      facts.push(['Keeps', a.keep ? `the newest ${fmtNum(a.keep)}` : 'all']);
    }
    if (typeof a.saves === 'number') facts.push(['Saves', fmtNum(a.saves)]);
    if (typeof a.incremental === 'boolean') {
      facts.push(['Incremental', !a.incremental ? 'no' :
        (a.full_every > 1 ? `yes, every ${ordinal(a.full_every)} one full` :
          'yes, but every one full (full every <= 1)')]);
    }
    if (typeof a.full_every === 'number') {
      facts.push(['Full every', fmtNum(a.full_every)]);
    }
    if (typeof a.upload === 'boolean') {
      facts.push(['Upload', a.upload ? 'yes, to remote storage' : 'no']);
      if (!state.uploadTouched) $('#snap-upload').checked = a.upload;
    }
    $('#autosave-facts').replaceChildren(...facts.flatMap(([k, v]) => [
      el('dt', {}, k), el('dd', {dataset: {fact: k}}, v)]));
    const f = $('#autosave-form');
    if (!f.contains(document.activeElement)) {
      $('#as-interval').value = a.interval_s ?? '';
      $('#as-changes').value = a.after_changes ?? '';
    }
  }

  function ordinal(n) {
    const t = n % 100;
    const suf = t >= 11 && t <= 13 ? 'th' :
      ({1: 'st', 2: 'nd', 3: 'rd'}[n % 10] || 'th');
    return `${fmtNum(n)}${suf}`;
  }

  function onAutosave(ev) {
    ev.preventDefault();
    const f = ev.currentTarget;
    guarded('autosave', f.querySelector('button[type=submit]'), async () => {
      const body = {interval_s: Number($('#as-interval').value),
        after_changes: Number($('#as-changes').value)};
      document.activeElement.blur();
      renderAutosave(await api('PUT', '/v1/autosave', body));
      say('autosave', 'auto-save settings applied', 'ok');
    });
  }

  /* ---- remote storage ---- */

  async function loadRemote() {
    if (state.remote.configured === false) return;
    try {
      const d = await api('GET', '/v1/remote/snapshots');
      state.remote.snapshots = Array.isArray(d && d.snapshots) ?
        d.snapshots : [];
      setRemote(true);
      clearError('remote');
      renderRemote();
    } catch (e) {
      if (e.status === 400 && /not configured/.test(e.message)) {
        state.remote.note = e.message;
        setRemote(false);
        return;
      }
      if (e.status >= 500) { /* configured, but out of reach (502) */
        setRemote(true);
        renderRemote();
      }
      say('remote', e);
    }
  }

  /* Shows or hides what needs remote storage. */
  function setRemote(on) {
    const was = state.remote.configured;
    state.remote.configured = on;
    $('#remote-on').hidden = !on;
    const off = $('#remote-off');
    off.hidden = on;
    off.textContent = on ? '' : `Not in use: ${state.remote.note}.`;
    $('#snap-upload-field').hidden = !on;
    $('#ret-remote-field').hidden = !on;
    if (!on) $('#ret-remote').checked = false;
    if (was !== on) renderSnapshots(); /* their Upload buttons */
  }

  function renderRemote() {
    if (!remoteOn()) return;
    const list = state.remote.snapshots;
    const local = new Set(state.snapshots.map((s) => s.id));
    $('#remote-rows').replaceChildren(...list.map((s) => {
      const label = snapLabel(s);
      const sha = typeof s.sha256 === 'string' ? s.sha256 : '';
      return el('tr', {id: `rsnap-${s.id}`, dataset: {snapshot: s.id}},
        el('td', {dataset: {label: 'Name'}}, el('div', {},
          s.name ? el('strong', {}, s.name) : el('em', {}, 'unnamed'),
          ...snapBadges(s, false),
          ...(local.has(s.id) ? [' ', el('span', {class: 'badge local',
            title: 'in the local catalog too'}, 'local')] : []),
          el('code', {class: 'sub'}, s.id))),
        el('td', {dataset: {label: 'Created'}}, timeEl(s.created)),
        kindCell(s, 'rsnap-', list),
        el('td', {class: 'num', dataset: {label: 'Bytes'}, title:
          typeof s.bytes === 'number' ? `${s.bytes} bytes stored` : null},
        fmtBytes(s.bytes)),
        el('td', {class: 'num records', dataset: {label: 'Records'}},
          fmtNum(s.records)),
        el('td', {dataset: {label: 'SHA-256'}},
          el('code', {title: sha}, sha ? sha.slice(0, 12) : '—')),
        el('td', {class: 'actions'},
          smallButton('Fetch', `Fetch remote snapshot ${label}`,
            (b) => fetchRemote(s, b)),
          smallButton('Restore', `Restore remote snapshot ${label}`,
            (b) => restoreRemote(s, b)),
          smallButton('Delete', `Delete remote snapshot ${label}`,
            (b) => deleteRemote(s, b, false), 'danger')));
    }));
    $('#remote-empty').hidden = list.length > 0;
  }

  async function fetchRemote(s, button) {
    await guarded('remote', button, async () => {
      const body = $('#remote-verify').checked ? {verify: true} : {};
      const d = await api('POST',
        `/v1/remote/snapshots/${enc(s.id)}/fetch`, body);
      startedJob('remote', d, 'fetch');
    });
  }

  async function restoreRemote(s, button) {
    const mode = $('#remote-mode').value;
    if (mode === 'replace' && !confirm('Replace the whole live store with ' +
      `remote snapshot "${snapLabel(s)}"?`)) return;
    await guarded('remote', button, async () => {
      const d = await api('POST',
        `/v1/remote/snapshots/${enc(s.id)}/restore`, {mode});
      startedJob('remote', d, 'restore');
    });
  }

  /* The job fails with code `busy` when other remote snapshots are based
   * on this one: then offer to delete them along (cascade). */
  async function deleteRemote(s, button, cascade) {
    const label = snapLabel(s);
    if (!cascade && !confirm(`Delete snapshot "${label}" from remote ` +
      'storage?')) return;
    const what = `remote snapshot "${label}"`;
    const again = (message) => {
      if (askCascade(what, message)) deleteRemote(s, null, true);
    };
    await guarded('remote', button, async () => {
      let d;
      try {
        d = await api('DELETE', `/v1/remote/snapshots/${enc(s.id)}` +
          (cascade ? '?cascade=true' : ''));
      } catch (e) {
        if (cascade || !(e instanceof ApiError) ||
            !offersCascade(e.code, e.message)) throw e;
        say('remote', e);
        again(e.message);
        return;
      }
      startedJob('remote', d, 'delete', cascade ? null : {after: (job) => {
        const e = job.error;
        if (job.state === 'failed' && e && offersCascade(e.code, e.message)) {
          again(e.message);
        }
      }});
    });
  }

  /* ---- the write-ahead log ---- */

  async function loadWal() {
    try {
      renderWal(await api('GET', '/v1/wal'));
      clearError('wal');
    } catch (e) {
      say('wal', e);
    }
  }

  function renderWal(w) {
    if (!w) return;
    const count = (n, bytes) => `${fmtNum(n)} (${fmtBytes(bytes)})`;
    const facts = [
      ['Enabled', w.enabled ? 'yes' : 'no'],
      ['Fsync', w.fsync || '—'],
      ['Last seq', typeof w.last_seq === 'number' ? String(w.last_seq) :
        '—'],
      ['Segments', count(w.segments, w.bytes)],
      ['Archived', count(w.archived_segments, w.archived_bytes)],
      ['Appends', fmtNum(w.appends)],
      ['Syncs', fmtNum(w.syncs)],
      ['Writes', w.read_only ? el('span', {class: 'pill err'},
        `refused (read-only)${w.reason ? `: ${w.reason}` : ''}`) :
        'accepted'],
    ];
    $('#wal-facts').replaceChildren(...facts.flatMap(([k, v]) => [
      el('dt', {}, k), el('dd', {dataset: {fact: k}}, v)]));
  }

  /* ---- retention ---- */

  async function loadRetention() {
    try {
      renderRetentionConfig(await api('GET', '/v1/retention'));
      clearError('retention');
    } catch (e) {
      say('retention', e);
    }
  }

  function policyText(p) {
    if (!p) return '—';
    const rules = [];
    if (p.keep_last) rules.push(`the last ${fmtNum(p.keep_last)}`);
    if (p.keep_within) rules.push(`those within ${p.keep_within}`);
    if (p.keep_daily) rules.push(`${fmtNum(p.keep_daily)} daily`);
    if (p.keep_weekly) rules.push(`${fmtNum(p.keep_weekly)} weekly`);
    return rules.length ? `keep ${rules.join(', ')}` :
      'no rule set: nothing is deleted';
  }

  function renderRetentionConfig(r) {
    if (!r) return;
    const p = r.policy || {};
    const facts = [
      ['Policy', policyText(p)],
      ['After each snapshot', r.enabled ? 'applied' : 'not applied'],
      ['Remote storage', r.remote ? 'pruned too' : 'not pruned'],
    ];
    $('#retention-facts').replaceChildren(...facts.flatMap(([k, v]) => [
      el('dt', {}, k), el('dd', {dataset: {fact: k}}, v)]));
    if (!state.retentionTouched) {
      $('#ret-last').value = p.keep_last ?? 0;
      $('#ret-within').value = p.keep_within || '';
      $('#ret-daily').value = p.keep_daily ?? 0;
      $('#ret-weekly').value = p.keep_weekly ?? 0;
    }
  }

  /* The form as a RetentionRequest: every rule given (empty: unset). */
  function retentionBody(dryRun) {
    const count = (id, what) => {
      const i = $(id);
      if (i.value.trim() === '' && !i.validity.badInput) return 0;
      const n = Number(i.value);
      if (!Number.isSafeInteger(n) || n < 0) {
        throw new ApiError(0, 'invalid',
          `"${what}" must be a whole number of at least 0`);
      }
      return n;
    };
    const within = $('#ret-within').value.trim();
    const body = {
      keep_last: count('#ret-last', 'keep last'),
      keep_within: within === '' ? null :
        (/^[0-9]+$/.test(within) ? Number(within) : within),
      keep_daily: count('#ret-daily', 'keep daily'),
      keep_weekly: count('#ret-weekly', 'keep weekly'),
      dry_run: dryRun,
    };
    if (remoteOn() && $('#ret-remote').checked) body.remote = true;
    return body;
  }

  async function runRetention(dryRun, button) {
    await guarded('retention', button, async () => {
      const body = retentionBody(dryRun);
      if (!dryRun && !confirm('Apply this retention policy now' +
        `${body.remote ? ' to remote storage' : ''}? Every snapshot it ` +
        'does not keep is deleted.')) return;
      say('retention', dryRun ? 'dry run…' : 'applying…');
      const d = await api('POST', '/v1/retention', body);
      if (d && d.job) {
        startedJob('retention', d, 'retention');
        return;
      }
      const r = d && d.retention;
      if (!r) throw new ApiError(0, 'bad_reply', 'no retention result');
      renderRetentionResult(r);
      say('retention', retentionText(r), 'ok');
      if (!dryRun) refreshAfter('retention');
    });
  }

  function retentionText(r) {
    const where = r.remote ? 'remote storage' : 'the catalog';
    const n = (r.delete || []).length;
    if (r.dry_run) {
      return `dry run on ${where}: ${plural((r.keep || []).length,
        'snapshot')} kept, ${fmtNum(n)} would be deleted`;
    }
    const skipped = (r.skipped || []).length;
    return `applied to ${where}: ${fmtNum(r.deleted)} deleted` +
      `${skipped ? `, ${fmtNum(skipped)} skipped` : ''}, ` +
      `${plural((r.keep || []).length, 'snapshot')} kept`;
  }

  function retentionRow(id, created, why, cls) {
    return el('tr', {class: cls || '', dataset: {snapshot: id}},
      el('td', {dataset: {label: 'Snapshot'}}, el('code', {}, labelOf(id))),
      el('td', {dataset: {label: 'Created'}}, timeEl(created)),
      el('td', {dataset: {label: 'Why'}}, why));
  }

  function renderRetentionResult(r) {
    const keep = Array.isArray(r.keep) ? r.keep : [];
    const del = Array.isArray(r.delete) ? r.delete : [];
    const skipped = new Map((r.skipped || []).map((x) => [x.id, x.reason]));
    $('#retention-summary').textContent = `${r.dry_run ? 'Dry run' :
      'Applied'}: ${policyText(r.policy)}${r.remote ?
      ' (remote storage)' : ''}`;
    $('#retention-keep-rows').replaceChildren(...keep.map((k) =>
      retentionRow(k.id, k.created, el('ul', {class: 'reasons'},
        ...(k.reasons || []).map((x) => el('li', {}, x))))));
    $('#retention-delete-cap').textContent = r.dry_run ? 'Would be deleted' :
      'Deleted';
    $('#retention-delete-rows').replaceChildren(...del.map((x) => {
      const skip = skipped.get(x.id);
      return retentionRow(x.id, x.created, skip === undefined ? x.reason :
        `skipped: ${skip}`, skip === undefined ? '' : 'skipped');
    }));
    $('#retention-delete-empty').hidden = del.length > 0;
    $('#retention-result').hidden = false;
  }

  /* ---- export and import ---- */

  function updateExportLink() {
    const q = new URLSearchParams({format: $('#exp-format').value,
      compression: $('#exp-compression').value});
    const cols = $('#exp-collections').value.split(',').map((s) => s.trim())
      .filter(Boolean);
    if (cols.length) q.set('collections', cols.join(','));
    $('#export-link').href = `/v1/export?${q}`;
  }

  function onImport(ev) {
    ev.preventDefault();
    const f = ev.currentTarget;
    const file = $('#import-file').files[0];
    const mode = $('#import-mode').value;
    if (!file) return;
    if (mode === 'replace' && !confirm(
      `Replace the whole live store with the content of ${file.name}?`)) {
      return;
    }
    guarded('transfer', f.querySelector('button[type=submit]'), async () => {
      say('transfer', `importing ${file.name}…`);
      const d = await upload(`/v1/import?mode=${enc(mode)}`, file,
        $('#import-bar'));
      const r = (d && d.import) || {};
      const cols = (r.collections || []).map((c) => `${c.name} (${c.count})`)
        .join(', ');
      say('transfer', `imported ${fmtNum(r.records)} records ` +
        `(${r.mode || mode})${cols ? ` into ${cols}` : ''}`, 'ok');
      f.reset();
      await loadCollections();
    });
  }

  /* ---- token ---- */

  function showToken() {
    $('#token').value = token;
    $('#token-clear').disabled = !token;
  }

  function setToken(t) {
    token = t;
    try {
      if (t) localStorage.setItem(TOKEN_KEY, t);
      else localStorage.removeItem(TOKEN_KEY);
    } catch (e) {
      /* private mode: the token lasts as long as the page */
    }
    showToken();
    refreshAll();
  }

  function refreshAll() {
    checkHealth();
    loadCollections();
    loadSnapshots();
    loadJobs();
    loadAutosave();
    loadRemote();
    loadWal();
    loadRetention();
  }

  /* ---- wiring ---- */

  function init() {
    showToken();
    $('#token-form').addEventListener('submit', (ev) => {
      ev.preventDefault();
      setToken($('#token').value.trim());
    });
    $('#token-clear').addEventListener('click', () => setToken(''));
    $('#refresh-all').addEventListener('click', refreshAll);
    const loaders = {collections: loadCollections, snapshots: loadSnapshots,
      jobs: loadJobs, autosave: loadAutosave, remote: loadRemote,
      wal: loadWal, retention: loadRetention};
    document.querySelectorAll('[data-refresh]').forEach((b) => {
      b.addEventListener('click', () => {
        say(b.dataset.refresh, '');
        loaders[b.dataset.refresh]();
      });
    });
    $('#collection-form').addEventListener('submit', onCreateCollection);
    $('#search-form').addEventListener('submit', onSearch);
    $('#search-random').addEventListener('click', onRandomVector);
    $('#snapshot-form').addEventListener('submit', onCreateSnapshot);
    $('#save-now').addEventListener('click', onSaveNow);
    $('#snap-kind').addEventListener('change', onSnapKind);
    $('#snap-upload').addEventListener('change', () => {
      state.uploadTouched = true;
    });
    $('#retention-form').addEventListener('input', () => {
      state.retentionTouched = true;
    });
    $('#retention-form').addEventListener('submit', (ev) => {
      ev.preventDefault();
      runRetention(true, $('#retention-dry'));
    });
    $('#retention-apply').addEventListener('click', (ev) => {
      if ($('#retention-form').reportValidity()) {
        runRetention(false, ev.currentTarget);
      }
    });
    $('#upload-form').addEventListener('submit', onUpload);
    $('#autosave-form').addEventListener('submit', onAutosave);
    $('#export-form').addEventListener('input', updateExportLink);
    $('#export-form').addEventListener('submit', (ev) => ev.preventDefault());
    $('#import-form').addEventListener('submit', onImport);
    downloadLink($('#export-link'), 'transfer', 'vecsnap-export');
    updateExportLink();
    refreshAll();
    setInterval(checkHealth, 15000);
  }

  init();
})();
