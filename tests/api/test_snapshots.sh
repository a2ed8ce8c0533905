#!/usr/bin/env bash
# Snapshots over HTTP end to end: taking them (with and without waiting),
# the catalog (list, get, delete), downloads (ranges, resume, ETag, the
# sha256sum line), uploads (ours, gzip'd json, ruvector files; corrupt ones
# keep nothing), restores (replace, merge, some collections; a corrupt
# snapshot changes nothing), verification, conflicting jobs and what a
# restart loads.  See lib.sh for how the server is driven.
set -u
. "$(dirname "$0")/lib.sh"

DATA=$tmp/data
JOB_WAIT_S=${JOB_WAIT_S:-300}

# wait_job ID: polls the job until it ends; sets $body to its record.
wait_job() {
  local state=
  for _ in $(seq 1 $((JOB_WAIT_S * 10))); do
    req GET "/v1/jobs/$1"
    state=$(jget "$body" j.job.state)
    case "$state" in done | failed | cancelled) return 0 ;; esac
    sleep 0.1
  done
  fail "job $1 did not end (state '$state')"
}
njobs() { req GET /v1/jobs; jget "$body" j.jobs.length; }
nsnaps() { req GET /v1/snapshots; jget "$body" j.snapshots.length; }
collections() { req GET /v1/collections; echo "$body"; }
# flip FILE OFFSET: xor one byte of a file in place.
flip() {
  node -e 'const fs = require("fs"); const [f, at] = process.argv.slice(1);
    const b = fs.readFileSync(f); b[Number(at)] ^= 0x20; fs.writeFileSync(f, b);' "$1" "$2"
}
put_vectors() { # put_vectors COLLECTION JSON-ARRAY
  req PUT "/v1/collections/$1/vectors" -H "$J" -d "{\"vectors\":$2}"
  same "upsert into $1" "$code" 200
}
ID_RE='^[0-9]{8}T[0-9]{6}\.[0-9]{3}Z-[0-9a-f]{6}$'
is_id() { # is_id DESCRIPTION VALUE
  checks=$((checks + 1))
  [[ "$2" =~ $ID_RE ]] || fail "$1: '$2' is not a snapshot id"
}

DATA_DIR=$DATA start --autosave-interval-s 0 --max-body-bytes 64M \
  --max-decompressed-bytes 64M

# ---- an empty catalog ----------------------------------------------------------
expect "empty catalog" 200 '{"snapshots":[],"current":null}' GET /v1/snapshots
expect_err "load without CURRENT" 404 not_found "no CURRENT snapshot" \
  POST /v1/load
expect_err "bad id" 400 invalid "" GET /v1/snapshots/nope
expect_err "unknown id" 404 not_found "20260101T000000.000Z-000000" \
  GET /v1/snapshots/20260101T000000.000Z-000000
expect_err "an id with a path in it" 400 invalid "" \
  GET /v1/snapshots/..%2F..%2Fetc
req PUT /v1/snapshots
same "PUT on the catalog is 405" "$code" 405

# ---- the store -----------------------------------------------------------------
req PUT /v1/collections/a -H "$J" -d '{"dimension":3}'
req PUT /v1/collections/b -H "$J" -d '{"dimension":2,"metric":"dot"}'
put_vectors a '[{"id":"x","vector":[1,2,3],"metadata":{"k":1}},{"id":"y","vector":[0.5,0.25,-1]}]'
put_vectors b '[{"id":"p","vector":[1,0]}]'
STATE1=$(collections)
same "the state to snapshot" "$STATE1" \
  '{"collections":[{"name":"a","dimension":3,"metric":"cosine","count":2},{"name":"b","dimension":2,"metric":"dot","count":1}]}'

