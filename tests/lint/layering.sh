#!/usr/bin/env bash
# Layering: a source file includes project headers only from its own layer or
# lower ones (STYLE.md section 2).  Prints a Check-style summary line.
set -u
src=${SRCDIR:-.}/src
layer_of() {
  case "$1" in
    error | log | buf | fsutil | checksum | jsonv | floatfmt) echo 0 ;;
    store | store_*) echo 1 ;;
    stream | stream_* | codec | codec_* | shuffle | crypt) echo 2 ;;
    fmt | fmt_*) echo 3 ;;
    snapshot | snapshot_* | manifest | manifest_* | snapfork | snapfork_* | wal | wal_*) echo 4 ;;
    s3 | s3_*) echo 5 ;;
    job | job_* | progress | ops | ops_* | autosave | remote | remote_* | retention) echo 6 ;;
    http | http_* | api | api_* | www_assets) echo 7 ;;
    config | main | vecsnapd | vecsnap | vecsnap_*) echo 8 ;;
    *) echo 99 ;;
  esac
}
checks=0 failures=0
for f in "$src"/*.c "$src"/*.cc "$src"/*.h; do
  [ -f "$f" ] || continue
  base=$(basename "$f"); mod=${base%.*}
  mine=$(layer_of "$mod")
  if [ "$mine" = 99 ]; then
    echo "layering: $base belongs to no layer"; failures=$((failures + 1))
  fi
  checks=$((checks + 1))
  while read -r inc; do
    [ -n "$inc" ] || continue
    theirs=$(layer_of "${inc%.h}")
    if [ "$theirs" -gt "$mine" ]; then
      echo "layering: $base (layer $mine) includes $inc (layer $theirs)"
      failures=$((failures + 1))
    fi
  done < <(sed -n 's/^#include "\([a-z_0-9]*\.h\)".*/\1/p' "$f")
done
pct=100; [ $checks -gt 0 ] && pct=$(( (checks - failures) * 100 / checks ))
echo "$pct%: Checks: $checks, Failures: $failures, Errors: 0"
[ $failures -eq 0 ]
