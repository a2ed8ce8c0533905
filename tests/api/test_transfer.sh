#!/usr/bin/env bash
# Streamed export and import end to end: GET /v1/export in every format and
# compression (as a file and as Content-Encoding), checked with zcat, zstd,
# brotli and `vecsnap verify`, then imported back (replace and merge) to the
# same store; bad queries, corrupt bodies, a decompression bomb, an import
# refused while another one runs, and exports taken while writers go on.
# See lib.sh for how the server is driven; VECSNAP names the vecsnap tool.
set -u
. "$(dirname "$0")/lib.sh"
VECSNAP=${VECSNAP:-src/vecsnap}
O='Content-Type: application/octet-stream'

# state: the collection list and a few records, to compare stores with
state() {
  local s
  req GET /v1/collections
  s=$body
  for r in docs/vectors/a docs/vectors/c pts/vectors/p1 gen/vectors/vec-00000007; do
    req GET "/v1/collections/$r"
    s="$s|$code:$body"
  done
  echo "$s"
}
# verify_file DESCRIPTION FILE: `vecsnap verify` accepts it
verify_file() {
  "$VECSNAP" verify "$2" >"$tmp/verify.out" 2>&1
  same "$1: vecsnap verify" "$?" 0
  [ "$?" = 0 ] || head -n 5 "$tmp/verify.out"
}
# fetch FILE PATH [curl args...]: a binary reply into FILE; sets $code and
# $tmp/headers (req would read the body into a variable)
fetch() {
  local f=$1 p=$2; shift 2
  code=$(curl -s -o "$f" -D "$tmp/headers" -w '%{http_code}' "$@" "$base$p")
}
# records_of FILE COLLECTION: record count of a collection in a document
records_of() {
  "$VECSNAP" inspect --json "$1" 2>/dev/null | node -e '
    const j = JSON.parse(require("fs").readFileSync(0));
    const c = (j.collections || []).find(c => c.name === process.argv[1]);
    process.stdout.write(c ? String(c.records ?? c.count) : "none");' "$2"
}

start --max-decompressed-bytes 64M --threads 4

# ---- a store to move around ----------------------------------------------------
req PUT /v1/collections/docs -H "$J" -d '{"dimension":4,"metric":"cosine"}'
same "create docs" "$code" 201
req PUT /v1/collections/pts -H "$J" -d '{"dimension":2,"metric":"euclidean"}'
req PUT /v1/collections/empty -H "$J" -d '{"dimension":3,"metric":"dot"}'
printf '%s\n' \
  '{"id":"a","vector":[1,0,0,0],"metadata":{"tag":"x","n":1}}' \
  '{"id":"b","vector":[0,1,0,0]}' \
  '{"id":"c","vector":[0.5,-0.25,1e-30,3.4e38],"metadata":{"s":"é ✓ \"q\""}}' \
  >"$tmp/docs.ndjson"
expect "upsert docs" 200 '{"upserted":3}' PUT /v1/collections/docs/vectors \
  -H "$N" --data-binary @"$tmp/docs.ndjson"
expect "upsert pts" 200 '{"upserted":2}' PUT /v1/collections/pts/vectors \
  -H "$J" -d '{"vectors":[{"id":"p1","vector":[1.5,-2]},{"id":"p2","vector":[0,0]}]}'
"$VECSNAP" generate --count 3000 --dim 16 --collection gen --metadata \
  --seed 7 "$tmp/gen.vsnap" >/dev/null
req POST /v1/import --data-binary @"$tmp/gen.vsnap" -H "$O"
same "import of a generated file (merge by default)" "$code" 200
same "import answer" "$(jget "$body" 'j.import.mode + " " + j.import.records + " " + JSON.stringify(j.import.collections)')" \
  'merge 3000 [{"name":"gen","dimension":16,"metric":"cosine","count":3000}]'
req GET /v1/collections
same "merge kept the others" "$(jget "$body" 'j.collections.map(c => c.name + ":" + c.count).join(",")')" \
  "docs:3,empty:0,gen:3000,pts:2"
orig=$(state)
has "the state has the records" "$orig" '"id":"vec-00000007"'

