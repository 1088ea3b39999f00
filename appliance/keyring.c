/* The appliance key hierarchy: definitions, ceremony, lookup. */
#include "appliance/keyring.h"

#include <stdio.h>
#include <string.h>

#include <openssl/sha.h>

#include "lib/hex.h"

#define EC_SIGN(w, suf, why) \
    {w, suf, why, {.type = HSM_KT_EC_PRIV, .curve = HSM_CURVE_P256, .usage = HSM_U_SIGN, .token = true}}

const sm_keyring_def sm_keyring_defs[AK_COUNT] = {
    EC_SIGN(AK_SMDP_SIGN, "smdp-sign", "SM-DP ECDSA signing key (SK.DP.ECDSA)"),
    EC_SIGN(AK_SMSR_SIGN, "smsr-sign", "SM-SR ECDSA signing key (SK.SR.ECDSA)"),
    {AK_KEK, "kek", "key-encryption key for per-eUICC keys in the database (AES-256 key wrap)",
     {.type = HSM_KT_AES, .len = 32, .usage = HSM_U_WRAP | HSM_U_UNWRAP, .token = true, .trusted = false}},
    {AK_PROFILE, "profile", "profile-protection key for personalised profiles at rest (AES-256-GCM)",
     {.type = HSM_KT_AES, .len = 32, .usage = HSM_U_ENCRYPT | HSM_U_DECRYPT, .token = true}},
    EC_SIGN(AK_AUDIT, "audit", "audit-trail checkpoint signing key (ECDSA P-256)"),
    EC_SIGN(AK_TLS, "tls-es", "TLS key of the ES interfaces (ECDSA P-256)"),
};

void sm_keyring_label(const char *prefix, sm_akey which, char *out, size_t cap)
{
    snprintf(out, cap, "%s-%s", prefix && *prefix ? prefix : "smbox", sm_keyring_defs[which].suffix);
}

/* CKA_ID: the first 8 bytes of SHA-256(label), shared by both halves of a pair. */
static void key_id(const char *label, uint8_t id[8])
{
    uint8_t d[32];
    SHA256((const uint8_t *)label, strlen(label), d);
    memcpy(id, d, 8);
}

sm_rc sm_keyring_ceremony(hsm_sess *s, const char *prefix, sm_ceremony_cb cb, void *arg, sm_err *err)
{
    for (int i = 0; i < AK_COUNT; i++) {
        const sm_keyring_def *d = &sm_keyring_defs[i];
        char label[HSM_LABEL_MAX + 1];
        sm_keyring_label(prefix, d->which, label, sizeof label);
        uint8_t id[8];
        key_id(label, id);
        hsm_keyspec sp = d->spec;
        sp.label = label;
        sp.id = id;
        sp.idlen = sizeof id;
        hsm_keytype kt = sp.type;
        hsm_key k, pub;
        sm_err ferr = {0};
        sm_rc rc = hsm_key_find(s, label, kt, &k, &ferr);
        sm_ceremony_step st = {.which = d->which, .label = label, .created = false};
        if (rc == SM_ENOTFOUND) {
            if (kt == HSM_KT_EC_PRIV)
                rc = hsm_ec_generate(s, &sp, &k, &pub, err);
            else
                rc = hsm_key_generate(s, &sp, &k, err);
            if (rc != SM_OK) {
                sm_err_prefix(err, "creating %s", label);
                return rc;
            }
            st.created = true;
        } else if (rc != SM_OK) {
            *err = ferr;
            sm_err_prefix(err, "checking %s", label);
            return rc;
        }
        sm_hex_encode(id, sizeof id, st.id_hex);
        if (kt == HSM_KT_EC_PRIV) {
            uint8_t pt[HSM_EC_POINT_MAX];
            size_t pl = 0;
            hsm_key found;
            rc = hsm_key_find(s, label, HSM_KT_EC_PRIV, &found, err);
            if (rc == SM_OK)
                rc = hsm_ec_public(s, &found, pt, sizeof pt, &pl, NULL, err);
            if (rc != SM_OK) {
                sm_err_prefix(err, "reading the public key of %s", label);
                return rc;
            }
            sm_hex_encode(pt, pl, st.pub_hex);
        }
        if (cb)
            cb(&st, arg);
    }
    return SM_OK;
}

sm_rc sm_keyring_load(hsm_sess *s, const char *prefix, sm_keyring *out, sm_err *err)
{
    memset(out, 0, sizeof *out);
    for (int i = 0; i < AK_COUNT; i++) {
        const sm_keyring_def *d = &sm_keyring_defs[i];
        sm_keyring_label(prefix, d->which, out->label[i], sizeof out->label[i]);
        sm_rc rc = hsm_key_find(s, out->label[i], d->spec.type, &out->key[i], err);
        if (rc == SM_OK && d->spec.type == HSM_KT_EC_PRIV)
            rc = hsm_key_find(s, out->label[i], HSM_KT_EC_PUB, &out->pub[i], err);
        if (rc != SM_OK) {
            sm_err_prefix(err, "appliance key %s (%s) missing or unusable; run `smctl hsm init`", out->label[i],
                          d->purpose);
            return rc;
        }
    }
    return hsm_kek_check(s, &out->key[AK_KEK], &out->kek_trusted, err);
}
