// The crash test's load generator and checker (tests/crash/crash.sh).  It
// owns the model of what the server acknowledged: every write it sent,
// per record id, with the time its answer came (or none, when the server
// died first), kept in a JSON file between runs and never in the server.
//
//   node load.mjs run --base URL --pid PID --model FILE [options]
//     Several writers (--writers, 4), each on ids of its own (--ids per
//     writer, 40) so that each id's writes are sequential: upserts of 1-3
//     records with fresh content, single deletes and batch deletes.  After
//     a random time (--min-ms .. --max-ms) the server gets SIGKILL, while
//     the writes go on; with probability --snapshot-p a snapshot is asked
//     for first (full, or incremental one time in three) and the kill
//     lands 0-40 ms after its job started.  Writes in flight at the kill
//     are "maybe" writes.  Prints {"acked","sent","snapshot"}.
//   node load.mjs check --base URL --model FILE [--window-ms W]
//     Reads the collection back (GET /v1/export, JSON) and, for every id,
//     finds the newest write whose content it holds: acknowledged writes
//     after that one are lost -- allowed only when acknowledged within W
//     ms of the kill (everysec; 0 for always).  Content that no write gave
//     is wrong, a record never written a phantom.  Then the model becomes
//     what the server holds.  Prints {"ids","lost","max_lost_age_ms",
//     "wrong","phantom"}; exits 1 when anything is out of bounds.
import { readFileSync, writeFileSync, existsSync } from "node:fs";

const args = {};
for (let i = 3; i < process.argv.length; i += 2)
  args[process.argv[i].replace(/^--/, "")] = process.argv[i + 1];
const mode = process.argv[2];
const base = args.base;
const collection = args.collection || "crash";
const modelFile = args.model;

let rng = Number(args.seed || Date.now()) >>> 0 || 1;
function rand() { // xorshift32, in [0, 1)
  rng ^= rng << 13; rng >>>= 0;
  rng ^= rng >>> 17;
  rng ^= rng << 5; rng >>>= 0;
  return rng / 4294967296;
}
const pick = (n) => Math.floor(rand() * n);

function loadModel() {
  if (existsSync(modelFile)) return JSON.parse(readFileSync(modelFile, "utf8"));
  return { serial: 0, base: {}, ops: {}, kill: 0 };
}
const same = (a, b) => JSON.stringify(a) === JSON.stringify(b);

async function call(method, path, body) {
  const res = await fetch(base + path, {
    method,
    headers: body ? { "Content-Type": "application/json" } : {},
    body: body ? JSON.stringify(body) : undefined,
  });
  const text = await res.text();
  return { status: res.status, text };
}

