/* ES5 command scripts of the SM-SR and the reading of the card's answers. */
#include "appliance/smsr/apdu.h"

#include <string.h>

#include "crypto/tlv.h"

/* one C-APDU as a TLV 22: CLA INS P1 P2 Lc data (no Le) */
static sm_rc capdu(sm_buf *out, uint8_t cla, uint8_t ins, uint8_t p1, uint8_t p2, const uint8_t *data, size_t len,
                   sm_err *err)
{
    if (len > 255)
        return sm_errf(err, SM_EINVAL, "apdu: command data of %zu bytes does not fit a short APDU", len);
    uint8_t a[5 + 255];
    a[0] = cla;
    a[1] = ins;
    a[2] = p1;
    a[3] = p2;
    a[4] = (uint8_t)len;
    if (len)
        memcpy(a + 5, data, len);
    if (tlv_put(out, 0x22, a, 5 + len) != 0 || out->failed)
        return sm_errf(err, SM_ENOMEM, "apdu: out of memory");
    return SM_OK;
}

static bool aid_ok(const db_aid *a) { return a && a->len >= 5 && a->len <= 16; }

sm_rc smsr_script_install(sm_buf *out, const db_aid *elf, const db_aid *module, const db_aid *isdp, int64_t quota,
                          sm_err *err)
{
    if (!aid_ok(elf) || !aid_ok(module) || !aid_ok(isdp))
        return sm_errf(err, SM_EINVAL, "apdu: INSTALL needs the ELF, module and ISD-P AIDs (5 to 16 bytes)");
    uint8_t d[128];
    size_t n = 0;
    d[n++] = (uint8_t)elf->len;
    memcpy(d + n, elf->b, elf->len);
    n += elf->len;
    d[n++] = (uint8_t)module->len;
    memcpy(d + n, module->b, module->len);
    n += module->len;
    d[n++] = (uint8_t)isdp->len;
    memcpy(d + n, isdp->b, isdp->len);
    n += isdp->len;
    static const uint8_t priv[] = {0x03, 0x80, 0xC0, 0x00}; /* security domain, trusted path, authorized management */
    memcpy(d + n, priv, sizeof priv);
    n += sizeof priv;
    uint8_t par[24];
    size_t pl = 0;
    static const uint8_t c9[] = {0xC9, 0x04, 0x81, 0x02, 0x03, 0x70}; /* SCP03, i = 70 */
    memcpy(par, c9, sizeof c9);
    pl += sizeof c9;
    if (quota > 0) {
        uint8_t q[4];
        size_t ql = quota > 0xFFFFFF ? 4 : quota > 0xFFFF ? 3 : quota > 0xFF ? 2 : 1;
        if (quota > 0xFFFFFFFFLL)
            return sm_errf(err, SM_EINVAL, "apdu: memory quota %lld does not fit 4 bytes", (long long)quota);
        for (size_t i = 0; i < ql; i++)
            q[i] = (uint8_t)(quota >> (8 * (ql - 1 - i)));
        par[pl++] = 0xEF;
        par[pl++] = (uint8_t)(2 + ql);
        par[pl++] = 0x83;
        par[pl++] = (uint8_t)ql;
        memcpy(par + pl, q, ql);
        pl += ql;
    }
    d[n++] = (uint8_t)pl;
    memcpy(d + n, par, pl);
    n += pl;
    d[n++] = 0x00; /* no install token */
    return capdu(out, 0x80, 0xE6, 0x0C, 0x00, d, n, err);
}

sm_rc smsr_script_store_aid(sm_buf *out, uint16_t dgi, const db_aid *aid, sm_err *err)
{
    if (!aid_ok(aid))
        return sm_errf(err, SM_EINVAL, "apdu: STORE DATA needs an ISD-P AID of 5 to 16 bytes");
    uint8_t d[24];
    d[0] = (uint8_t)(dgi >> 8);
    d[1] = (uint8_t)dgi;
    d[2] = (uint8_t)(2 + aid->len);
    d[3] = 0x4F;
    d[4] = (uint8_t)aid->len;
    memcpy(d + 5, aid->b, aid->len);
    return capdu(out, 0x80, 0xE2, 0x88, 0x00, d, 5 + aid->len, err);
}

