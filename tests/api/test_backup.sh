#!/usr/bin/env bash
# etc/cron/vecsnap-backup.sh, the example backup job, against a real
# vecsnapd with tokens: backups verified with sha256sum -c, the newest N
# kept, remote pruning, a read token refused, misuse.  See lib.sh.
set -u
. "$(dirname "$0")/lib.sh"
backup=${SRCDIR:-.}/etc/cron/vecsnap-backup.sh
ADMIN=admin-token-0123456789
READ=read-token-0123456789

if command -v shellcheck >/dev/null; then
  shellcheck -s sh "$backup"
  same "shellcheck finds nothing in the backup script" $? 0
fi
sh "$backup" --keep 0 >/dev/null 2>&1
same "misuse exits 2" $? 2

VECSNAP_TOKEN_ADMIN=$ADMIN VECSNAP_TOKEN_READ=$READ start
req PUT /v1/collections/b -H "Authorization: Bearer $ADMIN" -H "$J" -d '{"dimension":2}'
same "create" "$code" 201
mkdir "$tmp/bk"
for i in 1 2 3; do
  req PUT /v1/collections/b/vectors -H "Authorization: Bearer $ADMIN" -H "$J" \
    -d "{\"vectors\":[{\"id\":\"r$i\",\"vector\":[$i,1]}]}"
  VECSNAP_URL=$base VECSNAP_TOKEN=$ADMIN sh "$backup" --dir "$tmp/bk" --keep 2 \
    --prune-remote --retry-delay 1 >"$tmp/out" 2>&1
  same "backup $i exits 0" $? 0
done
n=$(ls "$tmp/bk" | grep -c '\.sha256$')
same "the newest 2 backups are kept" "$n" 2
(cd "$tmp/bk" && sha256sum -c --strict ./*.sha256) >/dev/null 2>&1
same "every kept backup passes sha256sum -c" $? 0
newest=$(ls "$tmp/bk" | grep -v '\.sha256$' | sort | tail -n 1)
"${VECSNAP:-src/vecsnap}" verify "$tmp/bk/$newest" >/dev/null 2>&1
same "the newest backup verifies with vecsnap" $? 0
"${VECSNAP:-src/vecsnap}" inspect --json "$tmp/bk/$newest" >"$tmp/inspect" 2>&1
same "it holds the three records" "$(jq .records "$tmp/inspect")" 3
req GET /v1/snapshots -H "Authorization: Bearer $READ"
same "pruned on the server too" "$(jget "$body" 'j.snapshots.length')" 2
VECSNAP_URL=$base VECSNAP_TOKEN=$READ sh "$backup" --dir "$tmp/bk" --retries 0 \
  >"$tmp/out" 2>&1
same "a read token cannot take a backup" $? 1
n=$(ls "$tmp/bk" | wc -l)
same "a failed backup leaves nothing behind" "$n" 4
stop

summary
