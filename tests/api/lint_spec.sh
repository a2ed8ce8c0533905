#!/bin/sh
# Lints api/openapi.yaml with Redocly CLI (the version pinned in
# tests/api/package.json; `npm ci --prefix tests/api` installs it) under
# api/redocly.yaml: one check, failed by any error or warning.  Then runs
# the checks of tests/api/check_spec.mjs --self-test (schemas compile,
# examples validate, every component is used, every operation complete,
# known-good and known-bad replies judged right) and adds them up.  Run
# from anywhere; prints a Check-style summary line; exits 1 when anything
# failed.
set -u
cd "$(dirname "$0")/../.." || exit 2
spec=${1:-api/openapi.yaml}
mods=${VS_NODE_MODULES_API:-$PWD/tests/api/node_modules}
if [ ! -x "$mods/.bin/redocly" ]; then
  echo "lint_spec: Redocly CLI is missing; run: npm ci --prefix tests/api" >&2
  echo "0%: Checks: 1, Failures: 1, Errors: 0"
  exit 1
fi
checks=0 failures=0
out=$(mktemp)
trap 'rm -f "$out"' EXIT

checks=$((checks + 1))
REDOCLY_TELEMETRY=off REDOCLY_SUPPRESS_UPDATE_NOTICE=true \
  "$mods/.bin/redocly" lint \
  --config api/redocly.yaml --format stylish "$spec" >"$out" 2>&1
rc=$?
# Drop npm's and Node's notices (boxed or "npm warn").
sed -i -e '/[║╔╚]/d' -e '/^npm warn/d' -e '/^[[:space:]]*$/d' "$out"
if [ $rc -ne 0 ] || grep -Eq 'You have [0-9]+ warning|(error|warning) ' "$out"; then
  failures=$((failures + 1))
  cat "$out"
  echo "FAIL: redocly lint $spec"
else
  grep -F 'is valid' "$out"
fi

node tests/api/check_spec.mjs --self-test "$spec" >"$out" 2>&1
rc=$?
grep -E '^(FAIL|ERROR):' "$out"
line=$(grep -E 'Checks: [0-9]+, Failures: [0-9]+, Errors: [0-9]+' "$out" | tail -n 1)
n=$(echo "$line" | sed -n 's/.*Checks: \([0-9]*\).*/\1/p')
f=$(echo "$line" | sed -n 's/.*Failures: \([0-9]*\), Errors: \([0-9]*\).*/\1+\2/p')
if [ -z "$n" ]; then
  checks=$((checks + 1)) failures=$((failures + 1))
  cat "$out"
  echo "FAIL: check_spec.mjs --self-test did not finish"
else
  checks=$((checks + n)) failures=$((failures + $f))
  [ $rc -eq 0 ] || [ "$f" != "0+0" ] || { failures=$((failures + 1)); echo "FAIL: self-test exit $rc"; }
  echo "check_spec self-test: $line"
fi

pct=100
[ $checks -gt 0 ] && pct=$(( (checks - failures) * 100 / checks ))
echo "$pct%: Checks: $checks, Failures: $failures, Errors: 0"
[ $failures -eq 0 ]
