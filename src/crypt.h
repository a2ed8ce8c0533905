/*
 * crypt: encryption at rest.  A stream stage (writer or reader, like the
 * codecs) that turns plaintext into a self-describing encrypted container
 * and back, plus whole-file helpers for the remote-storage code.
 *
 * The container (specified byte by byte in docs/FORMAT.md, "Encrypted
 * files") is an 80-byte header followed by chunks of 64 KiB of plaintext,
 * each sealed with AES-256-GCM under a per-file subkey derived from the key
 * and a random salt (HKDF-SHA256).  A chunk's nonce holds its index and a
 * last-chunk flag and the header is authenticated with every chunk, so a
 * reordered, dropped, duplicated or truncated chunk fails authentication.
 * The header carries a key check value: a wrong key is reported as VS_EKEY
 * "wrong encryption key", distinctly from damage (VS_ECORRUPT).
 *
 * Every chunk is authenticated before any of its bytes is delivered, and
 * memory is bounded by one chunk.  Key bytes never appear in a message.
 */
#ifndef VS_CRYPT_H
#define VS_CRYPT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "error.h"
#include "stream.h"

#define VS_CRYPT_KEY_LEN 32
#define VS_CRYPT_SUFFIX ".enc"
/* Plaintext bytes per chunk written; readers accept 1 KiB ... 1 MiB. */
#define VS_CRYPT_CHUNK ((size_t)64 << 10)
/* Size of the container header. */
#define VS_CRYPT_HEADER_LEN 80
/* Size of the container holding n bytes of plaintext (one chunk at least,
 * a 16-byte tag per chunk). */
#define VS_CRYPT_SIZE(n)                                                      \
    ((uint64_t)(n) + VS_CRYPT_HEADER_LEN +                                    \
     16 * ((uint64_t)(n) ? ((uint64_t)(n) + VS_CRYPT_CHUNK - 1) /             \
                               VS_CRYPT_CHUNK                                 \
                         : 1))

/* 64 hex digits (surrounding blanks/newline allowed) -> key.  VS_EINVALID;
 * the message never shows the key. */
int vs_crypt_key_parse(uint8_t key[VS_CRYPT_KEY_LEN], const char *hex,
                       size_t n) VS_WARN_UNUSED;
/* Read a key file (64 hex digits + optional newline).  VS_EIO, VS_EINVALID
 * naming the file, never its content. */
int vs_crypt_key_load(uint8_t key[VS_CRYPT_KEY_LEN],
                      const char *path) VS_WARN_UNUSED;
/* True when these first bytes are an encrypted file's header (magic). */
bool vs_crypt_detect(const uint8_t *head, size_t n);

/* Writer stage: plaintext written to it goes out encrypted into `below`
 * (borrowed), chunk by chunk; finish writes the last chunk (marked final)
 * and flushes into `below` (which it does not finish).  VS_EINVALID for a
 * reader `below`. */
int vs_crypt_writer(vs_stream **out, vs_stream *below,
                    const uint8_t key[VS_CRYPT_KEY_LEN]) VS_WARN_UNUSED;
/* Reader stage: reads the encrypted bytes from `below` (borrowed), yields
 * plaintext.  Every chunk is authenticated before any of its bytes is
 * delivered.  Errors: VS_EKEY "wrong encryption key"; VS_ECORRUPT for a bad
 * header, "encrypted chunk N failed authentication", "encrypted file is
 * truncated", trailing data after the final chunk; VS_EVERSION for a
 * container version this build does not read. */
int vs_crypt_reader(vs_stream **out, vs_stream *below,
                    const uint8_t key[VS_CRYPT_KEY_LEN]) VS_WARN_UNUSED;

/* Whole files, atomically (temp + fsync + rename; on failure `dst` is
 * untouched): encrypt src -> dst; decrypt src -> dst. */
int vs_crypt_encrypt_file(const char *dst, const char *src,
                          const uint8_t key[VS_CRYPT_KEY_LEN]) VS_WARN_UNUSED;
int vs_crypt_decrypt_file(const char *dst, const char *src,
                          const uint8_t key[VS_CRYPT_KEY_LEN]) VS_WARN_UNUSED;

#endif
