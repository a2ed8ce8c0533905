#!/usr/bin/env bash
# Remote storage end to end, against s3rver behind the SigV4-verifying
# front of tests/s3 (started here on 127.0.0.1, stopped by PID): every
# remote route; interop with awscli both ways; disaster recovery onto an
# empty server; encryption (no plaintext stored, wrong or no key, a
# flipped byte: a clear error and nothing restored); faults (5xx on some
# parts, resets, slow replies, a server that is down) retried, then a
# clean job error, the local snapshot untouched and no multipart upload
# left open; `vecsnap push|pull|ls-remote` with the server stopped, under
# a prefix with a space and unicode.  See lib.sh.
set -u
. "$(dirname "$0")/lib.sh"

VECSNAP=${VECSNAP:-src/vecsnap}
S3DIR=${SRCDIR:-.}/tests/s3
AWS=${AWS:-/usr/bin/aws}
BUCKET=vecsnap-test
KEY1=000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f
KEY2=ff0102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f

s3_cleanup() {
  sh "$S3DIR/stop.sh" "$tmp/s3" 2>/dev/null
  lib_cleanup
}
trap s3_cleanup EXIT
mkdir -p "$tmp/s3"
if ! sh "$S3DIR/start.sh" "$tmp/s3" $$ >"$tmp/s3/ports" 2>"$tmp/s3/err"; then
  fail "the S3 test servers did not start: $(cat "$tmp/s3/err")"
  summary
  exit 1
fi
. "$tmp/s3/ports"
FRONT=http://127.0.0.1:$FRONT_PORT
export AWS_ACCESS_KEY_ID=S3RVER AWS_SECRET_ACCESS_KEY=S3RVER
export AWS_DEFAULT_REGION=us-east-1 AWS_PAGER='' AWS_CONFIG_FILE=/dev/null
export AWS_SHARED_CREDENTIALS_FILE=/dev/null
aws() { "$AWS" --endpoint-url "$FRONT" "$@"; }
fault() { curl -s -o /dev/null -X POST "$FRONT/__fault" -d "$1"; }
open_uploads() {
  aws s3api list-multipart-uploads --bucket "$BUCKET" \
    --query 'length(Uploads || `[]`)' 2>&1
}

# start_remote PREFIX [flags...]: a server on a new data directory using
# the front with short timeouts and few retries.
start_remote() {
  local prefix=$1
  shift
  DATA_DIR=$tmp/d$((++ndirs)) VECSNAP_S3_ENDPOINT=$FRONT \
    VECSNAP_S3_BUCKET=$BUCKET VECSNAP_S3_PREFIX=$prefix \
    VECSNAP_S3_RETRIES=2 VECSNAP_S3_TIMEOUT_S=2 VECSNAP_S3_CONNECT_TIMEOUT_S=2 \
    start --autosave-interval-s 0 --max-body-bytes 256M \
    --max-decompressed-bytes 256M "$@"
  data=$tmp/d$ndirs
}
ndirs=0
put_vectors() { # put_vectors COLLECTION JSON-ARRAY
  req PUT "/v1/collections/$1/vectors" -H "$J" -d "{\"vectors\":$2}"
  same "upsert into $1" "$code" 200
}
# records N PREFIX: N deterministic records of dimension 8.
records() {
  jq -nc --argjson n "$1" --arg p "$2" '[range(0; $n) as $i |
    {id: "\($p)\($i)", vector: [range(0; 8) as $j | (($i * 7 + $j * 13) % 17) / 17 + 0.01],
     metadata: {n: $i}}]'
}
QUERY='{"vector":[0.3,0.1,0.9,0.2,0.5,0.7,0.4,0.6],"k":10}'
search() { req POST /v1/collections/c/search -H "$J" -d "$QUERY"; echo "$body"; }
# flip FILE OFFSET: xor one byte of a file in place.
flip() {
  node -e 'const fs = require("fs"); const [f, at] = process.argv.slice(1);
    const b = fs.readFileSync(f); b[Number(at)] ^= 0x20; fs.writeFileSync(f, b);' "$1" "$2"
}
wait_job() { # wait_job ID: polls until it ends; $body is its record
  for _ in $(seq 1 600); do
    req GET "/v1/jobs/$1"
    case "$(jget "$body" j.job.state)" in done | failed | cancelled) return ;; esac
    sleep 0.1
  done
  fail "job $1 did not end"
}
nothing_restored() { # nothing_restored DESCRIPTION
  req GET /v1/collections
  same "$1: no collection" "$(jget "$body" j.collections.length)" 0
  req GET /v1/snapshots
  same "$1: no snapshot kept" "$(jget "$body" j.snapshots.length)" 0
}
NOID=20300101T000000.000Z-000000

