/* SCP03t: SCP03 over TLVs for the ES8 profile download. */
#include "crypto/scp03t.h"

#include <stdlib.h>
#include <string.h>

#include "crypto/pad.h"
#include "crypto/tlv.h"

sm_rc scp03t_init_update_tlv(uint8_t kvn, const uint8_t host_challenge[8], sm_buf *out, sm_err *err)
{
    uint8_t v[10] = {kvn, 0x00};
    memcpy(v + 2, host_challenge, 8);
    if (tlv_put(out, 0x84, v, sizeof v))
        return sm_errf(err, SM_ENOMEM, "scp03t: out of memory");
    return SM_OK;
}

static sm_rc card_error(const tlv *t, sm_err *err)
{
    unsigned reason = t->len == 1 ? t->val[0] : 0xFFFF;
    return sm_errf(err, SM_EPROTO, "scp03t: the ISD-P reports error %04X reason %02X (offset %zu)", (unsigned)t->tag,
                   reason & 0xFF, t->off);
}

static bool is_error_tag(uint32_t tag)
{
    return (tag & 0xFFF0) == 0x9F40;
}

sm_rc scp03t_parse_init_update(const uint8_t *p, size_t len, scp03_iu *iu, sm_err *err)
{
    tlv t;
    sm_rc rc = tlv_parse_one(p, len, 0, &t, err);
    if (rc != SM_OK) {
        sm_err_prefix(err, "scp03t: INITIALIZE UPDATE answer");
        return rc;
    }
    if (is_error_tag(t.tag))
        return card_error(&t, err);
    if (t.tag != 0x84)
        return sm_errf(err, SM_EPROTO, "scp03t: expected the 84 answer, got tag %X", (unsigned)t.tag);
    return scp03_parse_init_update(t.val, t.len, iu, err);
}

static void init_common(scp03t_session *ss)
{
    ss->seg_max = SCP03T_SEG_DEFAULT;
}

sm_rc scp03t_open(hsm_sess *s, const hsm_key *kenc, const hsm_key *kmac, unsigned keylen,
                  const uint8_t host_challenge[8], const scp03_iu *iu, scp03t_session *ss, sm_err *err)
{
    memset(ss, 0, sizeof *ss);
    init_common(ss);
    sm_rc rc = scp03_open(s, kenc, kmac, keylen, host_challenge, iu, &ss->sc, err);
    if (rc == SM_OK)
        ss->iu_checked = true;
    return rc;
}

sm_rc scp03t_open_precomputed(hsm_sess *s, const hsm_key *kenc, const hsm_key *kmac, unsigned keylen,
                              const uint8_t host_challenge[8], const uint8_t seq[3], const uint8_t *aid,
                              size_t aidlen, scp03t_session *ss, sm_err *err)
{
    memset(ss, 0, sizeof *ss);
    init_common(ss);
    uint8_t cc[8];
    sm_rc rc = scp03_card_challenge(s, kenc, seq, aid, aidlen, cc, err);
    if (rc == SM_OK)
        rc = scp03_open_ex(s, kenc, kmac, keylen, host_challenge, cc, NULL, ss->expect_cryptogram, &ss->sc, err);
    if (rc != SM_OK) {
        sm_err_prefix(err, "scp03t: precomputing the session");
        return rc;
    }
    ss->precomputed = true;
    return SM_OK;
}

sm_rc scp03t_check_init_update(scp03t_session *ss, const scp03_iu *iu, sm_err *err)
{
    if (!ss->precomputed)
        return sm_errf(err, SM_ESTATE, "scp03t: the session was not precomputed");
    if (memcmp(iu->card_challenge, ss->sc.card_challenge, 8) != 0)
        return sm_errf(err, SM_EVERIFY, "scp03t: the card challenge differs from the precomputed one "
                       "(sequence counter out of step?)");
    if (!ct_equal(iu->card_cryptogram, ss->expect_cryptogram, 8))
        return sm_errf(err, SM_EVERIFY, "scp03t: card cryptogram does not verify");
    ss->iu_checked = true;
    return SM_OK;
}

