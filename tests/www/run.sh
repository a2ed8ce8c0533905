#!/usr/bin/env bash
# The web page end to end: starts a real vecsnapd ($VECSNAPD) on 127.0.0.1
# (port 0, read back from its start-up log line) with a temp data directory,
# checks the static routes with curl (types, caching, ETag, 304, 404), then
# runs test_www.mjs: Debian's Chromium driven by playwright-core clicks
# through the page.  Then the same with bearer tokens configured (the page
# without a token, with the read token, with the admin token), and with
# remote storage: s3rver behind the verifying front of tests/s3 (started
# here on 127.0.0.1, stopped by PID; that part is skipped, and says so, when
# s3rver is not installed) and an encryption key.  Stops the browser and the
# servers by their PIDs, checks clean exits and prints a Check-style summary
# line.  Exits 77 (skipped) when node, curl or /usr/bin/chromium is missing
# (apt-get install -y nodejs npm chromium).
#
# WWW_OUT=DIR keeps the screenshots (www-1280.png, www-390.png,
# www-remote-1280.png) and the downloads there; else they go to the temp
# directory, removed at the end.
set -u
here=$(cd "$(dirname "$0")" && pwd)
VECSNAPD=${VECSNAPD:-src/vecsnapd}
CHROMIUM=${CHROMIUM:-/usr/bin/chromium}
ADMIN=www-admin-token-0123456789
READ=www-read-token-0123456789
KEY=000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f
S3DIR=$here/../s3
S3_MODULES=${VS_NODE_MODULES_S3:-$S3DIR/node_modules}
. "$here/../api/lib.sh" # tmp, pid, checks, req/header/start/stop/summary
npid='' bpid=''
stop_browser() {
  [ -n "$npid" ] && kill "$npid" 2>/dev/null && wait "$npid" 2>/dev/null
  npid=
  [ -z "$bpid" ] && [ -s "$tmp/browser.pid" ] && bpid=$(cat "$tmp/browser.pid")
  [ -n "$bpid" ] && kill "$bpid" 2>/dev/null
  bpid=
  rm -f "$tmp/browser.pid"
}
cleanup() {
  stop_browser
  [ -d "$tmp/s3" ] && sh "$S3DIR/stop.sh" "$tmp/s3" 2>/dev/null
  lib_cleanup
}
trap cleanup EXIT
skip() { echo "SKIP: $*"; summary; exit 77; }

command -v node >/dev/null 2>&1 || skip "node is not installed"
command -v curl >/dev/null 2>&1 || skip "curl is not installed"
[ -x "$CHROMIUM" ] || skip "$CHROMIUM is not installed"

# playwright-core: $VS_NODE_MODULES_WWW (./dev test installs it from the
# lock file), else tests/www/node_modules, else a private install in $tmp
# (the source tree may be read-only, as under distcheck).
modules=${VS_NODE_MODULES_WWW:-$here/node_modules}
if [ ! -f "$modules/playwright-core/package.json" ]; then
  modules=$tmp/npm/node_modules
  mkdir -p "$tmp/npm"
  cp "$here/package.json" "$here/package-lock.json" "$tmp/npm/"
  (cd "$tmp/npm" && npm ci --no-audit --no-fund --loglevel=error) \
    >"$tmp/npm.log" 2>&1 ||
    { cat "$tmp/npm.log"; skip "cannot install playwright-core (npm ci)"; }
fi

# start_in DATA-DIR [flags...]: lib.sh's start; the test ends if it failed.
start_in() {
  local data=$1; shift
  DATA_DIR=$data start "$@"
  [ -n "${base##*:}" ] || { summary; exit 1; }
}
browser() { # browser SCENARIO [VAR=value...]: runs test_www.mjs, adds its counts
  local scenario=$1; shift
  rm -f "$tmp/counts"
  env "$@" SCENARIO="$scenario" BASE="$base" OUT="$out" COUNTS="$tmp/counts" \
    BROWSER_PID_FILE="$tmp/browser.pid" CHROMIUM="$CHROMIUM" \
    VS_NODE_MODULES_WWW="$modules" node "$here/test_www.mjs" &
  npid=$!
  wait "$npid"
  local rc=$?
  npid=
  stop_browser
  if [ -s "$tmp/counts" ]; then
    local c f
    read -r c f <"$tmp/counts"
    checks=$((checks + c)) failures=$((failures + f))
  else
    checks=$((checks + 1)); fail "the browser test ($scenario) did not run (exit $rc)"
  fi
}

out=${WWW_OUT:-$tmp/out}
mkdir -p "$out"

