#!/usr/bin/env node
/*
 * check_spec: checks real server replies against api/openapi.yaml.
 *
 *   node tests/api/check_spec.mjs api/openapi.yaml LOG.jsonl
 *   node tests/api/check_spec.mjs --self-test [api/openapi.yaml]
 *
 * Each LOG line is {"method","path","status","content_type","body"}: the
 * request's method and path as sent (query included), the reply's status,
 * Content-Type header and body text.  For each line the operation is found
 * by method and path template (the query is ignored; HEAD is answered by the
 * GET operation, without a body; a literal segment beats a parameter), then
 * the response for the status (exact, then "4XX"-style, then "default"):
 *
 *   - a status the operation does not document is a failure;
 *   - a path no template matches may only get what the router sends
 *     (x-router-responses: 400, 404), a path whose templates lack the
 *     method likewise (400, 405);
 *   - the Content-Type must be one of the response's media types (none and
 *     an empty body when it documents no content);
 *   - a JSON body is parsed and validated against the media type's schema
 *     (JSON Schema 2020-12, formats checked); a text body against a string
 *     schema (its pattern); a text/event-stream body frame by frame, each
 *     frame's data against the media type's x-event-data schema.
 *     A body the request asked to be compressed (a "compression" query
 *     parameter the operation declares, other than "none") is not parsed.
 *
 * Prints one "FAIL: ..." line per failure and a Check-style summary line;
 * exits 1 when anything failed.  --self-test checks the checker: schemas
 * and examples of the spec compile and validate, and known-good and
 * known-bad replies are judged as they should be.
 */
