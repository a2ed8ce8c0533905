/*
 * wal_int: what the write-ahead log's files share (wal.c the writer,
 * wal_replay.c the replay, wal_seg.c the on-disk pieces: CRC-32C, segment
 * names, listing, mapping, the header and record framing, the archive).  Not
 * for other modules: wal.h is the contract.
 */
#ifndef VS_WAL_INT_H
#define VS_WAL_INT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "wal.h"

#define HDR_SIZE 16               /* segment header */
#define FRAME_SIZE 8              /* length + CRC before each body */
#define BODY_MIN VS_WAL_HEAD_SIZE /* seq + time + op */
#define DEFAULT_SEGMENT ((uint64_t)64 << 20)
#define NAME_LEN 24 /* 20 digits + ".wal" */
#define PATH_SIZE 4096
#define FLUSH_MAX ((size_t)1 << 20)    /* pending bytes a writer flushes */
#define DIRECT_MIN ((size_t)256 << 10) /* bodies written without a copy */

extern const uint8_t vs_wal__magic[8];

typedef struct vs_wal__seg {
    const uint8_t *p;
    size_t size;
} vs_wal__seg;

/* CRC-32C by tables (vs_wal_crc32c uses the CPU's instruction when it
 * has one); for the tests. */
uint32_t vs_wal__crc32c_table(uint32_t crc, const void *data, size_t n);
uint64_t vs_wal__get64(const uint8_t *p);
void vs_wal__put32(uint8_t *p, uint32_t v);
void vs_wal__put64(uint8_t *p, uint64_t v);
uint64_t vs_wal__now_us(void);
int vs_wal__check_dir(const char *dir);
void vs_wal__seg_path(char *out, const char *dir, uint64_t seq);
uint64_t vs_wal__file_size(const char *path); /* 0 when missing */
int vs_wal__list_segments(uint64_t **out, size_t *n_out, const char *dir);
int vs_wal__map_segment(vs_wal__seg *m, const char *path);
void vs_wal__unmap_segment(vs_wal__seg *m);
int vs_wal__header_problem(const vs_wal__seg *m, uint64_t name_seq,
                           const char **why);
int vs_wal__next_record(const vs_wal__seg *m, size_t *pos, const uint8_t **body,
                        size_t *len, const char **why);

#endif
