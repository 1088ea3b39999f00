/* ECKA-EG key establishment (GP Amd E Scenario #3), off-card side, all key work in the HSM. */
#include "crypto/ecka.h"

#include <string.h>

#include "crypto/ecpub.h"
#include "crypto/pad.h"
#include "crypto/scp03.h"
#include "crypto/tlv.h"

static void params_common(ecka_params *p)
{
    memset(p, 0, sizeof *p);
    p->scenario = ECKA_SC_REPLACE | ECKA_SC_CERTVER;
    p->key_usage = ECKA_KU_KEYSET;
    p->key_access = -1;
    p->key_type = ECKA_KT_AES;
    p->key_len = 16;
    p->key_id = 0x01;
    p->nkeys = 3;
}

void ecka_params_isdp(uint8_t kvn, ecka_params *p)
{
    params_common(p);
    p->kind = ECKA_ISDP_SCP03;
    p->kvn = kvn;
}

void ecka_params_isdr_scp80(uint8_t kvn, uint64_t cntr, ecka_params *p)
{
    params_common(p);
    p->kind = ECKA_ISDR_SCP80;
    p->kvn = kvn;
    p->key_access = 0x00;
    p->seq_len = 5;
    for (int i = 0; i < 5; i++)
        p->seq[i] = (uint8_t)(cntr >> (8 * (4 - i)));
}

void ecka_params_isdr_scp81(uint8_t kvn, ecka_params *p)
{
    params_common(p);
    p->kind = ECKA_ISDR_SCP81;
    p->kvn = kvn;
    p->key_usage = ECKA_KU_SINGLE;
    p->key_access = 0x00;
    p->nkeys = 1;
}

static sm_rc check_params(const ecka_params *p, sm_err *err)
{
    if (p->kind < ECKA_ISDP_SCP03 || p->kind > ECKA_ISDR_SCP81)
        return sm_errf(err, SM_EINVAL, "ecka: unknown key set kind %d", (int)p->kind);
    if (p->key_len != 16 && p->key_len != 24 && p->key_len != 32)
        return sm_errf(err, SM_EINVAL, "ecka: key length %u (16, 24 or 32)", p->key_len);
    unsigned want = p->kind == ECKA_ISDR_SCP81 ? 1 : 3;
    if (p->nkeys != want)
        return sm_errf(err, SM_EINVAL, "ecka: %u keys for this key set (expected %u)", p->nkeys, want);
    if ((p->key_usage == ECKA_KU_SINGLE) != (p->nkeys == 1))
        return sm_errf(err, SM_EINVAL, "ecka: key usage qualifier %02X does not fit %u keys", p->key_usage, p->nkeys);
    if (p->seq_len != 0 && p->seq_len != 2 && p->seq_len != 3 && p->seq_len != 5 && p->seq_len != 8)
        return sm_errf(err, SM_EINVAL, "ecka: initial sequence counter of %zu bytes", p->seq_len);
    switch (p->kind) {
    case ECKA_ISDP_SCP03:
        if (p->kvn < 0x30 || p->kvn > 0x3F)
            return sm_errf(err, SM_EINVAL, "ecka: SCP03 key version %02X outside 30..3F", p->kvn);
        break;
    case ECKA_ISDR_SCP80:
        if (p->kvn < 0x01 || p->kvn > 0x0F)
            return sm_errf(err, SM_EINVAL, "ecka: SCP80 key version %02X outside 01..0F", p->kvn);
        break;
    case ECKA_ISDR_SCP81:
        if (p->kvn < 0x40 || p->kvn > 0x4F)
            return sm_errf(err, SM_EINVAL, "ecka: SCP81 key version %02X outside 40..4F", p->kvn);
        break;
    }
    if (p->scenario & ECKA_SC_HOSTID) {
        if (!p->host_id_len || p->host_id_len > 32 || p->sin_len > 16 || p->sdin_len > 16)
            return sm_errf(err, SM_EINVAL, "ecka: HostID (1..32), SIN and SDIN (<= 16) required with scenario bit 04");
    } else if (p->host_id_len || p->sdin_len) {
        return sm_errf(err, SM_EINVAL, "ecka: HostID/SDIN given without scenario bit 04");
    }
    return SM_OK;
}

