# Shared by the tests in tests/api/: start a real vecsnapd on 127.0.0.1
# (port 0: the kernel picks a free one, read back from the start-up log
# line) with a temp data directory, drive it with curl, count checks, stop
# it with SIGTERM by its PID.  Source it; set VECSNAPD first (default
# src/vecsnapd).  When VS_API_LOG names a file, every request made with
# req() is appended to it as one JSON line {"method","path","status",
# "content_type","body"} so tests/api/check_spec.mjs can check each
# response against api/openapi.yaml.
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

# Appends one request to $VS_API_LOG (when set).
log_req() { # log_req METHOD PATH
  [ -n "${VS_API_LOG:-}" ] || return 0
  local ct
  ct=$(tr -d '\r' <"$tmp/headers" | sed -n 's/^[Cc]ontent-[Tt]ype: //p' | tail -n 1)
  node -e '
    const fs = require("fs");
    const [m, p, s, ct, f, log] = process.argv.slice(1);
    const body = fs.readFileSync(f).toString("utf8");
    fs.appendFileSync(log, JSON.stringify({method: m, path: p,
      status: Number(s), content_type: ct, body}) + "\n");
  ' "$1" "$2" "$code" "$ct" "$tmp/body" "$VS_API_LOG"
}

# req METHOD PATH [curl args...]: sets $code, $body (and $tmp/headers).
req() {
  local m=$1 p=$2; shift 2
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
summary() { # the Check-style line; exit status 1 when anything failed
  local pct=100
  [ $checks -gt 0 ] && pct=$(( (checks - failures) * 100 / checks ))
  echo "$pct%: Checks: $checks, Failures: $failures, Errors: 0"
  [ $failures -eq 0 ]
}

J='Content-Type: application/json'
N='Content-Type: application/x-ndjson'
