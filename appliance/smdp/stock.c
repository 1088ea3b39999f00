/* Sealing and unsealing of personalised packages (AES-256-GCM in the HSM). */
#include "appliance/smdp/stock.h"

#include <stdlib.h>
#include <string.h>

#include "appliance/keyring.h"
#include "appliance/smdp/simenc.h"

sm_rc smdp_stock_key(hsm_sess *s, const char *prefix, hsm_key *out, sm_err *err)
{
    char label[HSM_LABEL_MAX + 1];
    sm_keyring_label(prefix, AK_PROFILE, label, sizeof label);
    sm_rc rc = hsm_key_find(s, label, HSM_KT_AES, out, err);
    if (rc != SM_OK)
        sm_err_prefix(err, "profile-protection key %s (run `smctl hsm init`)", label);
    return rc;
}

sm_rc smdp_seal_aad(const char *iccid, const char *template_id, uint8_t *out, size_t cap, size_t *len,
                    sm_err *err)
{
    if (!simenc_digits(iccid, SIMENC_ICCID_MIN, SIMENC_ICCID_MAX))
        return sm_errf(err, SM_EINVAL, "sealing: ICCID must be %d to %d digits", SIMENC_ICCID_MIN, SIMENC_ICCID_MAX);
    size_t tl = template_id ? strlen(template_id) : 0;
    if (tl == 0 || tl > SMDP_TEMPLATE_ID_MAX)
        return sm_errf(err, SM_EINVAL, "sealing: template id must be 1 to %d characters", SMDP_TEMPLATE_ID_MAX);
    for (size_t i = 0; i < tl; i++)
        if (template_id[i] <= 0x20 || template_id[i] >= 0x7F)
            return sm_errf(err, SM_EINVAL, "sealing: template id has a character outside printable ASCII");
    size_t il = strlen(iccid);
    if (cap < il + 1 + tl)
        return sm_errf(err, SM_EINVAL, "sealing: AAD buffer too small");
    memcpy(out, iccid, il);
    out[il] = 0x00;
    memcpy(out + il + 1, template_id, tl);
    *len = il + 1 + tl;
    return SM_OK;
}

void smdp_sealed_free(smdp_sealed *s)
{
    if (!s)
        return;
    free(s->ct);
    free(s->aad);
    memset(s, 0, sizeof *s);
}

sm_rc smdp_seal(hsm_sess *s, const hsm_key *k, const char *iccid, const char *template_id, const uint8_t *pkg,
                size_t len, smdp_sealed *out, sm_err *err)
{
    memset(out, 0, sizeof *out);
    uint8_t aad[SIMENC_ICCID_MAX + 1 + SMDP_TEMPLATE_ID_MAX];
    size_t al = 0;
    sm_rc rc = smdp_seal_aad(iccid, template_id, aad, sizeof aad, &al, err);
    if (rc != SM_OK)
        return rc;
    out->aad = malloc(al);
    out->ct = malloc(len + SMDP_SEAL_TAG);
    if (!out->aad || !out->ct) {
        smdp_sealed_free(out);
        return sm_errf(err, SM_ENOMEM, "sealing profile %s: out of memory", iccid);
    }
    memcpy(out->aad, aad, al);
    out->aadlen = al;
    if ((rc = hsm_random(s, out->iv, SMDP_SEAL_IV, err)) != SM_OK ||
        (rc = hsm_aes_gcm_encrypt(s, k, out->iv, out->aad, out->aadlen, pkg, len, out->ct, len + SMDP_SEAL_TAG,
                                  &out->ctlen, err)) != SM_OK) {
        sm_err_prefix(err, "sealing profile %s", iccid);
        smdp_sealed_free(out);
        return rc;
    }
    if (out->ctlen != len + SMDP_SEAL_TAG) {
        smdp_sealed_free(out);
        return sm_errf(err, SM_EHSM, "sealing profile %s: AES-GCM returned %zu bytes for %zu", iccid, out->ctlen, len);
    }
    return SM_OK;
}

sm_rc smdp_unseal(hsm_sess *s, const hsm_key *k, const smdp_sealed *in, smdp_secbuf *out, sm_err *err)
{
    memset(out, 0, sizeof *out);
    if (in->ctlen < SMDP_SEAL_TAG + 1)
        return sm_errf(err, SM_EVERIFY, "unsealing: ciphertext of %zu bytes is shorter than its tag", in->ctlen);
    /* the module may want room for the whole input */
    sm_rc rc = smdp_secbuf_alloc(out, in->ctlen, err);
    if (rc != SM_OK)
        return rc;
    rc = hsm_aes_gcm_decrypt(s, k, in->iv, in->aad, in->aadlen, in->ct, in->ctlen, out->p, out->cap, &out->len, err);
    if (rc != SM_OK) {
        smdp_secbuf_free(out);
        sm_err_prefix(err, "unsealing a stock profile");
        return rc;
    }
    if (out->len != in->ctlen - SMDP_SEAL_TAG) {
        smdp_secbuf_free(out);
        return sm_errf(err, SM_EHSM, "unsealing: AES-GCM returned %zu bytes for %zu", out->len, in->ctlen);
    }
    return SM_OK;
}
