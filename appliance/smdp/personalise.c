/* Personalisation of a template: edits built in locked memory, the SAIP re-encoder, and a
 * decode-and-compare of the result. */
#include "appliance/smdp/personalise.h"

#include <stdlib.h>
#include <string.h>

#include "appliance/smdp/simenc.h"
#include "lib/secmem.h"

static const char *const CODE_NAMES[SMDP_CODE_COUNT] = {"pin1", "pin2", "puk1", "puk2", "adm1", "adm2"};

const char *smdp_code_name(smdp_code c)
{
    return (unsigned)c < SMDP_CODE_COUNT ? CODE_NAMES[c] : "?";
}

void smdp_code_bounds(smdp_code c, size_t *min, size_t *max)
{
    *min = c == SMDP_PIN1 || c == SMDP_PIN2 ? 4 : 8;
    *max = 8;
}

static bool code_is_puk(smdp_code c)
{
    return c == SMDP_PUK1 || c == SMDP_PUK2;
}

static uint32_t code_ref(smdp_code c)
{
    switch (c) {
    case SMDP_PIN1:
    case SMDP_PUK1:
        return 0x01;
    case SMDP_PIN2:
    case SMDP_PUK2:
        return 0x81;
    case SMDP_ADM1:
        return SAIP_REF_ADM1;
    default:
        return SAIP_REF_ADM2;
    }
}

/* Everything derived from the values lives here, in locked memory. */
typedef struct scratch {
    uint8_t iccid_hdr[10];
    uint8_t iccid_ef[12]; /* 83 0A + value, for an append */
    uint8_t imsi[11];     /* 83 09 + value */
    uint8_t code[SMDP_CODE_COUNT][8];
} scratch;

#define MAX_EDITS (4 + 2 * SAIP_MAX_AKA + 2 * SAIP_MAX_CODES)

typedef struct plan {
    saip_edit e[MAX_EDITS];
    size_t n;
    uint8_t *msisdn; /* malloc'd: not secret */
    size_t msisdn_len;
} plan;

static void edit(plan *pl, saip_edit_kind k, int32_t node, const uint8_t *d, size_t len)
{
    pl->e[pl->n++] = (saip_edit){k, node, d, len};
}

/* The file's content replaced by value (vlen bytes): in place, or appended as 83 LL value. */
static sm_rc file_value(plan *pl, const saip_file *f, uint8_t *tlv, size_t vlen, const char *what, sm_err *err)
{
    if (f->file == SAIP_NONE)
        return sm_errf(err, SM_ENOTFOUND, "personalising: the template has no %s", what);
    if (f->content != SAIP_NONE) {
        edit(pl, SAIP_EDIT_VALUE, f->content, tlv + 2, vlen);
    } else if (f->n_fill == 0) {
        tlv[0] = 0x83;
        tlv[1] = (uint8_t)vlen;
        edit(pl, SAIP_EDIT_APPEND, f->file, tlv, vlen + 2);
    } else {
        return sm_errf(err, SM_EINVAL, "personalising: %s content is written in pieces (fillFileOffset); "
                                       "not supported", what);
    }
    return SM_OK;
}

static sm_rc key_lengths(const saip_pkg *t, const smdp_perso *v, sm_err *err)
{
    if (!v->ki != !v->opc)
        return sm_errf(err, SM_EINVAL, "personalising: Ki and OPc must be given together");
    if (!v->ki)
        return SM_OK;
    size_t n = 0;
    for (size_t k = 0; k < t->naka; k++) {
        const saip_aka *a = &t->aka[k];
        if (a->mapping)
            continue;
        n++;
        bool ok = a->algorithm == SAIP_ALG_MILENAGE ? v->ki_len == 16 && v->opc_len == 16
                : a->algorithm == SAIP_ALG_TUAK     ? (v->ki_len == 16 || v->ki_len == 32) && v->opc_len == 32
                                                    : (v->ki_len == 16 || v->ki_len == 32) && v->opc_len == 16;
        if (!ok)
            return sm_errf(err, SM_EINVAL, "personalising: a Ki of %zu bytes and an OPc of %zu bytes do not fit "
                                           "algorithm %u", v->ki_len, v->opc_len, a->algorithm);
    }
    if (n == 0)
        return sm_errf(err, SM_ENOTFOUND, "personalising: the template has no akaParameter with its own key");
    return SM_OK;
}