# ---- taking snapshots -----------------------------------------------------------
req POST '/v1/snapshots?wait=true' -H "$J" -d '{"name":"first"}'
same "snapshot with wait" "$code" 201
S1=$(jget "$body" j.snapshot.id)
is_id "snapshot id" "$S1"
same "Location of the snapshot" "$(header Location)" "/v1/snapshots/$S1"
same "name" "$(jget "$body" j.snapshot.name)" first
same "origin" "$(jget "$body" j.snapshot.origin)" save
same "records" "$(jget "$body" j.snapshot.records)" 3
same "kind" "$(jget "$body" j.snapshot.kind)" full
same "content verified" "$(jget "$body" j.snapshot.content_verified)" true
same "collections described" "$(jget "$body" j.snapshot.collections)" \
  '[{"name":"a","dimension":3,"metric":"cosine","count":2},{"name":"b","dimension":2,"metric":"dot","count":1}]'
S1FILE=$(jget "$body" j.snapshot.file)
S1SHA=$(jget "$body" j.snapshot.sha256)
same "sha256 is of the data file" "$(sha256sum "$DATA/snapshots/$S1/$S1FILE" | cut -d' ' -f1)" "$S1SHA"
req GET "/v1/snapshots/$S1"
same "get" "$code" 200
same "get: the manifest" "$(jget "$body" j.snapshot.id)" "$S1"
same "a whole-store snapshot is CURRENT" "$(jget "$body" j.current)" true
same "DATA/CURRENT names it" "$(cat "$DATA/CURRENT")" "$S1"

# every field is checked before any job exists
n0=$(njobs)
expect_err "unknown field" 400 invalid 'unknown field \"bogus\"' \
  POST /v1/snapshots -H "$J" -d '{"bogus":1}'
expect_err "bad format" 400 invalid '\"format\"' \
  POST /v1/snapshots -H "$J" -d '{"format":"xml"}'
expect_err "ruvector is not written" 400 invalid '\"format\"' \
  POST /v1/snapshots -H "$J" -d '{"format":"ruvector"}'
expect_err "bad compression" 400 invalid '\"compression\"' \
  POST /v1/save -H "$J" -d '{"compression":"lzma"}'
expect_err "level out of range" 400 invalid '\"level\"' \
  POST /v1/snapshots -H "$J" -d '{"compression":"gzip","level":42}'
expect_err "level without compression" 400 invalid '\"level\"' \
  POST /v1/snapshots -H "$J" -d '{"compression":"none","level":3}'
expect_err "name not a string" 400 invalid '\"name\"' \
  POST /v1/snapshots -H "$J" -d '{"name":5}'
expect_err "name too long" 400 invalid '\"name\"' \
  POST /v1/snapshots -H "$J" -d "{\"name\":\"$(head -c 200 /dev/zero | tr '\0' n)\"}"
expect_err "collections not an array" 400 invalid '\"collections\"' \
  POST /v1/snapshots -H "$J" -d '{"collections":"a"}'
expect_err "a collection named twice" 400 invalid "twice" \
  POST /v1/snapshots -H "$J" -d '{"collections":["a","a"]}'
expect_err "unknown collection" 404 not_found "no collection 'zz'" \
  POST /v1/snapshots -H "$J" -d '{"collections":["a","zz"]}'
expect_err "body not JSON" 400 invalid "" POST /v1/snapshots -H "$J" -d '{'
expect_err "wait=maybe" 400 invalid "wait" POST '/v1/snapshots?wait=maybe'
same "no job was created" "$(njobs)" "$n0"

req POST '/v1/save?wait=true' -H "$J" -d '{"format":"json","compression":"gzip","level":9}'
same "save with wait" "$code" 201
S2=$(jget "$body" j.snapshot.id)
same "save: format" "$(jget "$body" j.snapshot.format)" json
same "save: compression" "$(jget "$body" j.snapshot.compression)" gzip
same "save: file" "$(jget "$body" j.snapshot.file)" data.json.gz
same "save: unnamed" "$(jget "$body" j.snapshot.name)" null
same "a save moves CURRENT" "$(cat "$DATA/CURRENT")" "$S2"
req GET "/v1/snapshots/$S1"
same "the older one is no longer CURRENT" "$(jget "$body" j.current)" false

