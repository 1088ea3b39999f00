/* dl_card: the eUICC side of a profile download for the tests/smdp programs, written with plain
 * OpenSSL (tests/crypto/ref_crypto.c), independent of crypto/: an ECASD key and certificate, one ISD-P
 * that runs INSTALL [for personalization], STORE DATA 3A01/3A02 (key establishment, Scenario #3 as
 * docs/simulator.md describes it) and the SCP03t session (84, 85, 86 with C-MAC/C-DEC checked, the
 * package reassembled, the EUICCResponse sent back with R-ENC and R-MAC). Faults on demand. */
#ifndef SM_TESTS_SMDP_DL_CARD_H
#define SM_TESTS_SMDP_DL_CARD_H

#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>
#include <string.h>

#include "appliance/smdp/saip.h"
#include "crypto/gpcert.h"
#include "crypto/tlv.h"
#include "lib/buf.h"
#include "tests/crypto/ref_crypto.c"

typedef struct card_faults {
    bool corrupt_receipt;   /* the receipt of 3A02 does not verify */
    int scp_error_at;       /* answer 9F46 01 01 to this 86 segment (1-based), stop the script */
    bool pe_error;          /* the installation result reports a PE error */
} card_faults;

typedef struct card {
    pthread_mutex_t mu;
    uint8_t ci_pub[65];
    EVP_PKEY *ecasd;
    uint8_t pk_dp[65];
    bool has_dp;
    uint8_t rc[16];
    bool isdp;
    uint8_t aid[16];
    size_t aid_len;
    bool keys;
    uint8_t kenc[16], kmac[16], kdek[16];
    unsigned seq;
    bool open, auth;
    uint8_t ctx2[16], senc[16], smac[16], srmac[16], mcv[16];
    uint32_t ctr;
    uint8_t *pkg;
    size_t pkg_len;
    int segments;
    bool installed, enabled;
    char iccid[21];
    char imsi[16];
    int deletes, sessions;
    card_faults f;
} card;

static void card_reset(card *k)
{
    free(k->pkg);
    k->pkg = NULL;
    k->pkg_len = 0;
    k->has_dp = k->isdp = k->keys = k->open = k->auth = k->installed = k->enabled = false;
    k->seq = 0;
    k->segments = 0;
    k->iccid[0] = k->imsi[0] = 0;
    k->deletes = k->sessions = 0;
    memset(&k->f, 0, sizeof k->f);
}

static void put_tlv(sm_buf *b, uint32_t tag, const uint8_t *v, size_t n) { tlv_put(b, tag, v, n); }

static void rapdu(sm_buf *out, const uint8_t *data, size_t n, uint16_t sw)
{
    uint8_t tmp[300];
    if (n)
        memcpy(tmp, data, n);
    tmp[n] = (uint8_t)(sw >> 8);
    tmp[n + 1] = (uint8_t)sw;
    put_tlv(out, 0x23, tmp, n + 2);
}

/* a GP DGI at p: 2-byte tag, length 1 byte or FF LL LL */
static const uint8_t *card_dgi(const uint8_t *p, size_t len, uint16_t *tag, size_t *vl)
{
    if (len < 3)
        return NULL;
    *tag = (uint16_t)(p[0] << 8 | p[1]);
    if (p[2] == 0xFF) {
        if (len < 5)
            return NULL;
        *vl = (size_t)p[3] << 8 | p[4];
        return *vl + 5 <= len ? p + 5 : NULL;
    }
    *vl = p[2];
    return *vl + 3 <= len ? p + 3 : NULL;
}

static uint16_t card_3a01(card *k, const uint8_t *d, size_t len, sm_buf *rsp)
{
    uint16_t tag;
    size_t vl;
    const uint8_t *cert = card_dgi(d, len, &tag, &vl);
    gpcert g;
    sm_err err = {0};
    if (!cert || tag != 0x3A01 || gpcert_parse(cert, vl, &g, &err) != SM_OK || g.cert_type != GPCERT_TYPE_SMDP ||
        !ref_ecdsa_verify_raw("prime256v1", k->ci_pub, g.tbs, g.tbslen, g.sig))
        return 0x6A80;
    memcpy(k->pk_dp, g.pubkey, 65);
    k->has_dp = true;
    for (int i = 0; i < 16; i++)
        k->rc[i] = (uint8_t)(0x30 + i * 7);
    uint8_t r[18] = {0x85, 16};
    memcpy(r + 2, k->rc, 16);
    sm_buf_append(rsp, r, 18);
    return 0x9000;
}