sm_rc ecka_begin(const ecka_params *p, const gpcert *ecasd, ecka_session *es, sm_err *err)
{
    memset(es, 0, sizeof *es);
    sm_rc rc = check_params(p, err);
    if (rc != SM_OK)
        return rc;
    if (ecasd->pubkey_len != 65)
        return sm_errf(err, SM_EINVAL, "ecka: the ECASD certificate has no 65-byte public key");
    rc = ecpub_check_point(ecasd->curve, ecasd->pubkey, ecasd->pubkey_len, err);
    if (rc != SM_OK) {
        sm_err_prefix(err, "ecka: PK.ECASD.ECKA");
        return rc;
    }
    es->p = *p;
    es->curve = ecasd->curve;
    memcpy(es->ecasd_pub, ecasd->pubkey, 65);
    return SM_OK;
}

sm_rc ecka_dgi_3a01(const uint8_t *own_cert, size_t len, sm_buf *out, sm_err *err)
{
    tlv t;
    sm_rc rc = tlv_parse_one(own_cert, len, 0, &t, err);
    if (rc != SM_OK || t.tag != 0x7F21)
        return sm_errf(err, SM_EINVAL, "ecka: the certificate for DGI 3A01 is not one 7F21 TLV");
    if (tlv_put_dgi(out, 0x3A01, own_cert, len))
        return sm_errf(err, SM_ENOMEM, "ecka: out of memory");
    return SM_OK;
}

sm_rc ecka_parse_3a01_response(ecka_session *es, const uint8_t *data, size_t len, sm_err *err)
{
    if (es->state != 0)
        return sm_errf(err, SM_ESTATE, "ecka: RC already received");
    tlv t;
    sm_rc rc = tlv_parse_one(data, len, TLV_F_MINLEN, &t, err);
    if (rc != SM_OK) {
        sm_err_prefix(err, "ecka: answer to STORE DATA 3A01");
        return sm_errf(err, SM_EPROTO, "ecka: malformed answer to STORE DATA 3A01");
    }
    if (t.tag != 0x85 || (t.len != 16 && t.len != 32))
        return sm_errf(err, SM_EPROTO, "ecka: answer to STORE DATA 3A01 is not 85 with a 16- or 32-byte RC");
    memcpy(es->rc, t.val, t.len);
    es->rc_len = t.len;
    es->state = 1;
    return SM_OK;
}

static int build_crt(const ecka_params *p, sm_buf *b)
{
    size_t m = tlv_open(b, 0xA6);
    uint8_t sc[2] = {0x03, p->scenario};
    int bad = tlv_put(b, 0x90, sc, 2) || tlv_put_u8(b, 0x95, p->key_usage);
    if (!bad && p->key_access >= 0)
        bad = tlv_put_u8(b, 0x96, (uint8_t)p->key_access);
    bad = bad || tlv_put_u8(b, 0x80, p->key_type) || tlv_put_u8(b, 0x81, p->key_len) ||
          tlv_put_u8(b, 0x82, p->key_id) || tlv_put_u8(b, 0x83, p->kvn) || tlv_put(b, 0x91, p->seq, p->seq_len);
    if (!bad && (p->scenario & ECKA_SC_HOSTID)) {
        if (p->sdin_len)
            bad = tlv_put(b, 0x45, p->sdin, p->sdin_len);
        bad = bad || tlv_put(b, 0x84, p->host_id, p->host_id_len);
    }
    return bad || tlv_close(b, m);
}

