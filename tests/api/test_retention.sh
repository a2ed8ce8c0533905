#!/usr/bin/env bash
# Retention over HTTP (POST|GET /v1/retention) against a real vecsnapd:
# dry-run plans with their reasons, a real run, every validation error, a
# configured policy applied after each snapshot (and shown by GET and
# /metrics), CURRENT kept after a restore, and remote storage (s3rver
# behind the front of tests/s3): a remote dry run and a real one as jobs,
# and the policy applied there after each uploaded snapshot.  Snapshots
# with forged creation times cannot be made through the API: the calendar
# rules are tested in tests/test_retention.c.  See lib.sh.
set -u
. "$(dirname "$0")/lib.sh"

S3DIR=${SRCDIR:-.}/tests/s3
BUCKET=vecsnap-test

snapshot() { # snapshot NAME [more JSON fields]: sets $sid
  req POST '/v1/snapshots?wait=true' -H "$J" -d "{\"name\":\"$1\"${2:-}}"
  same "snapshot $1" "$code" 201
  sid=$(jget "$body" j.snapshot.id)
}
snapshot_ids() { # the local snapshot ids, newest first, one line
  req GET /v1/snapshots
  jget "$body" 'j.snapshots.map(s => s.id).sort().reverse().join(" ")'
}
# plan JSON: POST /v1/retention, expecting 200; $body is the reply.
plan() {
  req POST /v1/retention -H "$J" -d "$1"
  same "retention $1 (status)" "$code" 200
}
kept() { jget "$body" 'j.retention.keep.map(k => k.id).join(" ")'; }
dropped() { jget "$body" 'j.retention.delete.map(k => k.id).join(" ")'; }
why() { # why ID: the reasons a snapshot is kept, comma-separated
  jget "$body" "(j.retention.keep.find(k => k.id === '$1') || {reasons: ['-']}).reasons.join(',')"
}

# ---- no policy configured: dry runs, a real run, validation ----------------
start --autosave-interval-s 0
req GET /v1/retention
same "GET: status" "$code" 200
same "GET: nothing configured" "$body" \
  '{"policy":{"keep_last":0,"keep_within":null,"keep_daily":0,"keep_weekly":0},"enabled":false,"remote":false}'
req PUT /v1/collections/c -H "$J" -d '{"dimension":2}'
same "create c" "$code" 201
ids=()
for i in 1 2 3 4; do
  req PUT /v1/collections/c/vectors -H "$J" \
    -d "{\"vectors\":[{\"id\":\"r$i\",\"vector\":[$i,1]}]}"
  snapshot "s$i"
  ids+=("$sid")
  sleep 0.01
done
S1=${ids[0]} S2=${ids[1]} S3=${ids[2]} S4=${ids[3]}

plan '{"dry_run":true}'
same "no rule: everything kept" "$(jget "$body" j.retention.keep.length)" 4
same "no rule: the reason" "$(why "$S1")" "no rule set"
same "no rule: nothing to delete" "$(dropped)" ""

plan '{"keep_last":2,"dry_run":true}'
same "keep_last 2: the two newest" "$(kept)" "$S4 $S3"
same "keep_last 2: newest is CURRENT too" "$(why "$S4")" "current,last"
same "keep_last 2: deletions, newest first" "$(dropped)" "$S2 $S1"
same "a dry run deletes nothing" "$(jget "$body" j.retention.deleted)" 0
same "the plan says it is dry" "$(jget "$body" j.retention.dry_run)" true
same "the policy used" "$(jget "$body" j.retention.policy)" \
  '{"keep_last":2,"keep_within":null,"keep_daily":0,"keep_weekly":0}'
same "the deletion reason" "$(jget "$body" 'j.retention.delete[0].reason')" \
  "matches no keep rule"
same "still four snapshots" "$(snapshot_ids)" "$S4 $S3 $S2 $S1"

plan '{"keep_within":"1h","dry_run":true}'
same "keep_within 1h: all four" "$(jget "$body" j.retention.keep.length)" 4
same "keep_within: the reason" "$(why "$S1")" "within 1h"
plan '{"keep_within":90,"dry_run":true}'
same "keep_within in seconds" "$(why "$S2")" "within 1m30s"
same "keep_within echoed as a duration" \
  "$(jget "$body" j.retention.policy.keep_within)" "1m30s"
