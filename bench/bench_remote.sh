#!/usr/bin/env bash
# bench_remote: remote storage measured against awscli on the same local S3
# server (s3rver, talked to directly: no verifying front, like for like for
# both tools), in one run.  It starts s3rver (tests/s3/start.sh) and its own
# vecsnapd servers on 127.0.0.1, stops them by PID and removes its temp
# directory, also after an error or a signal.
#
#   bench/bench_remote.sh [--quick] [--repeat R] [--count N] [--dim D]
#
# Targets (each printed as `TARGET <name>: <measured> vs <limit> PASS|FAIL`):
#   upload   POST /v1/snapshots/{id}/upload?wait=true of a binary, uncompressed
#            N x D snapshot (100000 x 384: 154 MB) <= `aws s3 cp` of the same
#            file to the same server (best of R each, alternated);
#   memory   vecsnapd's peak RSS (VmHWM) during the upload and during a fetch
#            <= its idle RSS + 64 MB + parallel parts x part size;
#   restore  POST /v1/remote/snapshots/{id}/restore?wait=true onto an empty
#            vecsnapd (fresh data directory), end to end <= `aws s3 cp` of
#            the same object to a local file + 0.5 s.
# --quick (or VS_BENCH_QUICK=1) is a 20,000 x 384 smoke run: every figure is
# measured, the targets are printed for information only.  The exit status
# is 1 when a target or a check failed, 2 on misuse.
#
# Programs: VECSNAPD, VECSNAP (default $BUILDDIR/src/...; BUILDDIR
# defaults to .), AWS (/usr/bin/aws), node with the npm packages of
# tests/s3 (VS_NODE_MODULES_S3).
set -u

usage() {
  sed -n '7,8p' "$0" | sed 's/^# \{0,1\}//'
}

. "$(dirname "$0")/bench_lib.sh"
repeat= count= dim=
bench_args "repeat count dim" "$@"
if [ "$quick" = 1 ]; then
  : "${repeat:=1}" "${count:=20000}" "${dim:=384}"
else
  : "${repeat:=3}" "${count:=100000}" "${dim:=384}"
fi

here=$(cd "$(dirname "$0")" && pwd)
BUILDDIR=${BUILDDIR:-.}
VECSNAPD=${VECSNAPD:-$BUILDDIR/src/vecsnapd}
VECSNAP=${VECSNAP:-$BUILDDIR/src/vecsnap}
AWS=${AWS:-/usr/bin/aws}
for p in "$VECSNAPD" "$VECSNAP" "$AWS"; do
  [ -x "$p" ] || { echo "bench_remote: '$p' is missing" >&2; exit 2; }
done
for p in curl jq awk node; do
  command -v "$p" >/dev/null || { echo "bench_remote: $p is needed" >&2; exit 2; }
done

MB=1048576
SLACK_MB=64
PARALLEL=4
PART_MB=8 # the part size vs_s3 chooses for files up to 80 GB
RESTORE_SLACK_S=0.5
BUCKET=vecsnap-test

tmp=$(mktemp -d "${TMPDIR:-/tmp}/vecsnap-bench-remote-XXXXXX") || exit 1
pid=
cleanup() {
  [ -n "$pid" ] && kill "$pid" 2>/dev/null && wait "$pid" 2>/dev/null
  sh "$here/../tests/s3/stop.sh" "$tmp/s3" 2>/dev/null
  rm -rf "$tmp"
}
trap cleanup EXIT
trap 'exit 1' INT TERM HUP

failures=0
die() { echo "bench_remote: $*" >&2; exit 1; }
now() { date +%s.%N; }
since() { awk -v a="$1" -v b="$(now)" 'BEGIN { printf "%.3f", b - a }'; }
min() { awk -v a="$1" -v b="$2" 'BEGIN { print (a == "" || b < a) ? b : a }'; }
check() { # check NAME OK-CONDITION-RESULT(0/1) TEXT
  if [ "$2" = 0 ]; then echo "CHECK $1: $3 ok"; else
    echo "CHECK $1: $3 FAIL"; failures=$((failures + 1)); fi
}
target() { # target NAME MEASURED LIMIT UNIT
  local ok
  ok=$(awk -v m="$2" -v l="$3" 'BEGIN { print (m <= l) ? "PASS" : "FAIL" }')
  echo "TARGET $1: $2 $4 vs $3 $4 $ok"
  [ "$ok" = PASS ] || [ "$quick" = 1 ] || failures=$((failures + 1))
}
kb() { sed -n "s/^$2:[[:space:]]*\([0-9]*\) kB/\1/p" "/proc/$1/status"; }