req POST '/v1/snapshots?wait=true' -H "$J" -d '{"collections":["a"],"format":"sqlite","compression":"none"}'
same "partial snapshot" "$code" 201
S3=$(jget "$body" j.snapshot.id)
same "partial: one collection" "$(jget "$body" 'j.snapshot.collections.map(c => c.name)')" '["a"]'
same "partial: sqlite" "$(jget "$body" j.snapshot.file)" data.sqlite
same "a partial snapshot leaves CURRENT" "$(cat "$DATA/CURRENT")" "$S2"

req POST /v1/snapshots
same "snapshot without wait" "$code" 202
JOB=$(jget "$body" j.job.id)
same "Location of the job" "$(header Location)" "/v1/jobs/$JOB"
same "job operation" "$(jget "$body" j.job.operation)" snapshot
wait_job "$JOB"
same "the job is done" "$(jget "$body" j.job.state)" done
S4=$(jget "$body" j.job.result.snapshot.id)
is_id "the job's result names the snapshot" "$S4"
same "the job's snapshot is CURRENT" "$(cat "$DATA/CURRENT")" "$S4"

req GET /v1/snapshots
same "list, newest first" "$(jget "$body" 'j.snapshots.map(s => s.id).join(" ")')" \
  "$S4 $S3 $S2 $S1"
same "list names CURRENT" "$(jget "$body" j.current)" "$S4"

# ---- downloads ------------------------------------------------------------------
S2FILE=$DATA/snapshots/$S2/data.json.gz
S2SIZE=$(stat -c %s "$S2FILE")
S2SHA=$(sha256sum "$S2FILE" | cut -d' ' -f1)
code=$(curl -s -o "$tmp/dl" -D "$tmp/headers" -w '%{http_code}' "$base/v1/snapshots/$S2/download")
same "download" "$code" 200
cmp -s "$tmp/dl" "$S2FILE"
same "download is the stored file" $? 0
same "Content-Type" "$(header Content-Type)" application/octet-stream
same "Content-Length" "$(header Content-Length)" "$S2SIZE"
same "ETag" "$(header ETag)" "\"$S2SHA\""
same "Accept-Ranges" "$(header Accept-Ranges)" bytes
same "X-Checksum-Sha256" "$(header X-Checksum-Sha256)" "$S2SHA"
same "Content-Disposition" "$(header Content-Disposition)" \
  "attachment; filename=\"vecsnap-$S2.json.gz\""
req HEAD "/v1/snapshots/$S2/download" -I
same "HEAD" "$code" 200
same "HEAD: Content-Length" "$(header Content-Length)" "$S2SIZE"

code=$(curl -s -o "$tmp/part" -D "$tmp/headers" -w '%{http_code}' -r 10-59 \
  "$base/v1/snapshots/$S2/download")
same "range a-b" "$code" 206
same "range a-b: Content-Range" "$(header Content-Range)" "bytes 10-59/$S2SIZE"
same "range a-b: the bytes" "$(od -An -tx1 "$tmp/part")" \
  "$(tail -c +11 "$S2FILE" | head -c 50 | od -An -tx1)"
code=$(curl -s -o "$tmp/part" -D "$tmp/headers" -w '%{http_code}' -r 100- \
  "$base/v1/snapshots/$S2/download")
same "range a-" "$code" 206
same "range a-: Content-Range" "$(header Content-Range)" \
  "bytes 100-$((S2SIZE - 1))/$S2SIZE"
cmp -s "$tmp/part" <(tail -c +101 "$S2FILE")
same "range a-: the bytes" $? 0
code=$(curl -s -o "$tmp/part" -D "$tmp/headers" -w '%{http_code}' -r -40 \
  "$base/v1/snapshots/$S2/download")
same "range -n" "$code" 206
same "range -n: Content-Range" "$(header Content-Range)" \
  "bytes $((S2SIZE - 40))-$((S2SIZE - 1))/$S2SIZE"
cmp -s "$tmp/part" <(tail -c 40 "$S2FILE")
same "range -n: the bytes" $? 0
code=$(curl -s -o "$tmp/part" -D "$tmp/headers" -w '%{http_code}' -r "0-$((S2SIZE * 3))" \
  "$base/v1/snapshots/$S2/download")