import { readFileSync } from "node:fs";
import { dirname, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import { createRequire } from "node:module";

// The npm packages: VS_NODE_MODULES_API names their node_modules when this
// file runs from a copy without them (make distcheck).
const modules = process.env.VS_NODE_MODULES_API;
const require = createRequire(modules ? resolve(modules, "..") + "/" :
                              import.meta.url);
const Ajv2020 = require("ajv/dist/2020").default;
const addFormats = require("ajv-formats").default;
const YAML = require("yaml");

const SPEC_ID = "openapi.json";
const METHODS = ["get", "put", "post", "delete", "patch", "options", "head"];

/* ---- the spec ----------------------------------------------------------- */

function pointerEscape(s) {
  return s.replace(/~/g, "~0").replace(/\//g, "~1");
}

function pointerGet(doc, ptr) {
  let node = doc;
  for (const raw of ptr.split("/").slice(1)) {
    const key = raw.replace(/~1/g, "/").replace(/~0/g, "~");
    if (node === null || typeof node !== "object" || !(key in node))
      throw new Error(`unresolved reference #${ptr}`);
    node = node[key];
  }
  return node;
}

class Spec {
  constructor(file) {
    this.file = file;
    this.doc = YAML.parse(readFileSync(file, "utf8"), { maxAliasCount: -1 });
    this.ajv = new Ajv2020({
      strict: false,
      allErrors: true,
      validateFormats: true,
    });
    addFormats(this.ajv);
    this.ajv.addSchema(this.doc, SPEC_ID);
    this.validators = new Map();
    this.templates = Object.keys(this.doc.paths || {}).map((t) => ({
      template: t,
      segs: t === "/" ? [""] : t.split("/").slice(1),
      item: this.doc.paths[t],
      ptr: `/paths/${pointerEscape(t)}`,
    }));
  }

  /* Follows local $refs; returns [object, JSON pointer of the object]. */
  deref(obj, ptr) {
    for (let hops = 0; obj && typeof obj === "object" && obj.$ref; hops++) {
      if (hops > 16 || !obj.$ref.startsWith("#/"))
        throw new Error(`unsupported reference ${obj.$ref}`);
      ptr = obj.$ref.slice(1);
      obj = pointerGet(this.doc, ptr);
    }
    return [obj, ptr];
  }

  /* The compiled validator of the schema at a JSON pointer. */
  validator(ptr) {
    let v = this.validators.get(ptr);
    if (!v) {
      v = this.ajv.compile({ $ref: `${SPEC_ID}#${ptr}` });
      this.validators.set(ptr, v);
    }
    return v;
  }

  /* Templates matching a raw path, most specific first. */
  match(path) {
    const segs = path === "/" ? [""] : path.split("/").slice(1);
    const hits = this.templates.filter(
      (t) =>
        path.startsWith("/") &&
        t.segs.length === segs.length &&
        t.segs.every((s, i) =>
          /^\{[^}]+\}$/.test(s) ? segs[i] !== "" : s === segs[i],
        ),
    );
    const rank = (t) => t.segs.map((s) => (s.startsWith("{") ? "1" : "0")).join("");
    return hits.sort((a, b) => (rank(a) < rank(b) ? -1 : rank(a) > rank(b) ? 1 : 0));
  }
}

/* ---- judging one reply ---------------------------------------------------- */

function ajvErrors(errors) {
  return (errors || [])
    .slice(0, 8)
    .map((e) => `${e.instancePath || "/"} ${e.message}` +
      (e.params && Object.keys(e.params).length ? ` ${JSON.stringify(e.params)}` : ""))
    .join("; ");
}

function mediaMatches(key, ct) {
  if (key === "*/*") return true;
  if (key.endsWith("/*")) return ct.startsWith(key.slice(0, -1));
  return key === ct;
}

function isJson(mt) {
  return mt === "application/json" || /^application\/[^;]+\+json$/.test(mt);
}

function queryOf(path) {
  const q = path.indexOf("?");
  return new URLSearchParams(q < 0 ? "" : path.slice(q + 1));
}

/* Server-Sent Events frames: each {id, event, data} plus comment lines. */
function parseSse(text) {
  const frames = [];
  const problems = [];
  for (const block of text.split(/\n\n/)) {
    if (!block.trim()) continue;
    const f = {};
    for (const line of block.split("\n")) {
      if (line.startsWith(":")) continue; /* comment (heartbeat) */
      const m = /^([a-z-]+): ?(.*)$/i.exec(line);
      if (!m) {
        problems.push(`malformed line ${JSON.stringify(line)}`);
        continue;
      }
      f[m[1]] = f[m[1]] === undefined || m[1] !== "data" ? m[2] : f[m[1]] + "\n" + m[2];
    }
    if (Object.keys(f).length) frames.push(f);
  }
  return { frames, problems };
}

/* Returns a list of problems (empty: the reply conforms). */
function judge(spec, rec) {
  const problems = [];
  const method = String(rec.method || "").toUpperCase();
  const rawPath = String(rec.path || "");
  const path = rawPath.split("?")[0];
  const status = String(rec.status);
  const body = rec.body === undefined || rec.body === null ? "" : String(rec.body);
  const ct = String(rec.content_type || "").split(";")[0].trim().toLowerCase();
  const head = method === "HEAD";

  const hits = spec.match(path);
  const opKey = head ? "get" : method.toLowerCase();
  let responses, respPtr, op = null, opPtr = null, where;
  const hit = hits.find((t) => METHODS.includes(opKey) && t.item[opKey]);
  if (hit) {
    op = hit.item[opKey];
    opPtr = `${hit.ptr}/${opKey}`;
    responses = op.responses || {};
    respPtr = `${opPtr}/responses`;
    where = `${op.operationId || method + " " + hit.template}`;
  } else {
    const router = spec.doc["x-router-responses"] || {};
    const allowed = hits.length ? ["400", "405"] : ["400", "404"];
    responses = {};
    for (const s of allowed)
      if (router.responses && router.responses[s]) responses[s] = router.responses[s];
    respPtr = "/x-router-responses/responses";
    where = hits.length ? `router (no ${method} on ${hits[0].template})` : "router (no route)";
  }

  const key = [status, `${status[0]}XX`, "default"].find((k) => responses[k]);
  if (!key) {
    problems.push(`${where}: status ${status} is not documented` +
      ` (documented: ${Object.keys(responses).join(", ") || "none"})`);
    return problems;
  }
  const [resp, rptr] = spec.deref(responses[key], `${respPtr}/${pointerEscape(key)}`);
  const content = resp.content || {};
  const types = Object.keys(content);
  if (!types.length) {
    if (!head && body.length)
      problems.push(`${where} ${status}: a body where the spec documents none`);
    return problems;
  }
  if (head && !body.length && !ct) return problems;
  const mt = types.find((t) => mediaMatches(t.toLowerCase(), ct));
  if (!mt) {
    problems.push(`${where} ${status}: Content-Type '${ct}' is not one of ${types.join(", ")}`);
    return problems;
  }
  if (head) return problems;
  const [media, mptr0] = spec.deref(content[mt], `${rptr}/content/${pointerEscape(mt)}`);
  const mptr = mptr0;
  if (!media.schema) return problems;
  const sptr = `${mptr}/schema`;

  /* An explicitly compressed body is opaque here. */
  const q = queryOf(rawPath);
  const declaresCompression = (op && op.parameters || []).some((p) => {
    const [pp] = spec.deref(p, "");
    return pp.in === "query" && pp.name === "compression";
  });
  if (declaresCompression && q.has("compression") && q.get("compression") !== "none")
    return problems;

  if (isJson(mt.toLowerCase())) {
    let value;
    try {
      value = JSON.parse(body);
    } catch (e) {
      problems.push(`${where} ${status}: body is not JSON: ${e.message}`);
      return problems;
    }
    const v = spec.validator(sptr);
    if (!v(value))
      problems.push(`${where} ${status} ${mt}: ${ajvErrors(v.errors)}`);
    return problems;
  }
  if (mt === "text/event-stream" && media["x-event-data"]) {
    const { frames, problems: bad } = parseSse(body);
    for (const b of bad) problems.push(`${where} ${status} event stream: ${b}`);
    const v = spec.validator(`${mptr}/x-event-data`);
    frames.forEach((f, i) => {
      if (f.id !== undefined && !/^[0-9]+$/.test(f.id))
        problems.push(`${where} event ${i}: id '${f.id}' is not a number`);
      if (!["progress", "done", "error"].includes(f.event))
        problems.push(`${where} event ${i}: event '${f.event}' unknown`);
      let value;
      try {
        value = JSON.parse(f.data);
      } catch (e) {
        problems.push(`${where} event ${i}: data is not JSON: ${e.message}`);
        return;
      }
      if (!v(value))
        problems.push(`${where} event ${i} data: ${ajvErrors(v.errors)}`);
      else if (f.event === "done" && value.state !== "done")
        problems.push(`${where} event ${i}: a done event in state '${value.state}'`);
      else if (f.event === "error" && !["failed", "cancelled"].includes(value.state))
        problems.push(`${where} event ${i}: an error event in state '${value.state}'`);
    });
    return problems;
  }
  const [schema] = spec.deref(media.schema, sptr);
  if (schema.type === "string") {
    const v = spec.validator(sptr);
    if (!v(body))
      problems.push(`${where} ${status} ${mt}: ${ajvErrors(v.errors)}`);
  }
  return problems;
}

/* ---- modes ---------------------------------------------------------------- */

function summary(checks, failures, errors) {
  const pct = checks ? Math.floor(((checks - failures - errors) * 100) / checks) : 100;
  console.log(`${pct}%: Checks: ${checks}, Failures: ${failures}, Errors: ${errors}`);
  return failures || errors ? 1 : 0;
}

function checkLog(spec, logFile) {
  let checks = 0, failures = 0, errors = 0;
  const lines = readFileSync(logFile, "utf8").split("\n");
  lines.forEach((line, i) => {
    if (!line.trim()) return;
    checks++;
    let rec;
    try {
      rec = JSON.parse(line);
    } catch (e) {
      errors++;
      console.log(`ERROR: ${logFile}:${i + 1}: not a JSON line: ${e.message}`);
      return;
    }
    let problems;
    try {
      problems = judge(spec, rec);
    } catch (e) {
      errors++;
      console.log(`ERROR: ${logFile}:${i + 1}: ${e.message}`);
      return;
    }
    if (problems.length) {
      failures++;
      for (const p of problems)
        console.log(`FAIL: ${logFile}:${i + 1}: ${rec.method} ${rec.path} -> ${rec.status}: ${p}`);
    }
  });
  return summary(checks, failures, errors);
}

/* Every schema of components.schemas is valid 2020-12 and compiles; every
 * example (media type, component) validates against its schema. */
function selfTestSpec(spec, check) {
  const schemas = (spec.doc.components && spec.doc.components.schemas) || {};
  for (const name of Object.keys(schemas)) {
    check(`schema ${name} compiles`, () => {
      const ptr = `/components/schemas/${pointerEscape(name)}`;
      if (!spec.ajv.validateSchema(schemas[name]))
        return ajvErrors(spec.ajv.errors);
      spec.validator(ptr);
      return "";
    });
  }
  const walk = (node, ptr) => {
    if (!node || typeof node !== "object") return;
    if (node.schema && ("example" in node || "examples" in node) &&
        /\/content\/[^/]+$/.test(ptr)) {
      const [mtSchema] = spec.deref(node.schema, `${ptr}/schema`);
      const mt = decodeURIComponent(ptr.split("/").pop().replace(/~1/g, "/"));
      const exs = [];
      if ("example" in node) exs.push(["example", node.example]);
      for (const [k, e] of Object.entries(node.examples || {}))
        exs.push([k, spec.deref(e, "")[0].value]);
      for (const [k, value] of exs) {
        if (!isJson(mt) && mtSchema.type !== "string") continue;
        check(`example ${k} at ${ptr}`, () => {
          const v = spec.validator(`${ptr}/schema`);
          return v(value) ? "" : ajvErrors(v.errors);
        });
      }
    }
    for (const [k, child] of Object.entries(node))
      if (k !== "example" && k !== "examples" || node.schema === undefined)
        walk(child, `${ptr}/${pointerEscape(k)}`);
  };
  walk(spec.doc.paths, "/paths");
  walk(spec.doc.components && spec.doc.components.responses, "/components/responses");
  /* Every component is referenced somewhere (extensions included). */
  const refs = new Set();
  const collect = (node) => {
    if (!node || typeof node !== "object") return;
    if (typeof node.$ref === "string") refs.add(node.$ref);
    for (const child of Object.values(node)) collect(child);
  };
  collect(spec.doc);
  const comps = spec.doc.components || {};
  for (const kind of ["schemas", "responses", "parameters", "headers", "examples"]) {
    for (const name of Object.keys(comps[kind] || {})) {
      const target = `#/components/${kind}/${pointerEscape(name)}`;
      check(`component ${kind}/${name} is used`, () =>
        [...refs].some((r) => r === target || r.startsWith(`${target}/`))
          ? "" : "never referenced");
    }
  }
  /* Every operation: id, summary, tags; 2xx and 4xx documented. */
  for (const t of spec.templates) {
    for (const m of METHODS) {
      const op = t.item[m];
      if (!op) continue;
      check(`operation ${m.toUpperCase()} ${t.template} is complete`, () => {
        const miss = ["operationId", "summary", "tags"].filter((k) => !op[k]);
        const codes = Object.keys(op.responses || {});
        if (!codes.some((c) => c.startsWith("2"))) miss.push("a 2xx response");
        if (!codes.some((c) => c.startsWith("4"))) miss.push("a 4xx response");
        return miss.length ? `missing ${miss.join(", ")}` : "";
      });
    }
  }
}

const MANIFEST = {
  manifest_version: 1,
  id: "20261124T220055.123Z-1a2b3c",
  name: null,
  created: "2026-11-24T22:00:55.123Z",
  kind: "full",
  origin: "save",
  format: "binary",
  compression: "zstd",
  bytes: 100,
  sha256: "a".repeat(64),
  content_verified: true,
  seq: 3,
  records: 3,
  file: "data.vsnap.zst",
  collections: [{ name: "docs", dimension: 3, metric: "cosine", count: 3 }],
};
const JOB = {
  id: "j-20261124T220055-1a2b3c",
  operation: "save",
  state: "done",
  created: "2026-11-24T22:00:55.120Z",
  started: "2026-11-24T22:00:55.121Z",
  finished: "2026-11-24T22:00:55.300Z",
  percentage: 100,
  current: 3,
  total: 3,
  message: null,
  result: { snapshot: MANIFEST },
  error: null,
};
const J = "application/json";
const err = (code, extra = {}) => JSON.stringify({ error: { code, message: "x" }, ...extra });
const sse = (frames) =>
  frames.map(([id, ev, data]) => `id: ${id}\nevent: ${ev}\ndata: ${JSON.stringify(data)}\n\n`).join("");

/* [description, log record, should it pass] */
const CASES = [
  ["collection", ["GET", "/v1/collections/docs", 200, J,
    '{"name":"docs","dimension":3,"metric":"cosine","count":0}'], true],
  ["collection with a negative count", ["GET", "/v1/collections/docs", 200, J,
    '{"name":"docs","dimension":3,"metric":"cosine","count":-1}'], false],
  ["collection with an unknown metric", ["GET", "/v1/collections/docs", 200, J,
    '{"name":"docs","dimension":3,"metric":"l1","count":0}'], false],
  ["collection with an extra member", ["GET", "/v1/collections/docs", 200, J,
    '{"name":"docs","dimension":3,"metric":"cosine","count":0,"x":1}'], false],
  ["collection wrapped, not documented so", ["GET", "/v1/collections/docs", 200, J,
    '{"collection":{"name":"docs","dimension":3,"metric":"cosine","count":0}}'], false],
  ["a body that is not JSON", ["GET", "/v1/collections", 200, J, "{"], false],
  ["list", ["GET", "/v1/collections?x=1", 200, "application/json; charset=utf-8",
    '{"collections":[{"name":"a.b-c_d","dimension":1,"metric":"dot","count":5}]}'], true],
  ["a name '..'", ["GET", "/v1/collections", 200, J,
    '{"collections":[{"name":"..","dimension":1,"metric":"dot","count":5}]}'], false],
  ["HEAD without a body", ["HEAD", "/v1/collections", 200, J, ""], true],
  ["an undocumented status", ["GET", "/v1/collections", 418, J, err("invalid")], false],
  ["404 with the right code", ["GET", "/v1/collections/nope", 404, J, err("not_found")], true],
  ["404 with the wrong code", ["GET", "/v1/collections/nope", 404, J, err("notfound")], false],
  ["an error without a message", ["GET", "/v1/collections/nope", 404, J,
    '{"error":{"code":"not_found"}}'], false],
  ["a literal segment beats a parameter", ["POST", "/v1/snapshots/upload?name=a", 201, J,
    JSON.stringify({ snapshot: MANIFEST })], true],
  ["no route", ["GET", "/nope", 404, J, err("not_found")], true],
  ["no route, but 405", ["GET", "/nope", 405, J, err("method_not_allowed")], false],
  ["wrong method", ["PATCH", "/v1/collections/docs", 405, J, err("method_not_allowed")], true],
  ["wrong method, but 404", ["PATCH", "/v1/collections/docs", 404, J, err("not_found")], false],
  ["upsert error with upserted", ["PUT", "/v1/collections/docs/vectors", 400, J,
    err("invalid", { upserted: 2 })], true],
  ["record", ["GET", "/v1/collections/docs/vectors/b%2Fc", 200, J,
    '{"id":"b/c","vector":[0.1,-3.4028235e+38,1e-45],"metadata":{}}'], true],
  ["record without metadata", ["GET", "/v1/collections/docs/vectors/a", 200, J,
    '{"id":"a","vector":[1]}'], false],
  ["record with a null float", ["GET", "/v1/collections/docs/vectors/a", 200, J,
    '{"id":"a","vector":[null],"metadata":{}}'], false],
  ["search", ["POST", "/v1/collections/docs/search", 200, J,
    '{"results":[{"id":"a","score":0.5,"metadata":{"t":1}}]}'], true],
  ["job accepted", ["POST", "/v1/save", 202, J, JSON.stringify({ job: {
    ...JOB, state: "queued", started: null, finished: null, percentage: 0,
    current: 0, total: 0, result: null } })], true],
  ["job done", ["GET", "/v1/jobs/j-20261124T220055-1a2b3c", 200, J,
    JSON.stringify({ job: JOB })], true],
  ["job done with an error", ["GET", "/v1/jobs/j-20261124T220055-1a2b3c", 200, J,
    JSON.stringify({ job: { ...JOB, error: { code: "io_error", message: "x" } } })], false],
  ["job done at 99 %", ["GET", "/v1/jobs/j-20261124T220055-1a2b3c", 200, J,
    JSON.stringify({ job: { ...JOB, percentage: 99 } })], false],
  ["job save with a verify result", ["GET", "/v1/jobs/j-20261124T220055-1a2b3c", 200, J,
    JSON.stringify({ job: { ...JOB, result: { verify: { snapshot: MANIFEST.id, ok: true,
      bytes: 1, sha256: "b".repeat(64), records: 1 } } } })], false],
  ["job failed without an error", ["GET", "/v1/jobs/j-20261124T220055-1a2b3c", 200, J,
    JSON.stringify({ job: { ...JOB, state: "failed", result: null } })], false],
  ["job with a bad time", ["GET", "/v1/jobs/j-20261124T220055-1a2b3c", 200, J,
    JSON.stringify({ job: { ...JOB, created: "yesterday" } })], false],
  ["wait failure with the job", ["POST", "/v1/snapshots/20261124T220055.123Z-1a2b3c/verify?wait=true",
    422, J, err("corrupt", { job: { ...JOB, operation: "verify", state: "failed",
      result: null, percentage: 10, error: { code: "corrupt", message: "sha256" } } })], true],
  ["snapshot delete: no body", ["DELETE", "/v1/snapshots/20261124T220055.123Z-1a2b3c", 204, "", ""], true],
  ["snapshot delete: a body on 204", ["DELETE", "/v1/snapshots/20261124T220055.123Z-1a2b3c", 204,
    J, "{}"], false],
  ["checksum line", ["GET", "/v1/snapshots/20261124T220055.123Z-1a2b3c/sha256", 200,
    "text/plain", `${"c".repeat(64)}  vecsnap-20261124T220055.123Z-1a2b3c.vsnap.zst\n`], true],
  ["checksum line, one space", ["GET", "/v1/snapshots/20261124T220055.123Z-1a2b3c/sha256", 200,
    "text/plain", `${"c".repeat(64)} vecsnap-20261124T220055.123Z-1a2b3c.vsnap.zst\n`], false],
  ["metrics", ["GET", "/metrics", 200, "text/plain; version=0.0.4; charset=utf-8",
    "# HELP vecsnap_ready 1\n# TYPE vecsnap_ready gauge\nvecsnap_ready 1\n"], true],
  ["metrics as JSON", ["GET", "/metrics", 200, J, "{}"], false],
  ["events", ["GET", "/v1/jobs/j-20261124T220055-1a2b3c/events", 200, "text/event-stream",
    ": heartbeat\n\n" + sse([
      [1, "progress", { job: JOB.id, operation: "save", state: "running", percentage: 5,
        current: 1, total: 20, message: "writing" }],
      [2, "done", { job: JOB.id, operation: "save", state: "done", percentage: 100,
        current: 20, total: 20, message: null, result: { snapshot: MANIFEST } }]])], true],
  ["events: done without a result", ["GET", "/v1/jobs/j-20261124T220055-1a2b3c/events", 200,
    "text/event-stream", sse([[2, "done", { job: JOB.id, operation: "save", state: "done",
      percentage: 100, current: 20, total: 20, message: null }]])], false],
  ["events: error event of a running job", ["GET", "/v1/jobs/j-20261124T220055-1a2b3c/events",
    200, "text/event-stream", sse([[2, "error", { job: JOB.id, operation: "save",
      state: "running", percentage: 1, current: 0, total: 0, message: null }]])], false],
  ["export, compressed on request: opaque", ["GET", "/v1/export?format=json&compression=gzip",
    200, J, "\x1f\x8b\x08binary"], true],
  ["export JSON", ["GET", "/v1/export?format=json", 200, J, JSON.stringify({
    format: "vecsnap", version: 1, seq: 1, collections: [{ name: "d", dimension: 1,
      metric: "cosine", count: 1, records: [{ id: "a", vector: [1], metadata: {} }] }],
    sha256: "d".repeat(64) })], true],
  ["export JSON, not a document", ["GET", "/v1/export?format=json", 200, J, "[]"], false],
  ["readyz loading", ["GET", "/readyz", 503, J, '{"status":"loading"}'], true],
  ["readyz 503 as an error", ["GET", "/readyz", 503, J, err("unavailable")], false],
  ["autosave", ["GET", "/v1/autosave", 200, J, JSON.stringify({ interval_s: 0,
    after_changes: 0, keep: 10, enabled: false, changes: 0, last_save: null, last_error: null,
    format: "binary", compression: "zstd" })], true],
  ["autosave without enabled", ["GET", "/v1/autosave", 200, J, JSON.stringify({
    interval_s: 0, after_changes: 0, keep: 10, changes: 0, last_save: null, last_error: null,
    format: "binary", compression: "zstd" })], false],
];

function selfTest(specFile) {
  const spec = new Spec(specFile);
  let checks = 0, failures = 0;
  const check = (what, fn) => {
    checks++;
    let why;
    try {
      why = fn();
    } catch (e) {
      why = `threw: ${e.message}`;
    }
    if (why) {
      failures++;
      console.log(`FAIL: self-test: ${what}: ${why}`);
    }
  };
  selfTestSpec(spec, check);
  for (const [what, [method, path, status, ct, body], good] of CASES) {
    check(`${what} should ${good ? "pass" : "fail"}`, () => {
      const problems = judge(spec, { method, path, status, content_type: ct, body });
      if (good && problems.length) return problems.join(" | ");
      if (!good && !problems.length) return "it passed";
      return "";
    });
  }
  return summary(checks, failures, 0);
}

function main(argv) {
  const here = dirname(fileURLToPath(import.meta.url));
  const defaultSpec = resolve(here, "../../api/openapi.yaml");
  if (argv[0] === "--self-test") return selfTest(argv[1] || defaultSpec);
  if (argv.length !== 2) {
    console.error("usage: check_spec.mjs SPEC LOG.jsonl | --self-test [SPEC]");
    return 2;
  }
  return checkLog(new Spec(argv[0]), argv[1]);
}

process.exitCode = main(process.argv.slice(2));