# ---- the S3 server and the clients -------------------------------------------
mkdir -p "$tmp/s3"
sh "$here/../tests/s3/start.sh" "$tmp/s3" $$ >"$tmp/s3/ports" 2>"$tmp/s3/err" ||
  die "s3rver did not start: $(cat "$tmp/s3/err")"
. "$tmp/s3/ports"
EP=http://127.0.0.1:$S3_PORT
export AWS_ACCESS_KEY_ID=S3RVER AWS_SECRET_ACCESS_KEY=S3RVER
export AWS_DEFAULT_REGION=us-east-1 AWS_PAGER='' AWS_CONFIG_FILE=/dev/null
export AWS_SHARED_CREDENTIALS_FILE=/dev/null
aws() { "$AWS" --endpoint-url "$EP" --only-show-errors "$@"; }

start() { # start DATA_DIR: vecsnapd on s3rver, sets $pid and $base
  VECSNAP_S3_ENDPOINT=$EP VECSNAP_S3_BUCKET=$BUCKET VECSNAP_S3_PREFIX=bench/ \
    VECSNAP_S3_PARALLEL=$PARALLEL bench_start "$tmp/log" --data-dir "$1" \
    --autosave-interval-s 0 --max-body-bytes 4G --log-level notice ||
    die "vecsnapd did not start: $(cat "$tmp/log")"
}
stop() {
  kill -TERM "$pid"
  wait "$pid" || die "vecsnapd exited with $? (see its log: $(tail -n 5 "$tmp/log"))"
  pid=
}
post() { # post PATH [curl args]: sets $code and $body
  local p=$1
  shift
  code=$(curl -s -o "$tmp/body" -w '%{http_code}' -X POST "$@" "$base$p")
  body=$(cat "$tmp/body")
}
mem_reset() { echo 5 >"/proc/$pid/clear_refs" 2>/dev/null; }

# ---- the snapshot ------------------------------------------------------------
echo "bench_remote: ${count} x ${dim}, binary, no compression; best of $repeat"
"$VECSNAP" generate --count "$count" --dim "$dim" --seed 1 "$tmp/db.vsnap" \
  >/dev/null || die "vecsnap generate failed"
bytes=$(stat -c %s "$tmp/db.vsnap")
echo "snapshot file: $((bytes / MB)) MB ($bytes bytes)"
start "$tmp/a"
post /v1/snapshots/upload -H 'Content-Type: application/octet-stream' \
  --data-binary "@$tmp/db.vsnap"
[ "$code" = 201 ] || die "catalog upload: $code $body"
id=$(jq -r .snapshot.id <<<"$body")
file=$(jq -r .snapshot.file <<<"$body")
sha=$(jq -r .snapshot.sha256 <<<"$body")
stop

# ---- (1) upload, (2) memory during it ------------------------------------------
best_ours= best_aws= peak_up=0
for r in $(seq 1 "$repeat"); do
  start "$tmp/a" # a fresh process: idle RSS and peak start low
  idle=$(kb "$pid" VmRSS)
  mem_reset
  t0=$(now)
  post "/v1/snapshots/$id/upload?wait=true"
  t=$(since "$t0")
  [ "$code" = 200 ] || die "upload: $code $body"
  hwm=$(kb "$pid" VmHWM)
  peak_up=$(( (hwm - idle) > peak_up ? hwm - idle : peak_up ))
  best_ours=$(min "$best_ours" "$t")
  post "/v1/remote/snapshots/$id?wait=true" -X DELETE
  [ "$code" = 200 ] || die "delete: $code $body"
  stop
  t0=$(now)
  aws s3 cp "$tmp/db.vsnap" "s3://$BUCKET/awsbench/$file" || die "aws s3 cp failed"
  t=$(since "$t0")
  best_aws=$(min "$best_aws" "$t")
  echo "  run $r: vecsnapd upload ${best_ours}s best, aws s3 cp ${best_aws}s best"
