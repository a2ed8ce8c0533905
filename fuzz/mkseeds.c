/*
 * mkseeds: writes the committed seed corpora under fuzz/seeds/<harness>/:
 * small valid documents of every shape the harnesses read.  Run by
 * `fuzz/run --seeds` (only when the formats change); `fuzz/run` itself only
 * copies the committed seeds.  Usage: mkseeds SEEDS_DIR
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "fmt.h"
#include "fsutil.h"

static void die(const char *what)
{
    fprintf(stderr, "mkseeds: %s: %s\n", what, vs_error_last());
    exit(1);
}

static void put_file(const char *dir, const char *sub, const char *name,
                     const void *data, size_t n)
{
    char path[4096];
    snprintf(path, sizeof(path), "%s/%s", dir, sub);
    if (vs_fs_mkdirs(path) < 0)
        die(path);
    snprintf(path, sizeof(path), "%s/%s/%s", dir, sub, name);
    if (vs_fs_write_atomic(path, data, n) < 0)
        die(path);
}

static void add(vs_collection *c, const char *id, const float *v,
                const char *meta)
{
    vs_record r = {.id = id, .id_len = strlen(id), .vector = v,
                   .metadata = meta, .metadata_len = meta ? strlen(meta) : 0};
    if (vs_collection_upsert(c, &r, 1) < 0)
        die("upsert");
}

/* Store `which`: 0 empty, 1 small, 2 several collections, 3 more records. */
static vs_store *make_store(int which)
{
    vs_store *st = NULL;
    vs_collection *a = NULL, *b = NULL, *e = NULL;
    if (vs_store_new(&st) < 0)
        die("store");
    if (which == 0)
        return st;
    float v[16];
    if (vs_store_create(&a, st, "docs", 4, VS_METRIC_COSINE) < 0)
        die("create");
    for (int i = 0; i < 3; i++) {
        char id[16];
        for (int d = 0; d < 4; d++)
            v[d] = (float)(i * 4 + d) * 0.125f - 0.5f;
        snprintf(id, sizeof(id), "id-%d", i);
        add(a, id, v, i == 1 ? NULL : "{\"n\":1,\"tag\":\"x\",\"ok\":true}");
    }
    if (which == 1)
        return st;
    if (which == 2) {
        if (vs_store_create(&b, st, "b.2_x-y", 2, VS_METRIC_EUCLIDEAN) < 0 ||
            vs_store_create(&e, st, "empty", 7, VS_METRIC_DOT) < 0)
            die("create");
        v[0] = -0.0f;
        v[1] = 3.4e38f;
        add(b, "\xc3\xa9t\xc3\xa9", v, "{\"nested\":{\"a\":[1,2.5e-3,null]}}");
        v[0] = 1e-45f;
        v[1] = -1.0f;
        add(b, "two", v, "{\"s\":\"q\\\"\\u00e9\"}");
        return st;
    }
    if (vs_store_create(&b, st, "wide", 16, VS_METRIC_DOT) < 0)
        die("create");
    for (int i = 0; i < 40; i++) {
        char id[16], meta[48];
        for (int d = 0; d < 16; d++)
            v[d] = (float)((i * 16 + d) % 37) / 37.0f - 0.5f;
        snprintf(id, sizeof(id), "vec-%08d", i);
        snprintf(meta, sizeof(meta), "{\"n\":%d,\"tag\":\"t%d\"}", i, i % 7);
        add(b, id, v, meta);
    }
    return st;
}

static void save(vs_buf *out, vs_store *st, vs_format_id f, vs_codec_id c)
{
    vs_save_options so = VS_SAVE_OPTIONS_INIT;
    vs_stream *w = NULL;
    so.format = f;
    so.codec = c;
    vs_buf_reset(out);
    if (vs_stream_mem_writer_new(&w, out) < 0 ||
        vs_fmt_save_stream(NULL, w, st, &so) < 0)
        die("save");
    vs_stream_free(w);
}

static void save_shuffled(vs_buf *out, vs_store *st)
{
    vs_stream *w = NULL;
    vs_buf_reset(out);
    if (vs_stream_mem_writer_new(&w, out) < 0 ||
        vs_fmt_bin_save(w, st, NULL, true) < 0 || vs_stream_finish(w) < 0)
        die("save shuffled");
    vs_stream_free(w);
}