# ---- export: bad queries, all refused before anything is sent -------------------
expect_err "unknown format" 400 invalid "format" GET '/v1/export?format=xml'
expect_err "ruvector is read only" 400 invalid "format" GET '/v1/export?format=ruvector'
expect_err "unknown compression" 400 invalid "compression" GET '/v1/export?compression=lzma'
expect_err "level not a number" 400 invalid "level" GET '/v1/export?compression=zstd&level=x3'
expect_err "level with a space" 400 invalid "level" GET '/v1/export?compression=zstd&level=%203'
expect_err "level out of range" 400 invalid "1 to 19" GET '/v1/export?compression=zstd&level=99'
expect_err "level without compression" 400 invalid "compression" GET '/v1/export?level=3'
expect_err "level with compression none" 400 invalid "compression" \
  GET '/v1/export?compression=none&level=3' -H 'Accept-Encoding: gzip'
expect_err "unknown collection" 404 not_found "no collection 'nope'" \
  GET '/v1/export?collections=docs,nope'
expect_err "bad collection name" 400 invalid "collections" GET '/v1/export?collections=a%2Fb'
expect_err "collection named twice" 400 invalid "twice" GET '/v1/export?collections=docs,docs'
expect_err "empty collection name" 400 invalid "collections" GET '/v1/export?collections=docs,'
expect_err "bad escape in the query" 400 invalid "" GET '/v1/export?format=%zz'
expect_err "export takes no POST" 405 method_not_allowed "POST" POST /v1/export
has "405 names GET" "$(header Allow)" "GET"

# ---- export: the default --------------------------------------------------------
fetch "$tmp/default.vsnap" /v1/export
same "default export" "$code" 200
same "default content type" "$(header Content-Type)" "application/octet-stream"
same "default file name" "$(header Content-Disposition)" \
  'attachment; filename="vecsnap-export.vsnap"'
same "chunked" "$(header Transfer-Encoding)" "chunked"
same "no Content-Encoding without Accept-Encoding" "$(header Content-Encoding)" ""
same "Vary names Accept-Encoding" "$(header Vary)" "Accept-Encoding"
verify_file "default export" "$tmp/default.vsnap"
same "default export holds every record" "$(records_of "$tmp/default.vsnap" gen)" 3000
req HEAD /v1/export -I
same "HEAD export" "$code" 200
same "HEAD gives the file name" "$(header Content-Disposition)" \
  'attachment; filename="vecsnap-export.vsnap"'
lacks "HEAD sends no document" "$(tr -d '\0' <"$tmp/body")" "VSN"

# ---- export x import: every format and compression ------------------------------
# A compressed FILE: no Content-Encoding, the suffix in the name; the
# decompressed bytes are a document vecsnap verifies; imported back with
# mode=replace (format and codec detected) the store is the same again.
declare -A ctype=([binary]=application/octet-stream [json]=application/json
  [sqlite]=application/vnd.sqlite3)
declare -A fsuf=([binary]=.vsnap [json]=.json [sqlite]=.sqlite)
declare -A csuf=([none]= [gzip]=.gz [brotli]=.br [zstd]=.zst)
declare -A unpack=([none]=cat [gzip]=zcat [brotli]="brotli -dc" [zstd]="zstd -dcq")
for f in binary json sqlite; do
  for c in none gzip brotli zstd; do
    name="vecsnap-export${fsuf[$f]}${csuf[$c]}"
    curl -s -o "$tmp/$name" -D "$tmp/headers" -w '%{http_code}' \
      "$base/v1/export?format=$f&compression=$c" >"$tmp/code" \
      -H 'Accept-Encoding: gzip, br, zstd'
    code=$(cat "$tmp/code")
    same "$f/$c: status" "$code" 200
    same "$f/$c: content type" "$(header Content-Type)" "${ctype[$f]}"
    same "$f/$c: file name" "$(header Content-Disposition)" \
      "attachment; filename=\"$name\""
    same "$f/$c: a file, not a Content-Encoding" "$(header Content-Encoding)" ""
    verify_file "$f/$c: the file" "$tmp/$name"
    ${unpack[$c]} "$tmp/$name" >"$tmp/plain.$f" 2>/dev/null
    same "$f/$c: ${unpack[$c]%% *} reads it" "$?" 0
    verify_file "$f/$c: the decompressed document" "$tmp/plain.$f"
    # change the store, then import the export back over it
    req DELETE /v1/collections/pts
    req PUT /v1/collections/other -H "$J" -d '{"dimension":1}'
    req POST "/v1/import?mode=replace" --data-binary @"$tmp/$name" -H "$O"
    same "$f/$c: import replace" "$code" 200
    same "$f/$c: import says replace" "$(jget "$body" 'j.import.mode + " " + j.import.records')" \
      "replace 3005"
    same "$f/$c: the store is back" "$(state)" "$orig"
  done
