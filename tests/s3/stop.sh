#!/bin/sh
# stop.sh WORKDIR: stop the front and s3rver started by start.sh WORKDIR, by
# the PIDs it kept (TERM, then KILL after 5 s).
work=${1:?usage: stop.sh WORKDIR}
for f in front.pid s3rver.pid; do
  [ -f "$work/$f" ] || continue
  pid=$(cat "$work/$f")
  rm -f "$work/$f"
  case "$pid" in '' | *[!0-9]*) continue ;; esac
  kill "$pid" 2>/dev/null || continue
  i=0
  while kill -0 "$pid" 2>/dev/null && [ $i -lt 100 ]; do
    sleep 0.05
    i=$((i + 1))
  done
  kill -9 "$pid" 2>/dev/null || true
done
exit 0
