/* SCP03 host side: KDF (in-token where possible), cryptograms, command and response protection. */
#include "crypto/scp03.h"

#include <string.h>

#include "crypto/pad.h"
#include "lib/secmem.h"

void scp03_static_keyspec(unsigned len, bool wrappable, hsm_keyspec *out)
{
    memset(out, 0, sizeof *out);
    out->type = HSM_KT_AES;
    out->len = len;
    out->usage = HSM_U_ENCRYPT | HSM_U_SIGN | HSM_U_DERIVE;
    out->wrappable = wrappable;
}

void scp03_dek_keyspec(unsigned len, bool wrappable, hsm_keyspec *out)
{
    memset(out, 0, sizeof *out);
    out->type = HSM_KT_AES;
    out->len = len;
    out->usage = HSM_U_ENCRYPT | HSM_U_DECRYPT;
    out->wrappable = wrappable;
}

/* label(11 x 00 || constant) || 00 || L(2) || i || context */
static size_t kdf_input(uint8_t *m, uint8_t constant, unsigned bits, uint8_t i, const uint8_t *ctx, size_t ctxlen)
{
    memset(m, 0, 11);
    m[11] = constant;
    m[12] = 0x00;
    m[13] = (uint8_t)(bits >> 8);
    m[14] = (uint8_t)bits;
    m[15] = i;
    memcpy(m + 16, ctx, ctxlen);
    return 16 + ctxlen;
}

#define KDF_CTX_MAX 64

static sm_rc kdf_args(size_t ctxlen, unsigned bits, sm_err *err)
{
    if (ctxlen > KDF_CTX_MAX)
        return sm_errf(err, SM_EINVAL, "scp03: KDF context of %zu bytes is too long", ctxlen);
    if (bits == 0 || bits % 8 || bits > 512)
        return sm_errf(err, SM_EINVAL, "scp03: KDF output of %u bits is not supported", bits);
    return SM_OK;
}

sm_rc scp03_kdf(hsm_sess *s, const hsm_key *k, uint8_t constant, const uint8_t *context, size_t ctxlen,
                unsigned bits, uint8_t *out, sm_err *err)
{
    sm_rc rc = kdf_args(ctxlen, bits, err);
    if (rc != SM_OK)
        return rc;
    uint8_t m[16 + KDF_CTX_MAX], blk[16];
    size_t n = bits / 8;
    for (uint8_t i = 1; (size_t)(i - 1) * 16 < n; i++) {
        size_t ml = kdf_input(m, constant, bits, i, context, ctxlen);
        rc = hsm_aes_cmac(s, k, m, ml, blk, err);
        if (rc != SM_OK) {
            sm_err_prefix(err, "scp03: KDF (constant %02X)", constant);
            return rc;
        }
        size_t take = n - (size_t)(i - 1) * 16 < 16 ? n - (size_t)(i - 1) * 16 : 16;
        memcpy(out + (size_t)(i - 1) * 16, blk, take);
    }
    explicit_bzero(blk, sizeof blk);
    return SM_OK;
}

/* CMAC subkey K1 from L = AES(K, 0^128): L << 1, xor 0x87 if the top bit was set. */
static void dbl(const uint8_t l[16], uint8_t k1[16])
{
    uint8_t carry = l[0] >> 7;
    for (int i = 0; i < 15; i++)
        k1[i] = (uint8_t)(l[i] << 1 | l[i + 1] >> 7);
    k1[15] = (uint8_t)(l[15] << 1);
    if (carry)
        k1[15] ^= 0x87;
}