sm_rc ecka_dgi_3a02(hsm_sess *s, ecka_session *es, const hsm_key *sk, sm_buf *out, sm_err *err)
{
    if (es->state != 1)
        return sm_errf(err, SM_ESTATE, "ecka: 3A02 needs the card's RC first (and is built once)");
    hsm_keyspec esp = {.type = HSM_KT_EC_PRIV, .curve = es->curve, .usage = HSM_U_DERIVE};
    hsm_key epub;
    sm_rc rc = hsm_ec_generate(s, &esp, &es->esk, &epub, err);
    if (rc != SM_OK) {
        sm_err_prefix(err, "ecka: generating the ephemeral key pair");
        return rc;
    }
    es->has_esk = true;
    size_t pl = 0;
    rc = hsm_ec_public(s, &epub, es->epk, sizeof es->epk, &pl, NULL, err);
    hsm_key_destroy(s, &epub, NULL);
    if (rc == SM_OK && pl != 65)
        rc = sm_errf(err, SM_EHSM, "ecka: ephemeral public key of %zu bytes", pl);
    sm_buf crt, signed_data, tail;
    sm_buf_init(&crt);
    sm_buf_init(&signed_data);
    sm_buf_init(&tail);
    if (rc == SM_OK && build_crt(&es->p, &crt))
        rc = sm_errf(err, SM_ENOMEM, "ecka: out of memory");
    if (rc == SM_OK && crt.len > sizeof es->crt)
        rc = sm_errf(err, SM_EINVAL, "ecka: control reference template too long");
    if (rc == SM_OK) {
        memcpy(es->crt, crt.data, crt.len);
        es->crt_len = crt.len;
        /* DGI 3A02 {A6} || 7F49 {B0 ePK, F0 curve} */
        size_t m;
        uint8_t rc_hdr[3] = {0x00, 0x85, (uint8_t)es->rc_len};
        if (tlv_put_dgi(&tail, 0x3A02, crt.data, crt.len) || (m = tlv_open(&tail, 0x7F49)) == (size_t)-1 ||
            tlv_put(&tail, 0xB0, es->epk, 65) || tlv_put_u8(&tail, 0xF0, gpcert_curve_ref(es->curve)) ||
            tlv_close(&tail, m) || sm_buf_append(&signed_data, tail.data, tail.len) ||
            sm_buf_append(&signed_data, rc_hdr, 3) || sm_buf_append(&signed_data, es->rc, es->rc_len))
            rc = sm_errf(err, SM_ENOMEM, "ecka: out of memory");
    }
    uint8_t sig[72];
    size_t sl = 0;
    if (rc == SM_OK) {
        rc = hsm_ecdsa_sign_msg(s, sk, signed_data.data, signed_data.len, sig, sizeof sig, &sl, err);
        if (rc != SM_OK)
            sm_err_prefix(err, "ecka: signing the key establishment data with the static key");
        else if (sl != 64)
            rc = sm_errf(err, SM_EINVAL, "ecka: the static key gives %zu-byte signatures, not 64", sl);
    }
    if (rc == SM_OK && (sm_buf_append(out, tail.data, tail.len) || tlv_put(out, 0x5F37, sig, 64)))
        rc = sm_errf(err, SM_ENOMEM, "ecka: out of memory");
    sm_buf_free(&crt);
    sm_buf_free(&signed_data);
    sm_buf_free(&tail);
    if (rc != SM_OK) {
        ecka_abort(s, es);
        return rc;
    }
    es->state = 2;
    return SM_OK;
}

sm_rc ecka_shared_info(const ecka_params *p, const uint8_t *dr, size_t dr_len, uint8_t *out, size_t cap,
                       size_t *outlen, sm_err *err)
{
    size_t need = 3 + dr_len + ((p->scenario & ECKA_SC_HOSTID) ? 3 + p->host_id_len + p->sin_len + p->sdin_len : 0);
    if (need > cap)
        return sm_errf(err, SM_EINVAL, "ecka: SharedInfo of %zu bytes does not fit", need);
    size_t n = 0;
    out[n++] = p->key_usage;
    out[n++] = p->key_type;
    out[n++] = p->key_len;
    if (dr_len) {
        memcpy(out + n, dr, dr_len);
        n += dr_len;
    }
    if (p->scenario & ECKA_SC_HOSTID) {
        out[n++] = (uint8_t)p->host_id_len;
        memcpy(out + n, p->host_id, p->host_id_len);
        n += p->host_id_len;
        out[n++] = (uint8_t)p->sin_len;
        if (p->sin_len)
            memcpy(out + n, p->sin, p->sin_len);
        n += p->sin_len;
        out[n++] = (uint8_t)p->sdin_len;
        if (p->sdin_len)
            memcpy(out + n, p->sdin, p->sdin_len);
        n += p->sdin_len;
    }
    *outlen = n;
    return SM_OK;
}

