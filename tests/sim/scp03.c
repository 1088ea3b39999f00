/* scp03: SCP03 / SCP03t card side. */
#include "tests/sim/scp03.h"

#include <string.h>

#include <openssl/crypto.h>

#include "tests/sim/prim.h"
#include "tests/sim/tlv.h"

sim_rc sim_scp03_init_update(sim_scp03_keys *k, const uint8_t *aid, size_t aidlen, const uint8_t host_ch[8],
                             const uint8_t *fixed_card_ch, sim_scp03_sess *s, uint8_t resp[32], sim_err *err)
{
    memset(s, 0, sizeof *s);
    if (k->seq >= 0xFFFFFF)
        return sim_errf(err, SIM_ELIMIT, "scp03: sequence counter exhausted");
    if (aidlen > 16)
        return sim_errf(err, SIM_EINVAL, "scp03: AID longer than 16 bytes");
    k->seq++;
    uint8_t seq[3] = {(uint8_t)(k->seq >> 16), (uint8_t)(k->seq >> 8), (uint8_t)k->seq};
    uint8_t ctx[19 + 16];
    sim_rc rc;
    if (fixed_card_ch) {
        memcpy(s->card_ch, fixed_card_ch, 8);
    } else {
        memcpy(ctx, seq, 3);
        memcpy(ctx + 3, aid, aidlen);
        if ((rc = sim_scp03_kdf(k->enc, k->klen, 0x02, ctx, 3 + aidlen, 64, s->card_ch, err)))
            return rc;
    }
    memcpy(s->host_ch, host_ch, 8);
    memcpy(ctx, host_ch, 8);
    memcpy(ctx + 8, s->card_ch, 8);
    unsigned bits = (unsigned)k->klen * 8;
    s->ch.klen = k->klen;
    if ((rc = sim_scp03_kdf(k->enc, k->klen, 0x04, ctx, 16, bits, s->ch.senc, err)) ||
        (rc = sim_scp03_kdf(k->mac, k->klen, 0x06, ctx, 16, bits, s->ch.smac, err)) ||
        (rc = sim_scp03_kdf(k->mac, k->klen, 0x07, ctx, 16, bits, s->ch.srmac, err)))
        return rc;
    uint8_t cc[8];
    if ((rc = sim_scp03_kdf(s->ch.smac, k->klen, 0x00, ctx, 16, 64, cc, err)))
        return rc;
    memset(resp, 0, 10);
    resp[10] = k->kvn;
    resp[11] = 0x03;
    resp[12] = 0x70;
    memcpy(resp + 13, s->card_ch, 8);
    memcpy(resp + 21, cc, 8);
    memcpy(resp + 29, seq, 3);
    s->state = SIM_SCP03_INIT;
    return SIM_OK;
}

sim_rc sim_scp03_ext_auth(sim_scp03_sess *s, const uint8_t *macdata, size_t mlen, uint8_t sl,
                          const uint8_t host_crypto[8], const uint8_t mac[8], sim_err *err)
{
    if (s->state != SIM_SCP03_INIT)
        return sim_errf(err, SIM_ESTATE, "scp03: EXTERNAL AUTHENTICATE without INITIALIZE UPDATE");
    s->state = SIM_SCP03_NONE; /* one attempt */
    if (!(sl & SIM_SL_CMAC) || (sl & ~0x33) || ((sl & SIM_SL_RENC) && !(sl & SIM_SL_RMAC)) ||
        ((sl & SIM_SL_CDEC) && !(sl & SIM_SL_CMAC)))
        return sim_errf(err, SIM_EPROTO, "scp03: security level %02x not supported", sl);
    uint8_t ctx[16], hc[8];
    memcpy(ctx, s->host_ch, 8);
    memcpy(ctx + 8, s->card_ch, 8);
    sim_rc rc = sim_scp03_kdf(s->ch.smac, s->ch.klen, 0x01, ctx, 16, 64, hc, err);
    if (rc)
        return rc;
    if (sim_memneq(hc, host_crypto, 8))
        return sim_errf(err, SIM_EVERIFY, "scp03: host cryptogram does not verify");
    uint8_t zero[16] = {0}, full[16];
    sim_cmac m;
    if ((rc = sim_cmac_init(&m, s->ch.smac, s->ch.klen, err)))
        return rc;
    rc = sim_cmac_update(&m, zero, 16, err);
    if (!rc) rc = sim_cmac_update(&m, macdata, mlen, err);
    if (rc) {
        sim_cmac_abort(&m);
        return rc;
    }
    if ((rc = sim_cmac_final(&m, full, err)))
        return rc;
    if (sim_memneq(full, mac, 8))
        return sim_errf(err, SIM_EVERIFY, "scp03: EXTERNAL AUTHENTICATE MAC does not verify");
    memcpy(s->ch.mcv, full, 16);
    s->ch.ctr = 0;
    s->sl = sl;
    s->state = SIM_SCP03_OPEN;
    return SIM_OK;
}

