/*
 * fmt: the file level of the format layer.  Picks the format and codec
 * (detected from content on load), builds the stream chain
 *
 *   save:  format -> [async stage -> [codec writer] -> [encrypt]] ->
 *          SHA-256 stage -> file (fsync) -> rename
 *   load:  file -> SHA-256 stage -> [decrypt] -> [codec reader ->
 *          read-ahead] -> format
 *
 * and reports the size and SHA-256 of the bytes as stored.  Encryption
 * (crypt.h, with a key in the options) is the outermost layer: an encrypted
 * file is recognised by its magic before any codec or format detection,
 * and what is detected and reported then is the document inside.  Files appear
 * atomically (fsutil); loads build a new store and hand it over only when
 * everything was read and verified.
 *
 * SQLite needs a path, so an sqlite document travelling through a codec or a
 * non-file stream is staged in a temporary file.
 */
#include "fmt.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "crypt.h"
#include "fsutil.h"

#define HEAD_MAX (64 * 1024)

static const char bin_magic[8] = {'\x89', 'V', 'S', 'N', '\r', '\n', '\x1a',
                                  '\n'};
static const char sqlite_magic[16] = "SQLite format 3";

const char *vs_format_name(vs_format_id f)
{
    switch (f) {
    case VS_FORMAT_BIN: return "binary";
    case VS_FORMAT_JSON: return "json";
    case VS_FORMAT_SQLITE: return "sqlite";
    case VS_FORMAT_RUVECTOR: return "ruvector";
    default: return "auto";
    }
}

int vs_format_parse(vs_format_id *out, const char *name)
{
    if (strcmp(name, "binary") == 0 || strcmp(name, "bin") == 0)
        *out = VS_FORMAT_BIN;
    else if (strcmp(name, "json") == 0)
        *out = VS_FORMAT_JSON;
    else if (strcmp(name, "sqlite") == 0)
        *out = VS_FORMAT_SQLITE;
    else
        return vs_error_set(VS_EINVALID,
                            "unknown format '%s' (binary, json, sqlite)",
                            name);
    return 0;
}

const char *vs_format_suffix(vs_format_id f)
{
    switch (f) {
    case VS_FORMAT_BIN: return ".vsnap";
    case VS_FORMAT_JSON: return ".json";
    case VS_FORMAT_SQLITE: return ".sqlite";
    default: return "";
    }
}

int vs_fmt__select(vs_collection ***out, size_t *n, vs_store *st,
                   const vs_save_options *opts)
{
    *out = NULL;
    *n = 0;
    size_t count = opts->collections ? opts->ncollections
                                     : vs_store_ncollections(st);
    vs_collection **list = calloc(count ? count : 1, sizeof(*list));
    if (!list)
        return vs_error_oom();
    if (!opts->collections) {
        for (size_t i = 0; i < count; i++)
            list[i] = vs_store_at(st, i);
    } else {
        for (size_t i = 0; i < count; i++) {
            list[i] = vs_store_find(st, opts->collections[i]);
            if (!list[i]) {
                free(list);
                return vs_error_set(VS_ENOTFOUND, "no collection '%s'",
                                    opts->collections[i]);
            }
            for (size_t j = 0; j < i; j++) {
                if (list[j] == list[i]) {
                    free(list);
                    return vs_error_set(VS_EINVALID,
                                        "collection '%s' named twice",
                                        opts->collections[i]);
                }
            }
        }
    }
    *out = list;
    *n = count;
    return 0;
}

int vs_fmt__progress(vs_progress_fn fn, void *payload, uint64_t done,
                     uint64_t total)
{
    if (fn && fn(payload, done, total) != 0)
        return vs_error_set(VS_ECANCELLED, "cancelled");
    return 0;
}

