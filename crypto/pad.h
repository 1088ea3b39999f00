/* pad: the padding rules of the secure channels and a constant-time compare.
 * Owns ISO/IEC 9797-1 method 2 ("pad80", SCP03/SCP03t) and zero padding (SCP80 ciphering). */
#ifndef SM_CRYPTO_PAD_H
#define SM_CRYPTO_PAD_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "lib/buf.h"
#include "lib/err.h"

/* Length after pad80 to a multiple of block (always adds 1..block bytes). */
size_t pad80_len(size_t len, size_t block);
/* Appends 80 00.. to b so that (b->len - start) is a multiple of block. 0 or -1 (buffer failed). */
int pad80_append(sm_buf *b, size_t start, size_t block);
/* Writes pad80 in place: buf holds len bytes and has room for pad80_len(len, block). */
void pad80_write(uint8_t *buf, size_t len, size_t block);
/* Finds the 80 marker: *outlen = length without padding. SM_EVERIFY when the padding is wrong
 * (no 80, a non-zero byte after it, or more than one block of padding). */
sm_rc pad80_strip(const uint8_t *buf, size_t len, size_t block, size_t *outlen, sm_err *err);

/* Number of 00 bytes needed to bring len to a multiple of block (0..block-1). */
size_t zpad_count(size_t len, size_t block);

/* Constant-time equality of two n-byte strings. */
bool ct_equal(const uint8_t *a, const uint8_t *b, size_t n);

#endif
