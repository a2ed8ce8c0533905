/*
 * fuzz_json: libFuzzer harness for the vecsnap JSON reader
 * (vs_fmt_json_load).  Each input is loaded as it is and, when it has a
 * top-level "sha256" member, again with that member's value replaced by
 * the SHA-256 the reader expects (of every byte before the comma that
 * precedes the key), so that mutated documents get past the checksum and
 * the success path is exercised.
 */
#include "fuzz_common.h"

static bool is_ws(uint8_t c)
{
    return c == ' ' || c == '\t' || c == '\n' || c == '\r';
}

/* Position of the last `"sha256"` in data, or n. */
static size_t find_last_key(const uint8_t *data, size_t n)
{
    static const char key[] = "\"sha256\"";
    size_t klen = sizeof(key) - 1;
    for (size_t i = n >= klen ? n - klen + 1 : 0; i-- > 0;)
        if (memcmp(data + i, key, klen) == 0)
            return i;
    return n;
}

/* Rewrite the sha256 value of copy[0..n) in place; false when the input has
 * no such member in a patchable shape. */
static bool patch_digest(uint8_t *copy, size_t n)
{
    size_t k = find_last_key(copy, n);
    if (k == n)
        return false;
    size_t c = k;
    while (c > 0 && is_ws(copy[c - 1]))
        c--;
    if (c == 0 || copy[c - 1] != ',')
        return false;
    c--; /* the held comma */
    size_t p = k + 8;
    while (p < n && is_ws(copy[p]))
        p++;
    if (p >= n || copy[p] != ':')
        return false;
    p++;
    while (p < n && is_ws(copy[p]))
        p++;
    if (p >= n || copy[p] != '"' || n - p - 1 < VS_SHA256_HEX_LEN)
        return false;
    uint8_t digest[VS_SHA256_LEN];
    char hex[VS_SHA256_HEX_LEN + 1];
    if (vs_sha256_buffer(digest, copy, c) < 0)
        return false;
    vs_sha256_hex(hex, digest);
    memcpy(copy + p + 1, hex, VS_SHA256_HEX_LEN);
    return true;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    fuzz_load(vs_fmt_json_load, data, size);
    uint8_t *copy = malloc(size ? size : 1);
    if (!copy)
        return 0;
    memcpy(copy, data, size);
    if (patch_digest(copy, size) && memcmp(copy, data, size) != 0)
        fuzz_load(vs_fmt_json_load, copy, size);
    free(copy);
    return 0;
}