static bool is_json_start(const uint8_t *head, size_t n)
{
    size_t i = 0;
    if (n >= 3 && head[0] == 0xEF && head[1] == 0xBB && head[2] == 0xBF)
        i = 3; /* UTF-8 byte order mark */
    for (; i < n; i++) {
        if (head[i] == ' ' || head[i] == '\t' || head[i] == '\n' ||
            head[i] == '\r')
            continue;
        return head[i] == '{';
    }
    return false;
}

/* Format of uncompressed bytes, or VS_FORMAT_AUTO when unknown. */
static vs_format_id detect_plain(const uint8_t *head, size_t n)
{
    if (n >= sizeof(bin_magic) && memcmp(head, bin_magic, 4) == 0)
        return VS_FORMAT_BIN;
    if (n >= sizeof(sqlite_magic) &&
        memcmp(head, sqlite_magic, sizeof(sqlite_magic)) == 0)
        return VS_FORMAT_SQLITE;
    if (is_json_start(head, n))
        return VS_FORMAT_JSON;
    return VS_FORMAT_AUTO;
}

/* Brotli has no magic number.  When neither a magic nor a suffix says what
 * a file is, try decoding its first bytes as brotli and accept only when the
 * result starts like one of our formats: an answer checked against content,
 * not a guess. */
static bool looks_like_brotli(const uint8_t *head, size_t n)
{
    vs_stream *mem = NULL, *dec = NULL;
    uint8_t out[32];
    size_t got = 0;
    bool yes = false;
    if (vs_stream_mem_reader_new(&mem, head, n) == 0 &&
        vs_codec_reader_new(&dec, mem, VS_CODEC_BROTLI, 0) == 0 &&
        vs_stream_read(dec, out, sizeof(out), &got) == 0)
        yes = got > 0 && detect_plain(out, got) != VS_FORMAT_AUTO;
    else if (got > 0)
        yes = detect_plain(out, got) != VS_FORMAT_AUTO;
    vs_stream_free(dec);
    vs_stream_free(mem);
    vs_error_clear();
    return yes;
}

int vs_fmt_detect(vs_format_id *format, vs_codec_id *codec,
                  const uint8_t *head, size_t n, const char *name_hint)
{
    *format = VS_FORMAT_AUTO;
    *codec = vs_codec_detect(head, n);
    if (*codec != VS_CODEC_NONE)
        return 0;
    *format = detect_plain(head, n);
    if (*format != VS_FORMAT_AUTO)
        return 0;
    if (name_hint && vs_codec_from_suffix(name_hint) == VS_CODEC_BROTLI) {
        *codec = VS_CODEC_BROTLI;
        return 0;
    }
    if (n > 0 && looks_like_brotli(head, n)) {
        *codec = VS_CODEC_BROTLI;
        return 0;
    }
    if (n == 0)
        return vs_error_set(VS_ECORRUPT, "empty input");
    return vs_error_set(VS_ECORRUPT,
                        "unrecognised format (not binary, json, sqlite, "
                        "gzip or zstd; brotli files are recognised by a .br "
                        "or .brotli suffix or by decodable content)");
}

/* ---- saving ---- */

static int check_save_options(int *level, const vs_save_options *opts)
{
    if (opts->version != VS_SAVE_OPTIONS_VERSION)
        return vs_error_set(VS_EINVALID, "unsupported save options version");
    if (opts->format != VS_FORMAT_BIN && opts->format != VS_FORMAT_JSON &&
        opts->format != VS_FORMAT_SQLITE)
        return vs_error_set(VS_EINVALID, "cannot save in format '%s'",
                            vs_format_name(opts->format));
    if (!vs_codec_info_of(opts->codec) || opts->codec == VS_CODEC_AUTO)
        return vs_error_set(VS_EINVALID, "unknown compression");
    if (opts->incremental && opts->format != VS_FORMAT_BIN)
        return vs_error_set(VS_EINVALID,
                            "incremental documents are binary, not %s",
                            vs_format_name(opts->format));
    return vs_codec_check_level(level, opts->codec, opts->level);
}

