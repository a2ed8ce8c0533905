/*
 * fuzz_bin: libFuzzer harness for the binary format reader
 * (vs_fmt_bin_load).  Each input is loaded twice: as it is, and with its
 * last 32 bytes replaced by the SHA-256 of the rest.  A mutated document
 * almost never carries a matching trailer, so without the patch the loader
 * would reject it at the checksum; with it, the structural checks and the
 * success path (a store handed over, checked by the round-trip oracle of
 * fuzz_common.h) are reached too.
 */
#include "fuzz_common.h"

/* The input's size, as a file load passes it (fuzz_load covers the
 * unknown-size stream path). */
static uint64_t g_size;

static int load_bin(vs_store **out, vs_file_info *info, vs_stream *in,
                    const vs_load_options *opts)
{
    return vs_fmt_bin_load(out, info, in, g_size, opts);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    g_size = size;
    fuzz_load(load_bin, data, size);
    if (size <= VS_SHA256_LEN)
        return 0;
    uint8_t *copy = malloc(size);
    if (!copy)
        return 0;
    memcpy(copy, data, size);
    size_t body = size - VS_SHA256_LEN;
    if (vs_sha256_buffer(copy + body, copy, body) == 0 &&
        memcmp(copy + body, data + body, VS_SHA256_LEN) != 0)
        fuzz_load(load_bin, copy, size);
    free(copy);
    return 0;
}
