/*
 * fuzz_common: what the libFuzzer harnesses share.  Each harness feeds the
 * input to one loader through a memory stream and frees whatever comes
 * back; a crash, a sanitizer report or a leak is a bug in the loader.
 *
 * Oracle: when a load succeeds, the store must survive a save in the
 * binary format and a load of that document, with the same record count:
 * a loader must not accept what the store or the saver cannot represent.
 * A violation calls abort() so libFuzzer keeps the input.
 */
#ifndef VS_FUZZ_COMMON_H
#define VS_FUZZ_COMMON_H

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "fmt.h"

typedef int (*fuzz_loader)(vs_store **out, vs_file_info *info, vs_stream *in,
                           const vs_load_options *opts);

/* Decompressed bytes a fuzzed input may expand to (bombs are refused). */
#define FUZZ_MAX_BYTES ((uint64_t)16 << 20)

static void fuzz_fail(const char *what)
{
    fprintf(stderr, "fuzz oracle: %s (last error: %s)\n", what,
            vs_error_last());
    abort();
}

/* The binary round trip of a loaded store (see the oracle above). */
static void fuzz_check_roundtrip(vs_store *st)
{
    vs_buf doc = VS_BUF_INIT(SIZE_MAX / 2);
    vs_stream *w = NULL, *r = NULL;
    vs_store *again = NULL;
    vs_load_options lo = VS_LOAD_OPTIONS_INIT;
    if (vs_stream_mem_writer_new(&w, &doc) < 0)
        fuzz_fail("memory writer");
    if (vs_fmt_bin_save(w, st, NULL, false) < 0 || vs_stream_finish(w) < 0)
        fuzz_fail("a loaded store does not save");
    if (vs_stream_mem_reader_new(&r, doc.ptr, doc.len) < 0)
        fuzz_fail("memory reader");
    if (vs_fmt_bin_load(&again, NULL, r, doc.len, &lo) < 0)
        fuzz_fail("a loaded store, saved, does not load");
    if (vs_store_nrecords(again) != vs_store_nrecords(st) ||
        vs_store_ncollections(again) != vs_store_ncollections(st) ||
        vs_store_seq(again) != vs_store_seq(st))
        fuzz_fail("a loaded store changes in a save/load round trip");
    vs_store_free(again);
    vs_stream_free(r);
    vs_stream_free(w);
    vs_buf_dispose(&doc);
}

/* Load data[0..n) with `load`; check and free the result. */
static void fuzz_load(fuzz_loader load, const uint8_t *data, size_t n)
{
    vs_stream *in = NULL;
    vs_store *st = NULL;
    vs_file_info info;
    vs_load_options lo = VS_LOAD_OPTIONS_INIT;
    lo.max_bytes = FUZZ_MAX_BYTES;
    if (vs_stream_mem_reader_new(&in, data, n) < 0)
        fuzz_fail("memory reader");
    if (load(&st, &info, in, &lo) == 0) {
        if (!st)
            fuzz_fail("a successful load returned no store");
        if (info.records != vs_store_nrecords(st))
            fuzz_fail("info.records disagrees with the store");
        fuzz_check_roundtrip(st);
    } else if (st) {
        fuzz_fail("a failed load returned a store");
    }
    vs_store_free(st);
    vs_stream_free(in);
    vs_error_clear();
}

#endif