done

# ---- export: Accept-Encoding negotiation ----------------------------------------
ae() { # ae ACCEPT-ENCODING WANT-CONTENT-ENCODING
  curl -s -o "$tmp/neg" -D "$tmp/headers" -H "Accept-Encoding: $1" \
    "$base/v1/export?collections=docs" >/dev/null
  same "Accept-Encoding '$1'" "$(header Content-Encoding)" "$2"
  same "Accept-Encoding '$1': Vary" "$(header Vary)" "Accept-Encoding"
  same "Accept-Encoding '$1': file name has no codec suffix" \
    "$(header Content-Disposition)" 'attachment; filename="vecsnap-export.vsnap"'
}
ae "gzip" gzip
ae "gzip, br" br
ae "gzip, br, zstd" zstd
ae "deflate, gzip, br, zstd" zstd
ae "zstd;q=0.5, gzip" gzip
ae "zstd;q=0, br;q=0.1" br
ae "ZSTD;Q=0.9, br;q=0.8" zstd
ae "br; q=1.0, gzip; q=0.999" br
ae "gzip;q=0" ""
ae "identity" ""
ae "deflate" ""
ae "*" zstd
ae "*;q=0.5, zstd;q=0, br;q=0" gzip
ae "gzip;q=2" ""
ae "gzip;q=0.1234" ""
ae "" ""
curl -s -o "$tmp/raw.gz" -D "$tmp/headers" -H 'Accept-Encoding: gzip' "$base/v1/export"
zcat "$tmp/raw.gz" >"$tmp/raw.doc"
verify_file "a gzip Content-Encoding body, decoded by zcat" "$tmp/raw.doc"
curl -s -o "$tmp/raw.br" -H 'Accept-Encoding: br' "$base/v1/export?format=json"
brotli -dc "$tmp/raw.br" >"$tmp/raw.doc"
verify_file "a br Content-Encoding body, decoded by brotli" "$tmp/raw.doc"
curl -s -o "$tmp/raw.zst" -H 'Accept-Encoding: zstd' "$base/v1/export?format=sqlite&level=19"
zstd -dcq "$tmp/raw.zst" >"$tmp/raw.doc"
verify_file "a zstd Content-Encoding body at level 19, decoded by zstd" "$tmp/raw.doc"
req GET '/v1/export?level=25' -H 'Accept-Encoding: zstd'
same "level checked against the negotiated codec" "$code" 400
curl -s --compressed -o "$tmp/comp.doc" -D "$tmp/headers" "$base/v1/export?format=json"
same "curl --compressed gets zstd" "$(header Content-Encoding)" "zstd"
verify_file "curl --compressed decodes to the document" "$tmp/comp.doc"
curl -s -o "$tmp/file.gz" -D "$tmp/headers" -H 'Accept-Encoding: zstd' \
  "$base/v1/export?compression=gzip"
same "compression wins over Accept-Encoding" "$(header Content-Encoding)" ""
same "compression: no Vary" "$(header Vary)" ""
zcat "$tmp/file.gz" >"$tmp/file.doc"
verify_file "compression=gzip with Accept-Encoding: zstd is a gzip file" "$tmp/file.doc"
req POST /v1/import --data-binary @"$tmp/raw.zst" -H 'Content-Encoding: zstd'
same "import with Content-Encoding zstd" "$code" 200
req POST /v1/import --data-binary @"$tmp/raw.br" -H 'Content-Encoding: br'
same "import with Content-Encoding br" "$code" 200
gzip -c "$tmp/vecsnap-export.vsnap.gz" >"$tmp/twice.gz"
req POST /v1/import --data-binary @"$tmp/twice.gz" -H 'Content-Encoding: gzip'
same "a gzip file sent with Content-Encoding gzip" "$code" 200
same "the store is unchanged by those imports" "$(state)" "$orig"

