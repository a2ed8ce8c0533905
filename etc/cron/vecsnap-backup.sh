#!/bin/sh
# vecsnap-backup: take a snapshot of a running vecsnapd, download it, check
# its SHA-256 and keep the last N backups in a directory.  For cron, a
# systemd timer or a Kubernetes CronJob (etc/k8s/cronjob.yaml); the
# container image installs it as /usr/local/bin/vecsnap-backup.
#
#   POST   /v1/snapshots?wait=true       the snapshot (201 + Location)
#   GET    /v1/snapshots/{id}/sha256     "<sha256>  vecsnap-<id>.<suffix>"
#   GET    /v1/snapshots/{id}/download   the file
#   DELETE /v1/snapshots/{id}            with --prune-remote only
#
# A backup appears in DIR only once verified: it is downloaded into a
# staging directory inside DIR, checked with `sha256sum -c`, then renamed
# into place, data file first and its .sha256 file last.  A backup is the
# pair vecsnap-<id>.<suffix> + vecsnap-<id>.<suffix>.sha256; ids sort by
# creation time, so "the last N" are the N greatest names.  Check one
# later with:  cd DIR && sha256sum -c vecsnap-<id>.<suffix>.sha256
#
# Exit status: 0 a verified backup was written (and pruning succeeded),
# 1 anything failed, 2 misuse.  Needs only a POSIX shell, curl and
# coreutils (sha256sum).
set -eu

me=vecsnap-backup

usage() {
    cat <<EOF
usage: $me [options]

Takes a snapshot of a running vecsnapd, downloads it into DIR, checks it
with sha256sum -c and deletes all but the newest KEEP backups there.

  -u, --url URL         server (VECSNAP_URL; http://127.0.0.1:8080)
  -d, --dir DIR         backup directory, must exist (VECSNAP_BACKUP_DIR; .)
  -k, --keep N          backups to keep, >= 1 (VECSNAP_BACKUP_KEEP; 7)
  -n, --name NAME       snapshot name (VECSNAP_BACKUP_NAME; backup)
      --format F        binary|json|sqlite (VECSNAP_BACKUP_FORMAT;
                        the server's default)
      --compression C   none|gzip|brotli|zstd (VECSNAP_BACKUP_COMPRESSION;
                        the server's default)
      --prune-remote    also delete on the server the snapshots whose
                        backups are pruned here (VECSNAP_BACKUP_PRUNE_REMOTE=1)
      --timeout S       longest wait for the snapshot and for the download,
                        each (VECSNAP_BACKUP_TIMEOUT; 3600)
      --retries N       tries again N times, --retry-delay S apart, while
                        the server is busy (409), loading (503) or
                        unreachable (VECSNAP_BACKUP_RETRIES; 5)
      --retry-delay S   (VECSNAP_BACKUP_RETRY_DELAY; 30)
      --cacert FILE     CA certificate for https (VECSNAP_CACERT)
  -h, --help            this text

The bearer token, needed when the server has tokens (an admin token: the
snapshot is a POST), is read from VECSNAP_TOKEN, else from the file
VECSNAP_TOKEN_FILE names, else from VECSNAP_TOKEN_ADMIN.  It is passed to
curl in a private file, never on a command line.
EOF
}

# A snapshot id: "20261124T220055.123Z-1a2b3c" (a basic regular expression).
id_re='[0-9]\{8\}T[0-9]\{6\}\.[0-9]\{3\}Z-[0-9a-f]\{6\}'

say() { printf '%s: %s\n' "$me" "$*" >&2; }
die() {
    say "$*"
    exit 1
}
misuse() {
    say "$*"
    say "try '$me --help'"
    exit 2
}

is_uint() {
    case $1 in
    '' | *[!0-9]*) return 1 ;;
    esac
    [ "${#1}" -le 9 ]
}

# ---- settings ------------------------------------------------------------
url=${VECSNAP_URL:-http://127.0.0.1:8080}
dir=${VECSNAP_BACKUP_DIR:-.}
keep=${VECSNAP_BACKUP_KEEP:-7}
name=${VECSNAP_BACKUP_NAME:-backup}
format=${VECSNAP_BACKUP_FORMAT:-}
compression=${VECSNAP_BACKUP_COMPRESSION:-}
prune_remote=${VECSNAP_BACKUP_PRUNE_REMOTE:-0}
timeout=${VECSNAP_BACKUP_TIMEOUT:-3600}
retries=${VECSNAP_BACKUP_RETRIES:-5}
retry_delay=${VECSNAP_BACKUP_RETRY_DELAY:-30}
cacert=${VECSNAP_CACERT:-}

while [ $# -gt 0 ]; do
    opt=$1
    case $opt in
    -h | --help)
        usage
        exit 0
        ;;
    --prune-remote)
        prune_remote=1
        shift
        continue
        ;;
    --*=*)
        val=${opt#*=}
        opt=${opt%%=*}
        shift
        ;;
    -u | -d | -k | -n | --url | --dir | --keep | --name | --format | \
        --compression | --timeout | --retries | --retry-delay | --cacert)
        [ $# -ge 2 ] || misuse "$opt needs a value"
        val=$2
        shift 2
        ;;
    *) misuse "unknown option '$opt'" ;;
    esac
    case $opt in
    -u | --url) url=$val ;;
    -d | --dir) dir=$val ;;
    -k | --keep) keep=$val ;;
    -n | --name) name=$val ;;
    --format) format=$val ;;
    --compression) compression=$val ;;
    --timeout) timeout=$val ;;
    --retries) retries=$val ;;
    --retry-delay) retry_delay=$val ;;
    --cacert) cacert=$val ;;
    *) misuse "unknown option '$opt'" ;;
    esac
