#!/usr/bin/env bash
# The server as a whole: bearer tokens and roles, listening beyond loopback,
# TLS, auto-save, the final save at SIGTERM and what a restart finds.  See
# lib.sh for how the server is driven.
set -u
. "$(dirname "$0")/lib.sh"

ADMIN=admin-token-0123456789
READ=read-token-0123456789
A="Authorization: Bearer $ADMIN"
R="Authorization: Bearer $READ"

# ---- configuration ----------------------------------------------------------
"$VECSNAPD" --listen 0.0.0.0 >"$tmp/out" 2>&1
same "0.0.0.0 without a token is refused" $? 2
has "the refusal names the token" "$(cat "$tmp/out")" "auth token"
"$VECSNAPD" --token-admin short >"$tmp/out" 2>&1
same "a short token is refused" $? 2
lacks "the refusal does not print the token" "$(cat "$tmp/out")" "short'"
"$VECSNAPD" --tls-cert /nonexistent >"$tmp/out" 2>&1
same "a certificate without a key is refused" $? 2
has "the refusal says both are needed" "$(cat "$tmp/out")" "both tls_cert and tls_key"
"$VECSNAPD" --save-compression gzip --save-level 30 >"$tmp/out" 2>&1
same "a level out of range is refused" $? 2
"$VECSNAPD" --wal-fsync sometimes >"$tmp/out" 2>&1
same "an unknown fsync policy is refused" $? 2
has "the refusal names the key and the choices" "$(cat "$tmp/out")" \
  "wal_fsync (write-ahead log: always, everysec, no, or off"
"$VECSNAPD" --keep-within 7y >"$tmp/out" 2>&1
same "a duration with an unknown unit is refused" $? 2
"$VECSNAPD" --s3-endpoint http://127.0.0.1:1 >"$tmp/out" 2>&1
same "an endpoint without a bucket is refused" $? 2
has "the refusal says a bucket is needed" "$(cat "$tmp/out")" "needs s3_bucket"
"$VECSNAPD" --upload-snapshots true >"$tmp/out" 2>&1
same "uploads without remote storage are refused" $? 2
"$VECSNAPD" --s3-endpoint http://127.0.0.1:1 --s3-bucket b \
  --s3-part-size 1M >"$tmp/out" 2>&1
same "a part below S3's 5 MiB minimum is refused" $? 2
"$VECSNAPD" --s3-parallel 17 >"$tmp/out" 2>&1
same "more than 16 parallel parts are refused" $? 2
VECSNAP_S3_SECRET_KEY='has blank' "$VECSNAPD" >"$tmp/out" 2>&1
same "a secret with a blank is refused" $? 2
lacks "the refusal does not print the secret" "$(cat "$tmp/out")" "has blank"
VECSNAP_ENCRYPTION_KEY=0123456789abcdef "$VECSNAPD" >"$tmp/out" 2>&1
same "a short encryption key is refused" $? 2
lacks "the refusal does not print the key" "$(cat "$tmp/out")" "0123456789abcdef"
"$VECSNAPD" --encrypt-local yes >"$tmp/out" 2>&1
same "encrypt_local without a key is refused" $? 2
has "the refusal says where a key goes" "$(cat "$tmp/out")" "VECSNAP_ENCRYPTION_KEY"
"$VECSNAPD" --encrypt-local maybe >"$tmp/out" 2>&1
same "a bad boolean is refused" $? 2

# ---- tokens -----------------------------------------------------------------
VECSNAP_TOKEN_ADMIN=$ADMIN VECSNAP_TOKEN_READ=$READ start --listen 0.0.0.0
has "start-up says tokens are required" "$(cat "$tmp/log")" "bearer tokens required"
lacks "the log never shows a token" "$(cat "$tmp/log")" "$ADMIN"
expect "healthz needs no token" 200 '{"status":"ok"}' GET /healthz
expect "readyz needs no token" 200 '{"status":"ready"}' GET /readyz
expect_err "no token" 401 unauthorized "bearer token is required" \
  GET /v1/collections