# ---- no remote storage configured ---------------------------------------------
DATA_DIR=$tmp/d0 start --autosave-interval-s 0
expect_err "list without remote storage" 400 invalid \
  "remote storage is not configured" GET /v1/remote/snapshots
expect_err "fetch without remote storage" 400 invalid \
  "remote storage is not configured" POST "/v1/remote/snapshots/$NOID/fetch"
expect_err "snapshot + upload without remote storage" 400 invalid \
  '\"upload\": remote storage is not configured' \
  POST /v1/snapshots -H "$J" -d '{"upload":true}'
stop

# ---- server A: upload, list, get, awscli interop --------------------------------
start_remote "a/"
A=$data
req PUT /v1/collections/c -H "$J" -d '{"dimension":8}'
same "create c" "$code" 201
put_vectors c "$(records 300 r)"
expect_err "upload is a boolean" 400 invalid '\"upload\" must be' \
  POST /v1/snapshots -H "$J" -d '{"upload":"yes"}'
req POST '/v1/snapshots?wait=true' -H "$J" -d '{"name":"first","upload":true}'
same "snapshot + upload" "$code" 201
S1=$(jget "$body" j.snapshot.id)
same "the result has the remote manifest" "$(jget "$body" j.remote.id)" "$S1"
same "same bytes remotely" "$(jget "$body" j.remote.sha256)" \
  "$(jget "$body" j.snapshot.sha256)"
F1=$(jget "$body" j.snapshot.file)
SHA1=$(jget "$body" j.snapshot.sha256)
R1=$(search)

req GET /v1/remote/snapshots
same "list" "$code" 200
same "list: the snapshot" "$(jget "$body" 'j.snapshots.map(s => s.id)')" "[\"$S1\"]"
req GET "/v1/remote/snapshots/$S1"
same "get" "$code" 200
same "get: its name" "$(jget "$body" j.snapshot.name)" first
expect_err "get: unknown" 404 not_found "no remote snapshot" \
  GET "/v1/remote/snapshots/$NOID"
expect_err "get: bad id" 400 invalid "" GET /v1/remote/snapshots/nope
expect_err "upload: unknown local snapshot" 404 not_found "" \
  POST "/v1/snapshots/$NOID/upload"
expect_err "upload: no body fields" 400 invalid 'unknown field' \
  POST "/v1/snapshots/$S1/upload" -H "$J" -d '{"x":1}'

aws s3 cp "s3://$BUCKET/a/snapshots/$S1/$F1" "$tmp/aws1" >/dev/null 2>&1
same "awscli downloads the data object" $? 0
same "its sha256 is the manifest's" "$(sha256sum <"$tmp/aws1" | cut -d' ' -f1)" "$SHA1"
keys=$(aws s3 ls --recursive "s3://$BUCKET/a/snapshots/$S1/" | awk '{print $4}' | sort | tr '\n' ' ')
same "three objects" "$keys" "a/snapshots/$S1/SHA256SUMS a/snapshots/$S1/$F1 a/snapshots/$S1/manifest.json "
aws s3 cp "s3://$BUCKET/a/snapshots/$S1/SHA256SUMS" "$tmp/sums" >/dev/null 2>&1
(cd "$tmp" && sed "s|$F1|aws1|" sums | sha256sum -c --strict) >/dev/null 2>&1
same "SHA256SUMS checks the object" $? 0

