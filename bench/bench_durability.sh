#!/usr/bin/env bash
# bench_durability: what the write-ahead log costs and how fast a server
# comes back, measured over HTTP against real vecsnapd processes.
#
#   1. Upsert throughput with the log off, wal_fsync everysec and always:
#      wrk with several connections sends PUT /v1/collections/c/vectors,
#      batches of 100 records x 128 floats, then single-record upserts
#      (128 floats), each for --seconds on a fresh server, the three
#      policies in turn, --repeat times.  The table shows the best run of
#      each; the targets compare each everysec run with the off run just
#      before it (the machine's other work shifts both alike) and take the
#      median ratio: everysec >= 80 % of off, for both shapes.
#   2. Start-up: a store of --count records x --dim floats imported (with
#      the log on, the import is snapshotted and becomes CURRENT), then
#      --count single-record upserts (wrk, everysec) into the log, SIGKILL,
#      and the time from exec to /readyz 200 of the next server, which
#      loads the snapshot and replays every one of them.  Target: <= 2 s.
#
#   bench/bench_durability.sh [--quick] [--seconds S] [--repeat R]
#                             [--count N] [--dim D] [--connections C]
#
# --quick (or VS_BENCH_QUICK=1): 1 s runs, 10,000 records, targets printed
# for information only.  Prints `TARGET <name>: ... PASS|FAIL` lines and a
# summary line; exit status 1 when a target failed (not with --quick), 2
# on misuse.  Needs wrk; VECSNAPD and VECSNAP (default $BUILDDIR/src/...).
# Servers listen on 127.0.0.1 (port 0, read back from their log), are
# stopped by PID and their directories removed, also on error or signal.
set -u

usage() { sed -n '19,20p' "$0" | sed 's/^# \{0,1\}//'; }
. "$(dirname "$0")/bench_lib.sh"
seconds= repeat= count= dim= conns=
bench_args "seconds repeat count dim connections=conns" "$@"
if [ "$quick" = 1 ]; then
  : "${seconds:=1}" "${repeat:=1}" "${count:=10000}" "${dim:=384}"
else
  : "${seconds:=4}" "${repeat:=5}" "${count:=100000}" "${dim:=384}"
fi
: "${conns:=8}"
BUILDDIR=${BUILDDIR:-.}
VECSNAPD=${VECSNAPD:-$BUILDDIR/src/vecsnapd}
VECSNAP=${VECSNAP:-$BUILDDIR/src/vecsnap}
command -v wrk >/dev/null || { echo "bench_durability: wrk is missing" >&2; exit 2; }

tmp=$(mktemp -d)
pid=
cleanup() {
  [ -n "$pid" ] && kill -KILL "$pid" 2>/dev/null && wait "$pid" 2>/dev/null
  rm -rf "$tmp"
}
trap cleanup EXIT
trap 'exit 130' INT TERM
checks=0 failures=0

start() { # start DATA [flags...]: sets $pid and $base
  local data=$1
  shift
  bench_start "$tmp/log" --data-dir "$data" --autosave-interval-s 0 \
    --threads 4 --max-body-bytes 2G --max-decompressed-bytes 2G "$@" ||
    { cat "$tmp/log"; echo "vecsnapd did not start" >&2; exit 1; }
}
stop() { kill -TERM "$pid"; wait "$pid"; pid=; }
J='Content-Type: application/json'

# The wrk script: PUT batches of `n` records of `d` floats, ids drawn at
# random below `ids`.
cat >"$tmp/upsert.lua" <<'EOF'
local n, d, ids = 1, 128, 100000
local vec, threads = nil, 0
function setup(thread)
  threads = threads + 1
  thread:set("tid", threads)
end
function init(args)
  n, d, ids = tonumber(args[1]), tonumber(args[2]), tonumber(args[3])
  local v = {}
  for i = 1, d do v[i] = string.format("%.4f", math.random() * 2 - 1) end
  vec = table.concat(v, ",")
  math.randomseed(os.time() * 100 + (tid or 0))
  wrk.method = "PUT"
  wrk.headers["Content-Type"] = "application/json"
end
function request()
  local recs = {}
  for i = 1, n do
    recs[i] = string.format('{"id":"vec-%08d","vector":[%s]}',
                            math.random(0, ids - 1), vec)
  end
  return wrk.format(nil, "/v1/collections/c/vectors", nil,
                    '{"vectors":[' .. table.concat(recs, ",") .. ']}')
end
function response(status)
  if status ~= 200 then
    io.stderr:write("upsert answered " .. status .. "\n")
  end
end
EOF

# rps POLICY N: requests/s of one wrk run against a fresh server with
# wal_fsync POLICY, batches of N records x 128 floats.
rps() {
  local policy=$1 n=$2 out v
  rm -rf "$tmp/d"
  start "$tmp/d" --wal-fsync "$policy"
  curl -s -o /dev/null -X PUT "$base/v1/collections/c" -H "$J" \
    -d '{"dimension":128}'
  out=$(wrk -t2 -c"$conns" -d"${seconds}s" -s "$tmp/upsert.lua" "$base" \
    -- "$n" 128 100000 2>&1)
  stop
  v=$(echo "$out" | sed -n 's/^Requests\/sec: *\([0-9.]*\).*/\1/p')
  echo "$out" | grep -q 'answered' && echo "$out" | grep answered | sort | uniq -c >&2
  [ -n "$v" ] || { echo "$out" >&2; v=0; }
  echo "$v"
}

