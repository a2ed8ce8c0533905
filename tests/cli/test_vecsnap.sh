#!/usr/bin/env bash
# The vecsnap tool end to end: exit codes, every format x codec through
# convert, stdin/stdout, standard tools reading our output, the sqlite3 shell
# querying a saved file, and corrupt input.  Prints a Check-style summary.
set -u
VECSNAP=${VECSNAP:-src/vecsnap}
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
checks=0 failures=0

ok() { # ok DESCRIPTION COMMAND...
  local d=$1; shift
  checks=$((checks + 1))
  if ! "$@" >"$tmp/out" 2>"$tmp/err"; then
    failures=$((failures + 1)); echo "FAIL: $d"; sed 's/^/  /' "$tmp/err" | head -n 5
  fi
}
status_is() { # status_is DESCRIPTION EXPECTED COMMAND...
  local d=$1 want=$2; shift 2
  checks=$((checks + 1))
  "$@" >"$tmp/out" 2>"$tmp/err"
  local got=$?
  if [ "$got" != "$want" ]; then
    failures=$((failures + 1)); echo "FAIL: $d (exit $got, want $want)"
    sed 's/^/  /' "$tmp/err" | head -n 5
  fi
}
same() { # same DESCRIPTION A B
  checks=$((checks + 1))
  if [ "$2" != "$3" ]; then
    failures=$((failures + 1)); echo "FAIL: $1: '$2' != '$3'"
  fi
}
records_of() { "$VECSNAP" inspect --json "$1" | sed -n 's/^  "records": \([0-9]*\),/\1/p'; }

status_is "--help exits 0" 0 "$VECSNAP" --help
status_is "no command is misuse" 2 "$VECSNAP"
status_is "unknown command is misuse" 2 "$VECSNAP" frobnicate
status_is "generate without --dim is misuse" 2 "$VECSNAP" generate --count 3 "$tmp/x"
status_is "bad compression is misuse" 2 "$VECSNAP" convert --compression lz5 a b
status_is "bad level is misuse" 2 "$VECSNAP" generate --count 1 --dim 2 --compression zstd --level 99 "$tmp/x"
status_is "missing file is a failed check" 1 "$VECSNAP" inspect "$tmp/nope"

ok "generate binary" "$VECSNAP" generate --count 500 --dim 16 --metadata --seed 7 --collection docs "$tmp/a.vsnap"
ok "verify binary" "$VECSNAP" verify "$tmp/a.vsnap"
ok "inspect --json" "$VECSNAP" inspect --json "$tmp/a.vsnap"
checks=$((checks + 1)); grep -q '"name": "docs"' "$tmp/out" || { failures=$((failures + 1)); echo "FAIL: inspect names the collection"; }
same "generate is deterministic" "$("$VECSNAP" generate --count 50 --dim 4 --seed 3 - | sha256sum)" \
  "$("$VECSNAP" generate --count 50 --dim 4 --seed 3 - | sha256sum)"

# Every format x codec: convert, verify, convert back to binary, compare bytes.
ref=$(sha256sum <"$tmp/a.vsnap" | cut -d' ' -f1)
for fmt in binary json sqlite; do
  for codec in none gzip brotli zstd; do
    f="$tmp/c-$fmt-$codec"
    ok "convert to $fmt/$codec" "$VECSNAP" convert --format "$fmt" --compression "$codec" "$tmp/a.vsnap" "$f"
    ok "verify $fmt/$codec" "$VECSNAP" verify "$f"
    # brotli has no magic number: the suffix-less file is found by content
    ok "back to binary from $fmt/$codec" "$VECSNAP" convert --format binary "$f" "$f.back"
    same "$fmt/$codec round trip is exact" "$ref" "$(sha256sum <"$f.back" | cut -d' ' -f1)"
  done
done