async function run() {
  const model = loadModel();
  const writers = Number(args.writers || 4), ids = Number(args.ids || 40);
  const minMs = Number(args["min-ms"] || 200), maxMs = Number(args["max-ms"] || 700);
  const snapP = Number(args["snapshot-p"] || 0.5);
  const pid = Number(args.pid);
  let stop = false, acked = 0, sent = 0, snapshot = "none";
  const state = (id) => {
    const ops = model.ops[id] || [];
    for (let i = ops.length - 1; i >= 0; i--) if (ops[i].ack) return ops[i].state;
    return model.base[id] ?? null;
  };
  const record = (id, st) => {
    (model.ops[id] ||= []).push({ state: st, ack: 0 });
    return model.ops[id][model.ops[id].length - 1];
  };

  async function writer(w) {
    const mine = Array.from({ length: ids }, (_, k) => `w${w}-${k}`);
    while (!stop) {
      const r = rand();
      const live = mine.filter((id) => state(id) !== null);
      let req, entries = [];
      if (r < 0.6 || live.length === 0) {
        const n = 1 + pick(3), recs = [];
        for (let i = 0; i < n; i++) {
          const id = mine[pick(mine.length)];
          if (recs.some((x) => x.id === id)) continue;
          const s = ++model.serial;
          const rec = { id, vector: [w, s % 1000, (s % 7) * 0.5, -1], metadata: { s } };
          recs.push(rec);
          entries.push(record(id, { vector: rec.vector, metadata: rec.metadata }));
        }
        req = ["PUT", `/v1/collections/${collection}/vectors`, { vectors: recs }];
      } else if (r < 0.85) {
        const id = live[pick(live.length)];
        entries.push(record(id, null));
        req = ["DELETE", `/v1/collections/${collection}/vectors/${id}`];
      } else {
        const n = 1 + pick(3), chosen = [];
        for (let i = 0; i < n; i++) {
          const id = mine[pick(mine.length)];
          if (!chosen.includes(id)) chosen.push(id);
        }
        for (const id of chosen) entries.push(record(id, null));
        req = ["POST", `/v1/collections/${collection}/delete`, { ids: chosen }];
      }
      sent++;
      let res;
      try {
        res = await call(...req);
      } catch {
        return; // the server is gone: these writes may or may not be in
      }
      if (res.status === 200) {
        const t = Date.now();
        for (const e of entries) e.ack = t;
        acked++;
      } else {
        // a refusal applied nothing; anything else is not acknowledged
        if (res.status >= 400 && res.status < 500)
          for (const e of entries) e.refused = true;
        if (res.status >= 500) return;
      }
    }
  }

  async function killer() {
    await new Promise((r) => setTimeout(r, minMs + pick(maxMs - minMs + 1)));
    if (rand() < snapP) {
      const body = pick(3) === 0 ? { kind: "incremental" } : undefined;
      try {
        const res = await call("POST", "/v1/snapshots", body);
        snapshot = res.status === 202 ? (body ? "incremental" : "full") : `refused ${res.status}`;
      } catch {
        snapshot = "failed";
      }
      await new Promise((r) => setTimeout(r, pick(41)));
    }
    model.kill = Date.now();
    process.kill(pid, "SIGKILL");
    stop = true;
  }

  await Promise.all([killer(), ...Array.from({ length: writers }, (_, w) => writer(w))]);
  for (const id of Object.keys(model.ops))
    model.ops[id] = model.ops[id].filter((e) => !e.refused);
  writeFileSync(modelFile, JSON.stringify(model));
  console.log(JSON.stringify({ acked, sent, snapshot }));
}

async function check() {
  const model = loadModel();
  const windowMs = Number(args["window-ms"] || 0);
  const res = await call("GET", `/v1/export?format=json&collections=${collection}`);
  if (res.status !== 200 && res.status !== 404) {
    console.log(JSON.stringify({ error: `export: ${res.status} ${res.text.slice(0, 200)}` }));
    process.exit(1);
  }
  const held = {}; // a lost collection holds nothing
  if (res.status === 200)
    for (const r of JSON.parse(res.text).collections[0].records)
      held[r.id] = { vector: r.vector, metadata: r.metadata };
  let lost = 0, wrong = 0, phantom = 0, maxAge = 0, worst = "";
  const all = new Set([...Object.keys(model.base), ...Object.keys(model.ops), ...Object.keys(held)]);
  for (const id of all) {
    const obs = held[id] ?? null;
    const ops = model.ops[id] || [];
    const known = id in model.base || ops.length > 0;
    if (!known && obs !== null) { phantom++; worst ||= `phantom ${id}`; continue; }
    let k = -2;
    for (let i = ops.length - 1; i >= 0 && k === -2; i--) if (same(ops[i].state, obs)) k = i;
    if (k === -2 && same(model.base[id] ?? null, obs)) k = -1;
    if (k === -2) { wrong++; worst ||= `wrong ${id}: ${JSON.stringify(obs)}`; continue; }
    for (let i = k + 1; i < ops.length; i++) {
      if (!ops[i].ack) continue;
      lost++;
      const age = model.kill - ops[i].ack;
      if (age > maxAge) maxAge = age;
      worst ||= `lost ${id}: acked ${age} ms before the kill`;
    }
    model.base[id] = obs;
  }
  model.ops = {};
  writeFileSync(modelFile, JSON.stringify(model));
  const ok = wrong === 0 && phantom === 0 && (lost === 0 || maxAge <= windowMs);
  console.log(JSON.stringify({ ids: all.size, lost, max_lost_age_ms: maxAge, wrong, phantom, worst }));
  process.exit(ok ? 0 : 1);
}

if (mode === "run") await run();
else if (mode === "check") await check();
else {
  console.error("usage: node load.mjs run|check --base URL --model FILE ...");
  process.exit(2);
}