same "401 asks for a bearer token" "$(header WWW-Authenticate)" 'Bearer realm="vecsnap"'
expect_err "a wrong token" 401 unauthorized "not valid" GET /v1/collections \
  -H "Authorization: Bearer nope-nope-nope-nope"
expect_err "a token with another scheme" 401 unauthorized "required" \
  GET /v1/collections -H "Authorization: Basic $ADMIN"
expect_err "the read token cannot write" 403 forbidden "needs the admin token" \
  PUT /v1/collections/c -H "$R" -H "$J" -d '{"dimension":2}'
expect "the admin token writes" 201 \
  '{"name":"c","dimension":2,"metric":"cosine","count":0}' \
  PUT /v1/collections/c -H "$A" -H "$J" -d '{"dimension":2}'
expect "the read token reads" 200 \
  '{"collections":[{"name":"c","dimension":2,"metric":"cosine","count":0}]}' \
  GET /v1/collections -H "$R"
expect "the admin token reads" 200 \
  '{"collections":[{"name":"c","dimension":2,"metric":"cosine","count":0}]}' \
  GET /v1/collections -H "$A"
req POST /v1/collections/c/search -H "$R" -H "$J" -d '{"vector":[1,0],"k":1}'
same "the read token may search (a POST that only reads)" "$code" 200
req POST /v1/snapshots -H "$R" -H "$J" -d '{}'
same "the read token may not snapshot" "$code" 403
req GET /metrics
same "metrics need a token" "$code" 401
req GET /metrics -H "$R"
same "metrics with the read token" "$code" 200
req GET /
same "the web page needs no token (it asks for one)" "$code" 200
timeout 10 "$VECSNAPD" --port "${base##*:}" --data-dir "$tmp/other" \
  >"$tmp/out" 2>&1
same "a second server on the same port does not start" $? 1
has "it says why" "$(cat "$tmp/out")" "cannot listen"
timeout 10 "$VECSNAPD" --port 0 --data-dir "${DATA_DIR:-$tmp/data}" >"$tmp/out" 2>&1
same "a second server on the same data directory does not start" $? 1
stop

# ---- TLS ----------------------------------------------------------------------
openssl req -x509 -newkey rsa:2048 -nodes -keyout "$tmp/key.pem" \
  -out "$tmp/cert.pem" -days 2 -subj "/CN=127.0.0.1" \
  -addext "subjectAltName=IP:127.0.0.1" >/dev/null 2>&1
same "a test certificate is made" $? 0
SCHEME=https start --tls-cert "$tmp/cert.pem" --tls-key "$tmp/key.pem"
has "start-up says https" "$(cat "$tmp/log")" "listening on https://"
expect "healthz over TLS" 200 '{"status":"ok"}' GET /healthz \
  --cacert "$tmp/cert.pem"
code=$(curl -s -o /dev/null -w '%{http_code}' "http://127.0.0.1:${base##*:}/healthz")
same "plain HTTP is not served on the TLS port" "$code" 000
stop

# ---- auto-save ------------------------------------------------------------------
rm -rf "$tmp/data"
DATA_DIR=$tmp/data start --autosave-interval-s 0
expect "auto-save off" 200 \
  '{"interval_s":0,"after_changes":1,"keep":10,"enabled":false,"changes":0,"last_save":null,"last_error":null,"format":"binary","compression":"zstd","saves":0,"incremental":false,"full_every":10,"upload":false}' \
  GET /v1/autosave
expect "create" 201 '{"name":"v","dimension":2,"metric":"dot","count":0}' \
  PUT /v1/collections/v -H "$J" -d '{"dimension":2,"metric":"dot"}'
req PUT /v1/collections/v/vectors -H "$J" \
  -d '{"vectors":[{"id":"a","vector":[1,2]},{"id":"b","vector":[3,4]}]}'
same "upsert" "$code" 200
req GET /v1/autosave
has "two writes are unsaved" "$body" '"changes":2'
expect_err "a negative interval" 400 invalid '\"interval_s\" must be an integer' \
  PUT /v1/autosave -H "$J" -d '{"interval_s":-1}'