# Standard tools read our compressed files.
ok "json+gzip to stdout" sh -c "'$VECSNAP' convert --format json --compression gzip '$tmp/a.vsnap' - >'$tmp/s.json.gz'"
ok "zcat reads it" sh -c "zcat '$tmp/s.json.gz' | grep -q '\"format\":\"vecsnap\"'"
# (compressed binary documents hold byte-shuffled vectors: the decoded file is
# a valid document of its own, equal in content)
ok "zstd -d reads ours" sh -c "'$VECSNAP' convert --compression zstd '$tmp/a.vsnap' '$tmp/z.vsnap.zst' && zstd -dc '$tmp/z.vsnap.zst' >'$tmp/z.vsnap' && '$VECSNAP' verify '$tmp/z.vsnap' && '$VECSNAP' convert '$tmp/z.vsnap' '$tmp/z2.vsnap' && cmp '$tmp/z2.vsnap' '$tmp/a.vsnap'"
ok "brotli -d reads ours" sh -c "'$VECSNAP' convert --compression brotli '$tmp/a.vsnap' '$tmp/b.vsnap.br' && brotli -dc '$tmp/b.vsnap.br' >'$tmp/b.vsnap' && '$VECSNAP' verify '$tmp/b.vsnap' && '$VECSNAP' convert '$tmp/b.vsnap' '$tmp/b2.vsnap' && cmp '$tmp/b2.vsnap' '$tmp/a.vsnap'"
ok "we read gzip -c output" sh -c "gzip -c '$tmp/a.vsnap' >'$tmp/g.gz' && '$VECSNAP' verify '$tmp/g.gz'"
ok "stdin to stdout" sh -c "'$VECSNAP' convert --format json - - <'$tmp/a.vsnap' >'$tmp/p.json' && '$VECSNAP' verify '$tmp/p.json'"
same "stdin json keeps every record" "500" "$(records_of "$tmp/p.json")"
ok "format from suffix" "$VECSNAP" convert "$tmp/a.vsnap" "$tmp/suffix.sqlite"
ok "sqlite file detected" sh -c "'$VECSNAP' inspect '$tmp/suffix.sqlite' | grep -q 'format: *sqlite'"

# The sqlite3 shell queries a saved file.
if command -v sqlite3 >/dev/null; then
  same "sqlite3 counts the vectors" "500" "$(sqlite3 "$tmp/suffix.sqlite" "select count(*) from vectors")"
  same "sqlite3 reads metadata" "3" "$(sqlite3 "$tmp/suffix.sqlite" "select json_extract(metadata,'\$.n') from vectors where id='vec-00000003'")"
  same "sqlite3 sees float32 blobs" "64" "$(sqlite3 "$tmp/suffix.sqlite" "select length(vector) from vectors limit 1")"
fi

# Corruption is a failed check, never a crash; nothing is written.
cp "$tmp/a.vsnap" "$tmp/bad.vsnap"
printf '\x00' | dd of="$tmp/bad.vsnap" bs=1 seek=4000 conv=notrunc 2>/dev/null
status_is "flipped byte fails verify" 1 "$VECSNAP" verify "$tmp/bad.vsnap"
checks=$((checks + 1)); grep -q '(corrupt)' "$tmp/err" || { failures=$((failures + 1)); echo "FAIL: verify names the problem"; cat "$tmp/err"; }
head -c 3000 "$tmp/a.vsnap" >"$tmp/trunc.vsnap"
status_is "truncated file fails verify" 1 "$VECSNAP" verify "$tmp/trunc.vsnap"
status_is "convert of a corrupt file fails" 1 "$VECSNAP" convert "$tmp/bad.vsnap" "$tmp/never.vsnap"
checks=$((checks + 1)); [ ! -e "$tmp/never.vsnap" ] || { failures=$((failures + 1)); echo "FAIL: failed convert left an output"; }
checks=$((checks + 1)); [ -z "$(ls -A "$tmp" | grep '\.tmp-')" ] || { failures=$((failures + 1)); echo "FAIL: temp files left behind"; }
echo "garbage" >"$tmp/garbage"
status_is "unknown format fails" 1 "$VECSNAP" inspect "$tmp/garbage"

pct=100; [ $checks -gt 0 ] && pct=$(( (checks - failures) * 100 / checks ))
echo "$pct%: Checks: $checks, Failures: $failures, Errors: 0"
[ $failures -eq 0 ]