void scp03t_session_from_keys(const hsm_key *s_enc, const hsm_key *s_mac, const hsm_key *s_rmac,
                              const uint8_t mcv[16], scp03t_session *ss)
{
    memset(ss, 0, sizeof *ss);
    init_common(ss);
    scp03_session_from_keys(s_enc, s_mac, s_rmac, 16, 0x33, mcv, 0, &ss->sc);
    ss->iu_checked = true;
}

sm_rc scp03t_ext_auth_tlv(hsm_sess *s, scp03t_session *ss, uint8_t sl, sm_buf *out, sm_err *err)
{
    if (sl != 0x33 && sl != 0x13 && sl != 0x11 && sl != 0x03 && sl != 0x01)
        return sm_errf(err, SM_EINVAL, "scp03t: security level %02X", sl);
    uint8_t m[16 + 11], mac[16];
    memset(m, 0, 16);
    m[16] = 0x85;
    m[17] = 0x11;
    m[18] = sl;
    memcpy(m + 19, ss->sc.host_cryptogram, 8);
    sm_rc rc = hsm_aes_cmac(s, &ss->sc.s_mac, m, sizeof m, mac, err);
    if (rc != SM_OK) {
        sm_err_prefix(err, "scp03t: EXTERNAL AUTHENTICATE MAC");
        return rc;
    }
    if (sm_buf_append(out, m + 16, 11) || sm_buf_append(out, mac, 8))
        return sm_errf(err, SM_ENOMEM, "scp03t: out of memory");
    memcpy(ss->sc.mcv, mac, 16);
    ss->sc.sl = sl;
    ss->sc.ctr = 0;
    ss->sc.authenticated = true;
    return SM_OK;
}

static sm_rc push_pending(scp03t_session *ss, uint8_t tag, sm_err *err)
{
    if (ss->npending == ss->pend_cap) {
        if (ss->pend_cap >= SCP03T_PENDING_MAX)
            return sm_errf(err, SM_ELIMIT, "scp03t: more than %d unanswered TLVs", SCP03T_PENDING_MAX);
        size_t nc = ss->pend_cap ? ss->pend_cap * 2 : 64;
        scp03t_pending *p = malloc(nc * sizeof *p);
        if (!p)
            return sm_errf(err, SM_ENOMEM, "scp03t: out of memory");
        for (size_t i = 0; i < ss->npending; i++)
            p[i] = ss->pending[(ss->pend_head + i) % ss->pend_cap];
        free(ss->pending);
        ss->pending = p;
        ss->pend_head = 0;
        ss->pend_cap = nc;
    }
    scp03t_pending *e = &ss->pending[(ss->pend_head + ss->npending) % ss->pend_cap];
    memcpy(e->mcv, ss->sc.mcv, 16);
    e->ctr = ss->sc.ctr;
    e->tag = tag;
    ss->npending++;
    return SM_OK;
}

/* Work buffer layout for one segment, so that the MAC input MCV || hdr || C is contiguous without
 * copying C:  [ 4 spare | 16 ctr-block -> ICV | C ... ]; after encryption the MCV and the header are
 * written over the spare bytes and the (no longer needed) ICV, right before C. */