/* Copy a whole file into a writer. */
static int copy_file_to(vs_stream *out, const char *path)
{
    vs_stream *in = NULL;
    int error = vs_stream_file_reader_new(&in, path);
    size_t cap = 1 << 20;
    char *buf = malloc(cap);
    if (error == 0 && !buf)
        error = vs_error_oom();
    while (error == 0) {
        size_t got;
        error = vs_stream_read(in, buf, cap, &got);
        if (error < 0 || got == 0)
            break;
        error = vs_stream_write(out, buf, got);
    }
    free(buf);
    vs_stream_free(in);
    return error;
}

static int tmp_template(char **out, const char *dir, const char *what)
{
    const char *base = dir;
    if (!base)
        base = getenv("TMPDIR");
    if (!base || !*base)
        base = "/tmp";
    size_t n = strlen(base) + strlen(what) + 32;
    *out = malloc(n);
    if (!*out)
        return vs_error_oom();
    snprintf(*out, n, "%s/.vecsnap-%s-XXXXXX", base, what);
    return 0;
}

/* Build an sqlite document in a temporary file and stream it to `out`. */
static int save_sqlite_via_tmp(vs_stream *out, vs_store *st,
                               const vs_save_options *opts)
{
    char *path = NULL;
    int error = tmp_template(&path, opts->tmpdir, "sqlite");
    if (error < 0)
        return error;
    int fd = mkostemp(path, O_CLOEXEC);
    if (fd < 0) {
        error = vs_error_set_os(VS_EIO, "failed to create '%s'", path);
        free(path);
        return error;
    }
    close(fd);
    error = vs_fmt_sqlite_save(path, st, opts);
    if (error == 0)
        error = copy_file_to(out, path);
    unlink(path);
    free(path);
    return error;
}

/* Write the document through the codec and the encryption (when asked)
 * into `sink` (not finished here). */
static int save_into(vs_stream *sink, vs_store *st,
                     const vs_save_options *opts, int level)
{
    vs_stream *enc = NULL, *codec = NULL, *async = NULL;
    int error = 0;
    vs_stream *top = sink;
    if (opts->key) {
        /* The outermost layer: it seals what the codec wrote. */
        error = vs_crypt_writer(&enc, top, opts->key);
        if (error < 0)
            goto done;
        top = enc;
    }
    if (opts->codec != VS_CODEC_NONE) {
        error = vs_codec_writer_new(&codec, top, opts->codec, level);
        if (error < 0)
            goto done;
        top = codec;
    }
    if (top != sink) {
        /* The codec and the encryption run on a thread of their own,
         * overlapping the format's encoding on the other core. */
        error = vs_stream_async_new(&async, top);
        if (error < 0)
            goto done;
        top = async;
    }
    switch (opts->format) {
    case VS_FORMAT_BIN:
        error = vs_fmt_bin_save(top, st, opts, opts->codec != VS_CODEC_NONE);
        break;
    case VS_FORMAT_JSON:
        error = vs_fmt_json_save(top, st, opts);
        break;
    default:
        error = save_sqlite_via_tmp(top, st, opts);
        break;
    }
    if (error == 0 && async)
        error = vs_stream_finish(async);
    if (error == 0 && codec)
        error = vs_stream_finish(codec);
    if (error == 0 && enc)
        error = vs_stream_finish(enc);
done:
    vs_stream_free(async);
    vs_stream_free(codec);
    vs_stream_free(enc);
    return error;
}

static void fill_save_info(vs_file_info *info, uint64_t bytes,
                           const uint8_t digest[VS_SHA256_LEN],
                           const vs_save_options *opts, vs_store *st)
{
    if (!info)
        return;
    memset(info, 0, sizeof(*info));
    info->format = opts->format;
    info->codec = opts->codec;
    info->bytes = bytes;
    memcpy(info->sha256, digest, VS_SHA256_LEN);
    info->content_verified = true;
    info->encrypted = opts->key ? true : false;
    info->seq = vs_store_seq(st);
    vs_collection **list = NULL;
    size_t n = 0;
    if (vs_fmt__select(&list, &n, st, opts) == 0) {
        info->ncollections = (uint32_t)n;
        for (size_t i = 0; i < n; i++)
            info->records += vs_collection_count(list[i]);
    }
    free(list);
    if (opts->incremental) {
        info->incremental = true;
        info->since_seq = opts->since_seq;
        vs_fmt__changes(&info->changed, &info->deleted, st, opts->since_seq);
    }
}