# ---- the static routes ------------------------------------------------------
start_in "$tmp/data"
req GET /
same "GET / status" "$code" 200
same "GET / type" "$(header Content-Type)" "text/html; charset=utf-8"
same "GET / caching" "$(header Cache-Control)" "no-cache"
has "GET / is the page" "$body" "<title>vecsnapd</title>"
has "GET / has a policy" "$(header Content-Security-Policy)" "script-src 'self'"
etag=$(header ETag)
checks=$((checks + 1))
case $etag in \"*\") ;; *) fail "GET / ETag is not a quoted tag: '$etag'" ;; esac
req GET / -H "If-None-Match: $etag"
same "GET / with its ETag" "$code" 304
same "304 has no body" "$body" ""
same "304 keeps the ETag" "$(header ETag)" "$etag"
req GET / -H "If-None-Match: \"0000\", W/$etag"
same "a weak tag in a list matches" "$code" 304
req GET / -H 'If-None-Match: *'
same "If-None-Match: * matches" "$code" 304
req GET / -H 'If-None-Match: "0000000000000000"'
same "another ETag gets the page" "$code" 200
req GET /www/index.html
same "/www/index.html is the page" "$(header ETag)" "$etag"
req GET /www/app.js
same "app.js status" "$code" 200
same "app.js type" "$(header Content-Type)" "text/javascript; charset=utf-8"
has "app.js is the script" "$body" "'use strict';"
got=$(curl -s -I -o /dev/null -D "$tmp/headers" -w '%{http_code} %{size_download}' \
  "$base/www/style.css")
same "HEAD style.css: status, no body" "$got" "200 0"
same "style.css type" "$(header Content-Type)" "text/css; charset=utf-8"
same "HEAD gives the length" "$(header Content-Length)" \
  "$(wc -c <"$here/../../www/style.css" | tr -d ' ')"
req GET /www/missing.js
same "unknown file status" "$code" 404
has "unknown file error body" "$body" "{\"error\":{\"code\":\"not_found\""
req POST /www/app.js
same "POST a file" "$code" 405
has "405 says what is allowed" "$(header Allow)" "GET"
for f in index.html app.js style.css; do
  req GET "/www/$f"
  checks=$((checks + 1))
  cmp -s "$tmp/body" "$here/../../www/$f" || fail "/www/$f differs from www/$f"
done

# ---- the browser, no token ------------------------------------------------------
browser main DATA_DIR="$tmp/data"
stop

# ---- the browser, tokens configured ---------------------------------------------
start_in "$tmp/data-auth" --token-admin "$ADMIN" --token-read "$READ"
req GET /
same "the page needs no token" "$code" 200
req GET /www/app.js
same "its files need no token" "$code" 200
browser auth AUTH_ADMIN="$ADMIN" AUTH_READ="$READ"
stop

# ---- the browser, remote storage and encryption --------------------------
if [ ! -f "$S3_MODULES/s3rver/bin/s3rver.js" ]; then
  echo "SKIP: the remote storage part (s3rver is missing: npm ci --prefix tests/s3)"
else
  mkdir -p "$tmp/s3"
  if ! VS_NODE_MODULES_S3=$S3_MODULES sh "$S3DIR/start.sh" "$tmp/s3" $$ \
    >"$tmp/s3/ports" 2>"$tmp/s3/err"; then
    checks=$((checks + 1))
    fail "the S3 test servers did not start: $(cat "$tmp/s3/err")"
  else
    . "$tmp/s3/ports"
    AWS_ACCESS_KEY_ID=S3RVER AWS_SECRET_ACCESS_KEY=S3RVER \
      VECSNAP_S3_ENDPOINT=http://127.0.0.1:$FRONT_PORT \
      VECSNAP_S3_BUCKET=vecsnap-test VECSNAP_S3_PREFIX="www test/" \
      VECSNAP_S3_RETRIES=2 VECSNAP_S3_TIMEOUT_S=5 \
      VECSNAP_ENCRYPTION_KEY=$KEY VECSNAP_ENCRYPT_LOCAL=true \
      start_in "$tmp/data-remote" --autosave-interval-s 0
    req GET /v1/remote/snapshots
    same "remote storage is configured" "$code" 200
    browser remote DATA_DIR="$tmp/data-remote"
    stop
    sh "$S3DIR/stop.sh" "$tmp/s3"
  fi
fi

[ -n "${WWW_OUT:-}" ] && echo "screenshots: $out/www-1280.png $out/www-390.png" \
  "$out/www-remote-1280.png"
summary
[ $failures -eq 0 ]