/* Usages of the established keys: everything gets ENCRYPT for its KCV. */
static void key_specs(const ecka_params *p, hsm_keyspec *specs)
{
    memset(specs, 0, sizeof(hsm_keyspec) * (1 + ECKA_MAX_KEYS));
    specs[0] = (hsm_keyspec){.type = HSM_KT_AES, .len = 16, .usage = HSM_U_SIGN}; /* receipt key */
    for (unsigned i = 1; i <= p->nkeys; i++) {
        hsm_keyspec *k = &specs[i];
        k->type = HSM_KT_AES;
        k->len = p->key_len;
        k->wrappable = true;
        switch (p->kind) {
        case ECKA_ISDP_SCP03:
            k->usage = i < 3 ? HSM_U_ENCRYPT | HSM_U_SIGN | HSM_U_DERIVE : HSM_U_ENCRYPT | HSM_U_DECRYPT;
            break;
        case ECKA_ISDR_SCP80:
            k->usage = i == 2 ? HSM_U_ENCRYPT | HSM_U_SIGN | HSM_U_VERIFY : HSM_U_ENCRYPT | HSM_U_DECRYPT;
            break;
        case ECKA_ISDR_SCP81:
            k->usage = HSM_U_ENCRYPT;
            break;
        }
    }
}

sm_rc ecka_finish(hsm_sess *s, ecka_session *es, const uint8_t *data, size_t len, const hsm_key *kek,
                  ecka_result *out, sm_err *err)
{
    memset(out, 0, sizeof *out);
    if (es->state != 2) {
        ecka_abort(s, es);
        return sm_errf(err, SM_ESTATE, "ecka: the card's receipt arrived before 3A02 was built");
    }
    /* [85 L DR] 86 10 receipt */
    tlv_rd r;
    tlv_rd_init(&r, data, len, TLV_F_MINLEN);
    tlv dr, rcpt;
    bool has_dr = false;
    sm_rc rc = tlv_optional(&r, 0x85, &dr, &has_dr, err);
    if (rc == SM_OK)
        rc = tlv_expect(&r, 0x86, &rcpt, "receipt", err);
    if (rc == SM_OK)
        rc = tlv_rd_end(&r, "the answer to STORE DATA 3A02", err);
    if (rc == SM_OK && rcpt.len != 16)
        rc = sm_errf(err, SM_EPROTO, "ecka: receipt of %zu bytes, not 16", rcpt.len);
    bool want_dr = (es->p.scenario & ECKA_SC_DR) != 0;
    if (rc == SM_OK && has_dr != want_dr)
        rc = sm_errf(err, SM_EPROTO, "ecka: the card %s a Derivation Random but scenario %02X %s one",
                     has_dr ? "sent" : "did not send", es->p.scenario, want_dr ? "requires" : "excludes");
    if (rc == SM_OK && has_dr && dr.len != 16)
        rc = sm_errf(err, SM_EPROTO, "ecka: Derivation Random of %zu bytes (16 expected for 256-bit curves)", dr.len);
    if (rc != SM_OK) {
        sm_err_prefix(err, "ecka: answer to STORE DATA 3A02");
        ecka_abort(s, es);
        if (rc == SM_EPARSE)
            rc = SM_EPROTO;
        return rc;
    }
    uint8_t si[128];
    size_t sil = 0;
    rc = ecka_shared_info(&es->p, has_dr ? dr.val : NULL, has_dr ? dr.len : 0, si, sizeof si, &sil, err);
    hsm_keyspec specs[1 + ECKA_MAX_KEYS];
    key_specs(&es->p, specs);
    hsm_key keys[1 + ECKA_MAX_KEYS];
    unsigned nk = 1 + es->p.nkeys;
    if (rc == SM_OK)
        rc = hsm_ecdh_x963(s, &es->esk, es->ecasd_pub, 65, si, sil, specs, nk, keys, err);
    ecka_abort(s, es); /* eSK.ECKA is erased whatever happens next */
    if (rc != SM_OK) {
        sm_err_prefix(err, "ecka: ECDH and key derivation");
        return rc;
    }
    /* receipt = CMAC(receipt key, A6 CRT || [85 L DR]) */
    uint8_t m[sizeof es->crt + 2 + 32], mac[16];
    size_t ml = es->crt_len;
    memcpy(m, es->crt, es->crt_len);
    if (has_dr) {
        memcpy(m + ml, dr.raw, dr.rawlen);
        ml += dr.rawlen;
    }
    rc = hsm_aes_cmac(s, &keys[0], m, ml, mac, err);
    hsm_key_destroy(s, &keys[0], NULL);
    if (rc == SM_OK && !ct_equal(mac, rcpt.val, 16))
        rc = sm_errf(err, SM_EVERIFY, "ecka: the card's receipt does not verify (key establishment failed)");
    for (unsigned i = 1; rc == SM_OK && i < nk; i++) {
        rc = scp03_kcv(s, &keys[i], out->kcv[i - 1], err);
        if (rc == SM_OK && kek)
            rc = hsm_wrap(s, kek, &keys[i], out->wrapped[i - 1], sizeof out->wrapped[i - 1], &out->wrapped_len[i - 1],
                          err);
        if (rc != SM_OK)
            sm_err_prefix(err, "ecka: key %u", i);
    }
    if (rc != SM_OK) {
        for (unsigned i = 1; i < nk; i++)
            hsm_key_destroy(s, &keys[i], NULL);
        memset(out, 0, sizeof *out);
        return rc;
    }
    out->nkeys = es->p.nkeys;
    out->kvn = es->p.kvn;
    for (unsigned i = 0; i < es->p.nkeys; i++) {
        out->keys[i] = keys[i + 1];
        out->key_id[i] = (uint8_t)(es->p.key_id + i);
    }
    if (has_dr) {
        out->has_dr = true;
        memcpy(out->dr, dr.val, dr.len);
        out->dr_len = dr.len;
    }
    es->state = 3;
    return SM_OK;
}