static int save_info_from_hash(vs_file_info *info, vs_stream *hash,
                               const vs_save_options *opts, vs_store *st)
{
    uint8_t digest[VS_SHA256_LEN];
    int error = vs_stream_hash_peek(hash, digest);
    if (error == 0)
        fill_save_info(info, vs_stream_bytes(hash), digest, opts, st);
    return error;
}

int vs_fmt_save_stream(vs_file_info *info, vs_stream *out, vs_store *st,
                       const vs_save_options *opts)
{
    int level;
    int error = check_save_options(&level, opts);
    if (error < 0)
        return error;
    vs_stream *hash = NULL;
    error = vs_stream_hash_new(&hash, out, true);
    if (error < 0)
        return error;
    error = save_into(hash, st, opts, level);
    if (error == 0)
        error = vs_stream_finish(hash);
    if (error == 0)
        error = vs_stream_finish(out);
    if (error == 0)
        error = save_info_from_hash(info, hash, opts, st);
    vs_stream_free(hash);
    return error;
}

/* sqlite without a codec: build the database right in the atomic temp file,
 * hash it, then commit. */
static int save_sqlite_file(vs_file_info *info, vs_atomic *af, vs_store *st,
                            const vs_save_options *opts)
{
    int error = vs_fmt_sqlite_save(vs_atomic_tmp_path(af), st, opts);
    vs_file_info fi;
    memset(&fi, 0, sizeof(fi));
    if (error == 0)
        error = vs_sha256_file(fi.sha256, &fi.bytes, vs_atomic_tmp_path(af));
    if (error < 0) {
        vs_atomic_abort(af);
        return error;
    }
    error = vs_atomic_commit(af);
    if (error == 0)
        fill_save_info(info, fi.bytes, fi.sha256, opts, st);
    return error;
}

int vs_fmt_save_file(vs_file_info *info, const char *path, vs_store *st,
                     const vs_save_options *opts)
{
    int level;
    int error = check_save_options(&level, opts);
    if (error < 0)
        return error;
    vs_atomic *af = NULL;
    error = vs_atomic_open(&af, path);
    if (error < 0)
        return error;
    if (opts->format == VS_FORMAT_SQLITE && opts->codec == VS_CODEC_NONE &&
        !opts->key)
        return save_sqlite_file(info, af, st, opts);

    vs_stream *file = NULL, *hash = NULL;
    error = vs_stream_fd_writer_new(&file, vs_atomic_fd(af), false);
    if (error == 0)
        error = vs_stream_hash_new(&hash, file, true);
    if (error == 0)
        error = save_into(hash, st, opts, level);
    if (error == 0)
        error = vs_stream_finish(hash);
    if (error == 0)
        error = vs_stream_finish(file);
    if (error == 0)
        error = save_info_from_hash(info, hash, opts, st);
    vs_stream_free(hash);
    vs_stream_free(file);
    /* vs_atomic_commit fsyncs the data before the rename. */
    if (error < 0) {
        vs_atomic_abort(af);
        return error;
    }
    return vs_atomic_commit(af);
}

/* ---- loading ---- */