expect_err "an unknown field" 400 invalid 'unknown field \"every\"' \
  PUT /v1/autosave -H "$J" -d '{"every":3}'
expect_err "a body that is not JSON" 400 invalid "line 1" \
  PUT /v1/autosave -H "$J" -d '{'
req PUT /v1/autosave -H "$J" -d '{"interval_s":1,"after_changes":2}'
same "auto-save on" "$code" 200
has "the new settings" "$body" '"interval_s":1,"after_changes":2,"keep":10,"enabled":true'
saved=
for _ in $(seq 1 100); do
  req GET /v1/autosave
  case "$body" in *'"saves":1'*) saved=1; break ;; esac
  sleep 0.1
done
same "auto-save saved within seconds" "$saved" 1
has "nothing is unsaved after it" "$body" '"changes":0'
has "the time of the save is given" "$body" '"last_save":"20'
[ -s "$tmp/data/CURRENT" ]
same "the save became CURRENT" $? 0
first=$(cat "$tmp/data/CURRENT")
req PUT /v1/collections/v/vectors -H "$J" -d '{"vectors":[{"id":"c","vector":[5,6]}]}'
sleep 1.5
same "one change is below after_changes: no save" "$(cat "$tmp/data/CURRENT")" "$first"
req GET /v1/jobs
has "the save ran as a job" "$body" '"operation":"save"'
req GET /metrics
has "metrics: a successful snapshot" "$body" 'vecsnap_snapshots_total{result="ok"} 1'
has "metrics: jobs by state" "$body" 'vecsnap_jobs{state="done"} 1'
has "metrics: unsaved writes" "$body" 'vecsnap_unsaved_changes 1'
lacks "metrics: the time of the last save is set" "$body" 'vecsnap_last_save_timestamp_seconds 0.000'
has "metrics: the snapshot's size" "$body" 'vecsnap_snapshot_last_bytes '

req POST "/v1/snapshots?wait=true" -H "$J" -d '{"name":"mine"}'
same "a named snapshot" "$code" 201
req PUT /v1/autosave -H "$J" -d '{"interval_s":1,"after_changes":1,"keep":2}'
has "keep is set" "$body" '"keep":2'
for i in 1 2 3 4; do
  req PUT /v1/collections/v/vectors -H "$J" -d "{\"vectors\":[{\"id\":\"p$i\",\"vector\":[$i,1]}]}"
  for _ in $(seq 1 60); do
    req GET /v1/autosave
    case "$body" in *'"changes":0'*) break ;; esac
    sleep 0.1
  done
done
req GET /v1/autosave
same "four more auto-saves" "$(jget "$body" 'j.saves >= 5')" true
req GET /v1/snapshots
same "auto-saves beyond keep are pruned" \
  "$(jget "$body" 'j.snapshots.filter(s => s.name === "autosave").length')" 2
same "a named snapshot is never pruned" \
  "$(jget "$body" 'j.snapshots.filter(s => s.name === "mine").length')" 1
same "CURRENT is the newest auto-save" "$(jget "$body" 'j.current')" \
  "$(jget "$body" 'j.snapshots[0].id')"
req DELETE /v1/collections/v/vectors/p1
req DELETE /v1/collections/v/vectors/p2
req DELETE /v1/collections/v/vectors/p3
req DELETE /v1/collections/v/vectors/p4
for _ in $(seq 1 60); do
  req GET /v1/autosave
  case "$body" in *'"changes":0'*) break ;; esac
  sleep 0.1
done
first=$(cat "$tmp/data/CURRENT")

# ---- the final save at SIGTERM, and the restart ---------------------------------
req PUT /v1/autosave -H "$J" -d '{"interval_s":3600,"after_changes":1}'
req PUT /v1/collections/v/vectors -H "$J" -d '{"vectors":[{"id":"d","vector":[7,8]}]}'
stop
has "SIGTERM saved the unsaved writes" "$(cat "$tmp/log")" "final save: snapshot"
[ "$(cat "$tmp/data/CURRENT")" != "$first" ]
same "the final save is CURRENT" $? 0
DATA_DIR=$tmp/data start --autosave-interval-s 3600
expect "a restart finds every write" 200 \
  '{"collections":[{"name":"v","dimension":2,"metric":"dot","count":4}]}' \
  GET /v1/collections