void ecka_abort(hsm_sess *s, ecka_session *es)
{
    if (es->has_esk) {
        hsm_key_destroy(s, &es->esk, NULL);
        es->has_esk = false;
    }
}

void ecka_result_release(hsm_sess *s, ecka_result *r)
{
    for (unsigned i = 0; i < r->nkeys && i < ECKA_MAX_KEYS; i++)
        hsm_key_destroy(s, &r->keys[i], NULL);
    memset(r, 0, sizeof *r);
}

static int put_capdu(sm_buf *out, const uint8_t *hdr, const uint8_t *data, size_t len)
{
    size_t m = tlv_open(out, 0x22);
    return m == (size_t)-1 || sm_buf_append(out, hdr, 4) || sm_buf_append_byte(out, (uint8_t)len) ||
           (len && sm_buf_append(out, data, len)) || tlv_close(out, m);
}

sm_rc ecka_install_perso(const uint8_t *aid, size_t aidlen, sm_buf *out, sm_err *err)
{
    if (aidlen < 5 || aidlen > 16)
        return sm_errf(err, SM_EINVAL, "ecka: AID of %zu bytes (5..16)", aidlen);
    uint8_t hdr[4] = {0x80, 0xE6, 0x20, 0x00}, d[3 + 16 + 3] = {0x00, 0x00, (uint8_t)aidlen};
    memcpy(d + 3, aid, aidlen);
    memset(d + 3 + aidlen, 0, 3);
    if (put_capdu(out, hdr, d, 6 + aidlen))
        return sm_errf(err, SM_ENOMEM, "ecka: out of memory");
    return SM_OK;
}

sm_rc ecka_store_data(const uint8_t *data, size_t len, bool last, unsigned *block, sm_buf *out, sm_err *err)
{
    if (len == 0)
        return sm_errf(err, SM_EINVAL, "ecka: empty STORE DATA");
    for (size_t off = 0; off < len; off += 255) {
        size_t n = len - off < 255 ? len - off : 255;
        if (*block > 0xFF)
            return sm_errf(err, SM_ELIMIT, "ecka: more than 256 STORE DATA blocks");
        bool final = last && off + n == len;
        uint8_t hdr[4] = {0x80, 0xE2, (uint8_t)(0x09 | (final ? 0x80 : 0x00)), (uint8_t)*block};
        if (put_capdu(out, hdr, data + off, n))
            return sm_errf(err, SM_ENOMEM, "ecka: out of memory");
        (*block)++;
    }
    return SM_OK;
}
