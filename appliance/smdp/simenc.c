/* SIM value encodings: ICCID, IMSI, PIN blocks, MSISDN record, Luhn. */
#include "appliance/smdp/simenc.h"

#include <string.h>

bool simenc_digits(const char *s, size_t min, size_t max)
{
    if (!s)
        return false;
    size_t n = 0;
    for (; s[n]; n++)
        if (s[n] < '0' || s[n] > '9' || n >= max)
            return false;
    return n >= min;
}

int simenc_luhn_digit(const char *s, size_t len)
{
    unsigned sum = 0;
    for (size_t i = 0; i < len; i++) {
        char c = s[len - 1 - i];
        if (c < '0' || c > '9')
            return -1;
        unsigned d = (unsigned)(c - '0');
        if (i % 2 == 0) {
            d *= 2;
            if (d > 9)
                d -= 9;
        }
        sum += d;
    }
    return (int)((10 - sum % 10) % 10);
}

bool simenc_luhn_ok(const char *s)
{
    size_t n = s ? strlen(s) : 0;
    if (n < 2)
        return false;
    int d = simenc_luhn_digit(s, n - 1);
    return d >= 0 && s[n - 1] == '0' + d;
}

static sm_rc iccid_check(const char *iccid, sm_err *err)
{
    if (!simenc_digits(iccid, SIMENC_ICCID_MIN, SIMENC_ICCID_MAX))
        return sm_errf(err, SM_EINVAL, "ICCID must be %d to %d digits", SIMENC_ICCID_MIN, SIMENC_ICCID_MAX);
    return SM_OK;
}

/* Packs digits (F padded to 2*n nibbles) high nibble first, optionally swapping each byte. */
static void pack(const char *d, uint8_t *out, size_t n, bool swap)
{
    size_t len = strlen(d);
    for (size_t i = 0; i < n; i++) {
        uint8_t hi = 2 * i < len ? (uint8_t)(d[2 * i] - '0') : 0xF;
        uint8_t lo = 2 * i + 1 < len ? (uint8_t)(d[2 * i + 1] - '0') : 0xF;
        out[i] = swap ? (uint8_t)(lo << 4 | hi) : (uint8_t)(hi << 4 | lo);
    }
}

/* Unpacks nibbles (in write order) into digits: digits first, then only F. */
static sm_rc unpack(const uint8_t *in, size_t n, bool swap, char *out, size_t cap, const char *what, sm_err *err)
{
    size_t o = 0;
    bool pad = false;
    for (size_t i = 0; i < 2 * n; i++) {
        uint8_t b = in[i / 2];
        uint8_t nib = (i % 2 == 0) != swap ? (uint8_t)(b >> 4) : (uint8_t)(b & 0xF);
        if (nib == 0xF) {
            pad = true;
            continue;
        }
        if (nib > 9 || pad)
            return sm_errf(err, SM_EPARSE, "%s: not BCD digits followed by F padding (byte %zu)", what, i / 2);
        if (o + 1 >= cap)
            return sm_errf(err, SM_EPARSE, "%s: too many digits", what);
        out[o++] = (char)('0' + nib);
    }
    out[o] = 0;
    return SM_OK;
}

sm_rc simenc_iccid_header(const char *iccid, uint8_t out[10], sm_err *err)
{
    sm_rc rc = iccid_check(iccid, err);
    if (rc == SM_OK)
        pack(iccid, out, 10, false);
    return rc;
}

sm_rc simenc_iccid_ef(const char *iccid, uint8_t out[10], sm_err *err)
{
    sm_rc rc = iccid_check(iccid, err);
    if (rc == SM_OK)
        pack(iccid, out, 10, true);
    return rc;
}

sm_rc simenc_iccid_header_dec(const uint8_t in[10], char out[21], sm_err *err)
{
    return unpack(in, 10, false, out, 21, "ICCID (header)", err);
}

sm_rc simenc_iccid_ef_dec(const uint8_t in[10], char out[21], sm_err *err)
{
    return unpack(in, 10, true, out, 21, "EF.ICCID", err);
}