/* Stage a decoded sqlite stream in a temporary file and load it. */
static int load_sqlite_via_tmp(vs_store **out, vs_file_info *info,
                               vs_stream *in, const vs_load_options *opts)
{
    char *path = NULL;
    int error = tmp_template(&path, opts->tmpdir, "load");
    if (error < 0)
        return error;
    int fd = mkostemp(path, O_CLOEXEC);
    if (fd < 0) {
        error = vs_error_set_os(VS_EIO, "failed to create '%s'", path);
        free(path);
        return error;
    }
    vs_stream *w = NULL;
    size_t cap = 1 << 20;
    char *buf = malloc(cap);
    error = buf ? vs_stream_fd_writer_new(&w, fd, false) : vs_error_oom();
    while (error == 0) {
        size_t got;
        error = vs_stream_read(in, buf, cap, &got);
        if (error < 0 || got == 0)
            break;
        error = vs_stream_write(w, buf, got);
    }
    if (error == 0)
        error = vs_stream_finish(w);
    vs_stream_free(w);
    free(buf);
    close(fd);
    if (error == 0)
        error = vs_fmt_sqlite_load(out, info, path, opts);
    unlink(path);
    free(path);
    return error;
}

/* Read up to HEAD_MAX bytes for detection. */
static int read_head(uint8_t *head, size_t *n, vs_stream *in)
{
    *n = 0;
    while (*n < HEAD_MAX) {
        size_t got;
        int error = vs_stream_read(in, head + *n, HEAD_MAX - *n, &got);
        if (error < 0)
            return error;
        if (got == 0)
            break;
        *n += got;
    }
    return 0;
}

/* Changes are applied from binary documents only. */
static int check_apply(vs_format_id format, const vs_load_options *opts)
{
    if (opts->apply_to && format != VS_FORMAT_BIN)
        return vs_error_set(VS_EINVALID,
                            "a %s document, not the incremental binary "
                            "changes this snapshot needs",
                            vs_format_name(format));
    return 0;
}

static int dispatch(vs_store **out, vs_file_info *info, vs_stream *in,
                    vs_format_id format, uint64_t size_hint,
                    const vs_load_options *opts)
{
    int error = check_apply(format, opts);
    if (error < 0)
        return error;
    switch (format) {
    case VS_FORMAT_BIN:
        return vs_fmt_bin_load(out, info, in, size_hint, opts);
    case VS_FORMAT_JSON:
        return vs_fmt_json_load(out, info, in, opts);
    case VS_FORMAT_RUVECTOR:
        return vs_fmt_ruvector_load(out, info, in, opts);
    case VS_FORMAT_SQLITE:
        return load_sqlite_via_tmp(out, info, in, opts);
    default:
        return vs_error_set(VS_ECORRUPT, "unrecognised format");
    }
}

/* Decode `raw` (the stored bytes, after any hash stage) and load. */
static int load_decoded(vs_store **out, vs_file_info *info, vs_stream *raw,
                        vs_codec_id codec, vs_format_id format,
                        uint64_t size_hint, const vs_load_options *opts)
{
    vs_stream *dec = NULL, *ahead = NULL, *pre = NULL;
    uint8_t *head = NULL;
    int error = 0;
    vs_stream *top = raw;
    if (codec != VS_CODEC_NONE) {
        /* Decompression runs ahead on a thread of its own, overlapping the
         * parsing and the building of the store. */
        error = vs_codec_reader_new(&dec, raw, codec, opts->max_bytes);
        if (error == 0)
            error = vs_stream_async_reader_new(&ahead, dec);
        if (error < 0)
            goto done;
        top = ahead;
        size_hint = opts->max_bytes;
    }
    if (format == VS_FORMAT_AUTO) {
        size_t n;
        vs_codec_id inner;
        head = malloc(HEAD_MAX);
        if (!head) {
            error = vs_error_oom();
            goto done;
        }
        error = read_head(head, &n, top);
        if (error < 0)
            goto done;
        error = vs_fmt_detect(&format, &inner, head, n, NULL);
        if (error == 0 && inner != VS_CODEC_NONE)
            error = vs_error_set(VS_ECORRUPT,
                                 "compressed data inside compressed data");
        if (error < 0)
            goto done;
        error = vs_stream_prefixed_new(&pre, head, n, top);
        if (error < 0)
            goto done;
        top = pre;
    }
    error = dispatch(out, info, top, format, size_hint, opts);
done:
    vs_stream_free(pre);
    vs_stream_free(ahead);
    vs_stream_free(dec);
    free(head);
    return error;
}

