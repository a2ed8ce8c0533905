#!/usr/bin/env bash
# Incremental snapshots over HTTP end to end: the first one falls back to
# full, links name their parent and base, bad requests are 400, a restart
# from an incremental CURRENT rebuilds the store, deletion refuses what
# others depend on (409) unless cascading, compaction makes one full
# snapshot and carries CURRENT, an uploaded link is refused, a tampered
# link fails a restore without touching the store; then the vecsnap tool
# inspects, verifies and compacts chains.  See lib.sh for how the server is
# driven; VECSNAP names the vecsnap tool.
set -u
. "$(dirname "$0")/lib.sh"

VECSNAP=${VECSNAP:-src/vecsnap}
DATA=$tmp/data
JOB_WAIT_S=${JOB_WAIT_S:-300}

put_vectors() { # put_vectors COLLECTION JSON-ARRAY
  req PUT "/v1/collections/$1/vectors" -H "$J" -d "{\"vectors\":$2}"
  same "upsert into $1" "$code" 200
}
# snap BODY: POST /v1/snapshots?wait=true; sets $S (id) and $body.
snap() {
  req POST '/v1/snapshots?wait=true' -H "$J" -d "$1"
  same "snapshot $1" "$code" 201
  S=$(jget "$body" j.snapshot.id)
}
field() { jget "$body" "j.snapshot.$1"; }
# state: the store's content, records sorted by id, without seq and
# checksum (a restart may renumber; slot order may differ).
state() {
  curl -s "$base/v1/export?format=json" |
    jq -cS '[.collections[] | .records |= sort_by(.id)]'
}
flip() { # flip FILE OFFSET: xor one byte in place
  node -e 'const fs = require("fs"); const [f, at] = process.argv.slice(1);
    const b = fs.readFileSync(f); b[Number(at)] ^= 0x20; fs.writeFileSync(f, b);' "$1" "$2"
}
data_file() { echo "$DATA/snapshots/$1/$(jq -r .file "$DATA/snapshots/$1/manifest.json")"; }

DATA_DIR=$DATA start --autosave-interval-s 0

# ---- the first one has nothing to build on: full ------------------------------
req PUT /v1/collections/a -H "$J" -d '{"dimension":3}'
req PUT /v1/collections/b -H "$J" -d '{"dimension":2,"metric":"dot"}'
put_vectors a '[{"id":"x","vector":[1,2,3],"metadata":{"k":1}},{"id":"y","vector":[0.5,0.25,-1]},{"id":"z","vector":[3,2,1]}]'
put_vectors b '[{"id":"p","vector":[1,0]},{"id":"q","vector":[0,1]}]'
snap '{"kind":"incremental","name":"first"}'
F=$S
same "no CURRENT: taken full" "$(field kind)" full
same "full: no parent" "$(field parent)" ""
FSEQ=$(field seq)

# ---- links -------------------------------------------------------------------
put_vectors a '[{"id":"x","vector":[9,9,9]},{"id":"w","vector":[1,1,1]}]'
req DELETE /v1/collections/b/vectors/q
same "delete q" "$code" 200
snap '{"kind":"incremental"}'
I1=$S
same "link 1: kind" "$(field kind)" incremental
same "link 1: parent" "$(field parent)" "$F"
same "link 1: base" "$(field base)" "$F"
same "link 1: seq_from" "$(field seq_from)" "$FSEQ"
same "link 1: changed" "$(field changed)" 2
same "link 1: deleted" "$(field deleted)" 1
same "link 1: records of the state" "$(field records)" 5
same "link 1: format" "$(field format)" binary
I1SEQ=$(field seq)

req DELETE /v1/collections/b
req PUT /v1/collections/b -H "$J" -d '{"dimension":4,"metric":"euclidean"}'
put_vectors b '[{"id":"p","vector":[1,2,3,4]}]'
req PUT /v1/collections/c -H "$J" -d '{"dimension":1}'
req POST '/v1/save?wait=true' -H "$J" -d '{"kind":"incremental","compression":"zstd"}'
same "save, incremental" "$code" 201
I2=$(jget "$body" j.snapshot.id)
same "link 2 by /v1/save: parent" "$(field parent)" "$I1"
same "link 2: base" "$(field base)" "$F"
same "link 2: seq_from" "$(field seq_from)" "$I1SEQ"
same "link 2: compression" "$(field compression)" zstd
req GET "/v1/snapshots/$I2"
same "link 2 is CURRENT" "$(jget "$body" j.current)" true
snap '{"kind":"incremental"}'
I3=$S
same "an empty link" "$(field changed)+$(field deleted)" "0+0"
STATE=$(state)

