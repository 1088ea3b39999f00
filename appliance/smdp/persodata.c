/* Personalisation data: ICCID/IMSI ranges, Ki, OPc, OP. */
#include "appliance/smdp/persodata.h"

#include <string.h>

#include "appliance/smdp/simenc.h"

/* Adds index to the decimal digits d[0..n) in place; false when the result needs more digits. */
static bool add_decimal(char *d, size_t n, uint64_t index)
{
    uint64_t carry = index;
    for (size_t i = n; i-- > 0 && carry;) {
        uint64_t v = (uint64_t)(d[i] - '0') + carry % 10;
        carry /= 10;
        if (v >= 10) {
            v -= 10;
            carry++;
        }
        d[i] = (char)('0' + v);
    }
    return carry == 0;
}

sm_rc smdp_iccid_at(const char *first, uint64_t index, char out[21], sm_err *err)
{
    if (!simenc_digits(first, SIMENC_ICCID_MIN, SIMENC_ICCID_MAX))
        return sm_errf(err, SM_EINVAL, "ICCID range: first ICCID must be %d to %d digits", SIMENC_ICCID_MIN,
                       SIMENC_ICCID_MAX);
    if (!simenc_luhn_ok(first))
        return sm_errf(err, SM_EINVAL, "ICCID range: first ICCID %s has a wrong check digit (expected %d)", first,
                       simenc_luhn_digit(first, strlen(first) - 1));
    size_t n = strlen(first) - 1;
    memcpy(out, first, n);
    if (!add_decimal(out, n, index))
        return sm_errf(err, SM_ELIMIT, "ICCID range from %s has no entry %llu (more than %zu digits)", first,
                       (unsigned long long)index, n);
    out[n] = (char)('0' + simenc_luhn_digit(out, n));
    out[n + 1] = 0;
    return SM_OK;
}

sm_rc smdp_imsi_at(const char *first, unsigned mnc_digits, uint64_t index, char out[16], sm_err *err)
{
    if (mnc_digits != 2 && mnc_digits != 3)
        return sm_errf(err, SM_EINVAL, "IMSI range: MNC has %u digits (2 or 3)", mnc_digits);
    if (!simenc_digits(first, 3 + mnc_digits + 1, SIMENC_IMSI_MAX))
        return sm_errf(err, SM_EINVAL, "IMSI range: first IMSI must be MCC, MNC and MSIN, at most %d digits",
                       SIMENC_IMSI_MAX);
    size_t n = strlen(first), pre = 3 + mnc_digits;
    memcpy(out, first, n + 1);
    if (!add_decimal(out + pre, n - pre, index))
        return sm_errf(err, SM_ELIMIT, "IMSI range from %s has no entry %llu (MSIN of %zu digits)", first,
                       (unsigned long long)index, n - pre);
    return SM_OK;
}

sm_rc smdp_ki_generate(hsm_sess *s, uint8_t *ki, size_t len, sm_err *err)
{
    sm_rc rc = hsm_random(s, ki, len, err);
    if (rc != SM_OK)
        sm_err_prefix(err, "generating Ki");
    return rc;
}

sm_rc smdp_opc(hsm_sess *s, const uint8_t ki[16], const uint8_t op[16], uint8_t opc[16], sm_err *err)
{
    static const hsm_keyspec spec = {.type = HSM_KT_AES, .len = 16, .usage = HSM_U_ENCRYPT, .token = false};
    hsm_key k;
    sm_rc rc = hsm_secret_import(s, &spec, ki, 16, &k, err);
    if (rc != SM_OK) {
        sm_err_prefix(err, "computing OPc: importing Ki as a session key");
        return rc;
    }
    rc = hsm_aes_ecb_encrypt(s, &k, op, 16, opc, err);
    sm_err derr = {0};
    sm_rc drc = hsm_key_destroy(s, &k, &derr);
    if (rc != SM_OK) {
        sm_err_prefix(err, "computing OPc");
        explicit_bzero(opc, 16);
        return rc;
    }
    for (int i = 0; i < 16; i++)
        opc[i] ^= op[i];
    if (drc != SM_OK) {
        explicit_bzero(opc, 16);
        return sm_errf(err, drc, "computing OPc: destroying the Ki session key: %s", derr.msg);
    }
    return SM_OK;
}

sm_rc smdp_op_decrypt(hsm_sess *s, const hsm_key *tk, const uint8_t op_enc[16], uint8_t op[16], sm_err *err)
{
    sm_rc rc = hsm_aes_ecb_decrypt(s, tk, op_enc, 16, op, err);
    if (rc != SM_OK)
        sm_err_prefix(err, "decrypting OP with the MNO transport key");
    return rc;
}