sim_rc sim_scp03_ext_auth_apdu(sim_scp03_sess *s, const uint8_t *a, size_t n, sim_err *err)
{
    if (n != 21 || a[0] != 0x84 || a[1] != 0x82 || a[3] != 0x00 || a[4] != 0x10)
        return sim_errf(err, SIM_EPARSE, "scp03: malformed EXTERNAL AUTHENTICATE");
    return sim_scp03_ext_auth(s, a, 13, a[2], a + 5, a + 13, err);
}

sim_rc sim_scp03_ext_auth_tlv(sim_scp03_sess *s, const uint8_t *v, size_t n, sim_err *err)
{
    if (n != 17)
        return sim_errf(err, SIM_EPARSE, "scp03t: TLV 85 value is %zu bytes, expected 17", n);
    uint8_t md[11] = {0x85, 0x11};
    memcpy(md + 2, v, 9);
    return sim_scp03_ext_auth(s, md, 11, v[0], v + 1, v + 9, err);
}

static void ctr_block(uint8_t b[16], uint32_t ctr, int resp)
{
    memset(b, 0, 16);
    sim_put_be32(b + 12, ctr);
    if (resp)
        b[0] = 0x80;
}

sim_rc sim_scp03_unwrap_apdu(sim_scp03_sess *s, const uint8_t *a, size_t n, sim_buf *plain, sim_err *err)
{
    if (s->state != SIM_SCP03_OPEN)
        return sim_errf(err, SIM_ESTATE, "scp03: no open session");
    if (n < 5 + 8)
        return sim_errf(err, SIM_EPARSE, "scp03: APDU of %zu bytes cannot carry a C-MAC", n);
    if (!(a[0] & 0x04))
        return sim_errf(err, SIM_EPROTO, "scp03: CLA %02x without secure messaging bit", a[0]);
    size_t lc = a[4];
    if (lc < 8 || 5 + lc > n || n - 5 - lc > 1)
        return sim_errf(err, SIM_EPARSE, "scp03: Lc %zu inconsistent with %zu-byte APDU", lc, n);
    int has_le = n == 5 + lc + 1;
    const uint8_t *d = a + 5;
    size_t dl = lc - 8;
    sim_cmac m;
    uint8_t full[16];
    sim_rc rc = sim_cmac_init(&m, s->ch.smac, s->ch.klen, err);
    if (rc)
        return rc;
    rc = sim_cmac_update(&m, s->ch.mcv, 16, err);
    if (!rc) rc = sim_cmac_update(&m, a, 5 + dl, err);
    if (rc) {
        sim_cmac_abort(&m);
        return rc;
    }
    if ((rc = sim_cmac_final(&m, full, err)))
        return rc;
    if (sim_memneq(full, d + dl, 8))
        return sim_errf(err, SIM_EVERIFY, "scp03: C-MAC does not verify");
    memcpy(s->ch.mcv, full, 16);
    sim_buf_reset(plain);
    uint8_t hdr[4] = {(uint8_t)(a[0] & ~0x04), a[1], a[2], a[3]};
    sim_buf_put(plain, hdr, 4);
    if (s->sl & SIM_SL_CDEC) {
        s->ch.ctr++;
        if (dl) {
            if (dl % 16)
                return sim_errf(err, SIM_EPARSE, "scp03: ciphered data not whole blocks");
            uint8_t blk[16], icv[16], tmp[256];
            ctr_block(blk, s->ch.ctr, 0);
            if ((rc = sim_aes_ecb(s->ch.senc, s->ch.klen, blk, icv, err)) ||
                (rc = sim_aes_cbc(0, s->ch.senc, s->ch.klen, icv, d, dl, tmp, err)))
                return rc;
            size_t ul;
            if ((rc = sim_unpad80(tmp, dl, &ul, err)))
                return rc;
            sim_buf_u8(plain, (uint8_t)ul);
            sim_buf_put(plain, tmp, ul);
            OPENSSL_cleanse(tmp, sizeof tmp);
        }
    } else if (dl) {
        sim_buf_u8(plain, (uint8_t)dl);
        sim_buf_put(plain, d, dl);
    }
    if (has_le)
        sim_buf_u8(plain, a[n - 1]);
    return sim_buf_check(plain, err);
}