sm_rc simenc_imsi_ef(const char *imsi, uint8_t out[9], sm_err *err)
{
    if (!simenc_digits(imsi, SIMENC_IMSI_MIN, SIMENC_IMSI_MAX))
        return sm_errf(err, SM_EINVAL, "IMSI must be %d to %d digits", SIMENC_IMSI_MIN, SIMENC_IMSI_MAX);
    size_t n = strlen(imsi);
    memset(out, 0xFF, 9);
    out[0] = (uint8_t)((n + 2) / 2); /* parity nibble + digits, in bytes */
    /* nibble stream: parity/type, d1, d2, ... written low nibble first */
    uint8_t nib[16];
    nib[0] = n % 2 ? 0x9 : 0x1;
    for (size_t i = 0; i < n; i++)
        nib[i + 1] = (uint8_t)(imsi[i] - '0');
    for (size_t i = 0; i < n + 1; i++) {
        uint8_t *b = &out[1 + i / 2];
        if (i % 2 == 0)
            *b = (uint8_t)((*b & 0xF0) | nib[i]);
        else
            *b = (uint8_t)((*b & 0x0F) | nib[i] << 4);
    }
    return SM_OK;
}

sm_rc simenc_imsi_ef_dec(const uint8_t *in, size_t len, char out[16], sm_err *err)
{
    if (len != 9)
        return sm_errf(err, SM_EPARSE, "EF.IMSI: %zu bytes, expected 9", len);
    unsigned l = in[0];
    if (l < 4 || l > 8)
        return sm_errf(err, SM_EPARSE, "EF.IMSI: length byte %u outside 4..8", l);
    uint8_t type = in[1] & 0x0F;
    if (type != 0x9 && type != 0x1)
        return sm_errf(err, SM_EPARSE, "EF.IMSI: identity type/parity nibble %X is not 9 or 1", type);
    size_t o = 0;
    bool pad = false;
    for (size_t i = 1; i < 2 * (size_t)l; i++) {
        uint8_t b = in[1 + i / 2];
        uint8_t nib = i % 2 == 0 ? (uint8_t)(b & 0xF) : (uint8_t)(b >> 4);
        if (nib == 0xF) {
            pad = true;
            continue;
        }
        if (nib > 9 || pad)
            return sm_errf(err, SM_EPARSE, "EF.IMSI: not BCD digits followed by F padding");
        out[o++] = (char)('0' + nib);
    }
    out[o] = 0;
    for (size_t i = 1 + l; i < 9; i++)
        if (in[i] != 0xFF)
            return sm_errf(err, SM_EPARSE, "EF.IMSI: bytes after the IMSI are not FF");
    if ((o % 2 == 1) != (type == 0x9) || o < SIMENC_IMSI_MIN)
        return sm_errf(err, SM_EPARSE, "EF.IMSI: parity nibble does not match %zu digits", o);
    return SM_OK;
}

sm_rc simenc_code(const char *digits, size_t min, size_t max, uint8_t out[8], sm_err *err)
{
    if (max > 8 || !simenc_digits(digits, min, max))
        return sm_errf(err, SM_EINVAL, "code must be %zu to %zu digits", min, max);
    memset(out, 0xFF, 8);
    memcpy(out, digits, strlen(digits));
    return SM_OK;
}

sm_rc simenc_msisdn_record(const char *msisdn, size_t reclen, uint8_t *out, sm_err *err)
{
    if (!simenc_digits(msisdn, 1, SIMENC_MSISDN_MAX))
        return sm_errf(err, SM_EINVAL, "MSISDN must be 1 to %d digits (E.164 without '+')", SIMENC_MSISDN_MAX);
    if (reclen < SIMENC_MSISDN_FIXED || reclen > 255)
        return sm_errf(err, SM_EINVAL, "EF.MSISDN record length %zu outside 14..255", reclen);
    memset(out, 0xFF, reclen);
    uint8_t *f = out + (reclen - SIMENC_MSISDN_FIXED);
    size_t n = strlen(msisdn);
    f[0] = (uint8_t)(1 + (n + 1) / 2); /* TON/NPI byte + BCD bytes */
    f[1] = 0x91;
    pack(msisdn, f + 2, 10, true);
    return SM_OK;
}

sm_rc simenc_msisdn_record_dec(const uint8_t *rec, size_t reclen, char out[21], sm_err *err)
{
    out[0] = 0;
    if (reclen < SIMENC_MSISDN_FIXED)
        return sm_errf(err, SM_EPARSE, "EF.MSISDN record of %zu bytes is shorter than 14", reclen);
    const uint8_t *f = rec + (reclen - SIMENC_MSISDN_FIXED);
    if (f[0] == 0xFF)
        return SM_OK;
    if (f[0] < 2 || f[0] > 11)
        return sm_errf(err, SM_EPARSE, "EF.MSISDN: BCD length %u outside 2..11", f[0]);
    uint8_t tmp[10];
    memset(tmp, 0xFF, sizeof tmp);
    memcpy(tmp, f + 2, (size_t)f[0] - 1);
    return unpack(tmp, 10, true, out, 21, "EF.MSISDN", err);
}
