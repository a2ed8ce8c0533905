/*
 * manifest_files: the files inside one snapshot directory (manifest.h):
 * reading and writing manifest.json and SHA256SUMS, checking a data file
 * against its manifest as it loads, and receiving an upload.  A manifest
 * read from disk is trusted only after vs_snapshot_from_json (manifest.c).
 */
#include "manifest.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "fsutil.h"

#define MANIFEST_FILE "manifest.json"
#define SUMS_FILE "SHA256SUMS"
#define MANIFEST_READ_MAX (16u << 20)
#define UPLOAD_FILE "upload"
#define COPY_BUFSZ (256u * 1024)

/* ---- the files of one snapshot directory ---- */

/* malloc'd "dir/name", NULL (message set) when out of memory. */
static char *path_in(const char *dir, const char *name)
{
    size_t n = strlen(dir) + strlen(name) + 2;
    char *p = malloc(n);
    if (!p)
        vs_error_oom();
    else
        snprintf(p, n, "%s/%s", dir, name);
    return p;
}

int vs_manifest_read(vs_snapshot *out, const char *dir, const char *id)
{
    memset(out, 0, sizeof(*out));
    char *path = path_in(dir, MANIFEST_FILE);
    char *text = NULL;
    size_t len = 0;
    json_t *j = NULL;
    int error =
        path ? vs_fs_read_all(&text, &len, path, MANIFEST_READ_MAX) : VS_ENOMEM;
    if (error == VS_ENOTFOUND) {
        error = vs_error_set(VS_ENOTFOUND, "no snapshot '%s'", id);
        goto done;
    }
    if (error < 0)
        goto done;
    json_error_t jerr;
    j = json_loadb(text, len, JSON_REJECT_DUPLICATES, &jerr);
    if (!j) {
        error = vs_error_set(VS_ECORRUPT,
                             "snapshot %s: manifest is not "
                             "JSON (line %d: %s)",
                             id, jerr.line, jerr.text);
        goto done;
    }
    error = vs_snapshot_from_json(out, j);
    if (error < 0) {
        char msg[400];
        snprintf(msg, sizeof(msg), "%s", vs_error_last());
        error = vs_error_set(error, "snapshot %s: %s", id, msg);
    } else if (strcmp(out->id, id) != 0) {
        vs_snapshot_dispose(out);
        error = vs_error_set(VS_ECORRUPT, "snapshot %s: manifest names id %s",
                             id, out->id);
    }
done:
    json_decref(j);
    free(text);
    free(path);
    return error;
}

/* The manifest's text: indented JSON and a final newline.  A manifest that
 * would not read back is refused (VS_EINVALID): what list would skip is
 * never written. */
static int manifest_text(char **out, size_t *len, const vs_snapshot *s)
{
    *out = NULL;
    json_t *j = vs_snapshot_to_json(s);
    if (!j)
        return vs_error_oom();
    vs_snapshot back;
    int error = vs_snapshot_from_json(&back, j);
    vs_snapshot_dispose(&back);
    if (error < 0) {
        char msg[400];
        snprintf(msg, sizeof(msg), "%s", vs_error_last());
        json_decref(j);
        return vs_error_set(VS_EINVALID, "snapshot %s: %s", s->id, msg);
    }
    char *text = json_dumps(j, JSON_INDENT(2));
    json_decref(j);
    *len = text ? strlen(text) : 0;
    char *grown = text ? realloc(text, *len + 2) : NULL;
    if (!grown) {
        free(text);
        return vs_error_oom();
    }
    grown[(*len)++] = '\n';
    grown[*len] = '\0';
    *out = grown;
    return 0;
}

int vs_manifest_write(const char *dir, const vs_snapshot *s)
{
    char line[VS_SHA256_HEX_LEN + 2 + sizeof(s->file) + 2];
    vs_snapshot_sha256_line(line, sizeof(line), s);
    size_t len = 0;
    char *text = NULL;
    char *sums = path_in(dir, SUMS_FILE);
    char *man = path_in(dir, MANIFEST_FILE);
    int error = sums && man ? manifest_text(&text, &len, s) : VS_ENOMEM;
    if (error == 0)
        error = vs_fs_write_atomic(sums, line, strlen(line));
    if (error == 0) /* the manifest last: it makes the snapshot */
        error = vs_fs_write_atomic(man, text, len);
    free(text);
    free(sums);
    free(man);
    return error;
}

static int check_sha256(const vs_snapshot *s,
                        const uint8_t digest[VS_SHA256_LEN])
{
    if (vs_sha256_equal(digest, s->sha256))
        return 0;
    char want[VS_SHA256_HEX_LEN + 1], got[VS_SHA256_HEX_LEN + 1];
    vs_sha256_hex(want, s->sha256);
    vs_sha256_hex(got, digest);
    return vs_error_set(VS_ECORRUPT,
                        "snapshot %s: sha256 of '%s' is %s, "
                        "the manifest says %s",
                        s->id, s->file, got, want);
}

/* After a successful load: what the file held against what the manifest
 * says. */
