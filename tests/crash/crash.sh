#!/usr/bin/env bash
# The crash test: a sustained write load against vecsnapd -- several
# concurrent writers doing upserts, single and batch deletes -- and
# SIGKILL at a random moment: during writes, during a snapshot (asked for
# just before the kill, half the runs), during log rotation (segments of
# 4 KiB rotate every few writes).  After each kill the server restarts on
# the same data directory and every write the harness saw acknowledged
# must be there with its content (deletes stay deleted unless upserted
# again later), nothing else may appear, and every listed snapshot must
# verify.  The harness (load.mjs) keeps the model of acknowledged writes;
# the server is never asked what it acknowledged.
#
#   RUNS           kills with wal_fsync always (default 50; 15 under
#                  AddressSanitizer, whose runs are slower)
#   RUNS_EVERYSEC  kills with everysec, where writes acknowledged in the
#                  last second may be lost (default 10; 5 under ASan)
#
# Prints the figures (runs, acknowledged writes, lost) and the summary
# line; see tests/api/lib.sh for how the server is driven.
set -u
. "$(dirname "$0")/../api/lib.sh"

here=$(cd "$(dirname "$0")" && pwd)
if ASAN_OPTIONS=help=1 "$VECSNAPD" --version 2>&1 | grep -q AddressSanitizer; then
  sanitized=1
else
  sanitized=0
fi
RUNS=${RUNS:-$([ $sanitized = 1 ] && echo 15 || echo 50)}
RUNS_EVERYSEC=${RUNS_EVERYSEC:-$([ $sanitized = 1 ] && echo 5 || echo 10)}
VS_API_LOG=/dev/null # the load's replies are checked by load.mjs

# verify_snapshots: every listed snapshot verifies; all but CURRENT and the
# newest two are then deleted, so the next run verifies few.
verify_snapshots() {
  local ids id cur n=0 bad=0
  req GET /v1/snapshots
  ids=$(jget "$body" 'j.snapshots.map(s => s.id).join(" ")')
  cur=$(jget "$body" 'j.current || ""')
  for id in $ids; do
    req POST "/v1/snapshots/$id/verify?wait=true"
    n=$((n + 1))
    if [ "$code" != 200 ]; then
      bad=$((bad + 1))
      echo "snapshot $id does not verify: $code ${body:0:300}"
    fi
  done
  snaps_verified=$((snaps_verified + n))
  snaps_bad=$((snaps_bad + bad))
  for id in $(echo "$ids" | tr ' ' '\n' | head -n -2); do
    [ "$id" = "$cur" ] || req DELETE "/v1/snapshots/$id"
  done
}

# campaign POLICY RUNS WINDOW_MS
campaign() {
  local policy=$1 runs=$2 window=$3 data=$tmp/data-$1 model=$tmp/model-$1.json
  local out acked=0 lost=0 maxage=0 snaps=0 r a l m rc
  snaps_verified=0 snaps_bad=0
  rm -rf "$data" "$model"
  local flags=(--autosave-interval-s 0 --wal-fsync "$policy"
    --wal-segment-bytes 4096)
  DATA_DIR=$data start "${flags[@]}"
  req PUT /v1/collections/crash -H "$J" -d '{"dimension":4}'
  same "$policy: the collection" "$code" 201
  for r in $(seq 1 "$runs"); do
    out=$(node "$here/load.mjs" run --base "$base" --pid "$pid" \
      --model "$model" --seed "$RANDOM$r" --min-ms 150 --max-ms 600)
    wait "$pid" 2>/dev/null
    pid=
    a=$(jget "$out" j.acked)
    acked=$((acked + a))
    case "$out" in *'"snapshot":"full"'* | *'"snapshot":"incremental"'*)
      snaps=$((snaps + 1)) ;;
    esac
    DATA_DIR=$data start "${flags[@]}"
    [ -n "$pid" ] && kill -0 "$pid" 2>/dev/null || {
      fail "$policy run $r: the server did not come back"
      tail -n 20 "$tmp/log"
      break
    }
    out=$(node "$here/load.mjs" check --base "$base" --model "$model" \
      --window-ms "$window")
    rc=$?
    checks=$((checks + 1))
    if [ $rc != 0 ]; then
      fail "$policy run $r: $out"
      grep -E 'error|warn' "$tmp/log" | head -n 5
    fi
    l=$(jget "$out" 'j.lost ?? 0')
    m=$(jget "$out" 'j.max_lost_age_ms ?? 0')
    lost=$((lost + l))
    [ "$m" -gt "$maxage" ] && maxage=$m
    if [ "$window" = 0 ] && [ "$l" != 0 ]; then
      fail "$policy run $r: $l acknowledged writes lost: $out"
    fi
    verify_snapshots
  done
  checks=$((checks + 1))
  [ "$snaps_bad" = 0 ] || fail "$policy: $snaps_bad snapshots did not verify"
  echo "crash ($policy): $runs SIGKILL runs, $snaps during a snapshot, $acked" \
    "acknowledged writes, $lost lost (oldest ${maxage} ms before the kill)," \
    "$snaps_verified snapshot verifications, $snaps_bad failed"
  stop
}

campaign always "$RUNS" 0
[ "$RUNS_EVERYSEC" -gt 0 ] && campaign everysec "$RUNS_EVERYSEC" 1100

summary