static uint16_t card_3a02(card *k, const uint8_t *d, size_t len, sm_buf *rsp)
{
    uint16_t tag;
    size_t crtl;
    const uint8_t *crt = card_dgi(d, len, &tag, &crtl);
    if (!crt || tag != 0x3A02 || !k->has_dp)
        return 0x6A80;
    const uint8_t *epk_tlv = crt + crtl;
    if ((size_t)(epk_tlv - d) + 3 > len || epk_tlv[0] != 0x7F || epk_tlv[1] != 0x49)
        return 0x6A80;
    size_t epk_tlv_len = 3 + epk_tlv[2];
    const uint8_t *sig_tlv = epk_tlv + epk_tlv_len;
    if ((size_t)(sig_tlv - d) + 67 != len || sig_tlv[0] != 0x5F || sig_tlv[1] != 0x37 || sig_tlv[2] != 64)
        return 0x6A80;
    uint8_t sd[400];
    size_t sdl = (size_t)(sig_tlv - d);
    memcpy(sd, d, sdl);
    sd[sdl++] = 0x00;
    sd[sdl++] = 0x85;
    sd[sdl++] = 16;
    memcpy(sd + sdl, k->rc, 16);
    sdl += 16;
    if (!ref_ecdsa_verify_raw("prime256v1", k->pk_dp, sd, sdl, sig_tlv + 3))
        return 0x6982;
    uint8_t ku = 0, kt = 0, kl = 0;
    for (size_t i = 2; i + 1 < crtl; i += 2 + crt[i + 1]) {
        if (crt[i] == 0x95)
            ku = crt[i + 2];
        if (crt[i] == 0x80)
            kt = crt[i + 2];
        if (crt[i] == 0x81)
            kl = crt[i + 2];
    }
    uint8_t si[3] = {ku, kt, kl}, z[32], kd[64];
    if (ref_ecdh(k->ecasd, "prime256v1", epk_tlv + 5, z) != 0)
        return 0x6A80;
    ref_x963(z, 32, si, 3, kd, 64);
    uint8_t r[18] = {0x86, 16};
    ref_aes_cmac(kd, 16, crt, crtl, r + 2);
    if (k->f.corrupt_receipt)
        r[17] ^= 0x01;
    memcpy(k->kenc, kd + 16, 16);
    memcpy(k->kmac, kd + 32, 16);
    memcpy(k->kdek, kd + 48, 16);
    k->keys = true;
    k->seq = 0;
    sm_buf_append(rsp, r, 18);
    return 0x9000;
}

static void card_84(card *k, const tlv *t, sm_buf *out)
{
    if (!k->keys || t->len != 10) {
        static const uint8_t e[] = {0x9F, 0x44, 0x01, 0x01};
        sm_buf_append(out, e, 4);
        return;
    }
    k->seq++;
    k->sessions++;
    uint8_t ctx[19], cc[8], crypt[8];
    ctx[0] = (uint8_t)(k->seq >> 16);
    ctx[1] = (uint8_t)(k->seq >> 8);
    ctx[2] = (uint8_t)k->seq;
    memcpy(ctx + 3, k->aid, 16);
    ref_scp03_kdf(k->kenc, 16, 0x02, ctx, 3 + k->aid_len, 64, cc);
    memcpy(k->ctx2, t->val + 2, 8);
    memcpy(k->ctx2 + 8, cc, 8);
    ref_scp03_kdf(k->kenc, 16, 0x04, k->ctx2, 16, 128, k->senc);
    ref_scp03_kdf(k->kmac, 16, 0x06, k->ctx2, 16, 128, k->smac);
    ref_scp03_kdf(k->kmac, 16, 0x07, k->ctx2, 16, 128, k->srmac);
    ref_scp03_kdf(k->smac, 16, 0x00, k->ctx2, 16, 64, crypt);
    uint8_t r[32] = {0};
    r[10] = t->val[0];
    r[11] = 0x03;
    r[12] = 0x70;
    memcpy(r + 13, cc, 8);
    memcpy(r + 21, crypt, 8);
    r[29] = ctx[0];
    r[30] = ctx[1];
    r[31] = ctx[2];
    put_tlv(out, 0x84, r, 32);
    k->open = true;
    k->auth = false;
}