sim_rc sim_scp03_wrap_resp(sim_scp03_sess *s, const uint8_t *data, size_t n, uint16_t sw, sim_buf *out,
                           sim_err *err)
{
    size_t start = out->len;
    sim_rc rc;
    if ((s->sl & SIM_SL_RENC) && n) {
        if (n > 239)
            return sim_errf(err, SIM_ELIMIT, "scp03: response too long for R-ENC");
        uint8_t blk[16], icv[16];
        ctr_block(blk, s->ch.ctr, 1);
        if ((rc = sim_aes_ecb(s->ch.senc, s->ch.klen, blk, icv, err)))
            return rc;
        sim_buf_put(out, data, n);
        sim_buf_u8(out, 0x80);
        while ((out->len - start) % 16)
            sim_buf_u8(out, 0);
        if (sim_buf_check(out, err))
            return SIM_ENOMEM;
        if ((rc = sim_aes_cbc(1, s->ch.senc, s->ch.klen, icv, out->p + start, out->len - start, out->p + start, err)))
            return rc;
    } else {
        sim_buf_put(out, data, n);
    }
    if ((s->sl & SIM_SL_RMAC) && (sw == 0x9000 || (sw >> 8) == 0x62 || (sw >> 8) == 0x63)) {
        uint8_t swb[2], full[16];
        sim_put_be16(swb, sw);
        sim_cmac m;
        if ((rc = sim_cmac_init(&m, s->ch.srmac, s->ch.klen, err)))
            return rc;
        rc = sim_cmac_update(&m, s->ch.mcv, 16, err);
        if (!rc) rc = sim_cmac_update(&m, out->p + start, out->len - start, err);
        if (!rc) rc = sim_cmac_update(&m, swb, 2, err);
        if (rc) {
            sim_cmac_abort(&m);
            return rc;
        }
        if ((rc = sim_cmac_final(&m, full, err)))
            return rc;
        sim_buf_put(out, full, 8);
    }
    sim_buf_u16(out, sw);
    return sim_buf_check(out, err);
}

static sim_rc mac_tlv(const uint8_t *key, size_t klen, const uint8_t mcv[16], uint8_t tag, size_t vlen,
                      const uint8_t *c, size_t clen, uint8_t full[16], sim_err *err)
{
    sim_buf h;
    uint8_t hb[8];
    h.p = hb; h.len = 0; h.cap = sizeof hb; h.oom = 0;
    sim_buf_u8(&h, tag);
    sim_tlv_put_len(&h, vlen);
    sim_cmac m;
    sim_rc rc = sim_cmac_init(&m, key, klen, err);
    if (rc)
        return rc;
    rc = sim_cmac_update(&m, mcv, 16, err);
    if (!rc) rc = sim_cmac_update(&m, hb, h.len, err);
    if (!rc) rc = sim_cmac_update(&m, c, clen, err);
    if (rc) {
        sim_cmac_abort(&m);
        return rc;
    }
    return sim_cmac_final(&m, full, err);
}