static int check_loaded(const vs_snapshot *s, const vs_file_info *info)
{
    int error = check_sha256(s, info->sha256);
    if (error == 0 && info->format != s->format)
        error = vs_error_set(VS_ECORRUPT,
                             "snapshot %s: the data file is %s, "
                             "the manifest says %s",
                             s->id, vs_format_name(info->format),
                             vs_format_name(s->format));
    if (error == 0 && (info->records != s->records || info->seq != s->seq))
        error = vs_error_set(VS_ECORRUPT,
                             "snapshot %s: the data file holds "
                             "%llu records at seq %llu, the "
                             "manifest says %llu at %llu",
                             s->id, (unsigned long long)info->records,
                             (unsigned long long)info->seq,
                             (unsigned long long)s->records,
                             (unsigned long long)s->seq);
    if (error == 0 && info->incremental != vs_snapshot_is_incremental(s))
        error = vs_error_set(VS_ECORRUPT,
                             "snapshot %s: the data file holds %s, the "
                             "manifest says %s",
                             s->id, info->incremental ? "changes" : "a store",
                             info->incremental ? "a store" : "changes");
    if (error == 0 && (info->since_seq != s->seq_from ||
                       info->changed != s->changed ||
                       info->deleted != s->deleted))
        error = vs_error_set(VS_ECORRUPT,
                             "snapshot %s: the data file holds the changes "
                             "since seq %llu (%llu records, %llu "
                             "deletions), the manifest says since %llu "
                             "(%llu, %llu)",
                             s->id, (unsigned long long)info->since_seq,
                             (unsigned long long)info->changed,
                             (unsigned long long)info->deleted,
                             (unsigned long long)s->seq_from,
                             (unsigned long long)s->changed,
                             (unsigned long long)s->deleted);
    return error;
}

int vs_manifest_load_data(vs_store **out, vs_file_info *info,
                          const vs_snapshot *s, const char *path,
                          const vs_load_options *lo)
{
    *out = NULL;
    vs_file_info local;
    if (!info)
        info = &local;
    memset(info, 0, sizeof(*info));
    struct stat sb;
    if (stat(path, &sb) < 0)
        return errno == ENOENT
                   ? vs_error_set(VS_ECORRUPT,
                                  "snapshot %s: data file '%s' "
                                  "is missing",
                                  s->id, s->file)
                   : vs_error_set_os(VS_EIO, "snapshot %s: cannot stat '%s'",
                                     s->id, path);
    if ((uint64_t)sb.st_size != s->bytes)
        return vs_error_set(VS_ECORRUPT,
                            "snapshot %s: '%s' is %llu bytes, "
                            "the manifest says %llu",
                            s->id, s->file, (unsigned long long)sb.st_size,
                            (unsigned long long)s->bytes);
    vs_load_options o = *lo;
    o.format = s->format;
    o.codec = s->codec;
    o.name_hint = s->file;
    vs_store *st = NULL;
    int error = vs_fmt_load_file(&st, info, path, &o);
    if (error == 0) {
        error = check_loaded(s, info);
        if (error == 0)
            *out = st;
        else
            vs_store_free(st);
        return error;
    }
    char msg[400];
    snprintf(msg, sizeof(msg), "%s", vs_error_last());
    uint8_t digest[VS_SHA256_LEN];
    /* A damaged file, or one this build cannot read? */
    if ((error == VS_ECORRUPT || error == VS_EVERSION) &&
        vs_sha256_file(digest, NULL, path) == 0 && check_sha256(s, digest) < 0)
        return VS_ECORRUPT;
    return vs_error_set(error, "snapshot %s: %s", s->id, msg);
}

/* Copy `in` into a new file at `path` (fsynced), at most max_bytes. */
static int copy_in(const char *path, vs_stream *in, uint64_t max_bytes)
{
    int fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0644);
    if (fd < 0)
        return vs_error_set_os(VS_EIO, "failed to create '%s'", path);
    vs_stream *w = NULL;
    char *buf = malloc(COPY_BUFSZ);
    int error = buf ? vs_stream_fd_writer_new(&w, fd, true) : vs_error_oom();
    uint64_t total = 0;
    while (error == 0) {
        size_t got;
        error = vs_stream_read(in, buf, COPY_BUFSZ, &got);
        if (error < 0 || got == 0)
            break;
        total += got;
        if (max_bytes > 0 && total > max_bytes) {
            error = vs_error_set(VS_ETOOBIG,
                                 "upload is larger than %llu "
                                 "bytes",
                                 (unsigned long long)max_bytes);
            break;
        }
        error = vs_stream_write(w, buf, got);
    }
    if (error == 0)
        error = vs_stream_finish(w);
    vs_stream_free(w);
    free(buf);
    if (close(fd) < 0 && error == 0)
        error = vs_error_set_os(VS_EIO, "failed to close '%s'", path);
    return error;
}

int vs_manifest_receive(vs_store **out, vs_file_info *info, const char *dir,
                        vs_stream *in, const vs_load_options *lo)
{
    *out = NULL;
    char file[64];
    char *upload = path_in(dir, UPLOAD_FILE);
    char *data = NULL;
    int error = upload ? copy_in(upload, in, lo->max_bytes) : VS_ENOMEM;
    if (error == 0)
        error = vs_fmt_load_file(out, info, upload, lo);
    if (error == 0)
        error = vs_manifest_file_name(file, sizeof(file), info->format,
                                      info->codec);
    if (error == 0 && !(data = path_in(dir, file)))
        error = VS_ENOMEM;
    if (error == 0 && rename(upload, data) < 0)
        error = vs_error_set_os(VS_EIO, "failed to rename '%s'", upload);
    if (error == 0)
        error = vs_fs_fsync_dir(dir);
    if (error < 0) {
        vs_store_free(*out);
        *out = NULL;
    }
    free(data);
    free(upload);
    return error;
}
