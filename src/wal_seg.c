/*
 * wal_seg: the write-ahead log on disk -- CRC-32C (slicing-by-8), the
 * fsync policy names, segment file names and listing, read-only mapping
 * of a segment, and the checks of its header and of each record's frame.
 * Shared by the writer (wal.c) and the replay (wal_replay.c).
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/uio.h>
#include <time.h>
#include <unistd.h>

#include "fsutil.h"
#include "log.h"
#include "wal_int.h"

const uint8_t vs_wal__magic[8] = {'V', 'S', 'W', 'A', 'L', 0, 0, 2};

/* ---- CRC-32C: the SSE 4.2 instruction where there is one, else slicing
 * by 8 ------------------------------------------------------------------ */

static uint32_t crc_table[8][256];
static pthread_once_t crc_once = PTHREAD_ONCE_INIT;

#if defined(__x86_64__) && (defined(__GNUC__) || defined(__clang__))
#define CRC_HW 1
static bool crc_hw;
/* Eight bytes per instruction; the same reflected polynomial. */
__attribute__((target("sse4.2"))) static uint32_t
crc_sse42(uint32_t c, const uint8_t *p, size_t n)
{
    uint64_t c64 = c;
    while (n && ((uintptr_t)p & 7)) {
        c64 = __builtin_ia32_crc32qi((uint32_t)c64, *p++);
        n--;
    }
    for (; n >= 8; p += 8, n -= 8) {
        uint64_t v;
        memcpy(&v, p, 8);
        c64 = __builtin_ia32_crc32di(c64, v);
    }
    while (n--)
        c64 = __builtin_ia32_crc32qi((uint32_t)c64, *p++);
    return (uint32_t)c64;
}
#endif

static void crc_init(void)
{
    for (uint32_t i = 0; i < 256; i++) {
        uint32_t c = i;
        for (int k = 0; k < 8; k++)
            c = c & 1 ? (c >> 1) ^ 0x82F63B78u : c >> 1;
        crc_table[0][i] = c;
    }
    for (uint32_t i = 0; i < 256; i++)
        for (int t = 1; t < 8; t++)
            crc_table[t][i] = (crc_table[t - 1][i] >> 8) ^
                              crc_table[0][crc_table[t - 1][i] & 0xff];
#ifdef CRC_HW
    __builtin_cpu_init();
    crc_hw = __builtin_cpu_supports("sse4.2");
#endif
}

uint32_t vs_wal_crc32c(uint32_t crc, const void *data, size_t n)
{
    pthread_once(&crc_once, crc_init);
#ifdef CRC_HW
    if (crc_hw)
        return ~crc_sse42(~crc, data, n);
#endif
    return vs_wal__crc32c_table(crc, data, n);
}

