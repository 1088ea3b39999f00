/* simenc: how SIM values are written into a profile package: ICCID (header BCD and EF.ICCID
 * swapped BCD), EF.IMSI, PIN/PUK/ADM blocks, the EF.MSISDN record, and the Luhn check digit.
 *
 * Encoders validate their text input (digits only, length bounds) and decoders are strict (a
 * digit nibble is 0-9, padding is F and only at the end). Nothing here logs. */
#ifndef SM_SMDP_SIMENC_H
#define SM_SMDP_SIMENC_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "lib/err.h"

#define SIMENC_ICCID_MIN 18
#define SIMENC_ICCID_MAX 20
#define SIMENC_IMSI_MIN 6
#define SIMENC_IMSI_MAX 15
#define SIMENC_MSISDN_MAX 15
#define SIMENC_MSISDN_FIXED 14 /* record bytes after the alpha identifier (TS 31.102 4.2.26) */

/* True when s is n..m ASCII digits. */
bool simenc_digits(const char *s, size_t min, size_t max);

/* Luhn check digit (0-9) of a digit string, -1 if s is not digits. */
int simenc_luhn_digit(const char *s, size_t len);
/* True when the last digit of s is the Luhn check digit of the others. */
bool simenc_luhn_ok(const char *s);

/* ICCID into 10 bytes: in the ProfileHeader the digits in natural order, padded with F
 * ("89000123456789012341" -> 89 00 01 ...); in EF.ICCID each byte nibble-swapped (98 00 10 ...). */
sm_rc simenc_iccid_header(const char *iccid, uint8_t out[10], sm_err *err);
sm_rc simenc_iccid_ef(const char *iccid, uint8_t out[10], sm_err *err);
/* The reverse; out gets the digits (F padding removed), NUL-terminated. */
sm_rc simenc_iccid_header_dec(const uint8_t in[10], char out[21], sm_err *err);
sm_rc simenc_iccid_ef_dec(const uint8_t in[10], char out[21], sm_err *err);

/* EF.IMSI (TS 31.102 4.2.2): 9 bytes = length of what follows, then digit 1 with the parity
 * nibble (9 odd, 1 even digit count), then the other digits nibble-swapped, F padded. */
sm_rc simenc_imsi_ef(const char *imsi, uint8_t out[9], sm_err *err);
sm_rc simenc_imsi_ef_dec(const uint8_t *in, size_t len, char out[16], sm_err *err);

/* PIN/PUK/ADM value (8 bytes): the ASCII digits, padded with FF; min..max digits (<= 8). */
sm_rc simenc_code(const char *digits, size_t min, size_t max, uint8_t out[8], sm_err *err);

/* EF.MSISDN record of reclen bytes (>= 14): alpha identifier all FF, BCD length, TON/NPI 91
 * (international, E.164), up to 10 bytes swapped BCD (F padded), CCP2 FF, EXT5 FF. */
sm_rc simenc_msisdn_record(const char *msisdn, size_t reclen, uint8_t *out, sm_err *err);
/* Digits of an MSISDN record ("" for an empty record). */
sm_rc simenc_msisdn_record_dec(const uint8_t *rec, size_t reclen, char out[21], sm_err *err);

#endif
