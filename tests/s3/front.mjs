// front.mjs: an HTTP front for s3rver, for the S3 client's tests.
//
// s3rver speaks the S3 REST protocol on a directory but checks no SigV4
// signature and lacks ListMultipartUploads and AbortMultipartUpload.  This
// front, on 127.0.0.1 only:
//  - verifies SigV4 on every request as S3 does: it rebuilds the canonical
//    request from what it received (path decoded and re-encoded per
//    RFC 3986, query parameters decoded, re-encoded and sorted, the signed
//    headers trimmed), derives the key from the secret and compares the
//    signature; it checks x-amz-content-sha256 against the body.  A missing
//    or wrong signature is 403 (AccessDenied, SignatureDoesNotMatch, ...),
//    a wrong payload hash 400 XAmzContentSHA256Mismatch, as S3 answers;
//  - answers ListMultipartUploads and AbortMultipartUpload itself from
//    s3rver's directory, and refuses parts for an unknown upload id;
//  - injects faults on demand, from an admin endpoint of its own:
//      POST /__fault {"match":"partNumber=2&","status":503,"times":2}
//      POST /__fault {"match":"GET /b/k","delay_ms":3000,"times":1}
//      POST /__fault {"match":"...","reset":true}      (drop the connection)
//      POST /__fault {"match":"...","cut_after":1048576} (cut the reply body)
//      POST /__fault {"clear":true}                     (remove all rules)
//      GET /__fault                                     (rules, hits left)
//      GET /__log, POST /__log {"clear":true}           (requests seen)
//    Log entries: method, url, range, status, signed (SignedHeaders), code.
//    `match` is a substring of "METHOD /path?query"; `times` defaults to 1
//    (0: forever);
//  - takes virtual-hosted requests (Host: BUCKET.localhost:PORT) too, and
//    hands them to s3rver in path style.
//
// Usage: node front.mjs --upstream-port N --root DIR [--port P]
//        [--owner-pid PID] [--s3rver-pid PID]
// Credentials: FRONT_ACCESS_KEY, FRONT_SECRET_KEY (default S3RVER, S3RVER,
// the access key s3rver knows), region FRONT_REGION (us-east-1).  Prints
// "FRONT_PORT=<port>" once listening.  With --owner-pid it exits (and stops
// s3rver) when that process is gone.
import crypto from 'node:crypto';
import fs from 'node:fs';
import http from 'node:http';
import path from 'node:path';

const args = {};
for (let i = 2; i < process.argv.length; i += 2)
  args[process.argv[i].replace(/^--/, '')] = process.argv[i + 1];
const UPSTREAM = Number(args['upstream-port']);
const ROOT = args.root;
const ACCESS = process.env.FRONT_ACCESS_KEY || 'S3RVER';
const SECRET = process.env.FRONT_SECRET_KEY || 'S3RVER';
const REGION = process.env.FRONT_REGION || 'us-east-1';
const MAX_BODY = 512 * 1024 * 1024;
const SKEW_MS = 15 * 60 * 1000;
if (!UPSTREAM || !ROOT) {
  console.error('usage: front.mjs --upstream-port N --root DIR [--port P]');
  process.exit(2);
}

let rules = [];
let log = [];
const LOG_MAX = 20000;

// ---- S3 errors ------------------------------------------------------------

function xmlEscape(s) {
  return String(s).replace(/[&<>"']/g, c => ({
    '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&apos;',
  })[c]);
}

function sendError(req, res, status, code, message, entry) {
  const body = '<?xml version="1.0" encoding="UTF-8"?>\n<Error><Code>' +
    xmlEscape(code) + '</Code><Message>' + xmlEscape(message) +
    '</Message><Resource>' + xmlEscape(req.url.split('?')[0]) +
    '</Resource><RequestId>' + crypto.randomBytes(8).toString('hex') +
    '</RequestId></Error>';
  if (entry) {
    entry.status = status;
    entry.code = code;
  }
  res.writeHead(status, {
    'content-type': 'application/xml',
    'content-length': req.method === 'HEAD' ? 0 : Buffer.byteLength(body),
  });
  res.end(req.method === 'HEAD' ? undefined : body);
}

// ---- SigV4 ----------------------------------------------------------------

