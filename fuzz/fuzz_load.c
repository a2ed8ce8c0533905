/*
 * fuzz_load: libFuzzer harness for the whole auto-detecting load path
 * (vs_fmt_load_stream): format and codec detection, the gzip, brotli and
 * zstd readers with a 16 MiB output cap, then whichever format reader the
 * content selects (sqlite through a temporary file).
 */
#include "fuzz_common.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    fuzz_load(vs_fmt_load_stream, data, size);
    return 0;
}