target() { # target NAME MEASURED LIMIT-TEXT OK(0|1)
  checks=$((checks + 1))
  local res=PASS
  [ "$4" = 1 ] || res=FAIL
  if [ "$quick" = 1 ]; then
    echo "TARGET $1: $2 vs $3 $res (information only with --quick)"
  else
    echo "TARGET $1: $2 vs $3 $res"
    [ "$res" = PASS ] || failures=$((failures + 1))
  fi
}

# ---- 1. throughput -------------------------------------------------------------
declare -A R P # best req/s; everysec/off ratios of the runs, one a line
for shape in 100 1; do
  for r in $(seq 1 "$repeat"); do
    for policy in off everysec always; do
      v=$(rps "$policy" "$shape")
      R[$policy.$shape]=$(awk -v a="${R[$policy.$shape]:-0}" -v b="$v" \
        'BEGIN { print (b > a ? b : a) }')
      [ "$policy" = off ] && off=$v
      [ "$policy" = everysec ] && P[$shape]+="$(awk -v a="$v" -v b="$off" \
        'BEGIN { printf "%.1f", (b > 0 ? 100 * a / b : 0) }')"$'\n'
    done
  done
done
printf '%-34s %12s %12s %12s\n' "upserts over HTTP, $conns connections" \
  off everysec always
for shape in 100 1; do
  label="batches of $shape x 128 (req/s)"
  [ "$shape" = 1 ] && label="single records x 128 (req/s)"
  printf '%-34s %12.0f %12.0f %12.0f\n' "$label" "${R[off.$shape]}" \
    "${R[everysec.$shape]}" "${R[always.$shape]}"
done
printf '%-34s %12.0f %12.0f %12.0f\n' "  the same in records/s" \
  "$(awk -v r="${R[off.100]}" 'BEGIN { print r * 100 }')" \
  "$(awk -v r="${R[everysec.100]}" 'BEGIN { print r * 100 }')" \
  "$(awk -v r="${R[always.100]}" 'BEGIN { print r * 100 }')"
for shape in 100 1; do
  runs=$(printf '%s' "${P[$shape]}" | sort -n | tr '\n' ' ' | sed 's/ $//')
  pct=$(printf '%s' "${P[$shape]}" | sort -n |
    awk '{ v[NR] = $1 } END { printf "%.1f", v[int((NR + 1) / 2)] }')
  ok=$(awk -v p="$pct" 'BEGIN { print (p >= 80 ? 1 : 0) }')
  target "everysec_vs_off_batch$shape" "$pct % (median of: $runs)" \
    ">= 80 %" "$ok"
done

# ---- 2. start-up: a snapshot and a log of $count upserts -----------------------
"$VECSNAP" generate --count "$count" --dim "$dim" --collection c --seed 3 \
  "$tmp/gen.vsnap" >/dev/null
rm -rf "$tmp/s"
start "$tmp/s" --wal-fsync everysec
curl -s -o "$tmp/import.json" -w '%{http_code}' -X POST \
  "$base/v1/import?mode=replace" --data-binary @"$tmp/gen.vsnap" \
  -H 'Content-Type: application/octet-stream' | grep -q 200 ||
  { cat "$tmp/import.json"; exit 1; }
appends() { curl -s "$base/v1/wal" | sed -n 's/.*"appends":\([0-9]*\).*/\1/p'; }
wrk -t2 -c"$conns" -d600s -s "$tmp/upsert.lua" "$base" \
  -- 1 "$dim" "$count" >"$tmp/wrk.out" 2>&1 &
wrk_pid=$!
until [ "$(appends)" -ge "$count" ] 2>/dev/null; do sleep 0.1; done
kill -INT "$wrk_pid"
wait "$wrk_pid"
logged=$(appends)
wal_mb=$(du -sm "$tmp/s/wal" | cut -f1)
kill -KILL "$pid"
wait "$pid" 2>/dev/null
pid=
t0=$(date +%s%N)
start "$tmp/s" --wal-fsync everysec
until curl -sf -o /dev/null "$base/readyz"; do sleep 0.005; done
ms=$(( ($(date +%s%N) - t0) / 1000000 ))
inner=$(sed -n 's/.*start-up took \([0-9]*\) ms.*/\1/p' "$tmp/log")
replayed=$(sed -n 's/.*wal: \([0-9]*\) records replayed.*/\1/p' "$tmp/log")
n=$(curl -s "$base/v1/collections/c" | sed -n 's/.*"count":\([0-9]*\).*/\1/p')
stop
checks=$((checks + 1))
[ "${replayed:-0}" = "$logged" ] && [ "$n" -ge "$count" ] || {
  failures=$((failures + 1))
  echo "CHECK startup: replayed ${replayed:-0} of $logged logged, $n records FAIL"
}
echo "start-up: snapshot of $count x $dim + log of $logged upserts ($wal_mb MB):" \
  "ready in $ms ms (load + replay $inner ms, $replayed records replayed)"
target startup_ms "$ms ms" "<= 2000 ms" "$([ "$ms" -le 2000 ] && echo 1 || echo 0)"

pct=100
[ $checks -gt 0 ] && pct=$(( (checks - failures) * 100 / checks ))
echo "$pct%: Checks: $checks, Failures: $failures, Errors: 0"
[ $failures -eq 0 ]