static bool card_85(card *k, const tlv *t, sm_buf *out)
{
    uint8_t hc[8], m[27], mac[16];
    if (!k->open || t->len != 17)
        goto bad;
    ref_scp03_kdf(k->smac, 16, 0x01, k->ctx2, 16, 64, hc);
    memset(m, 0, 16);
    m[16] = 0x85;
    m[17] = 0x11;
    memcpy(m + 18, t->val, 9);
    ref_aes_cmac(k->smac, 16, m, sizeof m, mac);
    if (memcmp(hc, t->val + 1, 8) || memcmp(mac, t->val + 9, 8))
        goto bad;
    memcpy(k->mcv, mac, 16);
    k->ctr = 0;
    k->auth = true;
    free(k->pkg);
    k->pkg = NULL;
    k->pkg_len = 0;
    k->segments = 0;
    sm_buf_append(out, (const uint8_t *)"\x85\x00", 2);
    return true;
bad:
    sm_buf_append(out, (const uint8_t *)"\x9F\x45\x01\x01", 4);
    return false;
}

/* top-level PEs of the package so far; true when the last one is the end PE (AA) */
static bool card_pkg_done(const card *k, size_t *npes)
{
    tlv_rd r;
    tlv_rd_init(&r, k->pkg, k->pkg_len, 0);
    tlv t;
    uint32_t last = 0;
    *npes = 0;
    while (tlv_next(&r, &t, NULL) == SM_OK) {
        last = t.tag;
        (*npes)++;
    }
    return r.pos == k->pkg_len && last == 0xAA;
}

static bool card_86(card *k, const tlv *t, sm_buf *out)
{
    static const uint8_t err_mac[] = {0x9F, 0x46, 0x01, 0x01};
    if (!k->auth || t->len < 24 || (t->len - 8) % 16)
        goto bad;
    if (k->f.scp_error_at && k->segments + 1 == k->f.scp_error_at)
        goto bad;
    size_t cl = t->len - 8, hl = (size_t)(t->val - t->raw);
    uint8_t *m = malloc(16 + hl + cl), full[16];
    memcpy(m, k->mcv, 16);
    memcpy(m + 16, t->raw, hl + cl);
    ref_aes_cmac(k->smac, 16, m, 16 + hl + cl, full);
    free(m);
    if (memcmp(full, t->val + cl, 8))
        goto bad;
    memcpy(k->mcv, full, 16);
    k->ctr++;
    uint8_t blk[16] = {0}, icv[16];
    blk[12] = (uint8_t)(k->ctr >> 24);
    blk[13] = (uint8_t)(k->ctr >> 16);
    blk[14] = (uint8_t)(k->ctr >> 8);
    blk[15] = (uint8_t)k->ctr;
    ref_aes_ecb(k->senc, 16, blk, icv);
    uint8_t *p = malloc(cl);
    ref_aes_cbc(0, k->senc, 16, icv, t->val, cl, p);
    size_t l = cl;
    while (l && p[l - 1] == 0)
        l--;
    if (!l || p[l - 1] != 0x80) {
        free(p);
        goto bad;
    }
    l--;
    k->pkg = realloc(k->pkg, k->pkg_len + l);
    memcpy(k->pkg + k->pkg_len, p, l);
    k->pkg_len += l;
    free(p);
    k->segments++;
    size_t npes = 0;
    if (!card_pkg_done(k, &npes)) {
        sm_buf_append(out, (const uint8_t *)"\x86\x00", 2);
        return true;
    }
    /* installed: the EUICCResponse, R-ENC and R-MAC */
    saip_pkg *pk = NULL;
    sm_err e2 = {0};
    if (saip_decode(k->pkg, k->pkg_len, &pk, &e2) == SM_OK) {
        snprintf(k->iccid, sizeof k->iccid, "%s", pk->hdr.iccid);
        snprintf(k->imsi, sizeof k->imsi, "%s", pk->imsi);
        saip_free(pk);
    }
    sm_buf st;
    sm_buf_init(&st);
    for (size_t i = 0; i < npes; i++) {
        uint8_t s[8] = {0x30, 0x06, 0x80, 0x01, (uint8_t)(k->f.pe_error && i == 2 ? 1 : 0), 0x81, 0x01, (uint8_t)i};
        sm_buf_append(&st, s, 8);
    }
    sm_buf resp;
    sm_buf_init(&resp);
    size_t mk = tlv_open(&resp, 0x30);
    put_tlv(&resp, 0xA0, st.data, st.len);
    tlv_close(&resp, mk);
    size_t pl = (resp.len / 16 + 1) * 16;
    uint8_t *pt = calloc(1, pl), *ct = malloc(pl);
    memcpy(pt, resp.data, resp.len);
    pt[resp.len] = 0x80;
    uint8_t rblk[16] = {0x80}, ricv[16];
    rblk[12] = (uint8_t)(k->ctr >> 24);
    rblk[13] = (uint8_t)(k->ctr >> 16);
    rblk[14] = (uint8_t)(k->ctr >> 8);
    rblk[15] = (uint8_t)k->ctr;
    ref_aes_ecb(k->senc, 16, rblk, ricv);
    ref_aes_cbc(1, k->senc, 16, ricv, pt, pl, ct);
    sm_buf tl;
    sm_buf_init(&tl);
    uint8_t *v = malloc(pl + 8);
    memcpy(v, ct, pl);
    memset(v + pl, 0, 8);
    put_tlv(&tl, 0x86, v, pl + 8); /* header as sent; the R-MAC replaces the zeros */
    uint8_t *mi = malloc(16 + tl.len - 8), rmac[16];
    memcpy(mi, k->mcv, 16);
    memcpy(mi + 16, tl.data, tl.len - 8);
    ref_aes_cmac(k->srmac, 16, mi, 16 + tl.len - 8, rmac);
    memcpy(tl.data + tl.len - 8, rmac, 8);
    sm_buf_append(out, tl.data, tl.len);
    k->installed = !k->f.pe_error;
    k->auth = k->open = false;
    free(mi);
    free(v);
    free(pt);
    free(ct);
    sm_buf_free(&tl);
    sm_buf_free(&resp);
    sm_buf_free(&st);
    return true;
bad:
    sm_buf_append(out, err_mac, 4);
    k->auth = k->open = false;
    return false;
}