sim_rc sim_scp03t_unwrap(sim_scp03_chain *c, const uint8_t *tlv, size_t n, int decrypt, sim_buf *plain,
                         sim_err *err)
{
    size_t off = 0;
    sim_tlv t;
    sim_rc rc = sim_tlv_read(tlv, n, &off, &t, err);
    if (rc)
        return rc;
    if (off != n || t.tag > 0xFF)
        return sim_errf(err, SIM_EPARSE, "scp03t: not exactly one single-byte-tag TLV");
    if (t.len < 8 || (decrypt && (t.len - 8) % 16))
        return sim_errf(err, SIM_EPARSE, "scp03t: TLV %02x value of %zu bytes is not blocks + MAC", t.tag, t.len);
    uint8_t full[16];
    size_t clen = t.len - 8;
    if ((rc = mac_tlv(c->smac, c->klen, c->mcv, (uint8_t)t.tag, t.len, t.v, clen, full, err)))
        return rc;
    if (sim_memneq(full, t.v + clen, 8))
        return sim_errf(err, SIM_EVERIFY, "scp03t: C-MAC of TLV %02x does not verify", t.tag);
    memcpy(c->mcv, full, 16);
    c->ctr++;
    size_t start = plain->len;
    if (!decrypt || clen == 0) {
        sim_buf_put(plain, t.v, clen);
        return sim_buf_check(plain, err);
    }
    if (sim_buf_reserve(plain, clen))
        return sim_errf(err, SIM_ENOMEM, "scp03t: out of memory");
    uint8_t blk[16], icv[16];
    ctr_block(blk, c->ctr, 0);
    if ((rc = sim_aes_ecb(c->senc, c->klen, blk, icv, err)) ||
        (rc = sim_aes_cbc(0, c->senc, c->klen, icv, t.v, clen, plain->p + start, err)))
        return rc;
    size_t ul;
    if ((rc = sim_unpad80(plain->p + start, clen, &ul, err)))
        return rc;
    plain->len = start + ul;
    return SIM_OK;
}

sim_rc sim_scp03t_wrap(sim_scp03_chain *c, uint8_t tag, const uint8_t *p, size_t n, int encrypt, sim_buf *out,
                       sim_err *err)
{
    sim_buf cb;
    sim_buf_init(&cb);
    sim_buf_put(&cb, p, n);
    sim_rc rc = SIM_OK;
    c->ctr++;
    if (encrypt) {
        sim_pad80(&cb);
        uint8_t blk[16], icv[16];
        ctr_block(blk, c->ctr, 0);
        if ((rc = sim_buf_check(&cb, err)) || (rc = sim_aes_ecb(c->senc, c->klen, blk, icv, err)) ||
            (rc = sim_aes_cbc(1, c->senc, c->klen, icv, cb.p, cb.len, cb.p, err)))
            goto out;
    }
    uint8_t full[16];
    if ((rc = sim_buf_check(&cb, err)) || (rc = mac_tlv(c->smac, c->klen, c->mcv, tag, cb.len + 8, cb.p, cb.len, full, err)))
        goto out;
    memcpy(c->mcv, full, 16);
    sim_buf_u8(out, tag);
    sim_tlv_put_len(out, cb.len + 8);
    sim_buf_put(out, cb.p, cb.len);
    sim_buf_put(out, full, 8);
    rc = sim_buf_check(out, err);
out:
    sim_buf_free(&cb);
    return rc;
}

sim_rc sim_scp03t_resp(sim_scp03_chain *c, const uint8_t *p, size_t n, sim_buf *out, sim_err *err)
{
    if (n == 0) {
        sim_buf_u8(out, 0x86);
        sim_buf_u8(out, 0x00);
        return sim_buf_check(out, err);
    }
    sim_buf cb;
    sim_buf_init(&cb);
    sim_buf_put(&cb, p, n);
    sim_pad80(&cb);
    uint8_t blk[16], icv[16], full[16];
    ctr_block(blk, c->ctr, 1);
    sim_rc rc;
    if (!(rc = sim_buf_check(&cb, err)) && !(rc = sim_aes_ecb(c->senc, c->klen, blk, icv, err)) &&
        !(rc = sim_aes_cbc(1, c->senc, c->klen, icv, cb.p, cb.len, cb.p, err)) &&
        !(rc = mac_tlv(c->srmac, c->klen, c->mcv, 0x86, cb.len + 8, cb.p, cb.len, full, err))) {
        sim_buf_u8(out, 0x86);
        sim_tlv_put_len(out, cb.len + 8);
        sim_buf_put(out, cb.p, cb.len);
        sim_buf_put(out, full, 8);
        rc = sim_buf_check(out, err);
    }
    sim_buf_free(&cb);
    return rc;
}