static int fill_load_info(vs_file_info *info, vs_stream *hash,
                          vs_codec_id codec)
{
    info->codec = codec;
    info->bytes = vs_stream_bytes(hash);
    return vs_stream_hash_peek(hash, info->sha256);
}

/* When the stored bytes are encrypted (head[0..*n) starts with the magic),
 * put a decrypting stage over `raw` (which replays those bytes) and read the
 * first bytes of the plaintext into `head` instead.  *top: the stream the
 * document is decoded from.  Decryption runs ahead on a thread of its own.
 * The stages made go to layers[0..3) (the caller frees them top-down). */
static int decrypt_layer(vs_stream **top, vs_stream *layers[3],
                         uint8_t *head, size_t *n, vs_stream *raw,
                         const vs_load_options *opts)
{
    *top = raw;
    if (!vs_crypt_detect(head, *n))
        return 0;
    if (!opts->key)
        return vs_error_set(VS_EKEY,
                            "the file is encrypted and no key is configured "
                            "(encryption_key_file or "
                            "VECSNAP_ENCRYPTION_KEY)");
    int error = vs_crypt_reader(&layers[0], raw, opts->key);
    if (error == 0)
        error = vs_stream_async_reader_new(&layers[1], layers[0]);
    if (error == 0)
        error = read_head(head, n, layers[1]);
    if (error == 0)
        error = vs_stream_prefixed_new(&layers[2], head, *n, layers[1]);
    if (error == 0)
        *top = layers[2];
    return error;
}

/* Load what `in` yields (its size, when known, in `size_hint`).
 * Everything a stored file is read through must be consumed: trailing bytes
 * after an encrypted container are caught by the decrypting stage, after a
 * compressed stream by the codec, after a plain document by the format. */
static int load_any(vs_store **out, vs_file_info *info, vs_stream *in,
                    uint64_t size_hint, const vs_load_options *opts)
{
    vs_stream *hash = NULL, *pre = NULL, *top = NULL;
    vs_stream *layers[3] = {NULL, NULL, NULL};
    uint8_t *head = malloc(HEAD_MAX);
    size_t n = 0;
    int error = head ? vs_stream_hash_new(&hash, in, true) : vs_error_oom();
    if (error == 0)
        error = read_head(head, &n, hash);
    if (error == 0)
        error = vs_stream_prefixed_new(&pre, head, n, hash);
    if (error == 0)
        error = decrypt_layer(&top, layers, head, &n, pre, opts);
    vs_format_id format = opts->format;
    vs_codec_id codec = opts->codec;
    if (error == 0 && (format == VS_FORMAT_AUTO || codec == VS_CODEC_AUTO)) {
        vs_format_id f;
        vs_codec_id c;
        error = vs_fmt_detect(&f, &c, head, n, opts->name_hint);
        if (codec == VS_CODEC_AUTO)
            codec = c;
        if (format == VS_FORMAT_AUTO && codec == c)
            format = f;
    }
    if (error == 0)
        error = load_decoded(out, info, top, codec, format, size_hint, opts);
    if (error == 0)
        error = fill_load_info(info, hash, codec);
    if (error == 0)
        info->encrypted = top != pre;
    if (error < 0) {
        vs_store_free(*out);
        *out = NULL;
    }
    for (size_t i = 3; i-- > 0;)
        vs_stream_free(layers[i]);
    vs_stream_free(pre);
    vs_stream_free(hash);
    free(head);
    return error;
}

int vs_fmt_load_stream(vs_store **out, vs_file_info *info, vs_stream *in,
                       const vs_load_options *opts)
{
    vs_file_info local;
    if (!info)
        info = &local;
    memset(info, 0, sizeof(*info));
    *out = NULL;
    return load_any(out, info, in, 0, opts);
}

