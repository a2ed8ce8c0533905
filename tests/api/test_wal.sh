#!/usr/bin/env bash
# The write-ahead log in vecsnapd end to end: every acknowledged write
# (create, drop, upserts as JSON and NDJSON, single and batch deletes)
# survives SIGKILL without any save; a torn tail appended to the newest
# segment is dropped at start-up (logged) and nothing else is lost; a
# corrupt record followed by good ones stops start-up (exit 1) with every
# file left as it was; restores and imports keep the log continuous (a
# restart after them and later writes rebuilds the same store);
# point-in-time restore by seq and by time, bounds before the snapshot,
# past the end of the log, and across a gap; wal_fsync off; GET /v1/wal
# and the metrics; a log that cannot be written turns the server read-only
# (503, /readyz says so) without acknowledging the write.  See lib.sh.
set -u
. "$(dirname "$0")/lib.sh"

DATA=$tmp/data
collections() { req GET /v1/collections; echo "$body"; }
record() { req GET "/v1/collections/$1/vectors/$2"; echo "$code $body"; }
put() { # put COLLECTION JSON-ARRAY: a JSON batch upsert that must succeed
  req PUT "/v1/collections/$1/vectors" -H "$J" -d "{\"vectors\":$2}"
  same "upsert into $1" "$code" 200
}
kill9() { # SIGKILL, no save of any kind
  kill -KILL "$pid"
  wait "$pid" 2>/dev/null
  pid=
}
wal_files() { # name and checksum of every file under DATA/wal
  (cd "$DATA/wal" && find . -type f | sort | xargs -r sha256sum)
}
now_rfc3339() { date -u +%Y-%m-%dT%H:%M:%S.%3NZ; }
snapshot() { # snapshot: a whole-store snapshot; sets $snap to its id
  req POST '/v1/snapshots?wait=true'
  same "snapshot" "$code" 201
  snap=$(jget "$body" j.snapshot.id)
}
restore() { # restore ID BODY: a restore waited for
  req POST "/v1/snapshots/$1/restore?wait=true" -H "$J" -d "$2"
}

# ---- writes survive SIGKILL without a save -----------------------------------
DATA_DIR=$DATA start --autosave-interval-s 0
req GET /v1/wal
same "the log is on by default" \
  "$(jget "$body" '[j.enabled, j.fsync, j.last_seq, j.read_only].join()')" \
  "true,everysec,0,false"
req PUT /v1/collections/a -H "$J" -d '{"dimension":3}'
same "create" "$code" 201
req PUT /v1/collections/gone -H "$J" -d '{"dimension":2}'
req PUT /v1/collections/a -H "$J" -d '{"dimension":3}'
same "create again, same shape: nothing changes" "$code" 200
put a '[{"id":"x","vector":[1,2,3],"metadata":{"k":1}},{"id":"y","vector":[4,5,6]},{"id":"z","vector":[7,8,9]}]'
req PUT /v1/collections/a/vectors -H "$N" --data-binary \
  $'{"id":"n1","vector":[0.5,0.25,0.125]}\n{"id":"x","vector":[3,2,1],"metadata":{"k":2}}\n'
same "NDJSON upsert" "$code $body" '200 {"upserted":2}'
req DELETE /v1/collections/a/vectors/y
same "single delete" "$code" 200
req POST /v1/collections/a/delete -H "$J" -d '{"ids":["z","nope"]}'
same "batch delete: absent ids are ignored" "$code $body" '200 {"deleted":1}'
req POST /v1/collections/a/delete -H "$J" -d '{"ids":["nope"]}'
same "a delete that changes nothing" "$code $body" '200 {"deleted":0}'
req DELETE /v1/collections/gone
same "drop" "$code" 200
expect_err "batch delete: not a list" 400 invalid "must be an array" \
  POST /v1/collections/a/delete -H "$J" -d '{"ids":"x"}'
expect_err "batch delete: an unknown field" 400 invalid 'unknown field' \
  POST /v1/collections/a/delete -H "$J" -d '{"ids":["x"],"all":true}'
expect_err "batch delete: a bad id" 400 invalid 'ids[1]' \
  POST /v1/collections/a/delete -H "$J" -d '{"ids":["x",""]}'
expect_err "batch delete: no collection" 404 not_found "no collection 'q'" \
  POST /v1/collections/q/delete -H "$J" -d '{"ids":["x"]}'
req GET /v1/wal
same "seven writes changed the store, seven records" \
  "$(jget "$body" '[j.last_seq, j.appends, j.segments].join()')" "7,7,1"