# ---- partial exports, merge and replace -----------------------------------------
curl -s -o "$tmp/docs.vsnap" "$base/v1/export?collections=docs,empty"
same "partial export has docs" "$(records_of "$tmp/docs.vsnap" docs)" 3
same "partial export has empty" "$(records_of "$tmp/docs.vsnap" empty)" 0
same "partial export lacks gen" "$(records_of "$tmp/docs.vsnap" gen)" none
req DELETE /v1/collections/docs/vectors/a
req PUT /v1/collections/extra -H "$J" -d '{"dimension":1}'
req POST "/v1/import?mode=merge" --data-binary @"$tmp/docs.vsnap"
same "merge import" "$code" 200
same "merge answer" "$(jget "$body" 'j.import.mode + " " + j.import.records + " " + j.import.collections.map(c => c.name).join(",")')" \
  "merge 3 docs,empty"
req GET /v1/collections
same "merge: docs restored, the others stay" \
  "$(jget "$body" 'j.collections.map(c => c.name + ":" + c.count).join(",")')" \
  "docs:3,empty:0,extra:0,gen:3000,pts:2"
expect "merge: the deleted record is back" 200 \
  '{"id":"a","vector":[1,0,0,0],"metadata":{"tag":"x","n":1}}' \
  GET /v1/collections/docs/vectors/a
req POST "/v1/import?mode=replace" --data-binary @"$tmp/docs.vsnap"
same "replace import" "$code" 200
req GET /v1/collections
same "replace: only what the document holds" \
  "$(jget "$body" 'j.collections.map(c => c.name + ":" + c.count).join(",")')" \
  "docs:3,empty:0"
req POST "/v1/import?mode=replace" --data-binary @"$tmp/default.vsnap"
same "replace with the full export" "$(state)" "$orig"

# ---- import: refusals and corrupt bodies (nothing changes) ----------------------
expect_err "bad mode" 400 invalid "mode 'upsert'" POST '/v1/import?mode=upsert' \
  --data-binary @"$tmp/default.vsnap"
expect_err "unknown Content-Encoding" 415 unsupported_media_type "Content-Encoding 'lzma'" \
  POST /v1/import --data-binary @"$tmp/default.vsnap" -H 'Content-Encoding: lzma'
expect_err "import takes no GET" 405 method_not_allowed "GET" GET /v1/import
size=$(wc -c <"$tmp/default.vsnap")
cp "$tmp/default.vsnap" "$tmp/flip.vsnap"
printf '\x5a' | dd of="$tmp/flip.vsnap" bs=1 seek=$((size / 2)) conv=notrunc 2>/dev/null
expect_err "a changed byte" 422 corrupt "" POST '/v1/import?mode=replace' \
  --data-binary @"$tmp/flip.vsnap"
same "a corrupt import changes nothing" "$(state)" "$orig"
head -c $((size - 7)) "$tmp/default.vsnap" >"$tmp/short.vsnap"
expect_err "a truncated document" 422 corrupt "" POST '/v1/import?mode=replace' \
  --data-binary @"$tmp/short.vsnap"
head -c 2000 "$tmp/vecsnap-export.json.zst" >"$tmp/short.zst"
expect_err "a truncated zstd document" 422 corrupt "" POST '/v1/import?mode=replace' \
  --data-binary @"$tmp/short.zst"
head -c 300 "$tmp/vecsnap-export.sqlite" >"$tmp/short.sqlite"
expect_err "a truncated sqlite document" 422 corrupt "" POST '/v1/import?mode=replace' \
  --data-binary @"$tmp/short.sqlite"
expect_err "not a document" 422 corrupt "unrecognised format" POST /v1/import \
  --data-binary 'hello, world'