sm_rc smsr_script_delete(sm_buf *out, const db_aid *aid, sm_err *err)
{
    if (!aid_ok(aid))
        return sm_errf(err, SM_EINVAL, "apdu: DELETE needs an ISD-P AID of 5 to 16 bytes");
    uint8_t d[18];
    d[0] = 0x4F;
    d[1] = (uint8_t)aid->len;
    memcpy(d + 2, aid->b, aid->len);
    return capdu(out, 0x80, 0xE4, 0x00, 0x40, d, 2 + aid->len, err);
}

sm_rc smsr_script_audit(sm_buf *out, sm_err *err)
{
    static const uint8_t all[] = {0x4F, 0x00};
    sm_rc rc = capdu(out, 0x80, 0xF2, 0x40, 0x02, all, sizeof all, err);
    if (rc == SM_OK)
        rc = capdu(out, 0x80, 0xCA, 0xFF, 0x21, NULL, 0, err);
    return rc;
}

/* ---- answers ------------------------------------------------------------------------------------- */

bool smsr_sw_ok(uint16_t sw)
{
    uint8_t sw1 = (uint8_t)(sw >> 8);
    return sw == 0x9000 || sw1 == 0x61 || sw1 == 0x62 || sw1 == 0x63;
}

uint16_t smsr_last_sw(const smsr_rscript *s) { return s->n ? s->r[s->n - 1].sw : 0; }

static sm_rc read_items(const uint8_t *p, size_t len, smsr_rscript *out, sm_err *err)
{
    tlv_rd rd;
    tlv_rd_init(&rd, p, len, TLV_F_PAD);
    tlv t;
    sm_rc rc;
    while ((rc = tlv_next(&rd, &t, err)) == SM_OK) {
        switch (t.tag) {
        case 0x80:
            if (t.len != 1)
                return sm_errf(err, SM_EPARSE, "response script: executed-command count of %zu bytes", t.len);
            out->executed = t.val[0];
            break;
        case 0x23:
            if (t.len < 2)
                return sm_errf(err, SM_EPARSE, "response script: R-APDU at offset %zu shorter than a status word",
                               t.off);
            if (out->n >= SMSR_RAPDU_MAX)
                return sm_errf(err, SM_ELIMIT, "response script: more than %d R-APDUs", SMSR_RAPDU_MAX);
            out->r[out->n].data = t.val;
            out->r[out->n].len = t.len - 2;
            out->r[out->n].sw = (uint16_t)(t.val[t.len - 2] << 8 | t.val[t.len - 1]);
            out->n++;
            break;
        case 0x81: /* immediate action response */
            break;
        case 0x90:
            out->bad_format = true;
            break;
        default:
            return sm_errf(err, SM_EPARSE, "response script: unexpected tag %X at offset %zu", (unsigned)t.tag, t.off);
        }
    }
    return rc == SM_ENOTFOUND ? SM_OK : rc;
}

sm_rc smsr_script_response(const uint8_t *p, size_t len, smsr_rscript *out, sm_err *err)
{
    memset(out, 0, sizeof *out);
    out->executed = -1;
    if (!p || len == 0)
        return SM_OK;
    if (p[0] == 0xAB || p[0] == 0xAF) {
        tlv t;
        tlv_rd rd;
        tlv_rd_init(&rd, p, len, TLV_F_INDEF | TLV_F_PAD);
        sm_rc rc = tlv_next(&rd, &t, err);
        if (rc == SM_OK && !tlv_rd_done(&rd))
            rc = sm_errf(err, SM_EPARSE, "response script: bytes after the %02X template", p[0]);
        if (rc != SM_OK)
            return rc;
        return read_items(t.val, t.len, out, err);
    }
    return read_items(p, len, out, err);
}

static int64_t be(const uint8_t *v, size_t n)
{
    int64_t x = 0;
    for (size_t i = 0; i < n; i++)
        x = x << 8 | v[i];
    return x;
}