# ---- bad requests ------------------------------------------------------------
expect_err "incremental json" 400 invalid "binary" \
  POST /v1/snapshots -H "$J" -d '{"kind":"incremental","format":"json"}'
expect_err "incremental of some collections" 400 invalid "whole store" \
  POST /v1/snapshots -H "$J" -d '{"kind":"incremental","collections":["a"]}'
expect_err "unknown kind" 400 invalid "full or incremental" \
  POST /v1/snapshots -H "$J" -d '{"kind":"differential"}'
expect_err "kind not a string" 400 invalid "kind" \
  POST /v1/snapshots -H "$J" -d '{"kind":1}'

# ---- verify, and what depends on what ------------------------------------------
req POST "/v1/snapshots/$I3/verify?wait=true"
same "verify the tip: every link" "$code" 200
same "verify: records" "$(jget "$body" j.verify.records)" 5
expect_err "delete the base" 409 busy "$I3" DELETE "/v1/snapshots/$F"
has "names the cascade" "$body" cascade
expect_err "delete a middle link" 409 busy "$I2" DELETE "/v1/snapshots/$I1"
expect_err "a cascade through CURRENT" 409 busy "CURRENT" \
  DELETE "/v1/snapshots/$I1?cascade=true"
expect_err "cascade must be a boolean" 400 invalid "cascade" \
  DELETE "/v1/snapshots/$I1?cascade=maybe"

# ---- a restart from an incremental CURRENT -------------------------------------
stop
DATA_DIR=$DATA start --autosave-interval-s 0
same "the restart rebuilt the store" "$(state)" "$STATE"
req GET /v1/collections/b/vectors/p
same "the re-created collection" "$(jget "$body" j.vector)" "[1,2,3,4]"
req GET /v1/snapshots
same "CURRENT after restart" "$(jget "$body" j.current)" "$I3"
put_vectors a '[{"id":"v","vector":[0,0,1]}]'
snap '{"kind":"incremental"}'
I4=$S
same "a link after the restart" "$(field parent)" "$I3"
same "its change" "$(field changed)" 1

# ---- an uploaded link is refused ---------------------------------------------------
curl -s -o "$tmp/link" "$base/v1/snapshots/$I1/download"
expect_err "upload of a link" 400 invalid "snapshot chain" \
  POST /v1/snapshots/upload --data-binary @"$tmp/link" \
  -H 'Content-Type: application/octet-stream'
expect_err "import of a link" 400 invalid "snapshot chain" \
  POST /v1/import --data-binary @"$tmp/link" \
  -H 'Content-Type: application/octet-stream'

# ---- compaction ----------------------------------------------------------------
expect_err "compact a full snapshot" 400 invalid "no chain" \
  POST "/v1/snapshots/$F/compact"
STATE=$(state)
req POST "/v1/snapshots/$I4/compact?wait=true"
same "compact the tip" "$code" 201
C=$(jget "$body" j.snapshot.id)
same "compact: Location" "$(header Location)" "/v1/snapshots/$C"
same "compact: full" "$(field kind)" full
same "compact: origin" "$(field origin)" compact
same "compact: what" "$(jget "$body" j.compacted)" "$I4"
same "compact: CURRENT moved" "$(jget "$body" j.current)" true
req GET /v1/jobs
same "the compact job is listed (its record checked against the spec)" \
  "$(jget "$body" 'j.jobs.filter(x => x.operation === "compact" && x.state === "done").length')" 1
req GET /v1/snapshots
same "CURRENT is the compacted one" "$(jget "$body" j.current)" "$C"
req POST "/v1/snapshots/$I4/restore?wait=true"
same "restore of the chain's tip" "$code" 200
same "the chain holds the same" "$(state)" "$STATE"
req POST "/v1/snapshots/$C/restore?wait=true"
same "restore of the compacted one" "$code" 200
same "it holds the chain's state" "$(state)" "$STATE"
req DELETE "/v1/snapshots/$F?cascade=true"
same "cascade from the base" "$code" 200
same "newest first" "$(jget "$body" j.deleted)" "[\"$I4\",\"$I3\",\"$I2\",\"$I1\",\"$F\"]"
req GET /v1/snapshots
same "the compacted one stays" "$(jget "$body" 'j.snapshots.map(s => s.id)')" "[\"$C\"]"