plan '{"keep_daily":1,"dry_run":true}'
same "keep_daily 1: one kept" "$(kept)" "$S4"
has "keep_daily: the day" "$(why "$S4")" "current,daily 20"
plan '{"keep_weekly":1,"keep_last":1,"dry_run":true}'
has "keep_weekly: the ISO week" "$(why "$S4")" "last,weekly 20"
has "keep_weekly: the week's form" "$(why "$S4")" "-W"

expect_err "unknown field" 400 invalid 'unknown field \"keep_hourly\"' \
  POST /v1/retention -H "$J" -d '{"keep_hourly":1}'
expect_err "negative count" 400 invalid '\"keep_last\" must be an integer from 0' \
  POST /v1/retention -H "$J" -d '{"keep_last":-1}'
expect_err "fractional count" 400 invalid '\"keep_daily\" must be an integer' \
  POST /v1/retention -H "$J" -d '{"keep_daily":1.5}'
expect_err "count as text" 400 invalid '\"keep_weekly\" must be an integer' \
  POST /v1/retention -H "$J" -d '{"keep_weekly":"2"}'
expect_err "bad duration" 400 invalid "bad duration '7x'" \
  POST /v1/retention -H "$J" -d '{"keep_within":"7x"}'
expect_err "duration too long" 400 invalid "is above" \
  POST /v1/retention -H "$J" -d '{"keep_within":"99999999999w"}'
expect_err "duration of another type" 400 invalid '\"keep_within\" must be a duration' \
  POST /v1/retention -H "$J" -d '{"keep_within":true}'
expect_err "negative seconds" 400 invalid '\"keep_within\" must be a duration' \
  POST /v1/retention -H "$J" -d '{"keep_within":-5}'
expect_err "dry_run not a boolean" 400 invalid '\"dry_run\" must be true or false' \
  POST /v1/retention -H "$J" -d '{"dry_run":"yes"}'
expect_err "remote without remote storage" 400 invalid \
  '\"remote\": remote storage is not configured' \
  POST /v1/retention -H "$J" -d '{"remote":true,"dry_run":true}'
expect_err "not JSON" 400 invalid "" POST /v1/retention -H "$J" -d '{'
expect_err "not an object" 400 invalid "" POST /v1/retention -H "$J" -d '[1]'
req POST /v1/retention -H 'Content-Type: text/plain' -d '{}'
same "not JSON content" "$code" 415
same "nothing was deleted by the bad requests" "$(snapshot_ids)" "$S4 $S3 $S2 $S1"

plan '{"keep_last":2}'
same "a real run deletes" "$(jget "$body" j.retention.deleted)" 2
same "it is not dry" "$(jget "$body" j.retention.dry_run)" false
same "nothing skipped" "$(jget "$body" j.retention.skipped)" "[]"
same "two snapshots left" "$(snapshot_ids)" "$S4 $S3"
has "the deletions are logged" "$(cat "$tmp/log")" "retention: deleted snapshot $S1"

# CURRENT stays whatever the rules say.
req POST "/v1/snapshots/$S3/restore?wait=true" -H "$J" -d '{}'
same "restore the older one" "$code" 200
plan '{"keep_last":1,"dry_run":true}'
same "CURRENT is kept" "$(why "$S3")" "current"
same "the newest by keep_last" "$(why "$S4")" "last"
same "nothing to delete" "$(dropped)" ""
req GET /metrics
has "metrics: the run" "$body" 'vecsnap_retention_runs_total{result="ok"} 1'
has "metrics: the deletions" "$body" "vecsnap_retention_deleted_snapshots_total 2"
stop

# ---- a configured policy: applied after each snapshot -------------------------
DATA_DIR=$tmp/data2 start --autosave-interval-s 0 --keep-last 2 --keep-within 0
has "the policy is logged at start" "$(cat "$tmp/log")" "retention: keep_last 2"
req GET /v1/retention
same "GET: the configured policy" "$body" \
  '{"policy":{"keep_last":2,"keep_within":null,"keep_daily":0,"keep_weekly":0},"enabled":true,"remote":false}'