#define WORK_HDR 4
static sm_rc wrap_one(hsm_sess *s, scp03t_session *ss, uint8_t tag, bool encrypt, const uint8_t *data, size_t len,
                      uint8_t *work, size_t cap, sm_buf *out, sm_err *err)
{
    if (!ss->sc.authenticated)
        return sm_errf(err, SM_ESTATE, "scp03t: protected TLV before EXTERNAL AUTHENTICATE");
    if (ss->sc.ctr == UINT32_MAX)
        return sm_errf(err, SM_ELIMIT, "scp03t: counter exhausted");
    uint32_t ctr = ss->sc.ctr + 1;
    uint8_t *c = work + WORK_HDR + 16;
    size_t clen;
    if (encrypt) {
        sm_rc rc = scp03_encrypt_ctr(s, &ss->sc, ctr, data, len, work + WORK_HDR, cap - WORK_HDR, &clen, err);
        if (rc != SM_OK)
            return rc;
        /* scp03_encrypt_ctr leaves C at the start of its buffer; put it after the ICV slot */
        memmove(c, work + WORK_HDR, clen);
    } else {
        if (cap < WORK_HDR + 16 + len)
            return sm_errf(err, SM_EINVAL, "scp03t: work buffer too small");
        memcpy(c, data, len);
        clen = len;
    }
    size_t vlen = clen + 8, hl = 1 + tlv_len_size(vlen);
    uint8_t *hdr = c - hl, *macin = hdr - 16;
    hdr[0] = tag;
    if (hl == 2) {
        hdr[1] = (uint8_t)vlen;
    } else {
        hdr[1] = (uint8_t)(0x80 | (hl - 2));
        for (size_t i = 2; i < hl; i++)
            hdr[i] = (uint8_t)(vlen >> (8 * (hl - 1 - i)));
    }
    memcpy(macin, ss->sc.mcv, 16);
    uint8_t mac[16];
    sm_rc rc = hsm_aes_cmac(s, &ss->sc.s_mac, macin, 16 + hl + clen, mac, err);
    if (rc != SM_OK) {
        sm_err_prefix(err, "scp03t: C-MAC of a %02X TLV", tag);
        return rc;
    }
    if (sm_buf_append(out, hdr, hl + clen) || sm_buf_append(out, mac, 8))
        return sm_errf(err, SM_ENOMEM, "scp03t: out of memory");
    memcpy(ss->sc.mcv, mac, 16);
    ss->sc.ctr = ctr;
    return push_pending(ss, tag, err);
}

static size_t work_size(size_t seg)
{
    return WORK_HDR + 16 + pad80_len(seg, 16) + 16;
}

sm_rc scp03t_wrap_tlv(hsm_sess *s, scp03t_session *ss, uint8_t tag, bool encrypt, const uint8_t *data, size_t len,
                      sm_buf *out, sm_err *err)
{
    if (len > 0xFFFF)
        return sm_errf(err, SM_EINVAL, "scp03t: TLV data of %zu bytes is too long", len);
    size_t cap = work_size(len);
    uint8_t *work = malloc(cap);
    if (!work)
        return sm_errf(err, SM_ENOMEM, "scp03t: out of memory");
    sm_rc rc = wrap_one(s, ss, tag, encrypt, data, len, work, cap, out, err);
    explicit_bzero(work, cap);
    free(work);
    return rc;
}

sm_rc scp03t_protect(hsm_sess *s, scp03t_session *ss, const uint8_t *pkg, size_t len, sm_buf *out, sm_err *err)
{
    if (ss->seg_max == 0 || ss->seg_max > SCP03T_SEG_MAX)
        return sm_errf(err, SM_EINVAL, "scp03t: segment size %zu out of range 1..%d", ss->seg_max, SCP03T_SEG_MAX);
    if (len == 0)
        return sm_errf(err, SM_EINVAL, "scp03t: empty profile package");
    if (!ss->sc.authenticated || (ss->sc.sl & 0x33) != 0x33)
        return sm_errf(err, SM_ESTATE, "scp03t: profile download needs an authenticated session at level 33");
    size_t cap = work_size(ss->seg_max);
    uint8_t *work = malloc(cap);
    if (!work)
        return sm_errf(err, SM_ENOMEM, "scp03t: out of memory");
    if (sm_buf_reserve(out, len + (len / ss->seg_max + 1) * 32)) {
        free(work);
        return sm_errf(err, SM_ENOMEM, "scp03t: out of memory");
    }
    sm_rc rc = SM_OK;
    for (size_t off = 0; off < len && rc == SM_OK; off += ss->seg_max) {
        size_t n = len - off < ss->seg_max ? len - off : ss->seg_max;
        rc = wrap_one(s, ss, 0x86, true, pkg + off, n, work, cap, out, err);
        if (rc == SM_OK)
            ss->segments_sent++;
        else
            sm_err_prefix(err, "scp03t: segment at offset %zu", off);
    }
    explicit_bzero(work, cap);
    free(work);
    return rc;
}