/* Read the first bytes of a file with a separate descriptor. */
static int peek_file(uint8_t *head, size_t *n, uint64_t *size,
                     const char *path)
{
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return vs_error_set_os(errno == ENOENT ? VS_ENOTFOUND : VS_EIO,
                               "failed to open '%s'", path);
    int error = vs_fs_size(size, fd);
    *n = 0;
    while (error == 0 && *n < HEAD_MAX) {
        ssize_t r = read(fd, head + *n, HEAD_MAX - *n);
        if (r < 0 && errno == EINTR)
            continue;
        if (r < 0)
            error = vs_error_set_os(VS_EIO, "failed to read '%s'", path);
        if (r <= 0)
            break;
        *n += (size_t)r;
    }
    close(fd);
    return error;
}

/* An encrypted file is decrypted as a stream (an sqlite document inside is
 * staged in a temporary file).  The name without ".enc" hints at the codec
 * inside. */
static int load_encrypted_file(vs_store **out, vs_file_info *info,
                               const char *path, uint64_t size,
                               const vs_load_options *opts)
{
    vs_load_options o = *opts;
    vs_stream *file = NULL;
    char *hint = NULL;
    int error = 0;
    if (!o.name_hint)
        o.name_hint = path;
    if (vs_fs_has_suffix(o.name_hint, VS_CRYPT_SUFFIX)) {
        hint = strndup(o.name_hint,
                       strlen(o.name_hint) - strlen(VS_CRYPT_SUFFIX));
        if (!hint)
            return vs_error_oom();
        o.name_hint = hint;
    }
    error = vs_stream_file_reader_new(&file, path);
    if (error == 0)
        error = load_any(out, info, file, size, &o);
    vs_stream_free(file);
    free(hint);
    return error;
}

int vs_fmt_load_file(vs_store **out, vs_file_info *info, const char *path,
                     const vs_load_options *opts)
{
    vs_file_info local;
    if (!info)
        info = &local;
    memset(info, 0, sizeof(*info));
    *out = NULL;
    uint8_t *head = malloc(HEAD_MAX);
    if (!head)
        return vs_error_oom();
    size_t n = 0;
    uint64_t size = 0;
    vs_format_id format = opts->format;
    vs_codec_id codec = opts->codec;
    int error = peek_file(head, &n, &size, path);
    if (error == 0 && vs_crypt_detect(head, n)) {
        free(head);
        return load_encrypted_file(out, info, path, size, opts);
    }
    if (error == 0 && (format == VS_FORMAT_AUTO || codec == VS_CODEC_AUTO)) {
        vs_format_id f;
        vs_codec_id c;
        error = vs_fmt_detect(&f, &c, head, n,
                              opts->name_hint ? opts->name_hint : path);
        if (codec == VS_CODEC_AUTO)
            codec = c;
        if (format == VS_FORMAT_AUTO && codec == c)
            format = f;
    }
    free(head);
    if (error == 0 && format != VS_FORMAT_AUTO)
        error = check_apply(format, opts);
    if (error < 0)
        return error;

    if (format == VS_FORMAT_SQLITE && codec == VS_CODEC_NONE) {
        error = vs_fmt_sqlite_load(out, info, path, opts);
        if (error == 0) {
            info->codec = VS_CODEC_NONE;
            error = vs_sha256_file(info->sha256, &info->bytes, path);
            if (error < 0) {
                vs_store_free(*out);
                *out = NULL;
            }
        }
        return error;
    }

    vs_stream *file = NULL, *hash = NULL;
    error = vs_stream_file_reader_new(&file, path);
    if (error == 0)
        error = vs_stream_hash_new(&hash, file, true);
    if (error == 0)
        error = load_decoded(out, info, hash, codec, format, size, opts);
    if (error == 0)
        error = fill_load_info(info, hash, codec);
    if (error < 0) {
        vs_store_free(*out);
        *out = NULL;
    }
    vs_stream_free(hash);
    vs_stream_free(file);
    return error;
}