uint32_t vs_wal__crc32c_table(uint32_t crc, const void *data, size_t n)
{
    const uint8_t *p = data;
    uint32_t c = ~crc;

    pthread_once(&crc_once, crc_init);
    while (n && ((uintptr_t)p & 7)) {
        c = crc_table[0][(c ^ *p++) & 0xff] ^ (c >> 8);
        n--;
    }
    while (n >= 8) {
        uint32_t lo = (uint32_t)p[0] | (uint32_t)p[1] << 8 |
                      (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
        uint32_t hi = (uint32_t)p[4] | (uint32_t)p[5] << 8 |
                      (uint32_t)p[6] << 16 | (uint32_t)p[7] << 24;
        lo ^= c;
        c = crc_table[7][lo & 0xff] ^ crc_table[6][(lo >> 8) & 0xff] ^
            crc_table[5][(lo >> 16) & 0xff] ^ crc_table[4][lo >> 24] ^
            crc_table[3][hi & 0xff] ^ crc_table[2][(hi >> 8) & 0xff] ^
            crc_table[1][(hi >> 16) & 0xff] ^ crc_table[0][hi >> 24];
        p += 8;
        n -= 8;
    }
    while (n--)
        c = crc_table[0][(c ^ *p++) & 0xff] ^ (c >> 8);
    return ~c;
}

/* ---- small helpers ------------------------------------------------------ */

static uint32_t get32(const uint8_t *p)
{
    return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 |
           (uint32_t)p[3] << 24;
}

uint64_t vs_wal__get64(const uint8_t *p)
{
    return (uint64_t)get32(p) | (uint64_t)get32(p + 4) << 32;
}

void vs_wal__put32(uint8_t *p, uint32_t v)
{
    for (int i = 0; i < 4; i++)
        p[i] = (uint8_t)(v >> (8 * i));
}

void vs_wal__put64(uint8_t *p, uint64_t v)
{
    for (int i = 0; i < 8; i++)
        p[i] = (uint8_t)(v >> (8 * i));
}

uint64_t vs_wal__now_us(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000u + (uint64_t)ts.tv_nsec / 1000u;
}

int vs_wal_fsync_parse(vs_wal_fsync *out, const char *name)
{
    static const char *const names[] = {"always", "everysec", "no"};
    for (int i = 0; i < 3; i++)
        if (name && strcmp(name, names[i]) == 0) {
            *out = (vs_wal_fsync)i;
            return 0;
        }
    return vs_error_set(VS_EINVALID,
                        "unknown wal fsync policy '%s' (always, everysec, no)",
                        name ? name : "");
}

const char *vs_wal_fsync_name(vs_wal_fsync p)
{
    switch (p) {
    case VS_WAL_FSYNC_ALWAYS:
        return "always";
    case VS_WAL_FSYNC_EVERYSEC:
        return "everysec";
    case VS_WAL_FSYNC_NO:
        return "no";
    }
    return "unknown";
}

/* The directory's path leaves room for a segment's name. */
int vs_wal__check_dir(const char *dir)
{
    if (strlen(dir) > PATH_SIZE - NAME_LEN - 2)
        return vs_error_set(VS_EINVALID,
                            "wal directory path '%.64s...' is "
                            "too long",
                            dir);
    return 0;
}

void vs_wal__seg_path(char *out, const char *dir, uint64_t seq)
{
    snprintf(out, PATH_SIZE, "%s/%020" PRIu64 ".wal", dir, seq);
}

void vs_wal_segment_name(char out[VS_WAL_NAME_SIZE], uint64_t seq)
{
    snprintf(out, VS_WAL_NAME_SIZE, "%020" PRIu64 ".wal", seq);
}

uint64_t vs_wal__file_size(const char *path)
{
    struct stat sb;
    return stat(path, &sb) == 0 ? (uint64_t)sb.st_size : 0;
}

static int cmp_u64(const void *a, const void *b)
{
    uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
    return x < y ? -1 : x > y;
}

/* The first seqs of the segments in `dir`, ascending (*out NULL when
 * none).  VS_ENOTFOUND when the directory is missing. */
int vs_wal__list_segments(uint64_t **out, size_t *n_out, const char *dir)
{
    int error = 0;
    uint64_t *segs = NULL;
    size_t n = 0, cap = 0;
    struct dirent *e;
    DIR *d = opendir(dir);

    *out = NULL;
    *n_out = 0;
    if (!d)
        return vs_error_set_os(errno == ENOENT ? VS_ENOTFOUND : VS_EIO,
                               "cannot list wal directory '%s'", dir);
    while ((e = readdir(d))) {
        const char *s = e->d_name;
        uint64_t seq = 0;
        size_t i;
        if (strlen(s) != NAME_LEN || strcmp(s + 20, ".wal") != 0)
            continue;
        for (i = 0; i < 20 && s[i] >= '0' && s[i] <= '9'; i++) {
            if (seq > (UINT64_MAX - 9) / 10)
                break;
            seq = seq * 10 + (uint64_t)(s[i] - '0');
        }
        if (i < 20)
            continue;
        if (n == cap) {
            size_t ncap = cap ? cap * 2 : 16;
            uint64_t *p = realloc(segs, ncap * sizeof(*p));
            if (!p) {
                error = vs_error_oom();
                goto done;
            }
            segs = p;
            cap = ncap;
        }
        segs[n++] = seq;
    }
    if (n)
        qsort(segs, n, sizeof(*segs), cmp_u64);
    *out = segs;
    *n_out = n;
    segs = NULL;
done:
    closedir(d);
    free(segs);
    return error;
}

/* ---- the archive -------------------------------------------------------- */

int vs_wal_list_segments(uint64_t **out, size_t *n, const char *dir)
{
    int error = vs_wal__check_dir(dir);
    if (!error)
        error = vs_wal__list_segments(out, n, dir);
    if (error == VS_ENOTFOUND) {
        vs_error_clear();
        error = 0;
    }
    return error;
}

int vs_wal_prune_archive(size_t *removed, const char *archive_dir, uint64_t seq,
                         uint64_t next_first)
{
    uint64_t *segs = NULL;
    size_t n = 0, del = 0;
    char path[PATH_SIZE];
    int error = vs_wal__check_dir(archive_dir);

    if (removed)
        *removed = 0;
    if (!error)
        error = vs_wal__list_segments(&segs, &n, archive_dir);
    if (error == VS_ENOTFOUND) {
        vs_error_clear();
        return 0;
    }
    while (!error && del < n) {
        uint64_t next = del + 1 < n ? segs[del + 1] : next_first;
        if (!next || next - 1 > seq)
            break;
        vs_wal__seg_path(path, archive_dir, segs[del]);
        if (unlink(path) < 0 && errno != ENOENT)
            error = vs_error_set_os(
                VS_EIO, "cannot delete archived wal segment '%s'", path);
        else
            del++;
    }
    if (del) {
        int e = vs_fs_fsync_dir(archive_dir);
        if (!error)
            error = e;
    }
    if (removed)
        *removed = del;
    free(segs);
    return error;
}

int vs_wal_archive_stats(uint64_t *segments, uint64_t *bytes,
                         const char *archive_dir)
{
    uint64_t *segs = NULL;
    size_t n = 0;
    char path[PATH_SIZE];
    int error = vs_wal__check_dir(archive_dir);

    *segments = *bytes = 0;
    if (!error)
        error = vs_wal__list_segments(&segs, &n, archive_dir);
    if (error == VS_ENOTFOUND) {
        vs_error_clear();
        return 0;
    }
    if (error < 0)
        return error;
    for (size_t i = 0; i < n; i++) {
        vs_wal__seg_path(path, archive_dir, segs[i]);
        *bytes += vs_wal__file_size(path);
    }
    *segments = n;
    free(segs);
    return 0;
}

/* ---- reading segments --------------------------------------------------- */

int vs_wal__map_segment(vs_wal__seg *m, const char *path)
{
    int error = 0;
    uint64_t size = 0;
    int fd = open(path, O_RDONLY | O_CLOEXEC);

    m->p = NULL;
    m->size = 0;
    if (fd < 0)
        return vs_error_set_os(VS_EIO, "cannot open wal segment '%s'", path);
    error = vs_fs_size(&size, fd);
    if (error < 0)
        goto done;
    if (size > SIZE_MAX / 2) {
        error = vs_error_set(VS_ETOOBIG, "wal segment '%s' is too large", path);
        goto done;
    }
    if (size) {
        void *p = mmap(NULL, (size_t)size, PROT_READ, MAP_PRIVATE, fd, 0);
        if (p == MAP_FAILED) {
            error =
                vs_error_set_os(VS_EIO, "cannot map wal segment '%s'", path);
            goto done;
        }
        madvise(p, (size_t)size, MADV_SEQUENTIAL);
        m->p = p;
        m->size = (size_t)size;
    }
done:
    close(fd);
    return error;
}

void vs_wal__unmap_segment(vs_wal__seg *m)
{
    if (m->p)
        munmap((void *)m->p, m->size);
    m->p = NULL;
    m->size = 0;
}

/* 0: the header holds; else VS_EVERSION, or VS_ECORRUPT with *why. */
int vs_wal__header_problem(const vs_wal__seg *m, uint64_t name_seq,
                           const char **why)
{
    if (m->size < HDR_SIZE) {
        *why = "header cut short";
        return VS_ECORRUPT;
    }
    if (memcmp(m->p, vs_wal__magic, 7) != 0) {
        *why = "bad magic";
        return VS_ECORRUPT;
    }
    if (m->p[7] != vs_wal__magic[7]) {
        *why = "format version";
        return VS_EVERSION;
    }
    if (vs_wal__get64(m->p + 8) != name_seq || name_seq == 0) {
        *why = "header seq does not match the name";
        return VS_ECORRUPT;
    }
    return 0;
}

/* The next record at *pos: 1 (body, len set, *pos past it), 0 at the end,
 * -1 for a bad frame (*why set, *pos unchanged). */
int vs_wal__next_record(const vs_wal__seg *m, size_t *pos, const uint8_t **body,
                        size_t *len, const char **why)
{
    size_t rem = m->size - *pos;
    if (!rem)
        return 0;
    if (rem < FRAME_SIZE) {
        *why = "frame cut short";
        return -1;
    }
    const uint8_t *f = m->p + *pos;
    size_t n = get32(f);
    if (n < BODY_MIN || n > VS_WAL_BODY_MAX) {
        *why = "impossible body length";
        return -1;
    }
    if (n > rem - FRAME_SIZE) {
        *why = "body cut short";
        return -1;
    }
    if (vs_wal_crc32c(0, f + FRAME_SIZE, n) != get32(f + 4)) {
        *why = "CRC mismatch";
        return -1;
    }
    *body = f + FRAME_SIZE;
    *len = n;
    *pos += FRAME_SIZE + n;
    return 1;
}

/* ---- the writer --------------------------------------------------------- */