same "range past the end is cut at the end" "$(header Content-Range)" \
  "bytes 0-$((S2SIZE - 1))/$S2SIZE"
for r in "bytes=$S2SIZE-" "bytes=9-3" "bytes=-0" "bytes=0-1,5-9" "bytes=x-" \
  "items=0-1" "bytes=-" "bytes=99999999999999999999999-"; do
  expect_err "range '$r'" 416 range_not_satisfiable "" \
    GET "/v1/snapshots/$S2/download" -H "Range: $r"
  same "range '$r': Content-Range" "$(header Content-Range)" "bytes */$S2SIZE"
done
code=$(curl -s -o "$tmp/part" -w '%{http_code}' -r 0-9 -H 'If-Range: "other"' \
  "$base/v1/snapshots/$S2/download")
same "If-Range naming another file: the whole file" "$code" 200

# an interrupted download resumed with curl -C -
head -c $((S2SIZE / 3)) "$S2FILE" >"$tmp/resumed"
curl -s -C - -o "$tmp/resumed" "$base/v1/snapshots/$S2/download"
cmp -s "$tmp/resumed" "$S2FILE"
same "curl -C - resumes to a byte-identical file" $? 0

# curl -OJ names the file as the sha256 line does
mkdir "$tmp/dl.d"
(cd "$tmp/dl.d" && curl -s -OJ "$base/v1/snapshots/$S2/download")
same "curl -OJ file name" "$(ls "$tmp/dl.d")" "vecsnap-$S2.json.gz"
req GET "/v1/snapshots/$S2/sha256"
same "sha256 line" "$body" "$S2SHA  vecsnap-$S2.json.gz"
has "sha256 is text" "$(header Content-Type)" text/plain
(cd "$tmp/dl.d" && curl -s "$base/v1/snapshots/$S2/sha256" | sha256sum -c --quiet)
same "sha256sum -c on the download" $? 0
expect_err "sha256 of an unknown id" 404 not_found "" \
  GET /v1/snapshots/20260101T000000.000Z-000000/sha256

: >"$tmp/body" # curl writes no file for an empty body
req GET "/v1/snapshots/$S2/download" -H "If-None-Match: \"$S2SHA\""
same "If-None-Match matching: 304" "$code" 304
same "304 has no body" "$body" ""
same "304 names the ETag" "$(header ETag)" "\"$S2SHA\""
same "downloads may be cached and revalidated" "$(header Cache-Control)" "no-cache"
req GET "/v1/snapshots/$S2/download" -H "If-None-Match: \"abc\", W/\"$S2SHA\""
same "If-None-Match in a list, weak: 304" "$code" 304
req GET "/v1/snapshots/$S2/download" -H "If-None-Match: *"
same "If-None-Match *: 304" "$code" 304
code=$(curl -s -o /dev/null -w '%{http_code}' -H 'If-None-Match: "abc"' \
  "$base/v1/snapshots/$S2/download")
same "If-None-Match not matching: 200" "$code" 200
expect_err "download of an unknown id" 404 not_found "" \
  GET /v1/snapshots/20260101T000000.000Z-000000/download
expect_err "download of a bad id" 400 invalid "" GET /v1/snapshots/x/download

# ---- uploads --------------------------------------------------------------------
curl -s -o "$tmp/s1" "$base/v1/snapshots/$S1/download"
n0=$(nsnaps)
req POST '/v1/snapshots/upload?name=copy' --data-binary @"$tmp/s1" \
  -H 'Content-Type: application/octet-stream'
same "upload of a download" "$code" 201
U1=$(jget "$body" j.snapshot.id)
same "upload: Location" "$(header Location)" "/v1/snapshots/$U1"
same "upload: origin" "$(jget "$body" j.snapshot.origin)" upload
same "upload: name" "$(jget "$body" j.snapshot.name)" copy
same "upload: same bytes" "$(jget "$body" j.snapshot.sha256)" "$S1SHA"
same "upload: same records" "$(jget "$body" j.snapshot.records)" 3
same "upload: file" "$(jget "$body" j.snapshot.file)" "$S1FILE"
same "an upload leaves CURRENT" "$(cat "$DATA/CURRENT")" "$S4"
same "an upload leaves the store" "$(collections)" "$STATE1"