expect "a record written last" 200 '{"id":"d","vector":[7,8],"metadata":{}}' \
  GET /v1/collections/v/vectors/d
req GET /v1/autosave
has "a fresh start has nothing unsaved" "$body" '"changes":0'
req GET /v1/jobs
has "job records survive a restart" "$body" '"operation":"save"'
stop
lacks "nothing to save: no final save" "$(cat "$tmp/log")" "final save: snapshot"

# ---- encryption at rest, locally ------------------------------------------------
KEY=$(openssl rand -hex 32)
KEY2=$(openssl rand -hex 32)
printf '%s\n' "$KEY" >"$tmp/key"
DATA_DIR=$tmp/enc start --autosave-interval-s 0 --encrypt-local true \
  --encryption-key-file "$tmp/key"
lacks "the log never shows the key" "$(cat "$tmp/log")" "$KEY"
req PUT /v1/collections/sec -H "$J" -d '{"dimension":2}'
req PUT /v1/collections/sec/vectors -H "$J" \
  -d '{"vectors":[{"id":"plaintext-marker","vector":[1,2],"metadata":{"t":"plaintext-marker"}}]}'
req POST '/v1/save?wait=true' -H "$J" -d '{"compression":"none"}'
same "an encrypted save" "$code" 201
same "the manifest says encrypted" "$(jget "$body" j.snapshot.encrypted)" true
ef=$tmp/enc/snapshots/$(jget "$body" j.snapshot.id)/$(jget "$body" j.snapshot.file)
grep -q plaintext-marker "$ef"
same "the stored file does not hold the plaintext" $? 1
same "the stored file starts with the magic" "$(head -c 4 "$ef" | od -An -tx1 | tr -d ' ')" 89565345
stop
DATA_DIR=$tmp/enc start --autosave-interval-s 0 --wal-fsync off \
  --encryption-key-file "$tmp/key"
expect "the key reads it back" 200 \
  '{"id":"plaintext-marker","vector":[1,2],"metadata":{"t":"plaintext-marker"}}' \
  GET /v1/collections/sec/vectors/plaintext-marker
stop
timeout 20 "$VECSNAPD" --port 0 --data-dir "$tmp/enc" --wal-fsync off \
  >"$tmp/out" 2>&1
same "without the key the server does not start on it" $? 1
has "it says the key is missing" "$(cat "$tmp/out")" "no key is configured"
VECSNAP_ENCRYPTION_KEY=$KEY2 timeout 20 "$VECSNAPD" --port 0 \
  --data-dir "$tmp/enc" --wal-fsync off >"$tmp/out" 2>&1
same "with a wrong key it does not start either" $? 1
has "it says the key is wrong" "$(cat "$tmp/out")" "wrong encryption key"
lacks "nor shows that key" "$(cat "$tmp/out")" "$KEY2"

# ---- incremental auto-saves, every third one full -------------------------------
DATA_DIR=$tmp/inc start --autosave-interval-s 1 --autosave-after-changes 1 \
  --autosave-incremental true --autosave-full-every 3 --autosave-keep 0
req GET /v1/autosave
same "autosave says incremental" "$(jget "$body" j.incremental)" true
same "autosave says every third is full" "$(jget "$body" j.full_every)" 3
req PUT /v1/collections/w -H "$J" -d '{"dimension":2}'
for i in 1 2 3 4; do
  req PUT /v1/collections/w/vectors -H "$J" -d "{\"vectors\":[{\"id\":\"q$i\",\"vector\":[$i,1]}]}"
  for _ in $(seq 1 60); do
    req GET /v1/autosave
    case "$body" in *'"changes":0'*) break ;; esac
    sleep 0.1
  done
