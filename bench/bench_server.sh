#!/usr/bin/env bash
# bench_server: vecsnapd measured over HTTP, each figure beside what the
# same work costs the core (bench_persist, `vecsnap convert`), measured in
# turn with it so that both see the same machine.  It starts its own
# servers on 127.0.0.1 (port 0, read back from the start-up log) with
# auto-save off, fills them through the API, measures snapshot, export,
# import, memory, /healthz throughput and upsert latency during a snapshot,
# stops each server with SIGTERM by its PID and removes its temp directory,
# also after an error or a signal.  bench/README.md defines every number.
#
#   bench/bench_server.sh [--quick] [--repeat R] [--count N] [--dim D]
#                         [--big-count N] [--big-dim D] [--wrk-seconds S]
#
# Every target prints `TARGET <name>: <measured> vs <limit> PASS|FAIL`, every
# consistency check `CHECK <name>: ... ok|FAIL`; a summary table follows.
# The exit status is 1 when a target or a check failed, 2 on misuse.
# --quick (or VS_BENCH_QUICK=1) is a 10,000-record smoke run for the test
# suite: it checks that every figure was measured and is consistent and
# prints the targets for information only.
#
# The programs: VECSNAPD, VECSNAP, BENCH_PERSIST, BENCH_UPSERT (default
# $BUILDDIR/src/vecsnapd and so on, BUILDDIR defaulting to .); wrk for the
# /healthz figure.
set -u

usage() {
  sed -n '11,12p' "$0" | sed 's/^# \{0,1\}//'
}

. "$(dirname "$0")/bench_lib.sh"
repeat= count= dim= big_count= big_dim= wrk_s=
bench_args "repeat count dim big-count big-dim wrk-seconds=wrk_s" "$@"
if [ "$quick" = 1 ]; then
  : "${repeat:=1}" "${count:=10000}" "${dim:=384}" "${big_count:=20000}"
  : "${big_dim:=128}" "${wrk_s:=1}"
else
  : "${repeat:=3}" "${count:=100000}" "${dim:=384}" "${big_count:=1000000}"
  : "${big_dim:=128}" "${wrk_s:=10}"
fi

BUILDDIR=${BUILDDIR:-.}
VECSNAPD=${VECSNAPD:-$BUILDDIR/src/vecsnapd}
VECSNAP=${VECSNAP:-$BUILDDIR/src/vecsnap}
BENCH_PERSIST=${BENCH_PERSIST:-$BUILDDIR/bench/bench_persist}
BENCH_UPSERT=${BENCH_UPSERT:-$BUILDDIR/bench/bench_upsert}
for p in "$VECSNAPD" "$VECSNAP" "$BENCH_PERSIST" "$BENCH_UPSERT"; do
  [ -x "$p" ] || { echo "bench_server: '$p' is missing (make it)" >&2; exit 2; }
done
for p in curl jq awk gzip; do
  command -v "$p" >/dev/null ||
    { echo "bench_server: $p is needed" >&2; exit 2; }
done

MB=1048576
SLACK_MB=64       # memory: peak <= store + this
SNAP_FACTOR=1.5   # snapshot <= this x the core's durable save
EXPORT_GBPS=1     # binary export >= this (GB = 2^30 bytes)
CODEC_FACTOR=1.15 # json/gzip export <= this x the raw codec
NDJSON_LIMIT_S=2  # at 100000 x 384; scaled by N*D otherwise
HEALTHZ_RPS=20000
UPSERT_P99_MS=10

