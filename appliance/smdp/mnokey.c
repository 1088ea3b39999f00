/* MNO transport keys into the HSM. */
#include "appliance/smdp/mnokey.h"

#include <string.h>

#include "appliance/smdp/order.h"
#include "crypto/scp03.h"
#include "lib/log.h"

static int hexval(char ch)
{
    if (ch >= '0' && ch <= '9')
        return ch - '0';
    if (ch >= 'a' && ch <= 'f')
        return ch - 'a' + 10;
    if (ch >= 'A' && ch <= 'F')
        return ch - 'A' + 10;
    return -1;
}

sm_rc smdp_mnokey_parse(const char *text, size_t len, uint8_t key[32], size_t *keylen, sm_err *err)
{
    size_t nd = 0;
    bool comment = false, bol = true;
    int hi = -1;
    for (size_t i = 0; i < len; i++) {
        char ch = text[i];
        if (ch == '\n') {
            comment = false;
            bol = true;
            continue;
        }
        if (comment)
            continue;
        if (bol && ch == '#') {
            comment = true;
            continue;
        }
        bol = false;
        if (ch == ' ' || ch == '\t' || ch == '\r')
            continue;
        int v = hexval(ch);
        if (v < 0) {
            explicit_bzero(key, 32);
            return sm_errf(err, SM_EPARSE, "transport key file: a character other than hex digits at byte %zu", i);
        }
        if (nd >= 64) {
            explicit_bzero(key, 32);
            return sm_errf(err, SM_EPARSE, "transport key file: more than 64 hex digits");
        }
        if (hi < 0) {
            hi = v;
        } else {
            key[nd / 2] = (uint8_t)(hi << 4 | v);
            hi = -1;
        }
        nd++;
    }
    if (nd != 32 && nd != 48 && nd != 64) {
        explicit_bzero(key, 32);
        return sm_errf(err, SM_EPARSE, "transport key file: %zu hex digits (an AES key is 32, 48 or 64)", nd);
    }
    *keylen = nd / 2;
    return SM_OK;
}

sm_rc smdp_mnokey_import(hsm_sess *s, const char *prefix, const char *mno, const uint8_t *key, size_t keylen,
                         char label[HSM_LABEL_MAX + 1], uint8_t kcv[3], sm_err *err)
{
    sm_rc rc = smdp_transport_label(prefix, mno, label, HSM_LABEL_MAX + 1, err);
    if (rc != SM_OK)
        return rc;
    if (keylen != 16 && keylen != 24 && keylen != 32)
        return sm_errf(err, SM_EINVAL, "transport key of %zu bytes (AES: 16, 24 or 32)", keylen);
    hsm_key k;
    sm_err e2 = {0};
    rc = hsm_key_find(s, label, HSM_KT_AES, &k, &e2);
    if (rc == SM_OK)
        return sm_errf(err, SM_EEXIST, "the HSM already holds %s: a transport key is never replaced by an import "
                                       "(delete it by ceremony first)", label);
    if (rc != SM_ENOTFOUND)
        return sm_errf(err, rc, "%s", e2.msg);
    hsm_keyspec sp = {.type = HSM_KT_AES, .len = (unsigned)keylen, .usage = HSM_U_ENCRYPT | HSM_U_DECRYPT | HSM_U_DERIVE,
                      .token = true, .label = label, .id = (const uint8_t *)label, .idlen = strlen(label)};
    rc = hsm_secret_import(s, &sp, key, keylen, &k, err);
    if (rc == SM_OK)
        rc = hsm_key_find(s, label, HSM_KT_AES, &k, err);
    if (rc == SM_OK)
        rc = scp03_kcv(s, &k, kcv, err);
    if (rc != SM_OK) {
        sm_err_prefix(err, "importing %s", label);
        return rc;
    }
    sm_log(SM_LOG_NOTICE, "smdp", "transport_key_imported", "label=%s bits=%zu kcv=%02x%02x%02x", label, keylen * 8,
           kcv[0], kcv[1], kcv[2]);
    return SM_OK;
}