gzip -dc "$S2FILE" | gzip -1 >"$tmp/store.json.gz"
req POST '/v1/snapshots/upload?filename=store.json.gz' --data-binary @"$tmp/store.json.gz"
same "upload of gzip'd json" "$code" 201
U2=$(jget "$body" j.snapshot.id)
same "gzip'd json: format" "$(jget "$body" j.snapshot.format)" json
same "gzip'd json: stored as sent" "$(jget "$body" j.snapshot.compression)" gzip
same "gzip'd json: sha256 of the file sent" "$(jget "$body" j.snapshot.sha256)" \
  "$(sha256sum "$tmp/store.json.gz" | cut -d' ' -f1)"
cmp -s "$tmp/store.json.gz" "$DATA/snapshots/$U2/data.json.gz"
same "gzip'd json: the stored file is the one sent" $? 0

RUV=${TEST_DATA_DIR:-$SRCDIR/tests/data}/ruvector
req POST /v1/snapshots/upload --data-binary @"$RUV/database.json" \
  -H 'X-Filename: database.json'
same "upload of a ruvector file" "$code" 201
U3=$(jget "$body" j.snapshot.id)
same "ruvector: format" "$(jget "$body" j.snapshot.format)" ruvector
same "ruvector: its collection" "$(jget "$body" 'j.snapshot.collections[0].name')" default
same "ruvector: not content-verified" "$(jget "$body" j.snapshot.content_verified)" false
req POST /v1/snapshots/upload --data-binary @"$RUV/database.json.brotli" \
  -H 'X-Filename: attachment; filename="database.json.brotli"'
same "upload of a brotli ruvector file named by X-Filename" "$code" 201
same "brotli: compression" "$(jget "$body" j.snapshot.compression)" brotli
U4=$(jget "$body" j.snapshot.id)
same "uploads are listed" "$(nsnaps)" $((n0 + 4))
same "uploads leave CURRENT" "$(cat "$DATA/CURRENT")" "$S4"

n0=$(nsnaps)
req GET /v1/snapshots
list0=$body
cp "$tmp/s1" "$tmp/bad"
flip "$tmp/bad" $(($(stat -c %s "$tmp/bad") / 2))
expect_err "corrupt upload" 422 corrupt "" POST /v1/snapshots/upload --data-binary @"$tmp/bad"
head -c 60 "$tmp/s1" >"$tmp/short"
expect_err "truncated upload" 422 corrupt "" POST /v1/snapshots/upload --data-binary @"$tmp/short"
expect_err "empty upload" 422 corrupt "" POST /v1/snapshots/upload -H 'Content-Length: 0'
printf 'hello, world\n' >"$tmp/text"
expect_err "not a database" 422 corrupt "" POST /v1/snapshots/upload --data-binary @"$tmp/text"
expect_err "Content-Encoding gzip" 415 unsupported_media_type "stored as sent" \
  POST /v1/snapshots/upload --data-binary @"$tmp/store.json.gz" -H 'Content-Encoding: gzip'
expect_err "bad name" 400 invalid "name" \
  POST '/v1/snapshots/upload?name=%01' --data-binary @"$tmp/s1"
expect_err "bad X-Filename" 400 invalid "X-Filename" \
  POST /v1/snapshots/upload --data-binary @"$tmp/s1" -H 'X-Filename: filename=""'
req GET /v1/snapshots
same "failed uploads keep nothing" "$body" "$list0"
same "nothing left in DATA/tmp" "$(ls -A "$DATA/tmp")" ""

# ---- restores -------------------------------------------------------------------
req DELETE /v1/collections/b
put_vectors a '[{"id":"z","vector":[9,9,9]}]'
req PUT /v1/collections/c -H "$J" -d '{"dimension":5}'
STATE2=$(collections)
same "the store moved on" "$STATE2" \
  '{"collections":[{"name":"a","dimension":3,"metric":"cosine","count":3},{"name":"c","dimension":5,"metric":"cosine","count":0}]}'