done
req GET /v1/snapshots
same "auto-saves: full, two links, full again" \
  "$(jget "$body" 'j.snapshots.map(s => s.kind).reverse().join(" ")')" \
  "full incremental incremental full"
same "each link's parent is the save before it" \
  "$(jget "$body" 'j.snapshots[2].parent === j.snapshots[3].id && j.snapshots[1].parent === j.snapshots[2].id')" true
req PUT /v1/collections/w/vectors -H "$J" -d '{"vectors":[{"id":"q5","vector":[5,1]}]}'
for _ in $(seq 1 60); do
  req GET /v1/autosave
  case "$body" in *'"changes":0'*) break ;; esac
  sleep 0.1
done
req GET /v1/snapshots
same "the next one is a link again, and CURRENT" \
  "$(jget "$body" 'j.snapshots[0].kind + " " + (j.current === j.snapshots[0].id)')" \
  "incremental true"
stop
DATA_DIR=$tmp/inc start --autosave-interval-s 0 --wal-fsync off
expect "a restart from an incremental CURRENT (no log) finds every write" 200 \
  '{"collections":[{"name":"w","dimension":2,"metric":"cosine","count":5}]}' \
  GET /v1/collections
stop

# ---- start-up while a large CURRENT loads; a job cut off by SIGKILL ------------
"${VECSNAP:-src/vecsnap}" generate --count 60000 --dim 128 --metadata \
  --format json --compression gzip "$tmp/big.json.gz" >/dev/null 2>&1
same "a large json+gzip document" $? 0
rm -rf "$tmp/data"
DATA_DIR=$tmp/data start --autosave-interval-s 0
req POST "/v1/snapshots/upload?filename=big.json.gz" -T "$tmp/big.json.gz"
same "upload it" "$code" 201
up=$(jget "$body" j.snapshot.id)
req POST "/v1/snapshots/$up/restore?wait=true" -H "$J" -d '{"mode":"replace"}'
same "restore it: it becomes CURRENT" "$code" 200
same "CURRENT names it" "$(cut -d' ' -f1 "$tmp/data/CURRENT")" "$up"
req POST /v1/snapshots -H "$J" \
  -d '{"name":"slow","format":"json","compression":"gzip","level":9}'
same "a slow snapshot starts" "$code" 202
job=$(jget "$body" j.job.id)
sleep 0.3
kill -KILL "$pid"
wait "$pid" 2>/dev/null
pid=
ls "$tmp/data/snapshots" >"$tmp/list"
same "the killed snapshot is not listed" "$(wc -l <"$tmp/list" | tr -d ' ')" 1

: >"$tmp/log"
"$VECSNAPD" --port 0 --data-dir "$tmp/data" --autosave-interval-s 0 2>"$tmp/log" &
pid=$!
port=
for _ in $(seq 1 400); do
  port=$(sed -n 's/.*listening on http:\/\/[^:]*:\([0-9]*\).*/\1/p' "$tmp/log")
  [ -n "$port" ] && break
  sleep 0.01
done
base=http://127.0.0.1:$port
loading=0 data503=0 ready=0
for _ in $(seq 1 2000); do
  c=$(curl -s -o "$tmp/body" -w '%{http_code}' "$base/readyz")
  if [ "$c" = 503 ]; then
    grep -q '"loading"' "$tmp/body" && loading=1
    c=$(curl -s -o /dev/null -w '%{http_code}' "$base/v1/collections")
    [ "$c" = 503 ] && data503=1
  elif [ "$c" = 200 ]; then
    ready=1
    break
  fi
done
same "/readyz answers 503 loading while CURRENT loads" "$loading" 1
same "data routes answer 503 meanwhile" "$data503" 1
same "then /readyz answers 200" "$ready" 1
expect "the store is the CURRENT snapshot" 200 \
  '{"collections":[{"name":"default","dimension":128,"metric":"cosine","count":60000}]}' \
  GET /v1/collections
req GET "/v1/jobs/$job"
has "the job SIGKILL cut off shows as failed" "$body" '"state":"failed"'
has "it says why" "$body" 'interrupted'
stop

summary