/* Runs ES8 data (C-APDU TLVs or SCP03t TLVs) on the ISD-P; out gets the response script 80 01 n, ... */
static void card_run(card *k, const uint8_t *p, size_t n, sm_buf *out)
{
    sm_buf body;
    sm_buf_init(&body);
    tlv_rd r;
    tlv_rd_init(&r, p, n, 0);
    tlv t;
    int count = 0;
    while (tlv_next(&r, &t, NULL) == SM_OK) {
        count++;
        if (t.tag == 0x22) {
            if (t.len < 5) {
                rapdu(&body, NULL, 0, 0x6700);
                break;
            }
            const uint8_t *a = t.val;
            size_t lc = a[4];
            sm_buf d;
            sm_buf_init(&d);
            uint16_t sw = 0x6D00;
            if (a[1] == 0xE6 && a[2] == 0x20)
                sw = k->isdp ? 0x9000 : 0x6A88;
            else if (a[1] == 0xE2 && lc + 5 <= t.len)
                sw = a[5] == 0x3A && a[6] == 0x01 ? card_3a01(k, a + 5, lc, &d) : card_3a02(k, a + 5, lc, &d);
            rapdu(&body, d.data, d.len, sw);
            sm_buf_free(&d);
            if (sw != 0x9000)
                break;
        } else if (t.tag == 0x84) {
            card_84(k, &t, &body);
        } else if (t.tag == 0x85) {
            if (!card_85(k, &t, &body))
                break;
        } else if (t.tag == 0x86) {
            if (!card_86(k, &t, &body))
                break;
        } else {
            sm_buf_append(&body, (const uint8_t *)"\x90\x01\x00", 3);
            break;
        }
    }
    uint8_t cnt[3] = {0x80, 0x01, (uint8_t)count};
    sm_buf_append(out, cnt, 3);
    sm_buf_append(out, body.data, body.len);
    sm_buf_free(&body);
}

#endif
