/* eUICC response scripts and installation results, as the SM-DP reads them. */
#include "appliance/smdp/rscript.h"

#include <string.h>

#include "crypto/tlv.h"

bool dp_sw_ok(uint16_t sw)
{
    unsigned hi = sw >> 8;
    return sw == 0x9000 || hi == 0x61 || hi == 0x62 || hi == 0x63;
}

static bool scp03t_tag(uint32_t tag)
{
    return tag == 0x84 || tag == 0x85 || tag == 0x86 || (tag & 0xFFF0) == 0x9F40;
}

sm_rc dp_rscript_parse(const uint8_t *p, size_t len, dp_rscript *out, sm_buf *scp, sm_err *err)
{
    memset(out, 0, sizeof *out);
    out->executed = -1;
    if (len > DP_RSCRIPT_MAX)
        return sm_errf(err, SM_ELIMIT, "eUICC response of %zu bytes over %u", len, DP_RSCRIPT_MAX);
    const uint8_t *body = p;
    size_t blen = len;
    tlv t;
    /* an AB (definite) or AF 80 .. 00 00 (indefinite) wrapper around the whole script */
    if (len && (p[0] == 0xAB || p[0] == 0xAF)) {
        sm_rc rc = tlv_parse_one(p, len, TLV_F_INDEF, &t, err);
        if (rc != SM_OK) {
            sm_err_prefix(err, "eUICC response script");
            return SM_EPROTO;
        }
        body = t.val;
        blen = t.len;
    }
    tlv_rd r;
    tlv_rd_init(&r, body, blen, 0);
    sm_rc rc;
    while ((rc = tlv_next(&r, &t, err)) == SM_OK) {
        size_t off = (size_t)(t.raw - p);
        if (t.tag == 0x80) {
            if (t.len != 1 || out->executed >= 0)
                return sm_errf(err, SM_EPROTO, "eUICC response: bad command count at offset %zu", off);
            out->executed = t.val[0];
        } else if (t.tag == 0x90) {
            out->bad_format = true;
        } else if (t.tag == 0x23) {
            if (t.len < 2)
                return sm_errf(err, SM_EPROTO, "eUICC response: R-APDU without a status word at offset %zu", off);
            if (out->n >= DP_RAPDU_MAX)
                return sm_errf(err, SM_EPROTO, "eUICC response: more than %d R-APDUs", DP_RAPDU_MAX);
            dp_rapdu *a = &out->r[out->n++];
            a->data = t.val;
            a->len = t.len - 2;
            a->sw = (uint16_t)(t.val[t.len - 2] << 8 | t.val[t.len - 1]);
        } else if (scp03t_tag(t.tag)) {
            out->nscp++;
            if (scp && sm_buf_append(scp, t.raw, t.rawlen))
                return sm_errf(err, SM_ENOMEM, "eUICC response: out of memory");
        } else {
            return sm_errf(err, SM_EPROTO, "eUICC response: unexpected tag %X at offset %zu", (unsigned)t.tag, off);
        }
    }
    if (rc != SM_ENOTFOUND) {
        sm_err_prefix(err, "eUICC response script");
        return SM_EPROTO;
    }
    return SM_OK;
}

sm_rc dp_euicc_response(const uint8_t *p, size_t len, dp_pe_report *out, sm_err *err)
{
    memset(out, 0, sizeof *out);
    out->bad_pe = -1;
    tlv top, a0, st;
    sm_rc rc = tlv_parse_one(p, len, TLV_F_MINLEN, &top, err);
    if (rc != SM_OK || top.tag != 0x30)
        return sm_errf(err, SM_EPROTO, "EUICCResponse: not one SEQUENCE (30)");
    tlv_rd r;
    tlv_rd_init(&r, top.val, top.len, TLV_F_MINLEN);
    if ((rc = tlv_expect(&r, 0xA0, &a0, "peStatus list", err)) != SM_OK)
        return SM_EPROTO;
    tlv_rd l;
    tlv_rd_init(&l, a0.val, a0.len, TLV_F_MINLEN);
    while ((rc = tlv_next(&l, &st, err)) == SM_OK) {
        if (st.tag != 0x30)
            return sm_errf(err, SM_EPROTO, "EUICCResponse: PEStatus %zu is not a SEQUENCE", out->npes);
        tlv_rd e;
        tlv_rd_init(&e, st.val, st.len, TLV_F_MINLEN);
        tlv code, id;
        bool has_id = false;
        if (tlv_expect(&e, 0x80, &code, "status", err) != SM_OK || code.len != 1)
            return sm_errf(err, SM_EPROTO, "EUICCResponse: PEStatus %zu without a one-byte status", out->npes);
        if (tlv_optional(&e, 0x81, &id, &has_id, err) != SM_OK || (has_id && (id.len < 1 || id.len > 2)))
            return sm_errf(err, SM_EPROTO, "EUICCResponse: PEStatus %zu with a bad identification", out->npes);
        /* later members (additional information, offset) are tolerated: read over */
        tlv more;
        while ((rc = tlv_next(&e, &more, err)) == SM_OK) {
        }
        if (rc != SM_ENOTFOUND)
            return SM_EPROTO;
        if (code.val[0] != 0 && out->bad_pe < 0) {
            out->bad_status = code.val[0];
            out->bad_pe = has_id ? (id.len == 1 ? id.val[0] : (id.val[0] << 8 | id.val[1])) : 0;
        }
        out->npes++;
    }
    if (rc != SM_ENOTFOUND)
        return SM_EPROTO;
    tlv ab;
    bool has_ab = false;
    if (tlv_optional(&r, 0x81, &ab, &has_ab, err) != SM_OK)
        return SM_EPROTO;
    out->aborted = has_ab;
    if (tlv_rd_end(&r, "EUICCResponse", err) != SM_OK)
        return SM_EPROTO;
    return SM_OK;
}