sm_rc scp03_kdf_key(hsm_sess *s, const hsm_key *k, uint8_t constant, const uint8_t *context, size_t ctxlen,
                    const hsm_keyspec *spec, hsm_key *out, sm_err *err)
{
    if (spec->type != HSM_KT_AES)
        return sm_errf(err, SM_EINVAL, "scp03: session keys are AES keys");
    unsigned bits = spec->len * 8;
    sm_rc rc = kdf_args(ctxlen, bits, err);
    if (rc != SM_OK)
        return rc;
    uint8_t m[16 + KDF_CTX_MAX];
    size_t ml = kdf_input(m, constant, bits, 1, context, ctxlen);
    /* In-token: a 128-bit key from a 32-byte input is one CMAC of two complete blocks,
     * tag = AES(K, AES(K, M1) ^ M2 ^ K1). */
    if (spec->len == 16 && ml == 32 && hsm_session_caps(s)->aes_ecb_encrypt_data) {
        uint8_t in[32], ecb[32], x[16], k1[16];
        memcpy(in, m, 16);
        memset(in + 16, 0, 16);
        rc = hsm_aes_ecb_encrypt(s, k, in, 32, ecb, err);
        if (rc == SM_OK) {
            dbl(ecb + 16, k1);
            for (int i = 0; i < 16; i++)
                x[i] = (uint8_t)(ecb[i] ^ m[16 + i] ^ k1[i]);
            rc = hsm_derive_aes_ecb(s, k, x, spec, out, err);
        }
        explicit_bzero(ecb, sizeof ecb);
        explicit_bzero(k1, sizeof k1);
        explicit_bzero(x, sizeof x);
        if (rc != SM_OK)
            sm_err_prefix(err, "scp03: deriving a session key in the HSM (constant %02X)", constant);
        return rc;
    }
    /* Fallback: the CMAC output passes through locked memory into hsm_secret_import. */
    uint8_t *kv = sm_secmem_alloc(64);
    if (!kv)
        return sm_errf(err, SM_ENOMEM, "scp03: cannot lock memory for the session-key fallback");
    rc = scp03_kdf(s, k, constant, context, ctxlen, bits, kv, err);
    if (rc == SM_OK) {
        hsm_keyspec sp = *spec;
        sp.token = false;
        rc = hsm_secret_import(s, &sp, kv, spec->len, out, err);
    }
    sm_secmem_free(kv, 64);
    if (rc != SM_OK)
        sm_err_prefix(err, "scp03: deriving a session key (constant %02X)", constant);
    return rc;
}

sm_rc scp03_card_challenge(hsm_sess *s, const hsm_key *kenc, const uint8_t seq[3], const uint8_t *aid,
                           size_t aidlen, uint8_t out[8], sm_err *err)
{
    if (aidlen < 5 || aidlen > 16)
        return sm_errf(err, SM_EINVAL, "scp03: AID of %zu bytes (must be 5..16)", aidlen);
    uint8_t ctx[19];
    memcpy(ctx, seq, 3);
    memcpy(ctx + 3, aid, aidlen);
    return scp03_kdf(s, kenc, SCP03_DC_CARD_CHALLENGE, ctx, 3 + aidlen, 64, out, err);
}

sm_rc scp03_kcv(hsm_sess *s, const hsm_key *k, uint8_t out[3], sm_err *err)
{
    uint8_t one[16], e[16];
    memset(one, 0x01, sizeof one);
    sm_rc rc = hsm_aes_ecb_encrypt(s, k, one, 16, e, err);
    if (rc == SM_OK)
        memcpy(out, e, 3);
    return rc;
}

void scp03_init_update_apdu(uint8_t kvn, const uint8_t host_challenge[8], uint8_t out[14])
{
    out[0] = 0x80;
    out[1] = 0x50;
    out[2] = kvn;
    out[3] = 0x00;
    out[4] = 0x08;
    memcpy(out + 5, host_challenge, 8);
    out[13] = 0x00;
}