n0=$(njobs)
expect_err "restore: bad mode" 400 invalid '\"mode\"' \
  POST "/v1/snapshots/$S1/restore" -H "$J" -d '{"mode":"upsert"}'
expect_err "restore: unknown field" 400 invalid 'unknown field' \
  POST "/v1/snapshots/$S1/restore" -H "$J" -d '{"modes":"merge"}'
expect_err "restore: collection not in the snapshot" 404 not_found "no collection 'c'" \
  POST "/v1/snapshots/$S1/restore" -H "$J" -d '{"collections":["c"]}'
expect_err "restore: unknown snapshot" 404 not_found "" \
  POST /v1/snapshots/20260101T000000.000Z-000000/restore
expect_err "restore: bad id" 400 invalid "" POST /v1/snapshots/zz/restore
expect_err "load: bad id" 400 invalid '\"snapshot\"' POST /v1/load -H "$J" -d '{"snapshot":"x"}'
expect_err "load: unknown id" 404 not_found "" \
  POST /v1/load -H "$J" -d '{"snapshot":"20260101T000000.000Z-000000"}'
expect_err "load: unknown field" 400 invalid 'unknown field' POST /v1/load -H "$J" -d '{"id":1}'
expect_err "verify: unknown snapshot" 404 not_found "" \
  POST /v1/snapshots/20260101T000000.000Z-000000/verify
expect_err "verify takes no fields" 400 invalid 'unknown field' \
  POST "/v1/snapshots/$S1/verify" -H "$J" -d '{"x":1}'
same "no job was created" "$(njobs)" "$n0"
same "the store is unchanged" "$(collections)" "$STATE2"

req POST "/v1/snapshots/$S1/restore?wait=true"
same "restore replace" "$code" 200
same "restore result" "$(jget "$body" 'JSON.stringify([j.restore.snapshot, j.restore.mode, j.restore.records, j.restore.collections.map(c => c.name)])')" \
  "[\"$S1\",\"replace\",3,[\"a\",\"b\"]]"
has "restore result has seq" "$body" '"seq":'
RSEQ=$(jget "$body" j.restore.seq)
same "replace gives the snapshot's state" "$(collections)" "$STATE1"
req GET /v1/collections/a/vectors/x
same "a restored record" "$body" '{"id":"x","vector":[1,2,3],"metadata":{"k":1}}'
expect_err "a record written after the snapshot is gone" 404 not_found "" \
  GET /v1/collections/a/vectors/z
same "a whole replace makes the snapshot CURRENT" "$(cut -d' ' -f1 "$DATA/CURRENT")" "$S1"
same "... at the live seq, where the log's replay starts" \
  "$(cut -d' ' -f2 "$DATA/CURRENT")" "$RSEQ"

req PUT /v1/collections/c -H "$J" -d '{"dimension":5}'
req POST "/v1/snapshots/$U3/restore?wait=true" -H "$J" -d '{"mode":"merge"}'
same "restore merge" "$code" 200
same "merge result" "$(jget "$body" 'j.restore.mode + " " + j.restore.records')" "merge 3"
M1=$(jget "$body" j.restore.saved_as)
same "merge adds the snapshot's collections" "$(collections)" \
  '{"collections":[{"name":"a","dimension":3,"metric":"cosine","count":2},{"name":"b","dimension":2,"metric":"dot","count":1},{"name":"c","dimension":5,"metric":"cosine","count":0},{"name":"default","dimension":4,"metric":"cosine","count":3}]}'
# the merged state is no snapshot: with the log on it is saved as one, which
# becomes CURRENT (a later replay starts from it)
same "a merge is saved as a snapshot of its own, now CURRENT" \
  "$(cut -d' ' -f1 "$DATA/CURRENT")" "$M1"
[ "$M1" != "$S1" ] && [ -d "$DATA/snapshots/$M1" ]
same "... a new one" $? 0