static sm_rc pop_pending(scp03t_session *ss, const tlv *t, scp03t_pending *e, sm_err *err)
{
    if (ss->npending == 0)
        return sm_errf(err, SM_EPROTO, "scp03t: response TLV %X at offset %zu answers no command", (unsigned)t->tag,
                       t->off);
    *e = ss->pending[ss->pend_head];
    ss->pend_head = (ss->pend_head + 1) % ss->pend_cap;
    ss->npending--;
    return SM_OK;
}

static sm_rc check_86(hsm_sess *s, scp03t_session *ss, const tlv *t, const scp03t_pending *e, sm_buf *plain,
                      sm_err *err)
{
    if (t->len == 0)
        return SM_OK;
    bool rmac = ss->sc.sl & SCP03_SL_RMAC, renc = ss->sc.sl & SCP03_SL_RENC;
    size_t mlen = rmac ? 8 : 0;
    if (t->len < mlen + (renc ? 16 : 1) || (renc && (t->len - mlen) % 16))
        return sm_errf(err, SM_EVERIFY, "scp03t: response data of %zu bytes at offset %zu does not fit level %02X",
                       t->len, t->off, ss->sc.sl);
    size_t hl = (size_t)(t->val - t->raw), clen = t->len - mlen;
    uint8_t *m = malloc(16 + hl + clen), *pt = malloc(clen);
    if (!m || !pt) {
        free(m);
        free(pt);
        return sm_errf(err, SM_ENOMEM, "scp03t: out of memory");
    }
    sm_rc rc = SM_OK;
    if (rmac) {
        /* R-MAC = CMAC(S-RMAC, MCV of the command || 86 || length as received || data)[0..7] */
        memcpy(m, e->mcv, 16);
        memcpy(m + 16, t->raw, hl + clen);
        uint8_t mac[16];
        rc = hsm_aes_cmac(s, &ss->sc.s_rmac, m, 16 + hl + clen, mac, err);
        if (rc == SM_OK && !ct_equal(mac, t->val + clen, 8))
            rc = sm_errf(err, SM_EVERIFY, "scp03t: R-MAC of the response at offset %zu does not verify", t->off);
    }
    size_t pl = clen;
    if (rc == SM_OK && renc)
        rc = scp03_decrypt_resp(s, &ss->sc, e->ctr, t->val, clen, pt, &pl, err);
    else if (rc == SM_OK)
        memcpy(pt, t->val, clen);
    if (rc == SM_OK && plain && sm_buf_append(plain, pt, pl))
        rc = sm_errf(err, SM_ENOMEM, "scp03t: out of memory");
    explicit_bzero(pt, clen);
    free(m);
    free(pt);
    return rc;
}

sm_rc scp03t_check_responses(hsm_sess *s, scp03t_session *ss, const uint8_t *p, size_t len, sm_buf *plain,
                             sm_err *err)
{
    if (!ss->iu_checked)
        return sm_errf(err, SM_ESTATE, "scp03t: the card's INITIALIZE UPDATE answer has not been checked");
    tlv_rd r;
    tlv_rd_init(&r, p, len, 0);
    tlv t;
    sm_rc rc;
    while ((rc = tlv_next(&r, &t, err)) == SM_OK) {
        scp03t_pending e;
        if (is_error_tag(t.tag)) {
            if (t.tag != 0x9F45 && ss->npending)
                pop_pending(ss, &t, &e, NULL);
            return card_error(&t, err);
        }
        switch (t.tag) {
        case 0x85:
            if (t.len != 0)
                return sm_errf(err, SM_EPROTO, "scp03t: EXTERNAL AUTHENTICATE answer of %zu bytes", t.len);
            break;
        case 0x86:
            if ((rc = pop_pending(ss, &t, &e, err)) != SM_OK)
                return rc;
            if ((rc = check_86(s, ss, &t, &e, plain, err)) != SM_OK)
                return rc;
            break;
        default:
            return sm_errf(err, SM_EPROTO, "scp03t: unexpected response tag %X at offset %zu", (unsigned)t.tag, t.off);
        }
    }
    return rc == SM_ENOTFOUND ? SM_OK : rc;
}

void scp03t_close(hsm_sess *s, scp03t_session *ss)
{
    scp03_close(s, &ss->sc);
    free(ss->pending);
    explicit_bzero(ss, sizeof *ss);
}
