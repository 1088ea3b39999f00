/* hex: lowercase hex encoding and strict decoding of byte strings.
 * Owns nothing but the conversion rules (decoding rejects odd length and non-hex digits). */
#ifndef SM_HEX_H
#define SM_HEX_H

#include <stddef.h>
#include <stdint.h>

#include "lib/err.h"

/* Writes 2*len lowercase digits and a NUL to out (size >= 2*len+1). */
void sm_hex_encode(const uint8_t *in, size_t len, char *out);

/* Decodes hex (whitespace ignored) into out (capacity cap); *outlen gets the byte count. */
sm_rc sm_hex_decode(const char *in, uint8_t *out, size_t cap, size_t *outlen, sm_err *err);

/* Decodes into a new malloc'd buffer; caller frees. */
sm_rc sm_hex_decode_alloc(const char *in, uint8_t **out, size_t *outlen, sm_err *err);

#endif