sm_rc scp03_parse_init_update(const uint8_t *data, size_t len, scp03_iu *out, sm_err *err)
{
    memset(out, 0, sizeof *out);
    if (len != 29 && len != 32)
        return sm_errf(err, SM_EPROTO, "scp03: INITIALIZE UPDATE response of %zu bytes (expected 29 or 32)", len);
    memcpy(out->div_data, data, 10);
    out->kvn = data[10];
    out->scp_id = data[11];
    out->i = data[12];
    memcpy(out->card_challenge, data + 13, 8);
    memcpy(out->card_cryptogram, data + 21, 8);
    if (out->scp_id != 0x03)
        return sm_errf(err, SM_EPROTO, "scp03: card answers with SCP %02X, not 03", out->scp_id);
    bool pseudo = (out->i & 0x10) != 0;
    if (pseudo != (len == 32))
        return sm_errf(err, SM_EPROTO, "scp03: i=%02X %s a sequence counter, but the response is %zu bytes", out->i,
                       pseudo ? "requires" : "excludes", len);
    if (pseudo) {
        out->has_seq = true;
        memcpy(out->seq, data + 29, 3);
    }
    return SM_OK;
}

static void destroy_keys(hsm_sess *s, scp03_session *ss)
{
    if (ss->owns_keys) {
        hsm_key_destroy(s, &ss->s_enc, NULL);
        hsm_key_destroy(s, &ss->s_mac, NULL);
        hsm_key_destroy(s, &ss->s_rmac, NULL);
    }
}

sm_rc scp03_open_ex(hsm_sess *s, const hsm_key *kenc, const hsm_key *kmac, unsigned keylen,
                    const uint8_t host_challenge[8], const uint8_t card_challenge[8], const uint8_t *expect,
                    uint8_t card_cryptogram[8], scp03_session *ss, sm_err *err)
{
    memset(ss, 0, sizeof *ss);
    if (keylen != 16 && keylen != 24 && keylen != 32)
        return sm_errf(err, SM_EINVAL, "scp03: key length %u", keylen);
    ss->keylen = keylen;
    memcpy(ss->host_challenge, host_challenge, 8);
    memcpy(ss->card_challenge, card_challenge, 8);
    uint8_t ctx[16];
    memcpy(ctx, host_challenge, 8);
    memcpy(ctx + 8, card_challenge, 8);
    hsm_keyspec enc = {.type = HSM_KT_AES, .len = keylen, .usage = HSM_U_ENCRYPT | HSM_U_DECRYPT};
    hsm_keyspec mac = {.type = HSM_KT_AES, .len = keylen, .usage = HSM_U_SIGN};
    sm_rc rc = scp03_kdf_key(s, kenc, SCP03_DC_S_ENC, ctx, 16, &enc, &ss->s_enc, err);
    if (rc == SM_OK) {
        rc = scp03_kdf_key(s, kmac, SCP03_DC_S_MAC, ctx, 16, &mac, &ss->s_mac, err);
        if (rc != SM_OK)
            hsm_key_destroy(s, &ss->s_enc, NULL);
    }
    if (rc == SM_OK) {
        rc = scp03_kdf_key(s, kmac, SCP03_DC_S_RMAC, ctx, 16, &mac, &ss->s_rmac, err);
        if (rc != SM_OK) {
            hsm_key_destroy(s, &ss->s_enc, NULL);
            hsm_key_destroy(s, &ss->s_mac, NULL);
        }
    }
    if (rc != SM_OK) {
        sm_err_prefix(err, "opening an SCP03 session");
        memset(ss, 0, sizeof *ss);
        return rc;
    }
    ss->owns_keys = true;
    uint8_t cc[8];
    rc = scp03_kdf(s, &ss->s_mac, SCP03_DC_CARD_CRYPTO, ctx, 16, 64, cc, err);
    if (rc == SM_OK && expect && !ct_equal(cc, expect, 8))
        rc = sm_errf(err, SM_EVERIFY, "scp03: card cryptogram does not verify (wrong keys or challenge)");
    if (rc == SM_OK && card_cryptogram)
        memcpy(card_cryptogram, cc, 8);
    if (rc == SM_OK)
        rc = scp03_kdf(s, &ss->s_mac, SCP03_DC_HOST_CRYPTO, ctx, 16, 64, ss->host_cryptogram, err);
    if (rc != SM_OK) {
        sm_err_prefix(err, "opening an SCP03 session");
        scp03_close(s, ss);
    }
    return rc;
}