# ---- a merge: with the log on, the merged state is a snapshot to build on --------
snap '{"name":"other"}'
O=$S
put_vectors a '[{"id":"m","vector":[2,2,2]}]'
req POST "/v1/snapshots/$C/restore?wait=true" -H "$J" -d '{"mode":"merge"}'
same "merge" "$code" 200
M=$(jget "$body" j.restore.saved_as)
snap '{"kind":"incremental"}'
same "after a merge with the log: a link" "$(field kind)" incremental
same "on the merge's snapshot" "$(field parent)" "$M"
stop

# ---- without the log, nothing holds a merged state: the next one is full ----------
DATA_DIR=$DATA start --autosave-interval-s 0 --wal-fsync off
put_vectors a '[{"id":"m2","vector":[2,2,2]}]'
req POST "/v1/snapshots/$C/restore?wait=true" -H "$J" -d '{"mode":"merge"}'
same "merge without the log" "$code" 200
snap '{"kind":"incremental"}'
same "after a merge: full" "$(field kind)" full
put_vectors a '[{"id":"n","vector":[2,2,3]}]'
snap '{"kind":"incremental"}'
L=$S
same "then links again" "$(field kind)" incremental


# ---- a tampered link: the restore fails, the store is unchanged -----------------
STATE=$(state)
cp "$(data_file "$L")" "$tmp/saved"
flip "$(data_file "$L")" 40
req POST "/v1/snapshots/$L/restore?wait=true"
same "restore of a tampered chain" "$code" 422
has "names the link" "$body" "$L"
same "the store is unchanged" "$(state)" "$STATE"
cp "$tmp/saved" "$(data_file "$L")"
stop

# ---- the vecsnap tool ----------------------------------------------------------
"$VECSNAP" verify "$DATA" >"$tmp/out" 2>&1
same "vecsnap verify DATA" $? 0
has "every chain" "$(cat "$tmp/out")" "all verified"
has "the link's chain" "$(cat "$tmp/out")" "$L: OK (a chain of 2"
"$VECSNAP" inspect "$DATA/snapshots/$L" >"$tmp/out" 2>&1
same "inspect a link" $? 0
has "inspect: kind" "$(cat "$tmp/out")" "kind:        incremental"
has "inspect: parent" "$(cat "$tmp/out")" "parent:"
has "inspect: chain" "$(cat "$tmp/out")" "chain:       2 snapshots"
"$VECSNAP" inspect --json "$DATA/snapshots/$L" >"$tmp/out" 2>&1
same "inspect --json: base" "$(jq -r .snapshot.base "$tmp/out")" \
  "$(jq -r '.chain[0]' "$tmp/out")"
"$VECSNAP" inspect --json "$(data_file "$L")" >"$tmp/out" 2>&1
same "inspect of a link's file alone" "$(jq -r .kind "$tmp/out")" incremental
"$VECSNAP" verify "$(data_file "$L")" >"$tmp/out" 2>&1
same "verify of a link's file alone" $? 0
flip "$(data_file "$L")" 40
"$VECSNAP" verify "$DATA" >"$tmp/out" 2>&1
same "vecsnap verify DATA with a tampered link" $? 1
has "names it" "$(cat "$tmp/out")" "$L"
"$VECSNAP" verify "$DATA/snapshots/$L" >/dev/null 2>&1
same "vecsnap verify SNAPSHOT_DIR with a tampered link" $? 1
cp "$tmp/saved" "$(data_file "$L")"
"$VECSNAP" compact --data-dir "$DATA" "$L" >"$tmp/out" 2>&1
same "vecsnap compact" $? 0
has "CURRENT moves with it" "$(cat "$tmp/out")" "CURRENT moved"
"$VECSNAP" compact --data-dir "$DATA" "$O" >"$tmp/out" 2>&1
same "vecsnap compact of a full snapshot" $? 1
"$VECSNAP" compact "$L" >/dev/null 2>&1
same "vecsnap compact without --data-dir" $? 2
DATA_DIR=$DATA start --autosave-interval-s 0
same "a restart from the compacted CURRENT" "$(state)" "$STATE"
stop

summary