# upload again: already there, nothing sent; as a job with its events
req POST "/v1/snapshots/$S1/upload"
same "upload: 202" "$code" 202
JOB=$(jget "$body" j.job.id)
same "upload: the job" "$(jget "$body" j.job.operation)" upload
req GET "/v1/jobs/$JOB/events"
has "upload: events end with done" "$body" "event: done"
wait_job "$JOB"
same "upload: done" "$(jget "$body" j.job.state)" done
same "upload: the remote manifest" "$(jget "$body" j.job.result.remote.sha256)" "$SHA1"

# a second snapshot, not uploaded (for vecsnap push below)
put_vectors c "$(records 20 s)"
req POST '/v1/snapshots?wait=true' -H "$J" -d '{"name":"local only"}'
S2=$(jget "$body" j.snapshot.id)
lacks "a snapshot is not uploaded by default" "$body" '"remote"'
R2=$(search)

# ---- faults (a multipart upload: ~70 MB, parts of 8 MiB) ------------------------
"$VECSNAP" generate --count 46000 --dim 384 --collection big "$tmp/big.vsnap" >/dev/null 2>&1
req POST /v1/snapshots/upload -H 'Content-Type: application/octet-stream' \
  --data-binary "@$tmp/big.vsnap"
same "a big snapshot" "$code" 201
SB=$(jget "$body" j.snapshot.id)
FB=$(jget "$body" j.snapshot.file)
SHAB=$(jget "$body" j.snapshot.sha256)
curl -s -o /dev/null -X POST "$FRONT/__log" -d '{"clear":true}'
fault '{"match":"partNumber=2&","status":503,"times":2}'
fault '{"match":"partNumber=3&","reset":true,"times":1}'
fault '{"match":"partNumber=5&","delay_ms":4000,"times":1}'
fault '{"match":"PUT /vecsnap-test/a/snapshots/'"$SB"'/SHA256SUMS","status":500,"times":1}'
req POST "/v1/snapshots/$SB/upload?wait=true"
same "503, reset, slow reply, 500: retried, uploaded" "$code" 200
same "the uploaded object" "$(jget "$body" j.remote.sha256)" "$SHAB"
req GET /v1/jobs
same "the upload job ends with every byte counted (retries never count twice)" \
  "$(jget "$body" 'const u = j.jobs.find(x => x.operation === "upload"); u.total > 0 && u.current === u.total')" true
flog=$(curl -s "$FRONT/__log")
same "part 2 got two 503s" "$(jget "$flog" 'j.filter(e => e.url.includes("partNumber=2&") && e.status === 503).length')" 2
same "part 2 then got through" "$(jget "$flog" 'j.filter(e => e.url.includes("partNumber=2&") && e.status === 200).length')" 1
same "part 3 was reset once" "$(jget "$flog" 'j.filter(e => e.url.includes("partNumber=3&") && e.status === -1).length')" 1
aws s3 cp "s3://$BUCKET/a/snapshots/$SB/$FB" "$tmp/awsb" >/dev/null 2>&1
same "the multipart object matches" "$(sha256sum <"$tmp/awsb" | cut -d' ' -f1)" "$SHAB"
rm -f "$tmp/awsb" "$tmp/big.vsnap"
same "no multipart upload open" "$(open_uploads)" 0

req DELETE "/v1/remote/snapshots/$SB?wait=true"
same "delete" "$code" 200
same "delete: the ids" "$(jget "$body" j.deleted)" "[\"$SB\"]"
same "delete: nothing left" "$(aws s3 ls --recursive "s3://$BUCKET/a/snapshots/$SB/" | wc -l)" 0
expect_err "delete again" 404 not_found "no remote snapshot" \
  DELETE "/v1/remote/snapshots/$SB?wait=true"
expect_err "get after delete" 404 not_found "" GET "/v1/remote/snapshots/$SB"
expect_err "delete: bad cascade" 400 invalid "cascade" \
  DELETE "/v1/remote/snapshots/$SB?cascade=maybe"

fault '{"match":"partNumber=1&","delay_ms":1500,"times":1}'
req POST "/v1/snapshots/$SB/upload"
JOB=$(jget "$body" j.job.id)
sleep 0.7
req DELETE "/v1/jobs/$JOB"
same "cancel the upload" "$code" 202
wait_job "$JOB"
same "the upload job ends cancelled" "$(jget "$body" j.job.state)" cancelled
fault '{"clear":true}'
same "cancelled: no multipart upload open" "$(open_uploads)" 0
expect_err "cancelled: nothing listed" 404 not_found "" GET "/v1/remote/snapshots/$SB"