static sm_rc msisdn_plan(const saip_pkg *t, const char *msisdn, plan *pl, sm_err *err)
{
    const saip_file *f = &t->ef_msisdn;
    if (f->file == SAIP_NONE)
        return sm_errf(err, SM_ENOTFOUND, "personalising: the template has no EF.MSISDN (opt-usim ef-msisdn)");
    size_t rl = t->msisdn_reclen;
    if (rl < SIMENC_MSISDN_FIXED || rl > 255)
        return sm_errf(err, SM_EINVAL, "personalising: EF.MSISDN record length %zu unknown or outside 14..255", rl);
    size_t old = 0;
    const uint8_t *ov = NULL;
    if (f->content != SAIP_NONE) {
        ov = saip_value(t, f->content, &old);
        if (old < rl)
            return sm_errf(err, SM_EINVAL, "personalising: EF.MSISDN content shorter than one record");
    } else if (f->n_fill != 0) {
        return sm_errf(err, SM_EINVAL, "personalising: EF.MSISDN content is written in pieces; not supported");
    }
    size_t vlen = f->content != SAIP_NONE ? old : rl;
    pl->msisdn = malloc(vlen + 4);
    if (!pl->msisdn)
        return sm_errf(err, SM_ENOMEM, "personalising: out of memory");
    uint8_t *val = pl->msisdn + 4;
    sm_rc rc = simenc_msisdn_record(msisdn, rl, val, err);
    if (rc != SM_OK)
        return rc;
    if (ov) {
        memcpy(val + rl, ov + rl, old - rl); /* later records as they were */
        edit(pl, SAIP_EDIT_VALUE, f->content, val, old);
    } else {
        /* 83 LL record, LL in short or 81 form */
        size_t h = rl < 0x80 ? 2 : 3;
        uint8_t *tlv = val - h;
        tlv[0] = 0x83;
        if (h == 2) {
            tlv[1] = (uint8_t)rl;
        } else {
            tlv[1] = 0x81;
            tlv[2] = (uint8_t)rl;
        }
        edit(pl, SAIP_EDIT_APPEND, f->file, tlv, rl + h);
    }
    return SM_OK;
}

static sm_rc build_plan(const saip_pkg *t, const smdp_perso *v, scratch *s, plan *pl, sm_err *err)
{
    sm_rc rc;
    if (v->iccid) {
        if (!simenc_luhn_ok(v->iccid) && simenc_digits(v->iccid, SIMENC_ICCID_MIN, SIMENC_ICCID_MAX))
            return sm_errf(err, SM_EINVAL, "personalising: ICCID check digit (Luhn) wrong");
        if ((rc = simenc_iccid_header(v->iccid, s->iccid_hdr, err)) != SM_OK ||
            (rc = simenc_iccid_ef(v->iccid, s->iccid_ef + 2, err)) != SM_OK)
            return rc;
        edit(pl, SAIP_EDIT_VALUE, t->hdr.iccid_node, s->iccid_hdr, 10);
        if ((rc = file_value(pl, &t->ef_iccid, s->iccid_ef, 10, "EF.ICCID (mf ef-iccid)", err)) != SM_OK)
            return rc;
    }
    if (v->imsi) {
        if ((rc = simenc_imsi_ef(v->imsi, s->imsi + 2, err)) != SM_OK)
            return rc;
        if ((rc = file_value(pl, &t->ef_imsi, s->imsi, 9, "EF.IMSI (usim ef-imsi)", err)) != SM_OK)
            return rc;
    }
    if ((rc = key_lengths(t, v, err)) != SM_OK)
        return rc;
    if (v->ki)
        for (size_t k = 0; k < t->naka; k++)
            if (!t->aka[k].mapping) {
                edit(pl, SAIP_EDIT_VALUE, t->aka[k].key, v->ki, v->ki_len);
                edit(pl, SAIP_EDIT_VALUE, t->aka[k].opc, v->opc, v->opc_len);
            }
    for (int c = 0; c < SMDP_CODE_COUNT; c++) {
        if (!v->code[c])
            continue;
        size_t mn, mx;
        smdp_code_bounds((smdp_code)c, &mn, &mx);
        if (simenc_code(v->code[c], mn, mx, s->code[c], err) != SM_OK) {
            sm_err_clear(err);
            return sm_errf(err, SM_EINVAL, "personalising: %s must be %zu to %zu digits", smdp_code_name((smdp_code)c),
                           mn, mx);
        }
        bool puk = code_is_puk((smdp_code)c);
        const saip_code *e = puk ? t->puk : t->pin;
        size_t n = puk ? t->npuk : t->npin, hit = 0;
        for (size_t k = 0; k < n; k++)
            if (e[k].keyref == code_ref((smdp_code)c)) {
                edit(pl, SAIP_EDIT_VALUE, e[k].value, s->code[c], 8);
                hit++;
            }
        if (!hit)
            return sm_errf(err, SM_ENOTFOUND, "personalising: the template defines no %s (key reference %02X)",
                           smdp_code_name((smdp_code)c), code_ref((smdp_code)c));
    }
    if (v->msisdn && (rc = msisdn_plan(t, v->msisdn, pl, err)) != SM_OK)
        return rc;
    return SM_OK;
}

