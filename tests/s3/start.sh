#!/bin/sh
# start.sh WORKDIR [OWNER_PID]: start s3rver (directory backend in
# WORKDIR/data, buckets from $S3_BUCKETS, default "vecsnap-test") and the
# verifying front (front.mjs) before it, both on 127.0.0.1 with ports chosen
# by the system.  Prints S3_PORT=, FRONT_PORT=, S3_PID=, FRONT_PID= lines;
# the PIDs are also kept in WORKDIR for stop.sh.  With OWNER_PID both stop
# once that process is gone.  Node modules come from $VS_NODE_MODULES_S3,
# else tests/s3/node_modules (npm ci in tests/s3).
set -eu
here=$(cd "$(dirname "$0")" && pwd)
work=${1:?usage: start.sh WORKDIR [OWNER_PID]}
owner=${2:-}
nm=${VS_NODE_MODULES_S3:-$here/node_modules}
if ! command -v node >/dev/null 2>&1; then
  echo "start.sh: node is not installed (apt-get install nodejs npm)" >&2
  exit 1
fi
if [ ! -f "$nm/s3rver/bin/s3rver.js" ]; then
  echo "start.sh: s3rver is not installed in $nm" \
    "(run: cd tests/s3 && npm ci)" >&2
  exit 1
fi
mkdir -p "$work/data"
set --
for b in ${S3_BUCKETS:-vecsnap-test}; do
  set -- "$@" --configure-bucket "$b"
done

# wait_for FILE PATTERN PID: print the first number following PATTERN
wait_for() {
  i=0
  while [ $i -lt 300 ]; do
    v=$(sed -n "s/.*$2\([0-9][0-9]*\).*/\1/p" "$1" | head -n 1)
    if [ -n "$v" ]; then
      echo "$v"
      return 0
    fi
    if ! kill -0 "$3" 2>/dev/null; then
      echo "start.sh: process $3 exited:" >&2
      cat "$1" >&2
      return 1
    fi
    sleep 0.05
    i=$((i + 1))
  done
  echo "start.sh: timed out waiting for $1" >&2
  kill "$3" 2>/dev/null || true
  return 1
}

# s3rver's continuation tokens use DES, which OpenSSL 3 keeps in its legacy
# provider: without it every truncated list page fails with a 500.
legacy=
if node --openssl-legacy-provider -e 0 >/dev/null 2>&1; then
  legacy=--openssl-legacy-provider
fi
node $legacy "$nm/s3rver/bin/s3rver.js" --directory "$work/data" \
  --address 127.0.0.1 --port 0 --silent "$@" </dev/null >"$work/s3rver.log" 2>&1 &
s3pid=$!
echo "$s3pid" >"$work/s3rver.pid"
s3port=$(wait_for "$work/s3rver.log" "S3rver listening on 127.0.0.1:" "$s3pid")

node "$here/front.mjs" --upstream-port "$s3port" --root "$work/data" \
  ${owner:+--owner-pid "$owner"} --s3rver-pid "$s3pid" \
  </dev/null >"$work/front.log" 2>&1 &
fpid=$!
echo "$fpid" >"$work/front.pid"
if ! fport=$(wait_for "$work/front.log" "FRONT_PORT=" "$fpid"); then
  kill "$s3pid" 2>/dev/null || true
  exit 1
fi
echo "S3_PORT=$s3port"
echo "FRONT_PORT=$fport"
echo "S3_PID=$s3pid"
echo "FRONT_PID=$fpid"