fault '{"match":"partNumber=3&","status":500,"times":0}'
req POST "/v1/snapshots/$SB/upload?wait=true"
same "500 on every try of a part: a clean error" "$code" 502
has "the job failed with S3's error" "$body" '"code":"upstream_error","message":"'
has "S3's code in the message" "$body" "InternalError"
same "the job record" "$(jget "$body" j.job.state)" failed
fault '{"clear":true}'
same "aborted: no multipart upload open" "$(open_uploads)" 0
expect_err "nothing listed" 404 not_found "" GET "/v1/remote/snapshots/$SB"
req POST "/v1/snapshots/$SB/verify?wait=true"
same "the local snapshot is untouched" "$code" 200

fault '{"match":"PUT /vecsnap-test/a/snapshots/'"$SB"'/manifest.json","reset":true,"times":0}'
req POST "/v1/snapshots/$SB/upload?wait=true"
same "reset on every try: a clean error" "$code" 502
fault '{"clear":true}'
expect_err "without its manifest it is not there" 404 not_found "" \
  GET "/v1/remote/snapshots/$SB"
req GET /v1/remote/snapshots
same "not listed either" "$(jget "$body" 'j.snapshots.map(s => s.id)')" "[\"$S1\"]"
req DELETE "/v1/remote/snapshots/$SB?wait=true"
same "a cut-off upload is cleaned up by delete" "$code" 200
same "nothing of it left" "$(aws s3 ls --recursive "s3://$BUCKET/a/snapshots/$SB/" | wc -l)" 0

fault '{"match":"GET /vecsnap-test?list-type","delay_ms":4000,"times":0}'
req GET /v1/remote/snapshots
same "slow list replies: retried, then 502" "$code" 502
fault '{"clear":true}'
req GET /healthz
same "the server kept serving" "$code" 200
stop

# ---- server B: disaster recovery onto an empty server ---------------------------
start_remote "a/"
req POST "/v1/remote/snapshots/$S1/restore?wait=true" -H "$J" -d '{"mode":"replace"}'
same "restore from remote onto an empty server" "$code" 200
same "restore: fetched" "$(jget "$body" j.fetched)" true
same "restore: records" "$(jget "$body" j.restore.records)" 300
same "identical search results" "$(search)" "$R1"
req GET "/v1/snapshots/$S1"
same "the snapshot is local now, and CURRENT" "$(jget "$body" j.current)" true
req POST "/v1/remote/snapshots/$S1/restore?wait=true" -H "$J" -d '{"mode":"merge","collections":["c"]}'
same "again (local already)" "$code" 200
same "again: not fetched" "$(jget "$body" j.fetched)" false
expect_err "restore: bad mode" 400 invalid '\"mode\"' \
  POST "/v1/remote/snapshots/$S1/restore" -H "$J" -d '{"mode":"swap"}'
req POST "/v1/remote/snapshots/$NOID/restore?wait=true"
same "restore: unknown remote snapshot" "$code" 404

# a snapshot put there with awscli: data file and manifest, under a new id
S9=20200102T030405.678Z-abcdef
jq --arg id "$S9" '.snapshot | .id = $id' <<<"$(curl -s "$base/v1/snapshots/$S1")" >"$tmp/m9.json"
aws s3 cp "$tmp/aws1" "s3://$BUCKET/a/snapshots/$S9/$F1" >/dev/null 2>&1
same "awscli puts a data file" $? 0
aws s3 cp "$tmp/m9.json" "s3://$BUCKET/a/snapshots/$S9/manifest.json" >/dev/null 2>&1
same "awscli puts its manifest" $? 0
req POST "/v1/remote/snapshots/$S9/fetch?wait=true"
same "fetch what awscli put" "$code" 200
same "fetch: Location" "$(header Location)" "/v1/snapshots/$S9"
req POST "/v1/remote/snapshots/$S9/fetch?wait=true" -H "$J" -d '{"verify":true}'
same "fetch again, loaded in full: kept" "$code" 200
expect_err "fetch: verify is a boolean" 400 invalid '\"verify\"' \
  POST "/v1/remote/snapshots/$S9/fetch" -H "$J" -d '{"verify":1}'