// RFC 3986 encoding as S3 canonicalizes: every byte but A-Z a-z 0-9 - . _ ~
function uriEncode(s) {
  return encodeURIComponent(s).replace(/[!'()*]/g,
    c => '%' + c.charCodeAt(0).toString(16).toUpperCase());
}

function canonicalUri(rawPath) {
  return rawPath.split('/').map(seg => uriEncode(decodeURIComponent(seg)))
    .join('/');
}

function canonicalQuery(rawQuery) {
  if (!rawQuery) return '';
  const pairs = rawQuery.split('&').filter(p => p.length).map(p => {
    const eq = p.indexOf('=');
    const k = eq < 0 ? p : p.slice(0, eq);
    const v = eq < 0 ? '' : p.slice(eq + 1);
    return [uriEncode(decodeURIComponent(k)), uriEncode(decodeURIComponent(v))];
  });
  pairs.sort((a, b) => a[0] < b[0] ? -1 : a[0] > b[0] ? 1 :
    a[1] < b[1] ? -1 : a[1] > b[1] ? 1 : 0);
  return pairs.map(([k, v]) => k + '=' + v).join('&');
}

function hmac(key, data) {
  return crypto.createHmac('sha256', key).update(data).digest();
}

function sha256hex(data) {
  return crypto.createHash('sha256').update(data).digest('hex');
}

// null when the request is properly signed, else [status, code, message]
function verify(req, body) {
  const auth = req.headers.authorization;
  const rawUrl = req.url;
  const q = rawUrl.indexOf('?');
  const rawPath = q < 0 ? rawUrl : rawUrl.slice(0, q);
  const rawQuery = q < 0 ? '' : rawUrl.slice(q + 1);
  if (!auth) {
    if (/(^|&)X-Amz-Algorithm=/.test(rawQuery))
      return [403, 'AccessDenied', 'Query-string authentication is not ' +
        'supported by this server'];
    return [403, 'AccessDenied', 'Access Denied'];
  }
  const m = new RegExp('^AWS4-HMAC-SHA256 Credential=([^,]+), *' +
    'SignedHeaders=([^,]+), *Signature=([0-9a-f]{64})$').exec(auth.trim());
  if (!m)
    return [400, 'AuthorizationHeaderMalformed', 'The authorization header ' +
      'is malformed'];
  const [, credential, signedHeaders, signature] = m;
  const scope = credential.split('/');
  if (scope.length !== 5)
    return [400, 'AuthorizationHeaderMalformed', 'Bad credential scope'];
  const [accessKey, date, region, service, terminal] = scope;
  if (accessKey !== ACCESS)
    return [403, 'InvalidAccessKeyId', 'The AWS Access Key Id you provided ' +
      'does not exist in our records.'];
  if (region !== REGION)
    return [400, 'AuthorizationHeaderMalformed', `the region '${region}' is ` +
      `wrong; expecting '${REGION}'`];
  if (service !== 's3' || terminal !== 'aws4_request')
    return [400, 'AuthorizationHeaderMalformed', 'Bad credential scope'];
  const amzDate = req.headers['x-amz-date'];
  if (!amzDate || !/^\d{8}T\d{6}Z$/.test(amzDate))
    return [403, 'AccessDenied', 'AWS authentication requires a valid Date ' +
      'or x-amz-date header'];
  if (amzDate.slice(0, 8) !== date)
    return [403, 'SignatureDoesNotMatch', 'The credential date does not ' +
      'match x-amz-date'];
  const when = Date.UTC(+amzDate.slice(0, 4), +amzDate.slice(4, 6) - 1,
    +amzDate.slice(6, 8), +amzDate.slice(9, 11), +amzDate.slice(11, 13),
    +amzDate.slice(13, 15));
  if (Math.abs(Date.now() - when) > SKEW_MS)
    return [403, 'RequestTimeTooSkewed', 'The difference between the request ' +
      'time and the current time is too large.'];
  const payloadHash = req.headers['x-amz-content-sha256'];
  if (!payloadHash)
    return [400, 'InvalidRequest', 'Missing required header for this ' +
      'request: x-amz-content-sha256'];
  if (payloadHash !== 'UNSIGNED-PAYLOAD' && !/^[0-9a-f]{64}$/.test(payloadHash))
    return [400, 'InvalidArgument', 'x-amz-content-sha256 must be ' +
      'UNSIGNED-PAYLOAD or a SHA-256 in lowercase hex'];
  req.signedHeaders = signedHeaders;
  const names = signedHeaders.split(';');
  if (!names.includes('host') || names.some(n => n !== n.toLowerCase()) ||
      names.join(';') !== [...names].sort().join(';'))
    return [400, 'AuthorizationHeaderMalformed', 'SignedHeaders must be ' +
      'sorted, lowercase and include host'];
  if (req.headers['x-amz-security-token'] !== undefined &&
      !names.includes('x-amz-security-token'))
    return [403, 'AccessDenied', 'x-amz-security-token must be signed'];
  let canonHeaders = '';
  for (const n of names) {
    const v = req.headers[n];
    if (v === undefined)
      return [403, 'SignatureDoesNotMatch', `signed header '${n}' is missing`];
    canonHeaders += n + ':' + String(v).trim().replace(/\s+/g, ' ') + '\n';
  }
  let uri, query;
  try {
    uri = canonicalUri(rawPath);
    query = canonicalQuery(rawQuery);
  } catch {
    return [400, 'InvalidURI', "Couldn't parse the specified URI."];
  }
  const canonical = [req.method, uri, query, canonHeaders, signedHeaders,
    payloadHash].join('\n');
  const toSign = ['AWS4-HMAC-SHA256', amzDate, scope.slice(1).join('/'),
    sha256hex(canonical)].join('\n');
  let key = hmac('AWS4' + SECRET, date);
  key = hmac(key, region);
  key = hmac(key, service);
  key = hmac(key, 'aws4_request');
  const expect = hmac(key, toSign).toString('hex');
  if (!crypto.timingSafeEqual(Buffer.from(expect), Buffer.from(signature)))
    return [403, 'SignatureDoesNotMatch', 'The request signature we ' +
      'calculated does not match the signature you provided. Check your key ' +
      'and signing method.'];
  if (payloadHash !== 'UNSIGNED-PAYLOAD' && sha256hex(body) !== payloadHash)
    return [400, 'XAmzContentSHA256Mismatch', "The provided " +
      "'x-amz-content-sha256' header does not match what was computed."];
  return null;
}

// ---- what s3rver lacks: multipart upload bookkeeping ----------------------

function uploadsDir(bucket) {
  return path.join(ROOT, bucket, '._S3rver_uploads');
}

function uploadKey(bucket, id) {
  if (!/^[0-9a-zA-Z._-]+$/.test(id)) return null;
  try {
    return fs.readFileSync(path.join(uploadsDir(bucket), id, 'key'), 'utf8');
  } catch {
    return null;
  }
}

function listUploads(bucket, params) {
  const prefix = params.get('prefix') || '';
  const max = Math.min(Number(params.get('max-uploads') || 1000), 1000);
  const keyMarker = params.get('key-marker') || '';
  const idMarker = params.get('upload-id-marker') || '';
  let all = [];
  let ids = [];
  try {
    ids = fs.readdirSync(uploadsDir(bucket));
  } catch { /* none yet */ }
  for (const id of ids) {
    const key = uploadKey(bucket, id);
    if (key === null || !key.startsWith(prefix)) continue;
    let initiated = new Date();
    try {
      initiated = fs.statSync(path.join(uploadsDir(bucket), id)).mtime;
    } catch { /* raced with an abort */ }
    all.push({ key, id, initiated });
  }
  all.sort((a, b) => a.key < b.key ? -1 : a.key > b.key ? 1 :
    a.id < b.id ? -1 : a.id > b.id ? 1 : 0);
  if (keyMarker)
    all = all.filter(u => u.key > keyMarker ||
      (u.key === keyMarker && idMarker && u.id > idMarker));
  const page = all.slice(0, max);
  const truncated = all.length > max;
  let xml = '<?xml version="1.0" encoding="UTF-8"?>\n' +
    '<ListMultipartUploadsResult ' +
    'xmlns="http://s3.amazonaws.com/doc/2006-03-01/">' +
    `<Bucket>${xmlEscape(bucket)}</Bucket>` +
    `<KeyMarker>${xmlEscape(keyMarker)}</KeyMarker>` +
    `<UploadIdMarker>${xmlEscape(idMarker)}</UploadIdMarker>`;
  if (truncated) {
    const last = page[page.length - 1];
    xml += `<NextKeyMarker>${xmlEscape(last.key)}</NextKeyMarker>` +
      `<NextUploadIdMarker>${xmlEscape(last.id)}</NextUploadIdMarker>`;
  }
  xml += `<Prefix>${xmlEscape(prefix)}</Prefix>` +
    `<MaxUploads>${max}</MaxUploads>` +
    `<IsTruncated>${truncated}</IsTruncated>`;
  for (const u of page)
    xml += `<Upload><Key>${xmlEscape(u.key)}</Key>` +
      `<UploadId>${u.id}</UploadId>` +
      `<Initiated>${u.initiated.toISOString()}</Initiated>` +
      '<StorageClass>STANDARD</StorageClass></Upload>';
  return xml + '</ListMultipartUploadsResult>';
}

// Handled here instead of s3rver: true when a reply was sent.
function multipart(req, res, bucket, key, params, entry) {
  const id = params.get('uploadId');
  if (req.method === 'GET' && !key && params.has('uploads')) {
    const xml = listUploads(bucket, params);
    entry.status = 200;
    res.writeHead(200, { 'content-type': 'application/xml',
      'content-length': Buffer.byteLength(xml) });
    res.end(xml);
    return true;
  }
  if (id === null || !key) return false;
  if (uploadKey(bucket, id) !== key) {
    sendError(req, res, 404, 'NoSuchUpload', 'The specified upload does not ' +
      'exist. The upload ID may be invalid, or the upload may have been ' +
      'aborted or completed.', entry);
    return true;
  }
  if (req.method === 'DELETE') {
    fs.rmSync(path.join(uploadsDir(bucket), id), { recursive: true,
      force: true });
    entry.status = 204;
    res.writeHead(204);
    res.end();
    return true;
  }
  return false;
}

// ---- faults ---------------------------------------------------------------

function takeFault(line) {
  for (const r of rules) {
    if (r.left === 0 || !line.includes(r.match)) continue;
    if (r.left > 0) r.left--;
    r.hits++;
    return r;
  }
  return null;
}

function sleep(ms) {
  return new Promise(resolve => setTimeout(resolve, ms));
}

function admin(req, res, body) {
  const reply = (status, obj) => {
    const s = JSON.stringify(obj);
    res.writeHead(status, { 'content-type': 'application/json',
      'content-length': Buffer.byteLength(s) });
    res.end(s);
  };
  let j = {};
  if (body.length) {
    try {
      j = JSON.parse(body.toString('utf8'));
    } catch {
      return reply(400, { error: 'bad json' });
    }
  }
  const p = req.url.split('?')[0];
  if (p === '/__fault' && req.method === 'GET') return reply(200, rules);
  if (p === '/__fault' && req.method === 'POST') {
    if (j.clear || j.reset === true && !j.match) {
      rules = [];
      return reply(200, rules);
    }
    if (typeof j.match !== 'string')
      return reply(400, { error: 'match (a string) is required' });
    const times = j.times === undefined ? 1 : Number(j.times);
    rules.push({ match: j.match, status: j.status, delay_ms: j.delay_ms,
      reset: !!j.reset, cut_after: j.cut_after,
      left: times === 0 ? -1 : times, hits: 0 });
    return reply(200, rules);
  }
  if (p === '/__log' && req.method === 'GET') return reply(200, log);
  if (p === '/__log' && req.method === 'POST') {
    if (j.clear) log = [];
    return reply(200, { entries: log.length });
  }
  return reply(404, { error: 'unknown admin path' });
}

// ---- proxy ----------------------------------------------------------------

function forward(req, res, body, entry, cutAfter, url) {
  const headers = { ...req.headers };
  for (const h of ['connection', 'keep-alive', 'transfer-encoding', 'expect'])
    delete headers[h];
  headers['content-length'] = String(body.length);
  headers.host = '127.0.0.1:' + UPSTREAM;
  const up = http.request({ host: '127.0.0.1', port: UPSTREAM,
    method: req.method, path: url, headers }, ures => {
    entry.status = ures.statusCode;
    const h = { ...ures.headers };
    delete h.connection;
    delete h['keep-alive'];
    res.writeHead(ures.statusCode, h);
    let sent = 0;
    ures.on('data', chunk => {
      if (cutAfter !== undefined && sent + chunk.length > cutAfter) {
        res.write(chunk.subarray(0, Math.max(0, cutAfter - sent)));
        entry.cut = true;
        ures.destroy();
        res.socket.destroy();
        return;
      }
      sent += chunk.length;
      res.write(chunk);
    });
    ures.on('end', () => res.end());
  });
  up.on('error', err => {
    if (!res.headersSent)
      sendError(req, res, 502, 'InternalError', 'upstream: ' + err.message,
        entry);
    else
      res.socket.destroy();
  });
  up.end(body);
}

async function handle(req, res, body, tooBig) {
  if (req.url.startsWith('/__')) return admin(req, res, body);
  const entry = { method: req.method, url: req.url, range: req.headers.range,
    status: 0 };
  log.push(entry);
  if (log.length > LOG_MAX) log.shift();
  const fault = takeFault(req.method + ' ' + req.url);
  if (fault) {
    entry.fault = true;
    if (fault.delay_ms) {
      await sleep(fault.delay_ms);
      if (req.socket.destroyed) {
        entry.status = -1; // the client gave up: nothing is forwarded
        return;
      }
    }
    if (fault.reset) {
      entry.status = -1;
      req.socket.destroy();
      return;
    }
    if (fault.status) {
      const code = fault.status === 503 ? 'SlowDown' :
        fault.status >= 500 ? 'InternalError' : 'InjectedFault';
      return sendError(req, res, fault.status, code, 'injected fault', entry);
    }
  }
  if (tooBig)
    return sendError(req, res, 400, 'EntityTooLarge', 'The body is too ' +
      'large for this test server', entry);
  const bad = verify(req, body);
  entry.signed = req.signedHeaders;
  if (bad) return sendError(req, res, bad[0], bad[1], bad[2], entry);
  const url = pathStyle(req);
  const u = new URL(url, 'http://x');
  const parts = u.pathname.split('/');
  const bucket = decodeURIComponent(parts[1] || '');
  const key = parts.slice(2).map(decodeURIComponent).join('/');
  if (bucket && multipart(req, res, bucket, key, u.searchParams, entry))
    return;
  forward(req, res, body, entry, fault ? fault.cut_after : undefined, url);
}

// A virtual-hosted request (Host: BUCKET.localhost:PORT) as the path-style
// URL s3rver is given; a path-style one as it is.
function pathStyle(req) {
  const host = String(req.headers.host || '').replace(/:\d+$/, '');
  const m = /^(.+)\.localhost$/.exec(host);
  if (!m) return req.url;
  const q = req.url.indexOf('?');
  const p = q < 0 ? req.url : req.url.slice(0, q);
  return '/' + m[1] + (p === '/' ? '' : p) + (q < 0 ? '' : req.url.slice(q));
}

const server = http.createServer((req, res) => {
  const chunks = [];
  let size = 0;
  req.on('data', c => {
    size += c.length;
    if (size <= MAX_BODY) chunks.push(c);
  });
  req.on('end', () => {
    handle(req, res, Buffer.concat(chunks), size > MAX_BODY).catch(err => {
      if (!res.headersSent)
        sendError(req, res, 500, 'InternalError', String(err));
    });
  });
});
server.keepAliveTimeout = 30000;
server.requestTimeout = 0;

function shutdown() {
  const pid = Number(args['s3rver-pid']);
  if (pid) {
    try {
      process.kill(pid, 'SIGTERM');
    } catch { /* already gone */ }
  }
  process.exit(0);
}

server.listen(Number(args.port || 0), '127.0.0.1', () => {
  console.log('FRONT_PORT=' + server.address().port);
});
process.on('SIGTERM', () => process.exit(0));
process.on('SIGINT', () => process.exit(0));
const owner = Number(args['owner-pid']);
if (owner) {
  setInterval(() => {
    try {
      process.kill(owner, 0);
    } catch {
      shutdown();
    }
  }, 1000);
}