static const char *const ruv_docs[] = {
    "{\"version\":\"1.0.0\",\"options\":{\"dimension\":3,\"metric\":"
    "\"cosine\"},\"stats\":{\"count\":2,\"dimension\":3},\"vectors\":[{\"id\":"
    "\"a\",\"vector\":[0.1,0.2,0.3],\"metadata\":{\"title\":\"A\"}},{\"id\":"
    "\"b\",\"vector\":[1,-2.5e-3,3],\"metadata\":null}],\"timestamp\":"
    "1700000000000,\"checksum\":\"0123456789abcdef0123456789abcdef0123456789"
    "abcdef0123456789abcdef\"}",
    "{\n  \"version\": \"1.0.0\",\n  \"options\": {\"dimension\": 2, "
    "\"metric\": \"euclidean\", \"storagePath\": null},\n  \"stats\": "
    "{\"count\": 1},\n  \"vectors\": [\n    {\"id\": \"x\", \"vector\": "
    "{\"0\": 0.5, \"1\": -1}, \"metadata\": {\"k\": [1, {\"z\": false}]}}\n  "
    "],\n  \"indexState\": {},\n  \"timestamp\": 1,\n  \"checksum\": "
    "\"ffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff\"\n}\n",
    "{\"version\":\"1.0.0\",\"vectors\":[{\"id\":\"only\",\"vector\":[1,2,3,4]}"
    ",{\"id\":\"two\",\"vector\":[4,3,2,1],\"extra\":\"ignored\"}],"
    "\"metadata\":{}}",
    "{\"version\":\"1.0.0\",\"options\":{\"dimension\":5,\"metric\":\"dot\"},"
    "\"stats\":{\"count\":0},\"vectors\":[],\"timestamp\":2,\"checksum\":"
    "\"0000000000000000000000000000000000000000000000000000000000000000\"}",
};

int main(int argc, char **argv)
{
    if (argc != 2) {
        fprintf(stderr, "usage: mkseeds SEEDS_DIR\n");
        return 2;
    }
    const char *dir = argv[1];
    vs_buf b = VS_BUF_INIT(SIZE_MAX / 2);
    char name[64];
    for (int s = 0; s < 4; s++) {
        vs_store *st = make_store(s);
        save(&b, st, VS_FORMAT_BIN, VS_CODEC_NONE);
        snprintf(name, sizeof(name), "store%d.vsnap", s);
        put_file(dir, "bin", name, b.ptr, b.len);
        put_file(dir, "load", name, b.ptr, b.len);
        save_shuffled(&b, st);
        snprintf(name, sizeof(name), "store%d-shuffled.vsnap", s);
        put_file(dir, "bin", name, b.ptr, b.len);
        save(&b, st, VS_FORMAT_JSON, VS_CODEC_NONE);
        snprintf(name, sizeof(name), "store%d.json", s);
        put_file(dir, "json", name, b.ptr, b.len);
        if (s == 2)
            put_file(dir, "load", name, b.ptr, b.len);
        if (s == 2 || s == 3) {
            static const vs_codec_id cs[] = {VS_CODEC_GZIP, VS_CODEC_BROTLI,
                                             VS_CODEC_ZSTD};
            for (int c = 0; c < 3; c++) {
                vs_format_id f = (c + s) % 2 ? VS_FORMAT_JSON : VS_FORMAT_BIN;
                save(&b, st, f, cs[c]);
                snprintf(name, sizeof(name), "store%d%s%s", s,
                         vs_format_suffix(f),
                         vs_codec_info_of(cs[c])->suffix);
                put_file(dir, "load", name, b.ptr, b.len);
            }
        }
        if (s == 2) {
            save(&b, st, VS_FORMAT_SQLITE, VS_CODEC_NONE);
            if (b.len <= 65536)
                put_file(dir, "load", "store2.sqlite", b.ptr, b.len);
        }
        vs_store_free(st);
    }
    for (size_t i = 0; i < sizeof(ruv_docs) / sizeof(ruv_docs[0]); i++) {
        snprintf(name, sizeof(name), "state%zu.json", i);
        put_file(dir, "ruvector", name, ruv_docs[i], strlen(ruv_docs[i]));
        if (i < 2)
            put_file(dir, "load", name, ruv_docs[i], strlen(ruv_docs[i]));
    }
    vs_buf_dispose(&b);
    return 0;
}