req POST "/v1/snapshots/$S9/restore?wait=true"
same "and restore it" "$code" 200
same "identical search results again" "$(search)" "$R1"
expect_err "fetch: unknown" 404 not_found "no remote snapshot" \
  POST "/v1/remote/snapshots/$NOID/fetch?wait=true"
req DELETE "/v1/remote/snapshots/$S9"
same "delete as a job" "$code" 202
wait_job "$(jget "$body" j.job.id)"
same "delete: done" "$(jget "$body" j.job.result.deleted)" "[\"$S9\"]"

# incremental snapshots: an upload takes the missing parents along, a
# restore onto an empty server brings the chain, delete protects it
req POST "/v1/snapshots/$S1/restore?wait=true"
same "CURRENT is the first snapshot again" "$code" 200
put_vectors c "$(records 30 i)"
req POST '/v1/snapshots?wait=true' -H "$J" -d '{"kind":"incremental"}'
I1=$(jget "$body" j.snapshot.id)
same "an incremental snapshot" "$(jget "$body" j.snapshot.kind)" incremental
put_vectors c "$(records 40 k)"
req POST '/v1/snapshots?wait=true' -H "$J" -d '{"kind":"incremental"}'
I2=$(jget "$body" j.snapshot.id)
same "its parent" "$(jget "$body" j.snapshot.parent)" "$I1"
RI=$(search)
req POST "/v1/snapshots/$I2/upload?wait=true"
same "upload of the second link" "$code" 200
same "the remote manifest keeps its parent" "$(jget "$body" j.remote.parent)" "$I1"
req GET "/v1/remote/snapshots/$I1"
same "the missing parent went up too" "$code" 200
stop
start_remote "a/"
req POST "/v1/remote/snapshots/$I2/restore?wait=true"
same "restore of a chain onto an empty server" "$code" 200
same "the chain gives the same results" "$(search)" "$RI"
req GET /v1/snapshots
same "the chain is local" "$(jget "$body" 'j.snapshots.map(s => s.id).sort().join(" ")')" "$S1 $I1 $I2"
expect_err "delete of a parent" 409 busy "parent or base of $I2" \
  DELETE "/v1/remote/snapshots/$I1?wait=true"
req DELETE "/v1/remote/snapshots/$I1?wait=true&cascade=true"
same "delete with cascade" "$(jget "$body" j.deleted)" "[\"$I2\",\"$I1\"]"
stop

# ---- point-in-time restore from remote storage, onto an empty server -------------
# Archived log segments go up after each whole snapshot; a new machine
# rebuilds the store as it was at a seq from a remote snapshot + that log.
start_remote "pitr/" --wal-segment-bytes 1K
req PUT /v1/collections/t -H "$J" -d '{"dimension":2}'
req POST '/v1/snapshots?wait=true' -H "$J" -d '{"upload":true}'
PS=$(jget "$body" j.snapshot.id)
for i in $(seq 1 20); do put_vectors t "[{\"id\":\"t$i\",\"vector\":[$i,1]}]"; done
req GET /v1/wal
MID=$(jget "$body" j.last_seq)
for i in $(seq 21 40); do put_vectors t "[{\"id\":\"t$i\",\"vector\":[$i,1]}]"; done
req DELETE /v1/collections/t/vectors/t3
req POST '/v1/snapshots?wait=true'
same "a later snapshot archives (and uploads) the log it covers" "$code" 201
n=$(aws s3 ls --recursive "s3://$BUCKET/pitr/wal/" | grep -c '\.wal$')
checks=$((checks + 1))
[ "$n" -ge 1 ] || fail "log segments are on remote storage: $n"
stop
start_remote "pitr/"
expect_err "remote: a bad until" 400 invalid "RFC 3339" \
  POST "/v1/remote/snapshots/$PS/restore" -H "$J" -d '{"until":"noon"}'
req POST "/v1/remote/snapshots/$PS/restore?wait=true" -H "$J" \
  -d "{\"until_seq\":$MID}"