tmp=$(mktemp -d "${TMPDIR:-/tmp}/vecsnap-bench-server-XXXXXX") || exit 1
pid= sampler= upserter=
cleanup() {
  [ -n "$upserter" ] && kill "$upserter" 2>/dev/null
  [ -n "$sampler" ] && kill "$sampler" 2>/dev/null
  [ -n "$pid" ] && kill -TERM "$pid" 2>/dev/null && wait "$pid" 2>/dev/null
  rm -rf "$tmp"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM
trap 'exit 129' HUP
mkfifo "$tmp/tick" && exec 9<>"$tmp/tick" # `read -t` on it: a sleep, no fork

failures=0 checks=0
rows=()
# row NAME MEASURED LIMIT RESULT: one line of the summary table
row() { rows+=("$1|$2|$3|$4"); }
calc() { awk "BEGIN { printf \"%.${2:-3}f\", $1 }"; }
holds() { awk "BEGIN { exit !($1) }"; }
mb() { calc "($1) / $MB" 1; }
# target NAME CONDITION MEASURED LIMIT [DETAIL]: CONDITION in awk
target() {
  local res=PASS
  holds "$2" || res=FAIL
  if [ "$quick" = 1 ]; then
    echo "TARGET $1: $3 vs $4${5:+ ($5)} $res (information only with --quick)"
    row "$1" "$3" "$4" "($res)"
  else
    echo "TARGET $1: $3 vs $4${5:+ ($5)} $res"
    row "$1" "$3" "$4" "$res"
    checks=$((checks + 1))
    [ $res = PASS ] || failures=$((failures + 1))
  fi
}
# check NAME CONDITION DETAIL: a consistency check, counted in both modes
check() {
  checks=$((checks + 1))
  if holds "$2"; then
    echo "CHECK $1: $3 ok"
  else
    echo "CHECK $1: $3 FAIL"
    row "check: $1" "$3" "" FAIL
    failures=$((failures + 1))
  fi
}
die() { echo "bench_server: $*" >&2; exit 1; }
note() { echo "bench_server: $*" >&2; }
loadavg() {
  local a b c rest
  read -r a b c rest </proc/loadavg
  echo "$a $b $c"
}
pause() { read -r -t "$1" -u 9 _; } # sleep without a process
# keep_min VAR VALUE: VAR = the smaller of VAR (if set) and VALUE
keep_min() {
  if [ -z "${!1}" ] || holds "$2 < ${!1}"; then printf -v "$1" %s "$2"; fi
}

# ---- the server --------------------------------------------------------------

start_server() { # start_server NAME: sets pid and base
  bench_start "$tmp/$1.log" --data-dir "$tmp/$1" --autosave-interval-s 0 ||
    { cat "$tmp/$1.log" >&2; die "vecsnapd did not start"; }
}
stop_server() { # SIGTERM by PID; the exit status must be 0
  local rc
  kill -TERM "$pid"
  wait "$pid"
  rc=$?
  pid=
  check "server exit status" "$rc == 0" "$rc after SIGTERM"
}
# http OUT curl-args...: sets code, secs, size (code 000 when curl failed)
http() {
  local out=$1 w
  shift
  w=$(curl -s -o "$out" -w '%{http_code} %{time_total} %{size_download}' "$@")
  read -r code secs size <<<"$w"
  : "${code:=000}" "${secs:=0}" "${size:=0}"
}
metric() { # metric NAME: a value from /metrics
  curl -s "$base/metrics" | sed -n "s/^$1 //p" | head -n 1
}
status_kb() { # status_kb KEY: a /proc/PID/status value of the server, kB
  local k v rest
  while read -r k v rest; do
    [ "$k" = "$1:" ] && { echo "$v"; return; }
  done <"/proc/$pid/status"
  echo 0
}

# ---- memory: the server's peak RSS and its children's private memory --------

# The children (the fork that writes a snapshot or an export) share the
# store's pages with the server; what they add is their private memory
# (Private_Clean + Private_Dirty of smaps_rollup), sampled every 20 ms.
sample_children() { # sample_children PID OUT: runs until killed
  local p=$1 out=$2 max=0 sum t c kids k v rest
  while :; do
    sum=0
    for t in /proc/"$p"/task/*/children; do
      kids=
      { read -r kids <"$t"; } 2>/dev/null
      for c in $kids; do
        { while read -r k v rest; do
            case $k in
              Private_Clean: | Private_Dirty:) sum=$((sum + v)) ;;
            esac
          done <"/proc/$c/smaps_rollup"; } 2>/dev/null
      done
    done
    [ $sum -gt $max ] && { max=$sum; echo $max >"$out"; }
    pause 0.02
  done
}
mem_begin() { # resets the server's high-water mark
  echo 5 >"/proc/$pid/clear_refs" || note "cannot reset VmHWM"
  mem_base=$(status_kb VmRSS)
  echo 0 >"$tmp/children"
}
sampler_start() {
  sample_children "$pid" "$tmp/children" &
  sampler=$!
}
sampler_stop() {
  kill "$sampler"
  wait "$sampler" 2>/dev/null
  sampler=
}
mem_end() { # mem_end NAME: the figures since mem_begin, and the target
  local hwm kids store peak detail
  hwm=$(status_kb VmHWM)
  kids=$(cat "$tmp/children")
  store=$(metric vecsnap_store_bytes)
  : "${store:=0}"
  peak=$(((hwm + kids) * 1024))
  check "memory $1 measured" "$hwm > 0 && $store > 0" \
    "server VmHWM $hwm kB, store $store bytes"
  detail="server peak $(calc "$hwm / 1024" 1) MB from"
  detail+=" $(calc "$mem_base / 1024" 1) MB + children private"
  detail+=" $(calc "$kids / 1024" 1) MB; store $(mb "$store") MB + $SLACK_MB"
  target "memory $1" "$peak <= $store + $SLACK_MB * $MB" "$(mb "$peak") MB" \
    "<= $(mb "$store + $SLACK_MB * $MB") MB" "$detail"
}

# ---- the core ----------------------------------------------------------------

# bench_persist ARGS...: one run (repeat 1) on the same store; the output
# in $tmp/persist.out
bench_persist() {
  "$BENCH_PERSIST" --count "$count" --dim "$dim" --repeat 1 \
    --dir "$tmp/persist" "$@" >"$tmp/persist.out" 2>"$tmp/persist.err" ||
    { cat "$tmp/persist.err" >&2; die "bench_persist failed"; }
}
# persist_field FORMAT CODEC NF FIELD: a figure of bench_persist's tables
# (NF 10: the main table, 9: the baselines)
persist_field() {
  awk -v f="$1" -v c="$2" -v nf="$3" -v i="$4" \
    '$1 == f && $2 == c && NF == nf { print $i; exit }' "$tmp/persist.out"
}
wall() { # wall CMD...: the wall time of CMD (stdout discarded)
  local t0=$EPOCHREALTIME
  "$@" >/dev/null || die "'$*' failed"
  calc "$EPOCHREALTIME - $t0"
}

# ---- the data ----------------------------------------------------------------

echo "bench_server: $count x $dim, upserts on $big_count x $big_dim," \
  "repeat $repeat (best of), $(nproc) CPUs, load average $(loadavg)," \
  "MB = 2^20 bytes, GB = 2^30 bytes$([ "$quick" = 1 ] && echo ', --quick')"
load_start=$(loadavg)

note "generating $count x $dim (binary, NDJSON) and $big_count x $big_dim"
"$VECSNAP" generate --count "$count" --dim "$dim" --metadata --seed 1 \
  --collection bench "$tmp/store.vsnap" >/dev/null 2>&1 ||
  die "vecsnap generate failed"
"$BENCH_UPSERT" --ndjson --count "$count" --dim "$dim" --seed 1 \
  >"$tmp/store.ndjson" || die "bench_upsert --ndjson failed"
"$VECSNAP" generate --count "$big_count" --dim "$big_dim" --metadata \
  --seed 2 --collection bench "$tmp/big.vsnap" >/dev/null 2>&1 ||
  die "vecsnap generate failed"
file_bytes=$(stat -c %s "$tmp/store.vsnap")
ndjson_bytes=$(stat -c %s "$tmp/store.ndjson")

# ---- 3. NDJSON upsert into an empty server -----------------------------------

note "NDJSON upsert"
start_server ndjson
http "$tmp/out" -X PUT -H 'Content-Type: application/json' \
  -d "{\"dimension\":$dim,\"metric\":\"cosine\"}" "$base/v1/collections/bench"
check "collection created" "$code == 201" "status $code"
mem_begin
http "$tmp/out" -T "$tmp/store.ndjson" -H 'Content-Type: application/x-ndjson' \
  "$base/v1/collections/bench/vectors"
up=$(jq -r '.upserted // 0' "$tmp/out" 2>/dev/null)
check "NDJSON upsert" "$code == 200 && ${up:-0} == $count" \
  "status $code, upserted ${up:-?} of $count"
ndjson_s=$secs
lim=$(calc "$NDJSON_LIMIT_S * $count * $dim / (100000 * 384)")
rate=$(calc "$ndjson_bytes / $MB / $ndjson_s" 1)
target "NDJSON upsert" "$ndjson_s <= $lim" "$(calc "$ndjson_s") s" \
  "<= $lim s" "$(mb "$ndjson_bytes") MB, $rate MB/s"
mem_end "NDJSON upsert"
stop_server

# ---- the main server: import, snapshot, export, /healthz ---------------------

note "binary import"
start_server main
mem_begin
http "$tmp/out" -X POST -H 'Content-Type: application/octet-stream' \
  --data-binary @"$tmp/store.vsnap" "$base/v1/import?mode=replace"
rec=$(jq -r '.import.records // 0' "$tmp/out" 2>/dev/null)
check "binary import" "$code == 200 && ${rec:-0} == $count" \
  "status $code, ${rec:-?} records of $count"
import_s=$secs
mem_end "binary import"

# 1. snapshot binary/none with wait=true, in turn with the core's save
note "snapshot, in turn with bench_persist binary/none"
snap() { # one snapshot; the previous one is deleted afterwards
  local id rec
  http "$tmp/snap.json" -X POST -H 'Content-Type: application/json' \
    -d '{"format":"binary","compression":"none"}' \
    "$base/v1/snapshots?wait=true"
  id=$(jq -r '.snapshot.id // empty' "$tmp/snap.json" 2>/dev/null)
  rec=$(jq -r '.snapshot.records // 0' "$tmp/snap.json" 2>/dev/null)
  snap_bytes=$(jq -r '.snapshot.bytes // 0' "$tmp/snap.json" 2>/dev/null)
  check "snapshot" "$code == 201 && ${rec:-0} == $count" \
    "status $code, ${rec:-?} records"
  [ -n "${last_snap:-}" ] &&
    curl -s -o /dev/null -X DELETE "$base/v1/snapshots/$last_snap"
  last_snap=$id
}
[ "$quick" = 1 ] || snap # a warm-up, as bench_persist saves once first
mem_begin
snap_best= core_save= core_load= snaps=
for _ in $(seq 1 "$repeat"); do
  bench_persist --formats binary --codecs none
  s=$(persist_field binary none 10 3)
  keep_min core_save "${s:-0}"
  keep_min core_load "$(persist_field binary none 10 4)"
  snap
  keep_min snap_best "$secs"
  snaps="$snaps $(calc "$secs")/$s"
done
sampler_start # one more, untimed: the sampler costs CPU
snap
sampler_stop
mem_end "snapshot binary/none"
check "core save measured" "$core_save > 0 && $core_load > 0" \
  "save $core_save s, load $core_load s"
echo "snapshot/core save, each round:$snaps"
lim=$(calc "$SNAP_FACTOR * $core_save")
target "snapshot binary/none" "$snap_best <= $lim" "$(calc "$snap_best") s" \
  "<= $lim s" "$SNAP_FACTOR x the core's durable save $core_save s"
echo "binary import: $(calc "$import_s") s for $(mb "$file_bytes") MB" \
  "(the core's verified load of the same file: $core_load s)"
row "binary import (POST /v1/import)" "$(calc "$import_s") s" \
  "core load $core_load s" info

# 2. export: binary throughput; json/gzip in turn with the raw codec
note "export"
mem_begin
exp_best=
for i in $(seq 0 "$repeat"); do # the last one is untimed, for memory
  [ "$i" = "$repeat" ] && sampler_start
  http /dev/null "$base/v1/export?format=binary"
  check "export binary" "$code == 200 && $size == $snap_bytes" \
    "status $code, $size bytes (the snapshot file: $snap_bytes)"
  [ "$i" = "$repeat" ] && break
  keep_min exp_best "$secs"
done
sampler_stop
exp_bytes=$size
mem_end "export binary"
gbps=$(calc "$exp_bytes / 1073741824 / $exp_best")
detail="$exp_bytes bytes in $(calc "$exp_best") s;"
detail+=" $(calc "$exp_bytes / 1e9 / $exp_best" 2) GB/s decimal"
target "export binary" "$gbps >= $EXPORT_GBPS" "$gbps GB/s" \
  ">= $EXPORT_GBPS GB/s" "$detail"

http /dev/null "$base/v1/export?format=json"
check "export json" "$code == 200 && $size > 0" "status $code, $size bytes"
json_bytes=$size json_s=$secs
echo "export json/none: $(calc "$json_s") s, $(mb "$json_bytes") MB"

note "export json/gzip, in turn with bench_persist json/gzip, vecsnap convert"
mem_begin
gz_best= core_gzip= core_convert= gzs=
for _ in $(seq 1 "$repeat"); do
  bench_persist --formats json --codecs gzip
  g=$(persist_field json gzip 9 8)
  keep_min core_gzip "${g:-0}"
  c=$(wall "$VECSNAP" convert --format json --compression gzip \
    "$tmp/store.vsnap" -)
  keep_min core_convert "$c"
  http /dev/null "$base/v1/export?format=json&compression=gzip"
  check "export json/gzip" "$code == 200 && $size > 0" \
    "status $code, $size bytes"
  keep_min gz_best "$secs"
  gzs="$gzs $(calc "$secs")/$g/$c"
done
sampler_start # one more, untimed, for memory
http /dev/null "$base/v1/export?format=json&compression=gzip"
sampler_stop
gz_bytes=$size
mem_end "export json/gzip"
if [ "$quick" = 1 ]; then
  n=$(curl -s "$base/v1/export?format=json&compression=gzip" | gzip -dc | wc -c)
  check "export json/gzip decodes" "$n == $json_bytes" \
    "$n bytes decoded, json/none export $json_bytes"
fi
check "raw gzip measured" "$core_gzip > 0" "$core_gzip s"
echo "export json/gzip / raw gzip / vecsnap convert, each round:$gzs"
lim=$(calc "$CODEC_FACTOR * $core_gzip")
detail="$CODEC_FACTOR x raw gzip $core_gzip s of the json document;"
detail+=" $(mb "$gz_bytes") MB; vecsnap convert $core_convert s"
target "export json/gzip" "$gz_best <= $lim" "$(calc "$gz_best") s" \
  "<= $lim s" "$detail"

# 5. /healthz throughput
note "/healthz"
if command -v wrk >/dev/null; then
  wrk -t2 -c64 -d"${wrk_s}s" "$base/healthz" >"$tmp/wrk.out" 2>&1
  rps=$(awk '$1 == "Requests/sec:" { print $2 }' "$tmp/wrk.out")
  nreq=$(awk '/requests in/ { print $1 }' "$tmp/wrk.out")
  errs=$(awk '/Non-2xx|Socket errors/ { n++ } END { print n + 0 }' \
    "$tmp/wrk.out")
  check "/healthz under wrk" "${rps:-0} > 0 && $errs == 0" \
    "${nreq:-0} requests, ${rps:-0} req/s, $errs error line(s)"
  [ "$errs" = 0 ] || grep -E 'Non-2xx|Socket errors' "$tmp/wrk.out"
  target "/healthz wrk -t2 -c64 -d${wrk_s}s" "${rps:-0} >= $HEALTHZ_RPS" \
    "${rps:-0} req/s" ">= $HEALTHZ_RPS req/s"
elif [ "$quick" = 1 ]; then
  echo "TARGET /healthz: wrk is not installed SKIP"
  row "/healthz (wrk)" "wrk not installed" ">= $HEALTHZ_RPS req/s" SKIP
else
  echo "TARGET /healthz: wrk is not installed (apt-get install wrk) FAIL"
  row "/healthz (wrk)" "wrk not installed" ">= $HEALTHZ_RPS req/s" FAIL
  failures=$((failures + 1))
fi
stop_server

# ---- 6. upsert latency while a snapshot of the big store is written ---------

note "upserts during a snapshot of $big_count x $big_dim"
start_server big
http "$tmp/out" -X POST --data-binary @"$tmp/big.vsnap" \
  "$base/v1/import?mode=replace"
rec=$(jq -r '.import.records // 0' "$tmp/out" 2>/dev/null)
check "big import" "$code == 200 && ${rec:-0} == $big_count" \
  "status $code, ${rec:-?} records"
# upserts RESULT-FILE SECONDS [snapshot]: runs bench_upsert, with one
# snapshot taken while it runs when asked; the snapshot's end stops it
upserts() {
  local rc
  rm -f "$tmp/ready" "$tmp/stop"
  "$BENCH_UPSERT" --url "$base" --collection bench --dim "$big_dim" \
    --ids "$big_count" --seconds "$2" --ready-file "$tmp/ready" \
    --stop-file "$tmp/stop" >"$1" 2>"$1.err" &
  upserter=$!
  for _ in $(seq 1 500); do
    [ -e "$tmp/ready" ] && break
    kill -0 "$upserter" 2>/dev/null || break
    pause 0.02
  done
  if [ "${3:-}" = snapshot ]; then
    http "$tmp/snap.json" -X POST "$base/v1/snapshots?wait=true"
    touch "$tmp/stop"
  fi
  wait "$upserter"
  rc=$?
  upserter=
  [ $rc = 0 ] || cat "$1.err" >&2
  read -r _ u_n _ u_err _ u_s _ u_p50 _ u_p99 _ u_max <"$1"
  : "${u_n:=0}" "${u_err:=1}" "${u_s:=0}" "${u_p50:=1}" "${u_p99:=1}"
  : "${u_max:=0}"
  check "upserts${3:+ during the snapshot}" "$rc == 0 && $u_n > 0 &&
    $u_err == 0 && $u_p50 <= $u_p99 && $u_p99 <= $u_max" "$(cat "$1")"
}
upserts "$tmp/idle.out" 2
idle_p99=$u_p99 idle_n=$u_n idle_s=$u_s
upserts "$tmp/busy.out" 600 snapshot
kind=$(jq -r '.snapshot | "\(.format)/\(.compression)"' "$tmp/snap.json" \
  2>/dev/null)
rec=$(jq -r '.snapshot.records // 0' "$tmp/snap.json" 2>/dev/null)
check "snapshot of the big store" "$code == 201 && ${rec:-0} == $big_count" \
  "status $code, ${rec:-?} records"
fork_pause=$(metric vecsnap_snapshot_fork_pause_seconds)
echo "snapshot of $big_count x $big_dim ($kind): $(calc "$secs") s," \
  "writers paused ${fork_pause:-n/a (no metric)} s for the fork;" \
  "$u_n upserts in $u_s s during it, p50 $u_p50 ms, p99 $u_p99 ms," \
  "max $u_max ms; without a snapshot: $idle_n in $idle_s s, p99 $idle_p99 ms"
row "snapshot $big_count x $big_dim $kind" "$(calc "$secs") s" "" info
target "upsert p99 during the snapshot" "$u_p99 <= $UPSERT_P99_MS" \
  "$u_p99 ms" "<= $UPSERT_P99_MS ms" \
  "$u_n upserts, p50 $u_p50 ms, max $u_max ms; idle p99 $idle_p99 ms"
stop_server

# ---- summary -----------------------------------------------------------------

echo
echo "load average: $load_start at the start, $(loadavg) at the end" \
  "($(nproc) CPUs)"
printf '%-44s %-16s %-18s %s\n' measurement measured target result
for r in "${rows[@]}"; do
  IFS='|' read -r a b c d <<<"$r"
  printf '%-44s %-16s %-18s %s\n' "$a" "$b" "$c" "$d"
done
echo "$failures failure(s)"
pct=100
[ "$checks" -gt 0 ] && pct=$(( (checks - failures) * 100 / checks ))
echo "$pct%: Checks: $checks, Failures: $failures, Errors: 0"
[ "$failures" = 0 ]
