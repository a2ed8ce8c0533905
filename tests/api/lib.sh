# Shared by the tests in tests/api/: start a real vecsnapd on 127.0.0.1
# (port 0: the kernel picks a free one, read back from the start-up log
# line) with a temp data directory, drive it with curl, count checks, stop
# it with SIGTERM by its PID.  Source it; set VECSNAPD first (default
# src/vecsnapd).  Every request made with req() is appended to VS_API_LOG
# as one JSON line {"method","path","status","content_type","body"}, and
# summary() checks each reply against api/openapi.yaml with
# tests/api/check_spec.mjs (ajv; the npm packages in tests/api/node_modules
# or VS_NODE_MODULES_API).
VECSNAPD=${VECSNAPD:-src/vecsnapd}
tmp=$(mktemp -d)
pid=
lib_cleanup() {
  [ -n "$pid" ] && kill "$pid" 2>/dev/null && wait "$pid" 2>/dev/null
  rm -rf "$tmp"
}
trap lib_cleanup EXIT
checks=0 failures=0

fail() { failures=$((failures + 1)); echo "FAIL: $*"; }
same() { # same DESCRIPTION GOT WANT
  checks=$((checks + 1))
  [ "$2" = "$3" ] || fail "$1: got '$2', want '$3'"
}
has() { # has DESCRIPTION HAYSTACK NEEDLE
  checks=$((checks + 1))
  case "$2" in *"$3"*) ;; *) fail "$1: '$3' not in '${2:0:300}'" ;; esac
}
lacks() { # lacks DESCRIPTION HAYSTACK NEEDLE
  checks=$((checks + 1))
  case "$2" in *"$3"*) fail "$1: '$3' unexpectedly in '${2:0:300}'" ;; esac
}

# Every reply is checked against api/openapi.yaml at the end (summary):
# the requests made with req() are logged here, one JSON line each.
VS_API_LOG=${VS_API_LOG:-$tmp/api.jsonl}
spec_modules=${VS_NODE_MODULES_API:-${SRCDIR:-.}/tests/api/node_modules}

# Appends one request to $VS_API_LOG.  Bodies that are not text (downloads,
# exports) are logged empty: the spec describes them by status and headers.
log_req() { # log_req METHOD PATH
  local ct bodyfile=$tmp/body
  ct=$(tr -d '\r' <"$tmp/headers" | sed -n 's/^[Cc]ontent-[Tt]ype: //p' | tail -n 1)
  case "$ct" in
    application/json* | text/* | application/problem+json*) ;;
    *) bodyfile=/dev/null ;;
  esac
  jq -nc --arg m "$1" --arg p "$2" --argjson s "${code:-0}" --arg ct "$ct" \
    --rawfile b "$bodyfile" \
    '{method: $m, path: $p, status: $s, content_type: $ct, body: $b}' \
    >>"$VS_API_LOG" 2>/dev/null ||
    echo "{\"method\":\"$1\",\"path\":\"\",\"status\":$code,\"content_type\":\"$ct\",\"body\":\"(unloggable)\"}" >>"$VS_API_LOG"
}

# req METHOD PATH [curl args...]: sets $code, $body (and $tmp/headers).
req() {
  local m=$1 p=$2; shift 2
  : >"$tmp/body" # curl leaves the file alone when there is no body
  code=$(curl -s -o "$tmp/body" -D "$tmp/headers" -w '%{http_code}' \
    -X "$m" "$@" "$base$p")
  body=$(cat "$tmp/body")
  [ "$m" = HEAD ] || log_req "$m" "$p"
}
# header NAME: the value of a reply header of the last req ("" if none).
header() {
  tr -d '\r' <"$tmp/headers" | sed -n "s/^$1: //Ip" | tail -n 1
}
# expect DESCRIPTION CODE BODY METHOD PATH [curl args...]: exact status+body.
expect() {
  local d=$1 c=$2 b=$3; shift 3
  req "$@"
  same "$d (status)" "$code" "$c"
  same "$d (body)" "$body" "$b"
}
# expect_err DESCRIPTION CODE ERRCODE MESSAGE-PART METHOD PATH [args...]
expect_err() {
  local d=$1 c=$2 e=$3 m=$4; shift 4
  req "$@"
  same "$d (status)" "$code" "$c"
  has "$d (error code)" "$body" "{\"error\":{\"code\":\"$e\",\"message\":\""
  has "$d (message)" "$body" "$m"
}
# jget JSON EXPR: evaluates a JavaScript expression on `j` (the parsed JSON).
jget() {
  node -e 'const j = JSON.parse(process.argv[1]); const v = eval(process.argv[2]);
    process.stdout.write(typeof v === "string" ? v : JSON.stringify(v));' "$1" "$2"
}

start() { # start [flags...]: runs vecsnapd, sets $pid and $base
  : >"$tmp/log"
  "$VECSNAPD" --port 0 --data-dir "${DATA_DIR:-$tmp/data}" "$@" 2>"$tmp/log" &
  pid=$!
  local port=
  for _ in $(seq 1 400); do
    port=$(sed -n 's/.*listening on https\{0,1\}:\/\/[^:]*:\([0-9]*\).*/\1/p' "$tmp/log")
    [ -n "$port" ] && grep -q ' ready$' "$tmp/log" && break
    kill -0 "$pid" 2>/dev/null || break
    sleep 0.05
  done
  base=${SCHEME:-http}://127.0.0.1:$port
  checks=$((checks + 1))
  [ -n "$port" ] || { fail "vecsnapd did not start"; cat "$tmp/log"; }
}
stop() { # SIGTERM by PID; the exit status must be 0 (sanitizers: no leaks)
  kill -TERM "$pid"
  wait "$pid"
  local rc=$?
  pid=
  same "exit status after SIGTERM" "$rc" 0
  [ "$rc" = 0 ] || tail -n 30 "$tmp/log"
  has "shutdown is logged" "$(cat "$tmp/log")" "stopped"
}
# Checks every logged reply against the spec's schemas and adds the
# result to the counts.
check_spec() {
  [ -s "$VS_API_LOG" ] || return 0
  if [ ! -d "$spec_modules/ajv" ]; then
    fail "spec check: the npm packages are missing (npm ci --prefix tests/api)"
    return
  fi
  local out c f
  out=$(VS_NODE_MODULES_API=$spec_modules node "${SRCDIR:-.}/tests/api/check_spec.mjs" \
    "${SRCDIR:-.}/api/openapi.yaml" "$VS_API_LOG" 2>&1)
  echo "$out" | grep -E '^(FAIL|ERROR)' | head -n 40
  c=$(echo "$out" | sed -n 's/.*Checks: \([0-9]*\), Failures: \([0-9]*\).*/\1/p' | tail -n 1)
  f=$(echo "$out" | sed -n 's/.*Checks: \([0-9]*\), Failures: \([0-9]*\).*/\2/p' | tail -n 1)
  if [ -z "$c" ]; then
    fail "spec check did not run: ${out:0:300}"
    return
  fi
  echo "replies checked against api/openapi.yaml: $c, failures: $f"
  checks=$((checks + c))
  failures=$((failures + f))
}
summary() { # the Check-style line; exit status 1 when anything failed
  check_spec
  local pct=100
  [ $checks -gt 0 ] && pct=$(( (checks - failures) * 100 / checks ))
  echo "$pct%: Checks: $checks, Failures: $failures, Errors: 0"
  [ $failures -eq 0 ]
}

J='Content-Type: application/json'
N='Content-Type: application/x-ndjson'