done

case $url in
http://?* | https://?*) url=${url%/} ;;
*) misuse "--url must start with http:// or https:// (got '$url')" ;;
esac
if ! is_uint "$keep" || [ "$keep" -lt 1 ]; then
    misuse "--keep must be a whole number >= 1 (got '$keep')"
fi
if ! is_uint "$timeout" || [ "$timeout" -lt 1 ]; then
    misuse "--timeout must be a number of seconds >= 1 (got '$timeout')"
fi
is_uint "$retries" || misuse "--retries must be a whole number (got '$retries')"
is_uint "$retry_delay" ||
    misuse "--retry-delay must be a number of seconds (got '$retry_delay')"
case $name in
'' | *[!A-Za-z0-9._-]*)
    misuse "--name must be letters, digits, '.', '_' or '-' (got '$name')"
    ;;
esac
[ "${#name}" -le 64 ] || misuse "--name is longer than 64 characters"
case $format in
'' | binary | json | sqlite) ;;
*) misuse "--format must be binary, json or sqlite (got '$format')" ;;
esac
case $compression in
'' | none | gzip | brotli | zstd) ;;
*) misuse "--compression must be none, gzip, brotli or zstd" \
    "(got '$compression')" ;;
esac
case $prune_remote in
0 | '') prune_remote=0 ;;
1 | yes | true) prune_remote=1 ;;
*) misuse "VECSNAP_BACKUP_PRUNE_REMOTE must be 0 or 1" ;;
esac
[ -z "$cacert" ] || [ -r "$cacert" ] || misuse "cannot read --cacert '$cacert'"
[ -d "$dir" ] || die "backup directory '$dir' does not exist"
[ -w "$dir" ] || die "backup directory '$dir' is not writable"

token=${VECSNAP_TOKEN:-}
if [ -z "$token" ] && [ -n "${VECSNAP_TOKEN_FILE:-}" ]; then
    [ -r "$VECSNAP_TOKEN_FILE" ] ||
        die "cannot read VECSNAP_TOKEN_FILE '$VECSNAP_TOKEN_FILE'"
    token=$(cat "$VECSNAP_TOKEN_FILE")
fi
[ -n "$token" ] || token=${VECSNAP_TOKEN_ADMIN:-}
case $token in
*[[:space:][:cntrl:]]*) die "the token holds white space or control bytes" ;;
esac

command -v curl >/dev/null 2>&1 || die "curl is not installed"
command -v sha256sum >/dev/null 2>&1 || die "sha256sum is not installed"

# ---- work files: private, removed on any exit ----------------------------
umask 077
work=
stage=
# shellcheck disable=SC2317 # run by the trap below
cleanup() {
    [ -z "$work" ] || rm -rf "$work"
    [ -z "$stage" ] || rm -rf "$stage"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM
work=$(mktemp -d "${TMPDIR:-/tmp}/$me.XXXXXX") ||
    die "cannot create a temporary directory"
if [ -n "$token" ]; then
    printf 'Authorization: Bearer %s\n' "$token" >"$work/auth"
fi

# http OUT URL [CURL-OPTION...]: the body goes to OUT, the status code to
# stdout; curl's own failure (no connection, cut transfer) is its status.
http() {
    out=$1
    target=$2
    shift 2
    [ -z "$cacert" ] || set -- --cacert "$cacert" "$@"
    [ -z "$token" ] || set -- -H "@$work/auth" "$@"
    curl --silent --show-error --globoff --proto =http,https \
        --connect-timeout 10 --output "$out" --write-out '%{http_code}' \
        "$@" "$target"
}

# The server's error message, from {"error":{"code":..,"message":".."}}.
why() {
    msg=$(sed -n 's/.*"message" *: *"\([^"]*\)".*/\1/p' "$1" 2>/dev/null |
        head -n 1)
    [ -n "$msg" ] || msg=$(head -c 300 "$1" 2>/dev/null | tr -d '\r\n')
    printf '%s' "${msg:-no message}"
}

# ---- 1. the snapshot -----------------------------------------------------
body="{\"name\":\"$name\""
[ -z "$format" ] || body="$body,\"format\":\"$format\""
[ -z "$compression" ] || body="$body,\"compression\":\"$compression\""
body="$body}"
printf '%s' "$body" >"$work/request.json"

try=0
while :; do
    rc=0
    code=$(http "$work/post.json" "$url/v1/snapshots?wait=true" \
        -X POST -H 'Content-Type: application/json' \
        --data-binary "@$work/request.json" --dump-header "$work/post.hdr" \
        --max-time "$timeout") || rc=$?
    if [ "$rc" -eq 0 ] && [ "$code" = 201 ]; then
        break
    fi
    if [ "$rc" -ne 0 ]; then
        what="curl failed (exit $rc) on POST $url/v1/snapshots"
        transient=0
        # 6: name not resolved, 7: no connection, 52: empty reply
        case $rc in 6 | 7 | 52) transient=1 ;; esac
    else
        what="POST /v1/snapshots answered $code: $(why "$work/post.json")"
        transient=0
        case $code in 409 | 503) transient=1 ;; esac
    fi
    if [ "$transient" -eq 0 ] || [ "$try" -ge "$retries" ]; then
        die "$what"
    fi
    try=$((try + 1))
    say "$what; try $try of $retries in ${retry_delay}s"
    sleep "$retry_delay"