sm_rc scp03_open(hsm_sess *s, const hsm_key *kenc, const hsm_key *kmac, unsigned keylen,
                 const uint8_t host_challenge[8], const scp03_iu *iu, scp03_session *ss, sm_err *err)
{
    return scp03_open_ex(s, kenc, kmac, keylen, host_challenge, iu->card_challenge, iu->card_cryptogram, NULL, ss,
                         err);
}

void scp03_session_from_keys(const hsm_key *s_enc, const hsm_key *s_mac, const hsm_key *s_rmac, unsigned keylen,
                             uint8_t sl, const uint8_t mcv[16], uint32_t ctr, scp03_session *ss)
{
    memset(ss, 0, sizeof *ss);
    if (s_enc)
        ss->s_enc = *s_enc;
    if (s_mac)
        ss->s_mac = *s_mac;
    if (s_rmac)
        ss->s_rmac = *s_rmac;
    ss->keylen = keylen;
    ss->sl = sl;
    if (mcv)
        memcpy(ss->mcv, mcv, 16);
    ss->ctr = ctr;
    ss->authenticated = true;
}

static bool valid_sl(uint8_t sl)
{
    return sl == 0x01 || sl == 0x03 || sl == 0x11 || sl == 0x13 || sl == 0x33;
}

sm_rc scp03_ext_auth(hsm_sess *s, scp03_session *ss, uint8_t sl, uint8_t out[21], sm_err *err)
{
    if (!valid_sl(sl))
        return sm_errf(err, SM_EINVAL, "scp03: security level %02X is not one of 01 03 11 13 33", sl);
    uint8_t m[16 + 13], mac[16];
    memset(m, 0, 16);
    m[16] = 0x84;
    m[17] = 0x82;
    m[18] = sl;
    m[19] = 0x00;
    m[20] = 0x10;
    memcpy(m + 21, ss->host_cryptogram, 8);
    sm_rc rc = hsm_aes_cmac(s, &ss->s_mac, m, sizeof m, mac, err);
    if (rc != SM_OK) {
        sm_err_prefix(err, "scp03: EXTERNAL AUTHENTICATE MAC");
        return rc;
    }
    memcpy(ss->mcv, mac, 16);
    memcpy(out, m + 16, 13);
    memcpy(out + 13, mac, 8);
    ss->sl = sl;
    ss->ctr = 0;
    ss->authenticated = true;
    return SM_OK;
}

static void ctr_block(uint32_t ctr, uint8_t top, uint8_t blk[16])
{
    memset(blk, 0, 16);
    blk[0] = top;
    blk[12] = (uint8_t)(ctr >> 24);
    blk[13] = (uint8_t)(ctr >> 16);
    blk[14] = (uint8_t)(ctr >> 8);
    blk[15] = (uint8_t)ctr;
}

sm_rc scp03_encrypt_ctr(hsm_sess *s, const scp03_session *ss, uint32_t ctr, const uint8_t *data, size_t len,
                        uint8_t *out, size_t cap, size_t *outlen, sm_err *err)
{
    size_t pl = pad80_len(len, 16);
    if (cap < pl + 16)
        return sm_errf(err, SM_EINVAL, "scp03: encryption buffer too small");
    static const uint8_t zero[16];
    ctr_block(ctr, 0x00, out);
    memmove(out + 16, data, len);
    pad80_write(out + 16, len, 16);
    /* CBC with a zero IV over ctr-block || P: the first output block is the ICV = AES(S-ENC, ctr),
     * and every later block is CBC(ICV, P) -- one C_Encrypt for the whole segment. */
    sm_rc rc = hsm_aes_cbc_encrypt(s, &ss->s_enc, zero, out, pl + 16, out, err);
    if (rc != SM_OK) {
        sm_err_prefix(err, "scp03: C-DECRYPTION encryption");
        return rc;
    }
    memmove(out, out + 16, pl);
    *outlen = pl;
    return SM_OK;
}