sm_rc smsr_parse_get_status(const uint8_t *p, size_t len, smsr_isdp_status *out, size_t cap, size_t *n, sm_err *err)
{
    *n = 0;
    tlv_rd rd;
    tlv_rd_init(&rd, p, len, 0);
    tlv t;
    sm_rc rc;
    while ((rc = tlv_next(&rd, &t, err)) == SM_OK) {
        if (t.tag != 0xE3)
            return sm_errf(err, SM_EPARSE, "GET STATUS: tag %X at offset %zu is not E3", (unsigned)t.tag, t.off);
        if (*n >= cap)
            return sm_errf(err, SM_ELIMIT, "GET STATUS: more than %zu ISD-Ps", cap);
        smsr_isdp_status *s = &out[*n];
        memset(s, 0, sizeof *s);
        s->allocated = s->free = -1;
        tlv_rd in;
        if ((rc = tlv_rd_child(&rd, &t, &in, err)) != SM_OK)
            return rc;
        tlv f;
        bool have_aid = false, have_lcs = false;
        while ((rc = tlv_next(&in, &f, err)) == SM_OK) {
            if (f.tag == 0x4F) {
                if (f.len < 5 || f.len > 16)
                    return sm_errf(err, SM_EPARSE, "GET STATUS: AID of %zu bytes at offset %zu", f.len, f.off);
                memcpy(s->aid.b, f.val, f.len);
                s->aid.len = f.len;
                have_aid = true;
            } else if (f.tag == 0x9F70) {
                if (f.len != 1)
                    return sm_errf(err, SM_EPARSE, "GET STATUS: life cycle state of %zu bytes", f.len);
                s->lcs = f.val[0];
                have_lcs = true;
            } else if (f.tag == 0x53) {
                s->fallback = f.len >= 1 && (f.val[0] & 0x01);
            } else if (f.tag == 0x8F || f.tag == 0x91) {
                if (f.len < 1 || f.len > 4)
                    return sm_errf(err, SM_EPARSE, "GET STATUS: memory figure of %zu bytes", f.len);
                if (f.tag == 0x8F)
                    s->allocated = be(f.val, f.len);
                else
                    s->free = be(f.val, f.len);
            } /* other tags (privileges, ...) ignored */
        }
        if (rc != SM_ENOTFOUND)
            return rc;
        if (!have_aid || !have_lcs)
            return sm_errf(err, SM_EPARSE, "GET STATUS: an E3 entry without AID or life cycle state (offset %zu)", t.off);
        (*n)++;
    }
    return rc == SM_ENOTFOUND ? SM_OK : rc;
}

sm_rc smsr_parse_ff21(const uint8_t *p, size_t len, int64_t *free_nvm, sm_err *err)
{
    *free_nvm = -1;
    /* FF21 by hand: the TLV reader takes a first tag byte FF for padding */
    if (len < 3 || p[0] != 0xFF || p[1] != 0x21)
        return sm_errf(err, SM_EPARSE, "GET DATA: the answer is not an FF21 template");
    size_t off = 3, vl = p[2];
    if (p[2] == 0x81) {
        if (len < 4)
            return sm_errf(err, SM_EPARSE, "GET DATA: FF21 length truncated");
        vl = p[3];
        off = 4;
    } else if (p[2] > 0x7F) {
        return sm_errf(err, SM_EPARSE, "GET DATA: FF21 length form %02X not supported", p[2]);
    }
    if (off + vl != len)
        return sm_errf(err, SM_EPARSE, "GET DATA: FF21 of %zu bytes in an answer of %zu", vl, len - off);
    sm_rc rc;
    tlv_rd rd;
    tlv_rd_init(&rd, p + off, vl, 0);
    tlv f;
    while ((rc = tlv_next(&rd, &f, err)) == SM_OK) {
        if (f.tag == 0x82) {
            if (f.len < 1 || f.len > 4)
                return sm_errf(err, SM_EPARSE, "GET DATA: free memory of %zu bytes", f.len);
            *free_nvm = be(f.val, f.len);
        }
    }
    return rc == SM_ENOTFOUND ? SM_OK : rc;
}

const char *smsr_lcs_state(uint8_t lcs)
{
    switch (lcs) {
    case 0x3F:
        return "Enabled";
    case 0x1F:
        return "Disabled";
    case 0x07:
    case 0x0F:
        return "Created";
    }
    return NULL;
}