req POST "/v1/snapshots/$S3/restore?wait=true" -H "$J" \
  -d '{"mode":"merge","collections":["a"]}'
same "merge of one collection" "$code" 200
req POST "/v1/snapshots/$S2/restore?wait=true" -H "$J" \
  -d '{"mode":"replace","collections":["b"]}'
same "replace with one collection" "$code" 200
M2=$(jget "$body" j.restore.saved_as)
same "replace keeps exactly the named collections" "$(collections)" \
  '{"collections":[{"name":"b","dimension":2,"metric":"dot","count":1}]}'
same "a partial replace is saved and CURRENT too" \
  "$(cut -d' ' -f1 "$DATA/CURRENT")" "$M2"

req POST '/v1/load?wait=true' -H "$J" -d "{\"snapshot\":\"$S2\"}"
same "load a named snapshot" "$code" 200
same "load result" "$(jget "$body" 'j.restore.snapshot + " " + j.restore.mode')" "$S2 replace"
same "load replaces the store" "$(collections)" "$STATE1"
same "load makes it CURRENT" "$(cut -d' ' -f1 "$DATA/CURRENT")" "$S2"
req PUT /v1/collections/c -H "$J" -d '{"dimension":5}'
req POST /v1/load
same "load without a body: 202" "$code" 202
same "load job operation" "$(jget "$body" j.job.operation)" load
wait_job "$(jget "$body" j.job.id)"
same "load of CURRENT done" "$(jget "$body" j.job.state)" done
same "load of CURRENT gives its state" "$(collections)" "$STATE1"

# ---- verification and a corrupt snapshot -----------------------------------------
req POST "/v1/snapshots/$S1/verify?wait=true"
same "verify" "$code" 200
same "verify result" "$body" \
  "{\"verify\":{\"snapshot\":\"$S1\",\"ok\":true,\"bytes\":$(stat -c %s "$DATA/snapshots/$S1/$S1FILE"),\"sha256\":\"$S1SHA\",\"records\":3}}"

put_vectors a '[{"id":"w","vector":[3,3,3]}]'
STATE3=$(collections)
flip "$S2FILE" $((S2SIZE / 2))
req POST "/v1/snapshots/$S2/restore?wait=true"
same "restore of a corrupt snapshot" "$code" 422
same "restore of a corrupt snapshot: code" "$(jget "$body" j.error.code)" corrupt
same "the failed job is in the answer" "$(jget "$body" j.job.state)" failed
same "a failed restore changes nothing" "$(collections)" "$STATE3"
req GET /v1/collections/a/vectors/w
same "a record written before the failed restore stays" "$code" 200
req POST "/v1/snapshots/$S2/restore?wait=true" -H "$J" -d '{"mode":"merge"}'
same "merge of a corrupt snapshot" "$code" 422
same "a failed merge changes nothing" "$(collections)" "$STATE3"
req POST "/v1/snapshots/$S2/verify?wait=true"
same "verify detects the flip" "$code" 422
same "verify: code" "$(jget "$body" j.error.code)" corrupt
has "verify names the snapshot" "$(jget "$body" j.error.message)" "$S2"
req POST "/v1/snapshots/$S2/verify"
same "verify without wait" "$code" 202
wait_job "$(jget "$body" j.job.id)"
same "the verify job failed" "$(jget "$body" j.job.state)" failed
same "its error is corrupt" "$(jget "$body" j.job.error.code)" corrupt
req GET "/v1/snapshots/$S2/sha256"
(cd "$DATA/snapshots/$S2" && sed "s/vecsnap-$S2/data/" <<<"$body" | sha256sum -c --quiet >/dev/null 2>&1)
same "sha256sum -c detects the flip too" $? 1