sm_rc scp03_decrypt_resp(hsm_sess *s, const scp03_session *ss, uint32_t ctr, const uint8_t *in, size_t len,
                         uint8_t *out, size_t *outlen, sm_err *err)
{
    if (len == 0 || len % 16)
        return sm_errf(err, SM_EVERIFY, "scp03: encrypted response of %zu bytes is not whole AES blocks", len);
    uint8_t blk[16], icv[16];
    ctr_block(ctr, 0x80, blk);
    sm_rc rc = hsm_aes_ecb_encrypt(s, &ss->s_enc, blk, 16, icv, err);
    if (rc == SM_OK)
        rc = hsm_aes_cbc_decrypt(s, &ss->s_enc, icv, in, len, out, err);
    if (rc == SM_OK)
        rc = pad80_strip(out, len, 16, outlen, err);
    if (rc != SM_OK)
        sm_err_prefix(err, "scp03: R-ENC decryption");
    return rc;
}

/* Splits a short APDU into header, data and Le. */
typedef struct apdu_view {
    const uint8_t *data;
    size_t lc;
    bool has_le;
    uint8_t le;
} apdu_view;

static sm_rc apdu_split(const uint8_t *a, size_t len, apdu_view *v, sm_err *err)
{
    memset(v, 0, sizeof *v);
    if (len < 4)
        return sm_errf(err, SM_EINVAL, "scp03: command APDU of %zu bytes is shorter than its header", len);
    if (len == 4)
        return SM_OK;
    if (len == 5) {
        v->has_le = true;
        v->le = a[4];
        return SM_OK;
    }
    if (a[4] == 0x00)
        return sm_errf(err, SM_EINVAL, "scp03: extended-length APDUs are not supported");
    v->lc = a[4];
    v->data = a + 5;
    if (len == 5 + v->lc)
        return SM_OK;
    if (len == 6 + v->lc) {
        v->has_le = true;
        v->le = a[len - 1];
        return SM_OK;
    }
    return sm_errf(err, SM_EINVAL, "scp03: APDU length %zu does not match Lc %zu", len, v->lc);
}

sm_rc scp03_wrap(hsm_sess *s, scp03_session *ss, const uint8_t *apdu, size_t len, uint8_t *out, size_t cap,
                 size_t *outlen, sm_err *err)
{
    if (!ss->authenticated)
        return sm_errf(err, SM_ESTATE, "scp03: wrap before EXTERNAL AUTHENTICATE");
    apdu_view v;
    sm_rc rc = apdu_split(apdu, len, &v, err);
    if (rc != SM_OK)
        return rc;
    if (ss->ctr == UINT32_MAX)
        return sm_errf(err, SM_ELIMIT, "scp03: encryption counter exhausted; open a new session");
    uint32_t ctr = ss->ctr + 1;
    uint8_t body[16 + 5 + 16 + 256];
    uint8_t *hdr = body + 16, *data = body + 21;
    size_t dl = v.lc;
    if ((ss->sl & SCP03_SL_CDEC) && v.lc) {
        uint8_t enc[16 + 256 + 16];
        size_t el = 0;
        rc = scp03_encrypt_ctr(s, ss, ctr, v.data, v.lc, enc, sizeof enc, &el, err);
        if (rc != SM_OK)
            return rc;
        memcpy(data, enc, el);
        dl = el;
    } else if (v.lc) {
        memcpy(data, v.data, v.lc);
    }
    if (dl + 8 > 255)
        return sm_errf(err, SM_EINVAL, "scp03: protected command data of %zu bytes exceeds Lc 255", dl + 8);
    if (cap < 5 + dl + 8 + (v.has_le ? 1 : 0))
        return sm_errf(err, SM_EINVAL, "scp03: output buffer too small");
    uint8_t cla = apdu[0], mcla, ocla;
    if (cla & 0x40) { /* further interindustry class: SM bit 0x20, channel in the low 4 bits */
        mcla = (uint8_t)((cla & 0xF0) | 0x20);
        ocla = (uint8_t)(cla | 0x20);
    } else {
        mcla = (uint8_t)((cla & 0xFC) | 0x04);
        ocla = (uint8_t)(cla | 0x04);
    }
    memcpy(body, ss->mcv, 16);
    hdr[0] = mcla;
    memcpy(hdr + 1, apdu + 1, 3);
    hdr[4] = (uint8_t)(dl + 8);
    uint8_t mac[16];
    rc = hsm_aes_cmac(s, &ss->s_mac, body, 21 + dl, mac, err);
    if (rc != SM_OK) {
        sm_err_prefix(err, "scp03: C-MAC");
        return rc;
    }
    memcpy(ss->mcv, mac, 16);
    ss->ctr = ctr;
    out[0] = ocla;
    memcpy(out + 1, hdr + 1, 4);
    memcpy(out + 5, data, dl);
    memcpy(out + 5 + dl, mac, 8);
    size_t n = 5 + dl + 8;
    if (v.has_le)
        out[n++] = v.le;
    *outlen = n;
    return SM_OK;
}