req PUT /v1/collections/c -H "$J" -d '{"dimension":2}'
ids=()
for i in 1 2 3 4; do
  snapshot "t$i"
  ids+=("$sid")
  sleep 0.01
done
same "only the newest two remain" "$(snapshot_ids)" "${ids[3]} ${ids[2]}"
plan '{"dry_run":true}'
same "an empty body uses the configured policy" \
  "$(jget "$body" j.retention.policy.keep_last)" 2
same "nothing more to delete" "$(dropped)" ""
plan '{"keep_last":0,"dry_run":true}'
same "a rule unset for one run" "$(why "${ids[2]}")" "no rule set"
req GET /v1/retention
same "the configured policy did not change" \
  "$(jget "$body" j.policy.keep_last)" 2
req GET /metrics
has "metrics: a run after each snapshot" "$body" \
  'vecsnap_retention_runs_total{result="ok"} 4'
has "metrics: two deleted" "$body" "vecsnap_retention_deleted_snapshots_total 2"
stop

# ---- remote storage -----------------------------------------------------------
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
export AWS_ACCESS_KEY_ID=S3RVER AWS_SECRET_ACCESS_KEY=S3RVER
remote_ids() { # the remote snapshot ids, newest first, one line
  req GET /v1/remote/snapshots
  jget "$body" 'j.snapshots.map(s => s.id).sort().reverse().join(" ")'
}
start_remote() { # start_remote PREFIX [flags...]
  local prefix=$1
  shift
  DATA_DIR=$tmp/r$prefix VECSNAP_S3_ENDPOINT=http://127.0.0.1:$FRONT_PORT \
    VECSNAP_S3_BUCKET=$BUCKET VECSNAP_S3_PREFIX=$prefix/ \
    VECSNAP_S3_RETRIES=2 VECSNAP_S3_TIMEOUT_S=5 \
    start --autosave-interval-s 0 "$@"
  req PUT /v1/collections/c -H "$J" -d '{"dimension":2}'
}

start_remote a
ids=()
for i in 1 2 3; do
  snapshot "u$i" ',"upload":true'
  ids+=("$sid")
  sleep 0.01
done
same "three remote snapshots" "$(remote_ids)" "${ids[2]} ${ids[1]} ${ids[0]}"
req POST /v1/retention -H "$J" -d '{"remote":true,"keep_last":1,"dry_run":true}'
same "a remote run is a job" "$code" 202
has "its record" "$body" '"operation":"retention"'
req POST '/v1/retention?wait=true' -H "$J" \
  -d '{"remote":true,"keep_last":1,"dry_run":true}'
same "remote dry run (wait)" "$code" 200
same "remote: the plan says so" "$(jget "$body" j.retention.remote)" true
same "remote: CURRENT is the newest, kept" "$(why "${ids[2]}")" "current,last"
same "remote: deletions, newest first" "$(dropped)" "${ids[1]} ${ids[0]}"
same "remote dry run deletes nothing" "$(remote_ids)" \
  "${ids[2]} ${ids[1]} ${ids[0]}"
req POST '/v1/retention?wait=true' -H "$J" -d '{"remote":true,"keep_last":1}'
same "remote run" "$code" 200
same "remote: two deleted" "$(jget "$body" j.retention.deleted)" 2
same "one remote snapshot left" "$(remote_ids)" "${ids[2]}"
same "the local ones are untouched" "$(snapshot_ids)" \
  "${ids[2]} ${ids[1]} ${ids[0]}"
stop

# Applied after each snapshot when every snapshot is uploaded: the remote
# run comes before that snapshot's own upload, so the remote holds one
# more than the policy until the next snapshot.
start_remote b --upload-snapshots true --keep-last 2
req GET /v1/retention
same "GET: remote too" "$(jget "$body" j.remote)" true
ids=()
for i in 1 2 3 4 5; do
  snapshot "v$i"
  ids+=("$sid")
  sleep 0.01
done
same "local: the newest two" "$(snapshot_ids)" "${ids[4]} ${ids[3]}"
same "remote: the newest three" "$(remote_ids)" \
  "${ids[4]} ${ids[3]} ${ids[2]}"
has "remote deletions are logged" "$(cat "$tmp/log")" \
  "retention: deleted remote snapshot ${ids[0]}"
stop

summary