static bool same(const saip_pkg *p, int32_t node, const uint8_t *v, size_t len)
{
    size_t l;
    const uint8_t *x = saip_value(p, node, &l);
    return l == len && memcmp(x, v, len) == 0;
}

/* Decodes the result and compares every value written. */
static sm_rc verify(const saip_pkg *t, const smdp_perso *v, const scratch *s, const smdp_secbuf *out, sm_err *err)
{
    saip_pkg *q = NULL;
    sm_err e2 = {0};
    if (saip_decode(out->p, out->len, &q, &e2) != SM_OK || saip_check(q, &e2) != SM_OK) {
        saip_free(q);
        return sm_errf(err, SM_EINTERNAL, "personalising: the result does not decode: %s", e2.msg);
    }
    const char *bad = NULL;
    if (v->iccid && (strcmp(q->hdr.iccid, v->iccid) != 0 || strcmp(q->ef_iccid_digits, v->iccid) != 0))
        bad = "ICCID";
    if (v->imsi && strcmp(q->imsi, v->imsi) != 0)
        bad = "IMSI";
    if (q->naka != t->naka || q->npin != t->npin || q->npuk != t->npuk)
        bad = "element counts";
    for (size_t k = 0; !bad && v->ki && k < q->naka; k++)
        if (!q->aka[k].mapping && (!same(q, q->aka[k].key, v->ki, v->ki_len) ||
                                   !same(q, q->aka[k].opc, v->opc, v->opc_len)))
            bad = "Ki/OPc";
    for (int c = 0; !bad && c < SMDP_CODE_COUNT; c++) {
        if (!v->code[c])
            continue;
        bool puk = code_is_puk((smdp_code)c);
        const saip_code *e = puk ? q->puk : q->pin;
        size_t n = puk ? q->npuk : q->npin;
        for (size_t k = 0; k < n; k++)
            if (e[k].keyref == code_ref((smdp_code)c) && !same(q, e[k].value, s->code[c], 8))
                bad = smdp_code_name((smdp_code)c);
    }
    if (!bad && v->msisdn) {
        char d[21] = "";
        size_t l = 0;
        const uint8_t *r = q->ef_msisdn.content != SAIP_NONE ? saip_value(q, q->ef_msisdn.content, &l) : NULL;
        if (!r || l < q->msisdn_reclen || simenc_msisdn_record_dec(r, q->msisdn_reclen, d, &e2) != SM_OK ||
            strcmp(d, v->msisdn) != 0)
            bad = "MSISDN";
    }
    saip_free(q);
    if (bad)
        return sm_errf(err, SM_EINTERNAL, "personalising: the result does not carry the requested %s", bad);
    return SM_OK;
}

sm_rc smdp_personalise(const saip_pkg *tpl, const smdp_perso *v, smdp_secbuf *out, sm_err *err)
{
    memset(out, 0, sizeof *out);
    scratch *s = sm_secmem_alloc(sizeof *s);
    plan *pl = calloc(1, sizeof *pl);
    sm_rc rc = SM_OK;
    if (!s || !pl) {
        rc = sm_errf(err, SM_ENOMEM, "personalising: cannot allocate (locked) working memory");
        goto done;
    }
    size_t size = 0;
    if ((rc = build_plan(tpl, v, s, pl, err)) != SM_OK || (rc = saip_encoded_size(tpl, pl->e, pl->n, &size, err)) != SM_OK ||
        (rc = smdp_secbuf_alloc(out, size, err)) != SM_OK ||
        (rc = saip_encode(tpl, pl->e, pl->n, out->p, out->cap, &out->len, err)) != SM_OK ||
        (rc = verify(tpl, v, s, out, err)) != SM_OK)
        smdp_secbuf_free(out);
done:
    if (pl)
        free(pl->msisdn);
    free(pl);
    sm_secmem_free(s, sizeof *s);
    return rc;
}