done

# The id: from the Location header, else the manifest's first "id".
id=$(tr -d '\r' <"$work/post.hdr" | grep -i '^location:' |
    sed -n "s|^.*/v1/snapshots/\($id_re\)\$|\1|p" | tail -n 1)
if [ -z "$id" ]; then
    id=$(sed -n "s/^{ *\"snapshot\" *: *{ *\"id\" *: *\"\($id_re\)\".*/\1/p" \
        "$work/post.json" | head -n 1)
fi
[ -n "$id" ] || die "the server's answer names no snapshot id"

# ---- 2. its checksum line, then the file ---------------------------------
rc=0
code=$(http "$work/sha256" "$url/v1/snapshots/$id/sha256" --max-time 60) ||
    rc=$?
[ "$rc" -eq 0 ] || die "curl failed (exit $rc) on GET /v1/snapshots/$id/sha256"
[ "$code" = 200 ] ||
    die "GET /v1/snapshots/$id/sha256 answered $code: $(why "$work/sha256")"
line=$(head -n 1 "$work/sha256" | tr -d '\r')
sum=${line%%  *}
file=${line#*  }
case $sum in
*[!0-9a-f]*) die "bad checksum line from the server: '$line'" ;;
esac
[ "${#sum}" -eq 64 ] || die "bad checksum line from the server: '$line'"
case $file in
"vecsnap-$id."*) ;;
*) die "the checksum line names an unexpected file: '$file'" ;;
esac
case $file in
*/* | *[!A-Za-z0-9._-]*) die "the checksum line names a bad file: '$file'" ;;
esac

stage=$(mktemp -d "$dir/.$me.XXXXXX") ||
    die "cannot create a staging directory in '$dir'"
printf '%s  %s\n' "$sum" "$file" >"$stage/$file.sha256"
rc=0
code=$(http "$stage/$file" "$url/v1/snapshots/$id/download" \
    --max-time "$timeout") || rc=$?
[ "$rc" -eq 0 ] || die "curl failed (exit $rc) downloading snapshot $id"
[ "$code" = 200 ] ||
    die "GET /v1/snapshots/$id/download answered $code: $(why "$stage/$file")"
if ! (cd "$stage" && sha256sum --check --strict --quiet "$file.sha256"); then
    die "snapshot $id: the download does not match its sha256 $sum"
fi
mv -f "$stage/$file" "$dir/$file"
mv -f "$stage/$file.sha256" "$dir/$file.sha256"
bytes=$(wc -c <"$dir/$file" | tr -d ' ')
echo "$me: $dir/$file: $bytes bytes, sha256 $sum verified"

# ---- 3. keep the newest $keep --------------------------------------------
status=0
LC_ALL=C
export LC_ALL
count=0
for f in "$dir"/vecsnap-*.sha256; do
    [ -f "$f" ] && count=$((count + 1))
done
excess=$((count - keep))
for f in "$dir"/vecsnap-*.sha256; do
    [ "$excess" -gt 0 ] || break
    [ -f "$f" ] || continue
    data=${f%.sha256}
    base=${data##*/}
    [ "$base" != "$file" ] || continue
    excess=$((excess - 1))
    if ! rm -f "$data" "$f"; then
        say "cannot delete the old backup $data"
        status=1
        continue
    fi
    say "deleted the old backup $base"
    [ "$prune_remote" -eq 1 ] || continue
    old=$(printf '%s\n' "$base" | sed -n "s/^vecsnap-\($id_re\)\..*\$/\1/p")
    [ -n "$old" ] || continue
    rc=0
    code=$(http "$work/delete.json" "$url/v1/snapshots/$old" -X DELETE \
        --max-time 60) || rc=$?
    if [ "$rc" -ne 0 ]; then
        say "curl failed (exit $rc) on DELETE /v1/snapshots/$old"
        status=1
    else
        case $code in
        204 | 404) ;;
        409) say "snapshot $old is the server's CURRENT one: kept there" ;;
        *)
            say "DELETE /v1/snapshots/$old answered $code:" \
                "$(why "$work/delete.json")"
            status=1
            ;;
        esac
    fi
done
exit "$status"