expect_err "an empty body" 422 corrupt "" POST '/v1/import?mode=replace' -H "$O" -d ''
expect_err "Content-Encoding gzip on a plain body" 422 corrupt "" POST /v1/import \
  --data-binary @"$tmp/default.vsnap" -H 'Content-Encoding: gzip'
{ cat "$tmp/default.vsnap"; echo trailing; } >"$tmp/trail.vsnap"
expect_err "bytes after the document" 422 corrupt "" POST '/v1/import?mode=replace' \
  --data-binary @"$tmp/trail.vsnap"
same "none of those changed anything" "$(state)" "$orig"

# ---- decompression bombs: 413, the server goes on -------------------------------
# '{' and then blanks: the JSON reader keeps reading until the cap (64M).
spaces() { head -c "$1" /dev/zero | tr '\0' ' '; }
{ printf '{'; spaces 1G; } | zstd -1 -q --stream-size=1073741825 -c >"$tmp/bomb.zst"
has "the 1 GB zstd bomb declares its size" "$(zstd -lv "$tmp/bomb.zst" 2>&1)" \
  "1073741825 B"
req POST '/v1/import?mode=replace' --data-binary @"$tmp/bomb.zst" \
  -H 'Content-Encoding: zstd'
same "1 GB zstd bomb (Content-Encoding)" "$code" 413
has "the bomb error" "$body" '{"error":{"code":"too_large","message":"decompressed data exceeds 67108864 bytes'
req POST '/v1/import?mode=replace' --data-binary @"$tmp/bomb.zst"
same "1 GB zstd bomb (the document's own codec)" "$code" 413
{ printf '{'; spaces 100M; } | gzip -1 >"$tmp/bomb.gz"
req POST '/v1/import?mode=replace' --data-binary @"$tmp/bomb.gz" \
  -H 'Content-Encoding: gzip'
same "100 MB gzip bomb (Content-Encoding)" "$code" 413
{ printf '{'; spaces 100M; } | brotli -q 1 -c >"$tmp/bomb.br"
req POST '/v1/import?mode=replace' --data-binary @"$tmp/bomb.br" \
  -H 'Content-Encoding: br'
same "100 MB brotli bomb (Content-Encoding)" "$code" 413
expect "the server is up after the bombs" 200 '{"status":"ok"}' GET /healthz
same "the bombs changed nothing" "$(state)" "$orig"

# ---- two store writers never interleave: 409 ------------------------------------
"$VECSNAP" generate --count 20000 --dim 64 --collection slow --seed 3 \
  "$tmp/slow.vsnap" >/dev/null
curl -s -o "$tmp/slow.out" -w '%{http_code}' --limit-rate 2M \
  -X POST "$base/v1/import?mode=merge" --data-binary @"$tmp/slow.vsnap" \
  >"$tmp/slow.code" &
slow=$!
for _ in $(seq 1 100); do
  req GET /v1/jobs
  [ "$(jget "$body" 'j.jobs.filter(x => x.state === "running").length')" = 1 ] && break
  sleep 0.05
done
same "a slow import runs as a job" \
  "$(jget "$body" 'j.jobs.filter(x => x.state === "running").map(x => x.operation).join()')" import
expect_err "a second import while one runs" 409 busy "" \
  POST /v1/import --data-binary @"$tmp/docs.vsnap"
wait "$slow"
same "the slow import succeeded" "$(cat "$tmp/slow.code")" 200
has "the slow import's answer" "$(cat "$tmp/slow.out")" '"records":20000'
req GET /v1/jobs
same "its job is done" "$(jget "$body" 'j.jobs[0].state + " " + j.jobs[0].operation')" "done import"
req POST /v1/import --data-binary @"$tmp/docs.vsnap"
same "imports work again afterwards" "$code" 200
req DELETE /v1/collections/slow
same "back to the original store" "$(state)" "$orig"

# ---- a writer that dies cuts the transfer; a client that leaves ends it ---------
"$VECSNAP" generate --count 80000 --dim 64 --collection huge --seed 4 \
  "$tmp/huge.vsnap" >/dev/null
req POST /v1/import --data-binary @"$tmp/huge.vsnap"
same "a 20 MB collection to export slowly" "$code" 200
children() { pgrep -P "$pid" | paste -sd' ' -; }
curl -s -o "$tmp/cut.vsnap" --limit-rate 1M "$base/v1/export" &
cut=$!
child=
for _ in $(seq 1 100); do
  child=$(children)
  [ -n "$child" ] && break
  sleep 0.05