static bool rmac_expected(uint8_t sw1)
{
    return sw1 == 0x90 || sw1 == 0x62 || sw1 == 0x63;
}

sm_rc scp03_unwrap(hsm_sess *s, scp03_session *ss, const uint8_t *rsp, size_t len, uint8_t *out, size_t cap,
                   size_t *outlen, sm_err *err)
{
    if (len < 2)
        return sm_errf(err, SM_EPROTO, "scp03: response of %zu bytes has no status word", len);
    uint8_t sw1 = rsp[len - 2], sw2 = rsp[len - 1];
    size_t dl = len - 2;
    if (sw1 == 0x90 && sw2 != 0x00)
        return sm_errf(err, SM_EPROTO, "scp03: invalid status word 90%02X", sw2);
    if ((ss->sl & SCP03_SL_RMAC) && rmac_expected(sw1)) {
        if (dl < 8)
            return sm_errf(err, SM_EVERIFY, "scp03: response lacks its R-MAC");
        dl -= 8;
        if (dl > 256)
            return sm_errf(err, SM_EPROTO, "scp03: response data of %zu bytes", dl);
        uint8_t m[16 + 256 + 2], mac[16];
        memcpy(m, ss->mcv, 16);
        memcpy(m + 16, rsp, dl);
        m[16 + dl] = sw1;
        m[17 + dl] = sw2;
        sm_rc rc = hsm_aes_cmac(s, &ss->s_rmac, m, 18 + dl, mac, err);
        if (rc != SM_OK) {
            sm_err_prefix(err, "scp03: R-MAC");
            return rc;
        }
        if (!ct_equal(mac, rsp + dl, 8))
            return sm_errf(err, SM_EVERIFY, "scp03: R-MAC does not verify");
    }
    if (cap < dl + 2)
        return sm_errf(err, SM_EINVAL, "scp03: output buffer too small");
    size_t pl = dl;
    if ((ss->sl & SCP03_SL_RENC) && dl) {
        sm_rc rc = scp03_decrypt_resp(s, ss, ss->ctr, rsp, dl, out, &pl, err);
        if (rc != SM_OK)
            return rc;
    } else if (dl) {
        memmove(out, rsp, dl);
    }
    out[pl] = sw1;
    out[pl + 1] = sw2;
    *outlen = pl + 2;
    return SM_OK;
}

void scp03_close(hsm_sess *s, scp03_session *ss)
{
    destroy_keys(s, ss);
    explicit_bzero(ss, sizeof *ss);
}
