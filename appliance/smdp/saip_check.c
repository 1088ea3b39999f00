/* SAIP structure rules over a decoded package (see saip_check in saip.h). */
#include "appliance/smdp/saip.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#define N(p, i) (&(p)->tree.n[(i)])

static sm_rc pe_fail(const saip_pkg *p, size_t i, sm_err *err, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

static sm_rc pe_fail(const saip_pkg *p, size_t i, sm_err *err, const char *fmt, ...)
{
    char d[128], m[320];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(m, sizeof m, fmt, ap);
    va_end(ap);
    return sm_errf(err, SM_EINVAL, "saip check: %s: %s", saip_pe_describe(p, i, d, sizeof d), m);
}

static int find(const saip_pkg *p, uint32_t tag)
{
    for (size_t i = 0; i < p->npes; i++)
        if (p->pes[i].tag == tag)
            return (int)i;
    return -1;
}

static size_t count(const saip_pkg *p, uint32_t tag)
{
    size_t k = 0;
    for (size_t i = 0; i < p->npes; i++)
        k += p->pes[i].tag == tag;
    return k;
}

static bool svc(const saip_pkg *p, unsigned bit)
{
    return (p->hdr.services >> bit) & 1u;
}

static sm_rc order_rules(const saip_pkg *p, sm_err *err)
{
    if (p->npes < 3)
        return sm_errf(err, SM_EINVAL, "saip check: %zu PEs; a package needs at least header, mf and end", p->npes);
    if (p->pes[0].tag != SAIP_PE_HEADER)
        return pe_fail(p, 0, err, "the first PE must be the header");
    if (p->pes[1].tag != SAIP_PE_MF)
        return pe_fail(p, 1, err, "the second PE must be mf");
    if (p->pes[p->npes - 1].tag != SAIP_PE_END)
        return pe_fail(p, p->npes - 1, err, "the last PE must be end");
    static const uint32_t once[] = {SAIP_PE_HEADER,   SAIP_PE_MF,       SAIP_PE_END,      SAIP_PE_CD,
                                    SAIP_PE_TELECOM,  SAIP_PE_USIM,     SAIP_PE_ISIM,     SAIP_PE_CSIM,
                                    SAIP_PE_OPT_USIM, SAIP_PE_OPT_ISIM, SAIP_PE_OPT_CSIM, SAIP_PE_DF_SAIP,
                                    SAIP_PE_DF_5GS};
    for (size_t k = 0; k < sizeof once / sizeof once[0]; k++)
        if (count(p, once[k]) > 1) {
            int first = find(p, once[k]);
            for (size_t i = (size_t)first + 1; i < p->npes; i++)
                if (p->pes[i].tag == once[k])
                    return pe_fail(p, i, err, "second %s PE (only one allowed)", saip_pe_name(once[k]));
        }
    /* optional/dependent PEs come after the PE they extend */
    static const uint32_t after[][2] = {
        {SAIP_PE_OPT_USIM, SAIP_PE_USIM}, {SAIP_PE_OPT_ISIM, SAIP_PE_ISIM},  {SAIP_PE_OPT_CSIM, SAIP_PE_CSIM},
        {SAIP_PE_GSM_ACCESS, SAIP_PE_USIM}, {SAIP_PE_PHONEBOOK, SAIP_PE_USIM}, {SAIP_PE_DF_5GS, SAIP_PE_USIM},
        {SAIP_PE_DF_SAIP, SAIP_PE_USIM},
    };
    for (size_t k = 0; k < sizeof after / sizeof after[0]; k++) {
        int o = find(p, after[k][0]), b = find(p, after[k][1]);
        if (o >= 0 && (b < 0 || b > o))
            return pe_fail(p, (size_t)o, err, "%s PE without a preceding %s PE", saip_pe_name(after[k][0]),
                           saip_pe_name(after[k][1]));
    }
    return SM_OK;
}

static sm_rc known_and_ids(const saip_pkg *p, sm_err *err)
{
    for (size_t i = 0; i < p->npes; i++) {
        const saip_pe *pe = &p->pes[i];
        if (!pe->name)
            return pe_fail(p, i, err, "unknown PE type (tag %X): newer than this SM-DP", (unsigned)pe->tag);
        if (pe->tag >= 0xAB && pe->tag <= 0xAF)
            return pe_fail(p, i, err, "reserved PE type %s", pe->name);
        if (i > 0 && !pe->has_hdr)
            return pe_fail(p, i, err, "PEHeader missing");
        for (size_t j = 0; j < i; j++)
            if (pe->has_hdr && p->pes[j].has_hdr && p->pes[j].id == pe->id) {
                char d[128];
                return pe_fail(p, i, err, "identification %d already used by %s", (int)pe->id,
                               saip_pe_describe(p, j, d, sizeof d));
            }
    }
    return SM_OK;
}

static bool has_alg(const saip_pkg *p, uint32_t alg)
{
    for (size_t k = 0; k < p->naka; k++)
        if (!p->aka[k].mapping && p->aka[k].algorithm == alg)
            return true;
    return false;
}

static sm_rc services(const saip_pkg *p, sm_err *err)
{
    static const struct {
        unsigned svc;
        uint32_t pe;
    } naa[] = {{SAIP_SVC_USIM, SAIP_PE_USIM}, {SAIP_SVC_ISIM, SAIP_PE_ISIM}, {SAIP_SVC_CSIM, SAIP_PE_CSIM}};
    for (size_t k = 0; k < 3; k++) {
        int at = find(p, naa[k].pe);
        if (svc(p, naa[k].svc) && at < 0)
            return pe_fail(p, 0, err, "mandatory service %s but no %s PE", saip_service_name(naa[k].svc),
                           saip_pe_name(naa[k].pe));
        if (!svc(p, naa[k].svc) && at >= 0)
            return pe_fail(p, (size_t)at, err, "%s PE present but service %s not in eUICC-Mandatory-services",
                           saip_pe_name(naa[k].pe), saip_service_name(naa[k].svc));
    }
    static const unsigned needs[][2] = {
        {SAIP_SVC_GBA_USIM, SAIP_SVC_USIM},           {SAIP_SVC_GBA_ISIM, SAIP_SVC_ISIM},
        {SAIP_SVC_MULTIPLE_USIM, SAIP_SVC_USIM},      {SAIP_SVC_MULTIPLE_ISIM, SAIP_SVC_ISIM},
        {SAIP_SVC_MULTIPLE_CSIM, SAIP_SVC_CSIM},
    };
    for (size_t k = 0; k < sizeof needs / sizeof needs[0]; k++)
        if (svc(p, needs[k][0]) && !svc(p, needs[k][1]))
            return pe_fail(p, 0, err, "service %s mandatory without %s", saip_service_name(needs[k][0]),
                           saip_service_name(needs[k][1]));
    static const unsigned g5[] = {SAIP_SVC_GET_IDENTITY, SAIP_SVC_PROFILE_A_X25519, SAIP_SVC_PROFILE_B_P256};
    for (size_t k = 0; k < 3; k++)
        if (svc(p, g5[k]) && !svc(p, SAIP_SVC_USIM) && !svc(p, SAIP_SVC_ISIM))
            return pe_fail(p, 0, err, "service %s mandatory without usim or isim", saip_service_name(g5[k]));
    static const struct {
        unsigned svc;
        uint32_t alg;
    } algs[] = {{SAIP_SVC_MILENAGE, SAIP_ALG_MILENAGE}, {SAIP_SVC_USIM_TEST_ALGORITHM, SAIP_ALG_TEST}};
    for (size_t k = 0; k < 2; k++) {
        if (svc(p, algs[k].svc) && !has_alg(p, algs[k].alg))
            return pe_fail(p, 0, err, "mandatory service %s but no akaParameter uses it",
                           saip_service_name(algs[k].svc));
        if (!svc(p, algs[k].svc) && has_alg(p, algs[k].alg))
            return pe_fail(p, 0, err, "an akaParameter uses %s but the service is not mandatory",
                           saip_service_name(algs[k].svc));
    }
    if (has_alg(p, SAIP_ALG_TUAK) && !svc(p, SAIP_SVC_TUAK128) && !svc(p, SAIP_SVC_TUAK256))
        return pe_fail(p, 0, err, "an akaParameter uses TUAK but neither tuak128 nor tuak256 is mandatory");
    return SM_OK;
}

static sm_rc gfste(const saip_pkg *p, sm_err *err)
{
    for (size_t i = 0; i < p->npes; i++) {
        int32_t t = p->pes[i].template_id;
        if (t == SAIP_NONE)
            continue;
        size_t l, gl;
        const uint8_t *v = saip_value(p, t, &l);
        bool listed = false;
        for (size_t k = 0; k < p->hdr.n_gfste && !listed; k++) {
            const uint8_t *g = saip_value(p, p->hdr.gfste[k], &gl);
            listed = gl == l && memcmp(g, v, l) == 0;
        }
        if (!listed) {
            char oid[96];
            if (!der_oid_text(v, l, oid, sizeof oid))
                strcpy(oid, "?");
            return pe_fail(p, i, err, "templateID %s is not in eUICC-Mandatory-GFSTEList", oid);
        }
    }
    return SM_OK;
}

/* File elements of template-based PEs: ascending member tags, each a SEQUENCE OF CHOICE where
 * doNotCreate stands alone (and never in the MF PE) and a fileDescriptor comes first, once. */
static sm_rc files(const saip_pkg *p, sm_err *err)
{
    for (size_t i = 0; i < p->npes; i++) {
        const saip_pe *pe = &p->pes[i];
        if (pe->template_id == SAIP_NONE)
            continue;
        uint32_t last = der_tag_number(N(p, pe->template_id)->tag);
        for (int32_t f = N(p, pe->template_id)->next; f != DER_NONE; f = N(p, f)->next) {
            const der_node *fn = N(p, f);
            uint32_t num = der_tag_number(fn->tag);
            if (der_tag_class(fn->tag) != 2 || !fn->cons || num <= last)
                return pe_fail(p, i, err, "element at offset %u (tag %X) is not a File in member order", fn->off,
                               (unsigned)fn->tag);
            last = num;
            size_t items = 0, fcps = 0;
            bool dnc = false;
            for (int32_t c = fn->child; c != DER_NONE; c = N(p, c)->next) {
                const der_node *cn = N(p, c);
                items++;
                if (cn->tag == 0x80) {
                    dnc = true;
                } else if (cn->tag == 0xA1) {
                    if (++fcps > 1 || items != 1)
                        return pe_fail(p, i, err, "File at offset %u: fileDescriptor must come first, once", fn->off);
                } else if (cn->tag != 0x82 && cn->tag != 0x83) {
                    return pe_fail(p, i, err, "File at offset %u: unexpected element (tag %X)", fn->off,
                                   (unsigned)cn->tag);
                }
            }
            if (items == 0)
                return pe_fail(p, i, err, "File at offset %u is empty", fn->off);
            if (dnc && (items != 1 || pe->tag == SAIP_PE_MF))
                return pe_fail(p, i, err, "File at offset %u: doNotCreate must stand alone%s", fn->off,
                               pe->tag == SAIP_PE_MF ? " and is not allowed in the MF" : "");
        }
    }
    return SM_OK;
}

static sm_rc values(const saip_pkg *p, sm_err *err)
{
    if (p->hdr.major < 2 || p->hdr.major > 3)
        return pe_fail(p, 0, err, "profile format version %u.%u not supported (2.x and 3.x are)", p->hdr.major,
                       p->hdr.minor);
    if (strlen(p->hdr.iccid) < 18)
        return pe_fail(p, 0, err, "header ICCID has %zu digits, expected 18..20", strlen(p->hdr.iccid));
    if (p->ef_iccid.content != SAIP_NONE && strcmp(p->ef_iccid_digits, p->hdr.iccid) != 0)
        return pe_fail(p, (size_t)p->ef_iccid.pe, err, "EF.ICCID content differs from the header ICCID");
    for (size_t k = 0; k < p->naka; k++) {
        const saip_aka *a = &p->aka[k];
        if (a->mapping)
            continue;
        size_t kl = N(p, a->key)->len, ol = N(p, a->opc)->len;
        bool ok;
        switch (a->algorithm) {
        case SAIP_ALG_MILENAGE:
            ok = kl == 16 && ol == 16;
            break;
        case SAIP_ALG_TUAK:
            ok = (kl == 16 || kl == 32) && ol == 32;
            break;
        case SAIP_ALG_TEST:
            ok = kl == 16 || kl == 32;
            break;
        default:
            return pe_fail(p, (size_t)a->pe, err, "algorithmID %u unknown", a->algorithm);
        }
        if (!ok)
            return pe_fail(p, (size_t)a->pe, err, "key of %zu bytes / opc of %zu bytes invalid for algorithm %u", kl,
                           ol, a->algorithm);
    }
    for (size_t k = 0; k < p->npin; k++) {
        const saip_code *c = &p->pin[k];
        for (size_t j = 0; j < k; j++)
            if (p->pin[j].pe == c->pe && p->pin[j].keyref == c->keyref)
                return pe_fail(p, (size_t)c->pe, err, "PIN key reference %u defined twice", c->keyref);
        if (c->unblock == SAIP_NONE)
            continue;
        bool found = false;
        for (size_t j = 0; j < p->npuk && !found; j++)
            found = p->puk[j].keyref == (uint32_t)c->unblock;
        if (!found)
            return pe_fail(p, (size_t)c->pe, err, "PIN %u refers to PUK %d which no pukCodes PE defines", c->keyref,
                           (int)c->unblock);
    }
    for (size_t k = 0; k < p->npuk; k++)
        for (size_t j = 0; j < k; j++)
            if (p->puk[j].pe == p->puk[k].pe && p->puk[j].keyref == p->puk[k].keyref)
                return pe_fail(p, (size_t)p->puk[k].pe, err, "PUK key reference %u defined twice", p->puk[k].keyref);
    return SM_OK;
}

sm_rc saip_check(const saip_pkg *p, sm_err *err)
{
    sm_rc rc;
    if ((rc = order_rules(p, err)) != SM_OK || (rc = known_and_ids(p, err)) != SM_OK ||
        (rc = services(p, err)) != SM_OK || (rc = gfste(p, err)) != SM_OK || (rc = files(p, err)) != SM_OK ||
        (rc = values(p, err)) != SM_OK)
        return rc;
    return SM_OK;
}