done
start "$tmp/a"
post "/v1/snapshots/$id/upload?wait=true"
[ "$code" = 200 ] || die "upload: $code $body"
[ "$(jq -r .remote.sha256 <<<"$body")" = "$sha" ]
check "remote object" $? "sha256 of the uploaded snapshot"
stop
aws s3 cp "s3://$BUCKET/bench/snapshots/$id/$file" "$tmp/check.vsnap"
[ "$(sha256sum <"$tmp/check.vsnap" | cut -d' ' -f1)" = "$sha" ]
check "awscli download" $? "sha256 of the object awscli gets"
rm -f "$tmp/check.vsnap"

# ---- (2) memory during a download (fetch: size + sha256, no full load) --------
start "$tmp/f"
idle=$(kb "$pid" VmRSS)
mem_reset
post "/v1/remote/snapshots/$id/fetch?wait=true"
[ "$code" = 200 ] || die "fetch: $code $body"
peak_down=$(( $(kb "$pid" VmHWM) - idle ))
stop

# ---- (3) restore onto an empty server vs awscli download ------------------------
best_restore= best_get=
for r in $(seq 1 "$repeat"); do
  rm -rf "$tmp/e"
  start "$tmp/e"
  t0=$(now)
  post "/v1/remote/snapshots/$id/restore?wait=true" -H 'Content-Type: application/json' \
    -d '{"mode":"replace"}'
  t=$(since "$t0")
  [ "$code" = 200 ] || die "restore: $code $body"
  recs=$(jq -r .restore.records <<<"$body")
  best_restore=$(min "$best_restore" "$t")
  stop
  rm -f "$tmp/get.vsnap"
  t0=$(now)
  aws s3 cp "s3://$BUCKET/bench/snapshots/$id/$file" "$tmp/get.vsnap" || die "aws s3 cp failed"
  t=$(since "$t0")
  best_get=$(min "$best_get" "$t")
  echo "  run $r: vecsnapd restore ${best_restore}s best, aws s3 cp (download) ${best_get}s best"
done
[ "$recs" = "$count" ]
check "restore" $? "records restored $recs of $count"

# ---- figures ---------------------------------------------------------------------
mbps() { awk -v b="$bytes" -v t="$1" 'BEGIN { printf "%.0f", b / 1048576 / t }'; }
echo
printf '%-34s %10s %10s\n' "" "seconds" "MB/s"
printf '%-34s %10s %10s\n' "upload, vecsnapd (POST .../upload)" "$best_ours" "$(mbps "$best_ours")"
printf '%-34s %10s %10s\n' "upload, aws s3 cp" "$best_aws" "$(mbps "$best_aws")"
printf '%-34s %10s %10s\n' "restore from remote, end to end" "$best_restore" "$(mbps "$best_restore")"
printf '%-34s %10s %10s\n' "download, aws s3 cp" "$best_get" "$(mbps "$best_get")"
printf '%-34s %10s\n' "peak RSS above idle, upload (MB)" "$((peak_up / 1024))"
printf '%-34s %10s\n' "peak RSS above idle, fetch (MB)" "$((peak_down / 1024))"
echo
limit_mb=$((SLACK_MB + PARALLEL * PART_MB))
target upload "$best_ours" "$best_aws" s
target "memory upload" "$((peak_up / 1024))" "$limit_mb" MB
target "memory download" "$((peak_down / 1024))" "$limit_mb" MB
target restore "$best_restore" "$(awk -v a="$best_get" -v s="$RESTORE_SLACK_S" 'BEGIN { printf "%.3f", a + s }')" s
echo "bench_remote: $failures failure(s)"
[ "$failures" = 0 ]
