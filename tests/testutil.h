/*
 * testutil: helpers shared by the test programs: temporary directories, a
 * stream that fails after n bytes, deterministic random stores and a
 * bit-exact store comparison.
 */
#ifndef VS_TESTUTIL_H
#define VS_TESTUTIL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "store.h"
#include "stream.h"

/* mkdtemp under $TMPDIR (or /tmp); returns a malloc'd path, aborts on
 * failure. */
char *vs_test_tmpdir_new(void);
/* rm -rf the directory and free the path. */
void vs_test_tmpdir_free(char *dir);
/* Number of entries in a directory other than . and .. */
size_t vs_test_dir_count(const char *dir);
/* malloc'd "dir/name". */
char *vs_test_path(const char *dir, const char *name);

/* A stream that fails with VS_EIO ("injected failure after N bytes") once
 * more than `limit` bytes went through it.  As a writer it forwards to
 * `inner` (may be NULL: bytes are dropped); as a reader it reads `inner`. */
int vs_stream_failing_new(vs_stream **out, vs_stream *inner, bool writer,
                          uint64_t limit);

/* xorshift64* */
uint64_t vs_test_rand(uint64_t *state);
float vs_test_randf(uint64_t *state); /* uniform in [-1, 1) */

/* A store with one collection `name` of `count` records of `dim` random
 * floats, ids "id-<n>", metadata {"n":<n>,"tag":"t<n%7>"} when
 * `with_metadata`.  Aborts on failure. */
vs_store *vs_test_random_store(const char *name, size_t count, uint32_t dim,
                               vs_metric metric, bool with_metadata,
                               uint64_t seed);

/* Bit-exact comparison: same collections (name, dimension, metric), same
 * records by id with identical float bits and metadata text, same sequence
 * number when `check_seq`.  On difference returns false and writes a
 * description into why[0..whylen). */
bool vs_test_store_equal(const vs_store *a, const vs_store *b, bool check_seq,
                         char *why, size_t whylen);

#endif