done
same "the export's writer is a child process" "$([ -n "$child" ] && echo yes)" yes
sleep 0.5
kill -KILL $child
wait "$cut"
rc=$?
[ "$rc" != 0 ]
same "the client sees a failed transfer (curl exit $rc)" "$?" 0
"$VECSNAP" verify "$tmp/cut.vsnap" >/dev/null 2>&1
same "the cut document does not verify" "$?" 1
has "the server logs why" "$(cat "$tmp/log")" "snapshot writer died"
expect "the server is up after a writer died" 200 '{"status":"ok"}' GET /healthz
curl -s -o /dev/null --limit-rate 500K --max-time 1 "$base/v1/export"
same "a client that gives up (curl exit 28)" "$?" 28
left=x
for _ in $(seq 1 60); do
  left=$(children)
  [ -z "$left" ] && break
  sleep 0.05
done
same "no writer is left behind" "$left" ""
fetch "$tmp/after.vsnap" /v1/export
same "exports work after both" "$code" 200
verify_file "the next export" "$tmp/after.vsnap"
req DELETE /v1/collections/huge
same "back to the original store" "$(state)" "$orig"

# ---- export while writers go on: each export is one instant ---------------------
req PUT /v1/collections/live -H "$J" -d '{"dimension":8,"metric":"dot"}'
writer() { # batches of 50 records, each one store call
  local b=0
  while [ ! -e "$tmp/stop" ]; do
    node -e 'const b = +process.argv[1]; let s = "";
      for (let i = 0; i < 50; i++) s += JSON.stringify({id: "r" + b + "-" + i,
        vector: [b, i, 1, 2, 3, 4, 5, 6]}) + "\n";
      process.stdout.write(s);' $b >"$tmp/batch.$b"
    curl -s -o /dev/null -X PUT -H "$N" --data-binary @"$tmp/batch.$b" \
      "$base/v1/collections/live/vectors"
    rm -f "$tmp/batch.$b"
    b=$((b + 1))
  done
}
writer &
wpid=$!
sleep 0.3
consistent=0
for i in 1 2 3 4 5 6; do
  curl -s -o "$tmp/live$i" "$base/v1/export?format=$([ $((i % 2)) = 0 ] && echo json || echo binary)"
  "$VECSNAP" verify "$tmp/live$i" >/dev/null 2>&1 || continue
  n=$(records_of "$tmp/live$i" live)
  [ "$n" != none ] && [ $((n % 50)) = 0 ] && consistent=$((consistent + 1))
  sleep 0.1
done
touch "$tmp/stop"
wait "$wpid"
same "exports during writes verify and hold whole batches" "$consistent" 6
req GET /v1/collections/live
total=$(jget "$body" '(j.collection || j).count')
[ "$total" -gt 0 ] 2>/dev/null
same "the writer's records arrived" "$?" 0

stop

# ---- a writer that cannot start: 503 with Retry-After, nothing sent -------------
# A server whose descriptor limit leaves room for a connection but not for
# the writer's pipes (the limit is measured on an identical server first).
DATA_DIR=$tmp/data2 start --max-decompressed-bytes 64M --threads 4
free_fd=0 # the lowest free descriptor: the connection's
while [ -e /proc/"$pid"/fd/$free_fd ]; do free_fd=$((free_fd + 1)); done
stop
limit=$((free_fd + 2)) # the connection fits, a pipe does not
printf '#!/bin/sh\nexec prlimit --nofile=%s:%s "%s" "$@"\n' $limit $limit \
  "$(command -v "$VECSNAPD" || echo "$PWD/$VECSNAPD")" >"$tmp/limited"
chmod +x "$tmp/limited"
VECSNAPD=$tmp/limited DATA_DIR=$tmp/data2 start --max-decompressed-bytes 64M --threads 4
expect_err "no descriptor for the writer" 503 unavailable "try again later" \
  GET /v1/export
same "503 says when to retry" "$(header Retry-After)" 5
expect "the server is up" 200 '{"status":"ok"}' GET /healthz
stop
summary