before=$(collections)
before_x=$(record a x)
req GET /metrics
has "metrics: appends" "$body" "vecsnap_wal_appends_total 7"
has "metrics: the policy" "$body" 'vecsnap_wal_fsync_policy{policy="everysec"} 1'
has "metrics: last seq" "$body" "vecsnap_wal_last_seq 7"
has "metrics: not read-only" "$body" "vecsnap_read_only 0"
has "metrics: syncs" "$body" "vecsnap_wal_syncs_total"
has "metrics: longest sync" "$body" "vecsnap_wal_sync_max_seconds"
kill9
same "no snapshot was taken" "$(ls "$DATA/snapshots" | wc -l)" 0

DATA_DIR=$DATA start --autosave-interval-s 0
has "start-up replays the log" "$(cat "$tmp/log")" "wal: 7 records replayed (seq 1 to 7)"
same "every write is back" "$(collections)" "$before"
same "with its content" "$(record a x)" "$before_x"
expect_err "the deleted record stays deleted" 404 not_found "" \
  GET /v1/collections/a/vectors/y
put a '[{"id":"w","vector":[1,1,1]}]'
req GET /v1/wal
same "the counter goes on after the log" "$(jget "$body" j.last_seq)" 8
before=$(collections)
stop

# ---- a torn tail is dropped ------------------------------------------------------
seg=$(ls "$DATA"/wal/*.wal | tail -n 1)
printf '\x40\x00\x00\x00half a record' >>"$seg"
DATA_DIR=$DATA start --autosave-interval-s 0
has "the torn tail is logged" "$(cat "$tmp/log")" "torn tail"
has "its size is logged" "$(cat "$tmp/log")" "a torn tail of 17 bytes"
same "nothing acknowledged is lost" "$(collections)" "$before"
put a '[{"id":"after","vector":[2,2,2]}]'
kill9
DATA_DIR=$DATA start --autosave-interval-s 0
lacks "the cut log replays cleanly" "$(cat "$tmp/log")" "torn"
same "a write after the cut is kept" "$(record a after)" \
  '200 {"id":"after","vector":[2,2,2],"metadata":{}}'
stop

# ---- corruption before good records stops start-up ------------------------------
rm -rf "$DATA"
DATA_DIR=$DATA start --autosave-interval-s 0 --wal-segment-bytes 1024
req PUT /v1/collections/c -H "$J" -d '{"dimension":8}'
for i in $(seq 1 30); do
  req PUT /v1/collections/c/vectors -H "$J" \
    -d "{\"vectors\":[{\"id\":\"r$i\",\"vector\":[$i,1,2,3,4,5,6,7],\"metadata\":{\"i\":$i}}]}"
done
same "thirty upserts" "$(jget "$(collections)" j.collections[0].count)" 30
req GET /v1/wal
nseg=$(jget "$body" j.segments)
checks=$((checks + 1))
[ "$nseg" -ge 3 ] || fail "small segments rotate: $nseg segments"
stop
first=$(ls "$DATA"/wal/*.wal | head -n 1)
node -e 'const fs = require("fs"); const f = process.argv[1];
  const b = fs.readFileSync(f); b[16 + 8 + 10] ^= 0x20; fs.writeFileSync(f, b);' "$first"
files_before=$(wal_files)
"$VECSNAPD" --port 0 --data-dir "$DATA" --autosave-interval-s 0 2>"$tmp/log"
same "start-up refuses a corrupt log (exit 1)" "$?" 1
has "the log names the segment" "$(cat "$tmp/log")" "$(basename "$first")"
has "and why" "$(cat "$tmp/log")" "holds good records"
has "and that nothing changed" "$(cat "$tmp/log")" "nothing was changed"
same "every segment is left as it was" "$(wal_files)" "$files_before"

# ---- point-in-time restore -----------------------------------------------------------
rm -rf "$DATA"
DATA_DIR=$DATA start --autosave-interval-s 0 --wal-segment-bytes 1024
req PUT /v1/collections/p -H "$J" -d '{"dimension":2}'
put p '[{"id":"a","vector":[1,0]}]'                                # seq 2
snapshot
S=$snap
req GET "/v1/snapshots/$S"
same "the snapshot holds seq 2" "$(jget "$body" j.snapshot.seq)" 2
put p '[{"id":"a","vector":[2,0]}]'                                # seq 3
put p '[{"id":"b","vector":[0,1]}]'                                # seq 4
sleep 0.05
T=$(now_rfc3339)
sleep 0.05
req DELETE /v1/collections/p/vectors/a                             # seq 5
put p '[{"id":"c","vector":[1,1]}]'                                # seq 6
state6=$(collections)

restore "$S" '{"until_seq":4}'
same "restore until seq 4" "$code" 200
same "the result" \
  "$(jget "$body" '[j.restore.replayed, j.restore.replayed_to_seq, j.restore.until_seq_reached].join()')" \
  "2,4,true"
P1=$(jget "$body" j.restore.saved_as)
checks=$((checks + 1))
[ -n "$P1" ] && [ "$P1" != "$S" ] || fail "the new state is snapshotted: '$P1'"
same "the state at seq 4: a's second vector" "$(record p a)" \
  '200 {"id":"a","vector":[2,0],"metadata":{}}'
same "and b" "$(jget "$(collections)" j.collections[0].count)" 2
same "CURRENT is that snapshot at the new counter" \
  "$(cut -d' ' -f1 "$DATA/CURRENT")" "$P1"
seq_after=$(jget "$body" j.restore.seq)
put p '[{"id":"d","vector":[3,3]}]'
kill9
DATA_DIR=$DATA start --autosave-interval-s 0 --wal-segment-bytes 1024
same "a restart rebuilds the restored state and the write after it" \
  "$(jget "$(collections)" j.collections[0].count)" 3
same "d is back" "$(record p d)" '200 {"id":"d","vector":[3,3],"metadata":{}}'
req GET /v1/wal
same "the counter goes on" "$(jget "$body" j.last_seq)" $((seq_after + 1))

restore "$S" "{\"until\":\"$T\"}"
same "restore until a time" "$code" 200
same "by time: the writes before it" "$(record p a)" \
  '200 {"id":"a","vector":[2,0],"metadata":{}}'
same "not the delete after it" "$(jget "$(collections)" j.collections[0].count)" 2

restore "$S" '{"until_seq":1000000}'
same "a bound past the end: a gap after seq 6 (the first restore)" "$code" 422
has "the gap is named" "$body" "records 7 to 7 are not in it"
restore "$S" '{"until_seq":6}'
same "up to the restore: fine" "$code $(jget "$body" j.restore.until_seq_reached)" "200 true"
same "that is the state before the first restore" "$(collections)" "$state6"
P2=$(jget "$body" j.restore.saved_as)
restore "$P2" '{"until_seq":1000000}'
same "past the end of the log" "$code" 200
same "says so" "$(jget "$body" '[j.restore.replayed, j.restore.until_seq_reached].join()')" "0,false"
expect_err "a bound before the snapshot" 400 invalid "before snapshot" \
  POST "/v1/snapshots/$S/restore?wait=true" -H "$J" -d '{"until_seq":1}'
expect_err "a time before the snapshot" 400 invalid "before snapshot" \
  POST "/v1/snapshots/$S/restore?wait=true" -H "$J" \
  -d '{"until":"2020-01-01T00:00:00Z"}'
expect_err "not a time" 400 invalid "RFC 3339" \
  POST "/v1/snapshots/$S/restore?wait=true" -H "$J" -d '{"until":"yesterday"}'
expect_err "a day that does not exist" 400 invalid "RFC 3339" \
  POST "/v1/snapshots/$S/restore?wait=true" -H "$J" \
  -d '{"until":"2031-02-30T00:00:00Z"}'
expect_err "until_seq 0" 400 invalid "until_seq" \
  POST "/v1/snapshots/$S/restore?wait=true" -H "$J" -d '{"until_seq":0}'
restore "$S" '{"until":"2099-01-01T00:00:00+02:00","until_seq":3}'
same "both bounds: the first one met" \
  "$code $(jget "$body" j.restore.replayed_to_seq)" "200 3"

# the archive: segments covered by a CURRENT snapshot are kept for it
for i in $(seq 1 20); do put p "[{\"id\":\"f$i\",\"vector\":[$i,$i]}]"; done
snapshot
req GET /v1/wal
checks=$((checks + 1))
[ "$(jget "$body" j.archived_segments)" -ge 1 ] ||
  fail "covered segments are archived: $body"
same "the live log is short" "$(jget "$body" j.segments)" 1
req GET /metrics
has "metrics: the archive" "$body" "vecsnap_wal_archived_segments"

# merge and import: the new state is snapshotted, the log goes on from it
req PUT /v1/collections/m -H "$J" -d '{"dimension":2}'
put m '[{"id":"m1","vector":[1,2]}]'
restore "$S" '{"mode":"merge"}'
same "merge" "$code" 200
M=$(jget "$body" j.restore.saved_as)
same "the merge is snapshotted and CURRENT" "$(cut -d' ' -f1 "$DATA/CURRENT")" "$M"
put m '[{"id":"m2","vector":[3,4]}]'
merged=$(collections)
curl -s -o "$tmp/export.vsnap" "$base/v1/export"
req POST '/v1/import?mode=replace' --data-binary @"$tmp/export.vsnap" \
  -H 'Content-Type: application/octet-stream'
same "import" "$code" 200
I=$(jget "$body" j.import.saved_as)
checks=$((checks + 1))
[ -n "$I" ] || fail "the import is snapshotted: $body"
put m '[{"id":"m3","vector":[5,6]}]'
after_import=$(collections)
kill9
DATA_DIR=$DATA start --autosave-interval-s 0 --wal-segment-bytes 1024
same "merge, import, writes: all back after SIGKILL" "$(collections)" \
  "$after_import"
stop

# ---- wal_fsync off -----------------------------------------------------------------
DATA_DIR=$tmp/off start --autosave-interval-s 0 --wal-fsync off
has "off is logged" "$(cat "$tmp/log")" "write-ahead log off"
req GET /v1/wal
same "GET /v1/wal: off" "$(jget "$body" '[j.enabled, j.fsync].join()')" "false,off"
req PUT /v1/collections/o -H "$J" -d '{"dimension":2}'
same "writes work without the log" "$code" 201
snapshot
expect_err "no point-in-time restore without the log" 400 invalid \
  "write-ahead log" POST "/v1/snapshots/$snap/restore?wait=true" -H "$J" \
  -d '{"until_seq":1}'
stop
checks=$((checks + 1))
[ ! -e "$tmp/off/wal" ] || fail "no log directory is created when it is off"

# ---- a log that cannot be written: read-only -------------------------------------
# File size limit of 8 KiB (SIGXFSZ ignored, so write(2) fails with EFBIG):
# the first segment to grow past it fails the log.
# (before that: retention that deletes snapshots prunes the archived log
# segments only they needed)
DATA_DIR=$tmp/ret start --autosave-interval-s 0 --wal-segment-bytes 1K
req PUT /v1/collections/k -H "$J" -d '{"dimension":2}'
for round in 1 2 3; do
  for i in $(seq 1 15); do put k "[{\"id\":\"k$round-$i\",\"vector\":[$i,$round]}]"; done
  snapshot
done
req GET /v1/wal
archived=$(jget "$body" j.archived_segments)
checks=$((checks + 1))
[ "$archived" -ge 1 ] || fail "older snapshots keep archived segments: $body"
req POST /v1/retention -H "$J" -d '{"keep_last":1}'
same "retention keeps only the newest" "$(jget "$body" 'j.retention.deleted')" 2
req GET /v1/wal
same "the archive no snapshot needs is pruned at once" \
  "$(jget "$body" "j.archived_segments < $archived")" true
stop
rm -rf "$tmp/ro"
: >"$tmp/log"
(trap '' XFSZ; ulimit -f 8; exec "$VECSNAPD" --port 0 --data-dir "$tmp/ro" \
  --autosave-interval-s 0 --wal-fsync always) 2>"$tmp/log" &
pid=$!
for _ in $(seq 1 400); do
  port=$(sed -n 's/.*listening on http:\/\/[^:]*:\([0-9]*\).*/\1/p' "$tmp/log")
  [ -n "$port" ] && grep -q ' ready$' "$tmp/log" && break
  sleep 0.05
done
base=http://127.0.0.1:$port
req PUT /v1/collections/r -H "$J" -d '{"dimension":64}'
same "create" "$code" 201
vec=$(node -e 'console.log(JSON.stringify(Array.from({length: 64}, (_, i) => i)))')
big="[$(for i in $(seq 1 40); do printf '{"id":"v%d","vector":%s},' "$i" "$vec"; done)"
big="${big%,}]"
req PUT /v1/collections/r/vectors -H "$J" -d "{\"vectors\":$big}"
same "an upsert the log cannot take is not acknowledged" "$code" 500
has "it says why" "$body" "wal"
has "and acknowledges none of it" "$body" '"upserted":0'
req PUT /v1/collections/r/vectors -H "$J" -d '{"vectors":[]}'
same "from then on writes are refused" "$code" 503
has "read-only is explained" "$body" "read-only"
expect_err "a create too" 503 unavailable "read-only" \
  PUT /v1/collections/s -H "$J" -d '{"dimension":2}'
expect_err "a delete too" 503 unavailable "read-only" \
  DELETE /v1/collections/r/vectors/v1
req GET /readyz
same "/readyz says so" "$code $(jget "$body" j.status)" "503 read_only"
req GET /v1/wal
same "GET /v1/wal says so" "$(jget "$body" j.read_only)" true
req GET /v1/collections/r
same "reads still work" "$code" 200
kill -TERM "$pid"
wait "$pid"
same "a read-only server still stops cleanly" "$?" 0
pid=

summary
