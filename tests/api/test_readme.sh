#!/usr/bin/env bash
# README's walkthrough, executed as it is written: the ```sh block of the
# "## Walkthrough" section runs with bash -e against a real vecsnapd
# (VECSNAP_URL points it there), in an empty directory; then its output and
# the files it left are checked.
set -u
. "$(dirname "$0")/lib.sh"
readme=${SRCDIR:-.}/README.md

awk '/^## Walkthrough/ { on = 1; next }
     on && /^## / { exit }
     on && /^```sh$/ { code = 1; next }
     on && /^```$/ { code = 0; next }
     code { print }' "$readme" >"$tmp/walkthrough.sh"
checks=$((checks + 1))
[ -s "$tmp/walkthrough.sh" ] || fail "no walkthrough block in $readme"

start
mkdir "$tmp/work"
(cd "$tmp/work" && VECSNAP_URL=$base bash -e -o pipefail "$tmp/walkthrough.sh") \
  >"$tmp/out" 2>"$tmp/err"
same "the walkthrough runs to its end" $? 0
out=$(cat "$tmp/out")
[ -s "$tmp/err" ] && { echo "walkthrough stderr:"; head -n 20 "$tmp/err"; }
same "nothing on stderr" "$(cat "$tmp/err")" ""

has "the collection is created" "$out" '{"name":"docs","dimension":3,"metric":"cosine","count":0}'
has "three vectors upserted" "$out" '{"upserted":3}'
has "the search finds a, then c" "$out" '{"results":[{"id":"a","score":'
has "c comes second" "$out" '{"id":"c","score":'
has "SSE: progress events" "$out" 'event: progress'
has "SSE: a final done event" "$out" 'event: done'
has "SSE data names the operation" "$out" '"operation":"snapshot"'
has "the list shows the named snapshot" "$out" ' before-cleanup 3 records '
has "sha256sum -c says OK" "$out" ': OK'
has "the restore reports what it took" "$out" '"restore":{'
has "the lost record is back" "$out" '{"id":"a","vector":[1,0,0],"metadata":{"lang":"en"}}'
has "the export is JSON inside zstd" "$out" '{"format":"vecsnap","version":1'
has "the import reports records" "$out" '"import":{'

n=$(ls "$tmp/work" | grep -c '^vecsnap-.*\.vsnap\.zst$')
same "curl -OJ saved the snapshot under its own name" "$n" 1
"${VECSNAP:-src/vecsnap}" verify "$tmp/work/backup.vsnap" >/dev/null 2>&1
same "the --compressed export is a verified binary file" $? 0
"${VECSNAP:-src/vecsnap}" verify "$tmp/work/backup.json.zst" >/dev/null 2>&1
same "the json+zstd export verifies" $? 0
expect "after the import, the store is as exported" 200 \
  '{"collections":[{"name":"docs","dimension":3,"metric":"cosine","count":3}]}' \
  GET /v1/collections
stop

summary
