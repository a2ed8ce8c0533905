/*
 * fuzz_ruvector: libFuzzer harness for the reader of ruvector-extensions
 * DatabasePersistence state files (vs_fmt_ruvector_load).  Their checksum
 * is never verified (it covers a JavaScript re-serialisation), so every
 * input reaches the structural parser as it is.
 */
#include "fuzz_common.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    fuzz_load(vs_fmt_ruvector_load, data, size);
    return 0;
}