same "point-in-time restore from remote onto an empty server" "$code" 200
same "it replayed the remote log up to the bound" \
  "$(jget "$body" 'j.restore.replayed_to_seq + " " + j.restore.until_seq_reached')" \
  "$MID true"
req GET /v1/collections/t
same "the store is as it was then: 20 records" "$(jget "$body" j.count)" 20
req GET /v1/collections/t/vectors/t3
same "t3, deleted later, is there" "$code" 200
ls "$data/tmp" | grep -q pitr
same "the fetched log is not left behind" $? 1
stop

# ---- README's "Remote storage" block, as it is written ---------------------------
awk '/^## Remote storage/ { on = 1; next }
     on && /^## / { exit }
     on && /^```sh$/ { code = 1; next }
     on && /^```$/ { code = 0; next }
     code { print }' "${SRCDIR:-.}/README.md" >"$tmp/readme.sh"
checks=$((checks + 1))
[ -s "$tmp/readme.sh" ] || fail "no sh block in README's Remote storage"
VECSNAP_UPLOAD_SNAPSHOTS=true start_remote "readme/"
mkdir "$tmp/rw"
(cd "$tmp/rw" && VECSNAP_URL=$base bash -e -o pipefail "$tmp/readme.sh") \
  >"$tmp/out" 2>"$tmp/err"
same "README's block runs to its end" $? 0
same "README's block: nothing on stderr" "$(cat "$tmp/err")" ""
out=$(cat "$tmp/out")
has "README: the remote list shows the snapshot" "$out" " offsite "
has "README: the upload names it" "$out" '{"id":"'
has "README: one record restored" "$out" $'\n1\n'
has "README: deleted" "$out" '{"deleted":["'
req POST '/v1/snapshots?wait=true'
has "upload_snapshots: uploaded by default" "$body" '"remote":{'
req POST '/v1/snapshots?wait=true' -H "$J" -d '{"upload":false}'
lacks "upload_snapshots: \"upload\": false overrides it" "$body" '"remote"'
stop

# ---- a server whose remote storage is down --------------------------------------
DATA_DIR=$tmp/down VECSNAP_S3_ENDPOINT=http://127.0.0.1:9 VECSNAP_S3_BUCKET=$BUCKET \
  VECSNAP_S3_RETRIES=2 VECSNAP_S3_CONNECT_TIMEOUT_S=1 start --autosave-interval-s 0
expect_err "storage down: list is 502" 502 upstream_error "" GET /v1/remote/snapshots
req PUT /v1/collections/c -H "$J" -d '{"dimension":8}'
req POST '/v1/snapshots?wait=true' -H "$J" -d '{"upload":true}'
same "storage down: snapshot + upload fails cleanly" "$code" 502
has "storage down: the snapshot was taken" "$body" "was taken, but uploading it failed"
req GET /v1/snapshots
same "storage down: the local snapshot is kept" "$(jget "$body" j.snapshots.length)" 1
stop

# ---- encryption ------------------------------------------------------------------
VECSNAP_ENCRYPTION_KEY=$KEY1 start_remote "enc/"
req PUT /v1/collections/c -H "$J" -d '{"dimension":8}'
put_vectors c "$(records 200 plaintext-marker-)"
req POST '/v1/snapshots?wait=true' -H "$J" -d '{"compression":"none","upload":true}'
same "encrypted upload" "$code" 201
SE=$(jget "$body" j.snapshot.id)
FE=$(jget "$body" j.remote.file)
same "the remote manifest says encrypted" "$(jget "$body" j.remote.encrypted)" true
grep -q plaintext-marker "$data/snapshots/$SE/$(jget "$body" j.snapshot.file)"
same "the local file is plain (encrypt_local off)" $? 0
aws s3 cp "s3://$BUCKET/enc/snapshots/$SE/$FE" "$tmp/awse" >/dev/null 2>&1
same "awscli downloads the encrypted object" $? 0
grep -q plaintext-marker "$tmp/awse"
same "no plaintext in the stored object" $? 1
same "its sha256 is the remote manifest's" "$(sha256sum <"$tmp/awse" | cut -d' ' -f1)" \
  "$(jget "$body" j.remote.sha256)"
