#!/usr/bin/env bash
# Banned functions and forms (STYLE.md section 9), as curl's checksrc does.
# Prints a Check-style summary line.
set -u
src=${SRCDIR:-.}/src
checks=0 failures=0
check() { # check DESCRIPTION REGEX
  checks=$((checks + 1))
  local hits
  hits=$(grep -nE "$2" "$src"/*.c "$src"/*.h 2>/dev/null | grep -v '^\s*/\*' || true)
  if [ -n "$hits" ]; then
    echo "banned: $1"; echo "$hits" | head -n 5; failures=$((failures + 1))
  fi
}
for fn in sprintf vsprintf strcpy strcat strncpy strtok atoi atol gets system; do
  check "$fn()" "(^|[^a-z_.>])$fn[[:space:]]*\("
done
check "comparison with NULL (write if (!p))" "[!=]=[[:space:]]*NULL\b"
check "C++ comments in C" "^[[:space:]]*//"
pct=$(( (checks - failures) * 100 / checks ))
echo "$pct%: Checks: $checks, Failures: $failures, Errors: 0"
[ $failures -eq 0 ]