# ---- delete ---------------------------------------------------------------------
expect "delete" 204 "" DELETE "/v1/snapshots/$S3"
expect_err "deleted: get" 404 not_found "" GET "/v1/snapshots/$S3"
expect_err "delete again" 404 not_found "" DELETE "/v1/snapshots/$S3"
expect_err "delete a bad id" 400 invalid "" DELETE /v1/snapshots/nope
expect_err "delete CURRENT" 409 busy "CURRENT" DELETE "/v1/snapshots/$S2"
req GET /v1/snapshots
lacks "deleted: not listed" "$body" "$S3"
has "CURRENT still listed" "$body" "$S2"
same "the directory is gone" "$(ls "$DATA/snapshots" | grep -c "$S3")" 0

# ---- conflicting jobs ----------------------------------------------------------------
req PUT /v1/collections/big -H "$J" -d '{"dimension":32,"metric":"dot"}'
awk 'BEGIN { for (i = 0; i < 60000; i++) { printf "{\"id\":\"v%d\",\"vector\":[", i;
  for (j = 0; j < 32; j++) printf "%s%.5f", (j ? "," : ""), ((i * 7919 + j * 104729) % 100003) / 100003 - 0.5;
  print "]}" } }' >"$tmp/big.ndjson"
req PUT /v1/collections/big/vectors -H "$N" --data-binary @"$tmp/big.ndjson"
same "big upsert" "$body" '{"upserted":60000}'
req POST /v1/snapshots -H "$J" -d '{"format":"json","compression":"gzip","level":9}'
same "a large snapshot starts" "$code" 202
BIGJOB=$(jget "$body" j.job.id)
expect_err "a second snapshot meanwhile" 409 busy "" POST /v1/snapshots
expect_err "a save meanwhile" 409 busy "" POST '/v1/save?wait=true'
expect_err "a restore meanwhile" 409 busy "" POST "/v1/snapshots/$S1/restore"
expect_err "a load meanwhile" 409 busy "" POST /v1/load -H "$J" -d "{\"snapshot\":\"$S1\"}"
req POST "/v1/snapshots/$S1/verify"
same "a verify may run meanwhile" "$code" 202
wait_job "$BIGJOB"
same "the large snapshot ends well" "$(jget "$body" j.job.state)" done
BIG=$(jget "$body" j.job.result.snapshot.id)
same "its records" "$(jget "$body" j.job.result.snapshot.records)" 60004
req POST "/v1/snapshots/$BIG/verify?wait=true"
same "the large snapshot verifies" "$code" 200

# ---- restart ---------------------------------------------------------------------------
req DELETE /v1/collections/big
req POST '/v1/save?wait=true' -H "$J" -d '{"name":"before restart"}'
same "save before the restart" "$code" 201
S5=$(jget "$body" j.snapshot.id)
STATE4=$(collections)
req GET /v1/snapshots
LIST4=$body
req POST '/v1/snapshots/upload?name=late' --data-binary @"$tmp/s1"
same "an upload just before the restart" "$code" 201
U5=$(jget "$body" j.snapshot.id)
same "the upload did not change CURRENT" "$(cat "$DATA/CURRENT")" "$S5"
cp "$DATA/snapshots/$BIG/data.json.gz" "$tmp/big.json.gz"
stop
DATA_DIR=$DATA start --autosave-interval-s 0 --max-body-bytes 64M \
  --max-decompressed-bytes 1M
has "the restart loads CURRENT" "$(cat "$tmp/log")" "loaded snapshot $S5"
expect_err "an upload that decodes to more than the limit" 413 too_large "" \
  POST /v1/snapshots/upload --data-binary @"$tmp/big.json.gz" -H 'X-Filename: big.json.gz'
same "nothing left of it in DATA/tmp" "$(ls -A "$DATA/tmp")" ""
same "the restart has CURRENT's state" "$(collections)" "$STATE4"
req GET /v1/snapshots
same "the catalog survives" "$(jget "$body" 'j.snapshots.map(s => s.id).join(" ")')" \
  "$U5 $(jget "$LIST4" 'j.snapshots.map(s => s.id).join(" ")')"
same "CURRENT survives" "$(jget "$body" j.current)" "$S5"
req GET "/v1/snapshots/$U4"
same "an uploaded snapshot survives" "$code" 200
stop

summary