RE=$(search)
stop

VECSNAP_ENCRYPTION_KEY=$KEY1 start_remote "enc/"
req POST "/v1/remote/snapshots/$SE/restore?wait=true"
same "encrypted: restore with the key" "$code" 200
same "encrypted: identical search results" "$(search)" "$RE"
stop

VECSNAP_ENCRYPTION_KEY=$KEY2 start_remote "enc/"
expect_err "wrong key" 422 key "wrong encryption key" \
  POST "/v1/remote/snapshots/$SE/restore?wait=true"
nothing_restored "wrong key"
stop

start_remote "enc/"
expect_err "no key" 422 key "" POST "/v1/remote/snapshots/$SE/restore?wait=true"
nothing_restored "no key"
stop

flip "$tmp/awse" 5000
aws s3 cp "$tmp/awse" "s3://$BUCKET/enc/snapshots/$SE/$FE" >/dev/null 2>&1
VECSNAP_ENCRYPTION_KEY=$KEY1 start_remote "enc/"
expect_err "a flipped byte" 422 corrupt "" \
  POST "/v1/remote/snapshots/$SE/restore?wait=true"
nothing_restored "a flipped byte"
stop

# ---- vecsnap push | pull | ls-remote, no server running -------------------------
export VECSNAP_S3_ENDPOINT=$FRONT VECSNAP_S3_BUCKET=$BUCKET
out=$("$VECSNAP" ls-remote --s3-prefix a/ 2>&1)
same "ls-remote" $? 0
has "ls-remote lists the snapshot" "$out" "$S1"
lacks "the local-only one is not there" "$out" "$S2"
out=$("$VECSNAP" push --s3-prefix a/ --data-dir "$A" "$S2" 2>&1)
same "push" $? 0
has "push says so" "$out" "pushed $S2"
out=$("$VECSNAP" ls-remote --json --s3-prefix a/ 2>&1)
same "ls-remote --json: pushed" "$(jget "$out" 'j.snapshots.map(s => s.id).includes("'"$S2"'")')" true
out=$("$VECSNAP" pull --current --s3-prefix a/ --data-dir "$tmp/pulled" 2>&1)
same "pull the newest, make it CURRENT" $? 0
has "pull says so" "$out" "CURRENT is $S2"
DATA_DIR=$tmp/pulled start --autosave-interval-s 0
same "a server on the pulled directory answers the same" "$(search)" "$R2"
stop
cur=$(cat "$A/CURRENT")
out=$("$VECSNAP" pull --current --s3-prefix a/ --data-dir "$A" "$S1" 2>&1)
same "pull --current over a data directory with a log is refused" $? 1
has "it says why" "$out" "write-ahead log"
same "CURRENT is unchanged" "$(cat "$A/CURRENT")" "$cur"
P="backups of ü/"
out=$("$VECSNAP" push --all --s3-prefix "$P" --data-dir "$A" 2>&1)
same "push --all under a prefix with a space and unicode" $? 0
n=$(aws s3 ls --recursive "s3://$BUCKET/$P" | grep -c "manifest.json$")
same "awscli sees the manifests there" "$n" 3
out=$("$VECSNAP" pull --s3-prefix "$P" --data-dir "$tmp/pulled2" "$S1" "$S2" 2>&1)
same "pull from that prefix" $? 0
has "pulled both" "$out" "pulled $S2"
# the server takes the same prefix (config keys allow blanks and unicode)
start_remote "$P"
req GET /v1/remote/snapshots
same "vecsnapd lists under a prefix with a space and unicode" "$code" 200
has "it sees what the CLI pushed" "$body" "$S2"
stop
"$VECSNAP" pull --s3-prefix a/ --data-dir "$tmp/pulled2" "$NOID" >/dev/null 2>&1
same "pull of an unknown id fails" $? 1
out=$("$VECSNAP" push --s3-prefix a/ --data-dir "$A" 2>&1)
same "push without ids: CURRENT" $? 0
has "push: CURRENT is there already" "$out" "pushed $S2"
unset VECSNAP_S3_ENDPOINT
"$VECSNAP" ls-remote >/dev/null 2>&1
same "without remote storage: misuse" $? 2

summary
