/* SAIP package decoding: PE split, PE headers, ProfileHeader, personalisable fields. */
#include "appliance/smdp/saip.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "appliance/smdp/simenc.h"

static const struct {
    uint32_t tag;
    const char *name;
} PE_NAMES[] = {
    {0xA0, "header"},     {0xA1, "genericFileManagement"}, {0xA2, "pinCodes"},  {0xA3, "pukCodes"},
    {0xA4, "akaParameter"}, {0xA5, "cdmaParameter"},       {0xA6, "securityDomain"}, {0xA7, "rfm"},
    {0xA8, "application"}, {0xA9, "nonStandard"},          {0xAA, "end"},       {0xAB, "rfu1"},
    {0xAC, "rfu2"},       {0xAD, "rfu3"},                  {0xAE, "rfu4"},      {0xAF, "rfu5"},
    {0xB0, "mf"},         {0xB1, "cd"},                    {0xB2, "telecom"},   {0xB3, "usim"},
    {0xB4, "opt-usim"},   {0xB5, "isim"},                  {0xB6, "opt-isim"},  {0xB7, "phonebook"},
    {0xB8, "gsm-access"}, {0xB9, "csim"},                  {0xBA, "opt-csim"},  {0xBB, "eap"},
    {0xBC, "df-5gs"},     {0xBD, "df-saip"},               {0xBE, "df-snpn"},   {0xBF1F, "df-5gprose"},
    {0xBF20, "iot"},      {0xBF21, "opt-iot"},
};

static const char *const SERVICES[SAIP_SVC_COUNT] = {
    "contactless",    "usim",         "isim",          "csim",
    "milenage",       "tuak128",      "cave",          "gba-usim",
    "gba-isim",       "mbms",         "eap",           "javacard",
    "multos",         "multiple-usim", "multiple-isim", "multiple-csim",
    "tuak256",        "usim-test-algorithm", "ber-tlv", "dfLink",
    "cat-tp",         "get-identity", "profile-a-x25519", "profile-b-p256",
    "suciCalculatorApi", "dns-resolution", "scp11ac", "scp11c-authorization-mechanism",
    "s16mode",        "eaka",
};

const char *saip_pe_name(uint32_t tag)
{
    for (size_t i = 0; i < sizeof PE_NAMES / sizeof PE_NAMES[0]; i++)
        if (PE_NAMES[i].tag == tag)
            return PE_NAMES[i].name;
    return NULL;
}

const char *saip_service_name(unsigned bit)
{
    return bit < SAIP_SVC_COUNT ? SERVICES[bit] : NULL;
}

const uint8_t *saip_value(const saip_pkg *p, int32_t node, size_t *len)
{
    *len = p->tree.n[node].len;
    return der_val(&p->tree, node);
}

const char *saip_pe_describe(const saip_pkg *p, size_t i, char *buf, size_t cap)
{
    const saip_pe *pe = &p->pes[i];
    const der_node *n = &p->tree.n[pe->node];
    char id[32] = "";
    if (pe->id != SAIP_NONE)
        snprintf(id, sizeof id, ", identification %d", (int)pe->id);
    snprintf(buf, cap, "PE %zu (%s%s, offset %u)", i, pe->name ? pe->name : "unknown", id, n->off);
    return buf;
}

/* ---- helpers ---------------------------------------------------------------------------- */

#define T(p) (&(p)->tree)
#define N(p, i) (&(p)->tree.n[(i)])

static bool template_based(uint32_t tag)
{
    return (tag >= 0xB0 && tag <= 0xBE) || tag == 0xBF1F || tag == 0xBF20 || tag == 0xBF21;
}

/* One expected member of a SEQUENCE with automatic tags. */
typedef struct fld {
    uint32_t tag;
    bool req;
    bool cons;
    const char *name;
    int32_t *node;
} fld;

/* Matches the children of parent against f (declaration order). Members newer than the list
 * (context tags numbered above the last known one, ascending) are counted in *n_ext. */
static sm_rc seq(const saip_pkg *p, int32_t parent, const fld *f, size_t nf, size_t *n_ext, const char *what,
                 sm_err *err)
{
    uint32_t maxnum = 0;
    for (size_t k = 0; k < nf; k++) {
        *f[k].node = SAIP_NONE;
        if (der_tag_number(f[k].tag) > maxnum)
            maxnum = der_tag_number(f[k].tag);
    }
    size_t j = 0;
    uint32_t lastext = 0;
    for (int32_t c = N(p, parent)->child; c != DER_NONE; c = N(p, c)->next) {
        const der_node *n = N(p, c);
        size_t k = j;
        while (k < nf && f[k].tag != n->tag)
            k++;
        if (k < nf) {
            if (f[k].cons != n->cons)
                return sm_errf(err, SM_EPARSE, "%s: %s at offset %u is %s", what, f[k].name, n->off,
                               n->cons ? "constructed, expected primitive" : "primitive, expected constructed");
            *f[k].node = c;
            j = k + 1;
            continue;
        }
        uint32_t num = der_tag_number(n->tag);
        if (der_tag_class(n->tag) == 2 && num > maxnum && num > lastext && n_ext) {
            (*n_ext)++;
            lastext = num;
            continue;
        }
        return sm_errf(err, SM_EPARSE, "%s: unexpected element (tag %X) at offset %u: out of order, repeated or unknown",
                       what, (unsigned)n->tag, n->off);
    }
    for (size_t k = 0; k < nf; k++)
        if (f[k].req && *f[k].node == SAIP_NONE)
            return sm_errf(err, SM_EPARSE, "%s: %s missing", what, f[k].name);
    return SM_OK;
}

static sm_rc prim_len(const saip_pkg *p, int32_t node, size_t min, size_t max, const char *what, sm_err *err)
{
    const der_node *n = N(p, node);
    if (n->len < min || n->len > max)
        return sm_errf(err, SM_EPARSE, "%s at offset %u: %u bytes, expected %zu..%zu", what, n->off, n->len, min, max);
    return SM_OK;
}

static size_t count_children(const saip_pkg *p, int32_t node)
{
    size_t k = 0;
    for (int32_t c = N(p, node)->child; c != DER_NONE; c = N(p, c)->next)
        k++;
    return k;
}

/* ---- PE header -------------------------------------------------------------------------- */

static sm_rc pe_header(saip_pkg *p, saip_pe *pe, int32_t hdr, sm_err *err)
{
    int32_t mandated, ident;
    const fld f[] = {{0x80, false, false, "mandated", &mandated}, {0x81, true, false, "identification", &ident}};
    size_t ext = 0;
    sm_rc rc = seq(p, hdr, f, 2, &ext, "PEHeader", err);
    if (rc != SM_OK)
        return rc;
    if (mandated != SAIP_NONE && N(p, mandated)->len != 0)
        return sm_errf(err, SM_EPARSE, "PEHeader: mandated (NULL) has content");
    uint32_t id;
    rc = der_uint(T(p), ident, 32767, &id, "PEHeader identification", err);
    if (rc != SM_OK)
        return rc;
    pe->has_hdr = true;
    pe->mandated = mandated != SAIP_NONE;
    pe->id = (int32_t)id;
    return SM_OK;
}

/* ---- ProfileHeader ------------------------------------------------------------------------ */

static sm_rc profile_header(saip_pkg *p, saip_pe *pe, sm_err *err)
{
    saip_header *h = &p->hdr;
    int32_t major, minor, type, iccid, pol, svc, gfste, conn, aids, iot;
    const fld f[] = {
        {0x80, true, false, "major-version", &major},
        {0x81, true, false, "minor-version", &minor},
        {0x82, false, false, "profileType", &type},
        {0x83, true, false, "iccid", &iccid},
        {0x84, false, false, "pol", &pol},
        {0xA5, true, true, "eUICC-Mandatory-services", &svc},
        {0xA6, true, true, "eUICC-Mandatory-GFSTEList", &gfste},
        {0x87, false, false, "connectivityParameters", &conn},
        {0xA8, false, true, "eUICC-Mandatory-AIDs", &aids},
        {0xA9, false, true, "iotOptions", &iot},
    };
    sm_rc rc = seq(p, pe->node, f, sizeof f / sizeof f[0], &h->n_ext, "ProfileHeader", err);
    if (rc != SM_OK)
        return rc;
    uint32_t v;
    if ((rc = der_uint(T(p), major, 255, &v, "major-version", err)) != SM_OK)
        return rc;
    h->major = v;
    if ((rc = der_uint(T(p), minor, 255, &v, "minor-version", err)) != SM_OK)
        return rc;
    h->minor = v;
    if (type != SAIP_NONE) {
        if ((rc = prim_len(p, type, 1, 100, "profileType", err)) != SM_OK)
            return rc;
        const uint8_t *s = der_val(T(p), type);
        for (uint32_t k = 0; k < N(p, type)->len; k++)
            if (s[k] < 0x20 || s[k] == 0x7F)
                return sm_errf(err, SM_EPARSE, "profileType: control character at offset %u", N(p, type)->off);
        memcpy(h->profile_type, s, N(p, type)->len);
        h->profile_type[N(p, type)->len] = 0;
    }
    if ((rc = prim_len(p, iccid, 10, 10, "iccid", err)) != SM_OK)
        return rc;
    if ((rc = simenc_iccid_header_dec(der_val(T(p), iccid), h->iccid, err)) != SM_OK)
        return rc;
    h->iccid_node = iccid;
    h->pol_node = pol;
    h->conn_node = conn;
    uint32_t last = 0;
    bool first = true;
    for (int32_t c = N(p, svc)->child; c != DER_NONE; c = N(p, c)->next) {
        const der_node *n = N(p, c);
        uint32_t num = der_tag_number(n->tag);
        if (der_tag_class(n->tag) != 2 || n->cons || n->len != 0 || (!first && num <= last))
            return sm_errf(err, SM_EPARSE,
                           "eUICC-Mandatory-services: element at offset %u is not a NULL flag in ascending order",
                           n->off);
        first = false;
        last = num;
        if (num < SAIP_SVC_COUNT)
            h->services |= 1u << num;
        else
            h->n_ext++;
    }
    for (int32_t c = N(p, gfste)->child; c != DER_NONE; c = N(p, c)->next) {
        if (N(p, c)->tag != 0x06)
            return sm_errf(err, SM_EPARSE, "eUICC-Mandatory-GFSTEList: element at offset %u is not an OID",
                           N(p, c)->off);
        if (h->n_gfste == SAIP_MAX_GFSTE)
            return sm_errf(err, SM_ELIMIT, "eUICC-Mandatory-GFSTEList: more than %d entries", SAIP_MAX_GFSTE);
        h->gfste[h->n_gfste++] = c;
    }
    if (aids != SAIP_NONE) {
        for (int32_t c = N(p, aids)->child; c != DER_NONE; c = N(p, c)->next) {
            int32_t aid, ver;
            const fld af[] = {{0x80, true, false, "aid", &aid}, {0x81, true, false, "version", &ver}};
            if (N(p, c)->tag != 0x30)
                return sm_errf(err, SM_EPARSE, "eUICC-Mandatory-AIDs: element at offset %u is not a SEQUENCE",
                               N(p, c)->off);
            if ((rc = seq(p, c, af, 2, NULL, "eUICC-Mandatory-AIDs entry", err)) != SM_OK ||
                (rc = prim_len(p, aid, 5, 16, "aid", err)) != SM_OK ||
                (rc = prim_len(p, ver, 2, 2, "aid version", err)) != SM_OK)
                return rc;
            h->n_aids++;
        }
    }
    h->iot = iot != SAIP_NONE;
    return SM_OK;
}

/* ---- files ------------------------------------------------------------------------------ */

static sm_rc file_info(saip_pkg *p, size_t pei, int32_t file, saip_file *f, const char *what, sm_err *err)
{
    f->pe = (int32_t)pei;
    f->file = file;
    f->content = SAIP_NONE;
    f->fcp = SAIP_NONE;
    f->n_fill = 0;
    int32_t first_fill = SAIP_NONE;
    for (int32_t c = N(p, file)->child; c != DER_NONE; c = N(p, c)->next) {
        const der_node *n = N(p, c);
        switch (n->tag) {
        case 0x80:
            if (n->len != 0)
                return sm_errf(err, SM_EPARSE, "%s: doNotCreate (NULL) at offset %u has content", what, n->off);
            break;
        case 0xA1:
            if (f->fcp == SAIP_NONE)
                f->fcp = c;
            break;
        case 0x82:
        case 0x83:
            if (f->n_fill++ == 0)
                first_fill = c;
            break;
        default:
            return sm_errf(err, SM_EPARSE, "%s: unexpected element (tag %X) at offset %u", what, (unsigned)n->tag,
                           n->off);
        }
    }
    if (f->n_fill == 1 && N(p, first_fill)->tag == 0x83)
        f->content = first_fill;
    return SM_OK;
}

/* The File of a template-based PE carrying tag, or SAIP_NONE. */
static int32_t pe_file(const saip_pkg *p, const saip_pe *pe, uint32_t tag)
{
    int32_t c = der_child(T(p), pe->node, tag);
    return c != DER_NONE && N(p, c)->cons ? c : SAIP_NONE;
}

static sm_rc mf_files(saip_pkg *p, size_t i, sm_err *err)
{
    if (p->ef_iccid.pe != SAIP_NONE)
        return SM_OK; /* a second MF is reported by the checker */
    int32_t f = pe_file(p, &p->pes[i], 0xA4);
    if (f == SAIP_NONE)
        return sm_errf(err, SM_EPARSE, "ef-iccid missing");
    sm_rc rc = file_info(p, i, f, &p->ef_iccid, "ef-iccid", err);
    if (rc != SM_OK || p->ef_iccid.content == SAIP_NONE)
        return rc;
    if (N(p, p->ef_iccid.content)->len != 10)
        return sm_errf(err, SM_EPARSE, "ef-iccid: content of %u bytes, expected 10", N(p, p->ef_iccid.content)->len);
    return simenc_iccid_ef_dec(der_val(T(p), p->ef_iccid.content), p->ef_iccid_digits, err);
}

static sm_rc usim_files(saip_pkg *p, size_t i, sm_err *err)
{
    if (p->ef_imsi.pe != SAIP_NONE)
        return SM_OK;
    int32_t f = pe_file(p, &p->pes[i], 0xA3);
    if (f == SAIP_NONE)
        return sm_errf(err, SM_EPARSE, "ef-imsi missing");
    sm_rc rc = file_info(p, i, f, &p->ef_imsi, "ef-imsi", err);
    if (rc != SM_OK)
        return rc;
    if (p->ef_imsi.content != SAIP_NONE) {
        size_t l;
        const uint8_t *v = saip_value(p, p->ef_imsi.content, &l);
        if ((rc = simenc_imsi_ef_dec(v, l, p->imsi, err)) != SM_OK)
            return rc;
    }
    f = pe_file(p, &p->pes[i], 0xB2);
    if (f != SAIP_NONE)
        rc = file_info(p, i, f, &p->ef_acc, "ef-acc", err);
    return rc;
}

static sm_rc opt_usim_files(saip_pkg *p, size_t i, sm_err *err)
{
    if (p->ef_msisdn.pe != SAIP_NONE)
        return SM_OK;
    int32_t f = pe_file(p, &p->pes[i], 0xA7);
    if (f == SAIP_NONE)
        return SM_OK;
    sm_rc rc = file_info(p, i, f, &p->ef_msisdn, "ef-msisdn", err);
    if (rc != SM_OK || p->ef_msisdn.fcp == SAIP_NONE)
        return rc;
    int32_t fd = der_child(T(p), p->ef_msisdn.fcp, 0x82);
    if (fd != DER_NONE && !N(p, fd)->cons && N(p, fd)->len >= 4) {
        const uint8_t *v = der_val(T(p), fd);
        if ((v[0] & 0x07) == 0x02) /* linear fixed EF */
            p->msisdn_reclen = (unsigned)v[2] << 8 | v[3];
    }
    return SM_OK;
}

/* ---- AKA, PIN, PUK ---------------------------------------------------------------------- */

static sm_rc aka(saip_pkg *p, size_t i, int32_t owner, sm_err *err)
{
    if (p->naka == SAIP_MAX_AKA)
        return sm_errf(err, SM_ELIMIT, "more than %d akaParameter PEs", SAIP_MAX_AKA);
    saip_aka *a = &p->aka[p->naka];
    memset(a, 0, sizeof *a);
    a->pe = (int32_t)i;
    a->owner = owner;
    int32_t hdr, conf;
    const fld f[] = {
        {0xA0, true, true, "aka-header", &hdr},         {0xA1, true, true, "algoConfiguration", &conf},
        {0x82, false, false, "sqnOptions", &a->sqn_options}, {0x83, false, false, "sqnDelta", &a->sqn_delta},
        {0x84, false, false, "sqnAgeLimit", &a->sqn_age_limit}, {0xA5, false, true, "sqnInit", &a->sqn_init},
    };
    size_t ext = 0;
    sm_rc rc = seq(p, p->pes[i].node, f, sizeof f / sizeof f[0], &ext, "akaParameter", err);
    if (rc != SM_OK)
        return rc;
    int32_t alg = N(p, conf)->child;
    if (alg == DER_NONE || N(p, alg)->next != DER_NONE || !N(p, alg)->cons ||
        (N(p, alg)->tag != 0xA0 && N(p, alg)->tag != 0xA1))
        return sm_errf(err, SM_EPARSE, "algoConfiguration at offset %u: not one mappingParameter or algoParameter",
                       N(p, conf)->off);
    a->key = a->opc = a->rotation = a->xoring = a->auth_counter_max = a->keccak = SAIP_NONE;
    if (N(p, alg)->tag == 0xA0) {
        a->mapping = true;
        p->naka++;
        return SM_OK;
    }
    int32_t id, opt;
    const fld g[] = {
        {0x80, true, false, "algorithmID", &id},          {0x81, true, false, "algorithmOptions", &opt},
        {0x82, true, false, "key", &a->key},              {0x83, true, false, "opc", &a->opc},
        {0x84, false, false, "rotationConstants", &a->rotation}, {0x85, false, false, "xoringConstants", &a->xoring},
        {0x86, false, false, "authCounterMax", &a->auth_counter_max}, {0x87, false, false, "numberOfKeccak", &a->keccak},
    };
    if ((rc = seq(p, alg, g, sizeof g / sizeof g[0], &ext, "algoParameter", err)) != SM_OK)
        return rc;
    if ((rc = der_uint(T(p), id, 255, &a->algorithm, "algorithmID", err)) != SM_OK ||
        (rc = prim_len(p, opt, 1, 1, "algorithmOptions", err)) != SM_OK ||
        (rc = prim_len(p, a->key, 1, 64, "key", err)) != SM_OK ||
        (rc = prim_len(p, a->opc, 1, 64, "opc", err)) != SM_OK)
        return rc;
    if (a->rotation != SAIP_NONE && (rc = prim_len(p, a->rotation, 5, 5, "rotationConstants", err)) != SM_OK)
        return rc;
    if (a->xoring != SAIP_NONE && (rc = prim_len(p, a->xoring, 80, 80, "xoringConstants", err)) != SM_OK)
        return rc;
    a->options = der_val(T(p), opt)[0];
    p->naka++;
    return SM_OK;
}

static sm_rc codes(saip_pkg *p, size_t i, int32_t owner, bool puk, sm_err *err)
{
    const char *what = puk ? "pukCodes" : "pinCodes";
    int32_t hdr, list;
    const fld f[] = {{0xA0, true, true, "header", &hdr}, {0xA1, true, true, what, &list}};
    size_t ext = 0;
    sm_rc rc = seq(p, p->pes[i].node, f, 2, &ext, what, err);
    if (rc != SM_OK)
        return rc;
    if (!puk) {
        /* pinCodes CHOICE: pinconfig (A0, SEQUENCE OF) or filePath (81, shared with another DF) */
        int32_t ch = N(p, list)->child;
        if (ch == DER_NONE || N(p, ch)->next != DER_NONE || !((N(p, ch)->tag == 0xA0 && N(p, ch)->cons) ||
                                                                (N(p, ch)->tag == 0x81 && !N(p, ch)->cons)))
            return sm_errf(err, SM_EPARSE, "pinCodes at offset %u: not one pinconfig or filePath", N(p, list)->off);
        if (N(p, ch)->tag == 0x81)
            return prim_len(p, ch, 0, 8, "pinCodes filePath", err);
        list = ch;
    }
    size_t n = count_children(p, list);
    if (n < 1 || n > (puk ? 16u : 26u))
        return sm_errf(err, SM_EPARSE, "%s: %zu entries, expected 1..%u", what, n, puk ? 16u : 26u);
    for (int32_t c = N(p, list)->child; c != DER_NONE; c = N(p, c)->next) {
        size_t *cnt = puk ? &p->npuk : &p->npin;
        if (*cnt == SAIP_MAX_CODES)
            return sm_errf(err, SM_ELIMIT, "more than %d %s entries in the package", SAIP_MAX_CODES, what);
        saip_code *e = puk ? &p->puk[*cnt] : &p->pin[*cnt];
        memset(e, 0, sizeof *e);
        e->pe = (int32_t)i;
        e->owner = owner;
        e->unblock = SAIP_NONE;
        if (N(p, c)->tag != 0x30)
            return sm_errf(err, SM_EPARSE, "%s: entry at offset %u is not a SEQUENCE", what, N(p, c)->off);
        int32_t ref, unb = SAIP_NONE, attr = SAIP_NONE, cntr;
        if (puk) {
            const fld g[] = {{0x80, true, false, "keyReference", &ref},
                             {0x81, true, false, "pukValue", &e->value},
                             {0x82, false, false, "maxNumOfAttemps-retryNumLeft", &cntr}};
            rc = seq(p, c, g, 3, &ext, "PUKConfiguration", err);
        } else {
            const fld g[] = {{0x80, true, false, "keyReference", &ref},
                             {0x81, true, false, "pinValue", &e->value},
                             {0x82, false, false, "unblockingPINReference", &unb},
                             {0x83, false, false, "pinAttributes", &attr},
                             {0x84, false, false, "maxNumOfAttemps-retryNumLeft", &cntr}};
            rc = seq(p, c, g, 5, &ext, "PINConfiguration", err);
        }
        if (rc != SM_OK)
            return rc;
        if ((rc = der_uint(T(p), ref, 255, &e->keyref, "keyReference", err)) != SM_OK ||
            (rc = prim_len(p, e->value, 8, 8, puk ? "pukValue" : "pinValue", err)) != SM_OK)
            return rc;
        uint32_t v;
        if (unb != SAIP_NONE) {
            if ((rc = der_uint(T(p), unb, 255, &v, "unblockingPINReference", err)) != SM_OK)
                return rc;
            e->unblock = (int32_t)v;
        }
        e->attributes = 7;
        if (attr != SAIP_NONE && (rc = der_uint(T(p), attr, 255, &e->attributes, "pinAttributes", err)) != SM_OK)
            return rc;
        e->counters = puk ? 170 : 51;
        if (cntr != SAIP_NONE &&
            (rc = der_uint(T(p), cntr, 255, &e->counters, "maxNumOfAttemps-retryNumLeft", err)) != SM_OK)
            return rc;
        (*cnt)++;
    }
    return SM_OK;
}

/* ---- one PE ----------------------------------------------------------------------------- */

static sm_rc decode_pe(saip_pkg *p, size_t i, int32_t *owner, sm_err *err)
{
    saip_pe *pe = &p->pes[i];
    const der_node *n = N(p, pe->node);
    if (der_tag_class(n->tag) != 2 || !n->cons)
        return sm_errf(err, SM_EPARSE, "tag %X is not a ProfileElement (context-specific, constructed)",
                       (unsigned)n->tag);
    if (n->tag == SAIP_PE_HEADER)
        /* the first header is decoded wherever it is; its position and any second one are the
         * checker's business */
        return p->hdr.iccid_node == SAIP_NONE ? profile_header(p, pe, err) : SM_OK;
    int32_t hdr = n->child;
    if (hdr == DER_NONE || N(p, hdr)->tag != 0xA0 || !N(p, hdr)->cons)
        return sm_errf(err, SM_EPARSE, "PEHeader missing");
    sm_rc rc = pe_header(p, pe, hdr, err);
    if (rc != SM_OK)
        return rc;
    if (template_based(n->tag)) {
        int32_t oid = N(p, hdr)->next;
        if (oid == DER_NONE || N(p, oid)->tag != 0x81 || N(p, oid)->cons || N(p, oid)->len == 0)
            return sm_errf(err, SM_EPARSE, "templateID missing after the PEHeader");
        char tmp[96];
        if (!der_oid_text(der_val(T(p), oid), N(p, oid)->len, tmp, sizeof tmp))
            return sm_errf(err, SM_EPARSE, "templateID at offset %u: malformed OBJECT IDENTIFIER", N(p, oid)->off);
        pe->template_id = oid;
    }
    switch (n->tag) {
    case SAIP_PE_MF:
    case SAIP_PE_TELECOM:
    case SAIP_PE_USIM:
    case SAIP_PE_ISIM:
    case SAIP_PE_CSIM:
        *owner = (int32_t)i;
        break;
    default:
        break;
    }
    pe->owner = *owner;
    switch (n->tag) {
    case SAIP_PE_MF:
        return mf_files(p, i, err);
    case SAIP_PE_USIM:
        return usim_files(p, i, err);
    case SAIP_PE_OPT_USIM:
        return opt_usim_files(p, i, err);
    case SAIP_PE_AKA:
        return aka(p, i, *owner, err);
    case SAIP_PE_PIN:
        return codes(p, i, *owner, false, err);
    case SAIP_PE_PUK:
        return codes(p, i, *owner, true, err);
    default:
        return SM_OK;
    }
}

/* Identification of a PE whose body failed to parse, if its PEHeader can be read (for errors). */
static int32_t peek_id(const uint8_t *der, size_t len, size_t off)
{
    der_tree t;
    der_tree_init(&t, der, len, 3, 8);
    sm_err e = {0};
    int32_t id = SAIP_NONE, n;
    /* skip the PE's own tag and length by reading its header through a one-level parse of the
     * first child: parse the PE header TLV that starts right after the PE's tag and length */
    size_t i = off;
    if (i < len && (der[i] & 0x1F) == 0x1F)
        i += (i + 1 < len && (der[i + 1] & 0x80)) ? 3 : 2;
    else
        i += 1;
    if (i >= len)
        return SAIP_NONE;
    i += der[i] < 0x80 ? 1 : 1 + (der[i] & 0x7F);
    if (i < len && der_parse_one(&t, i, len, DER_NONE, &n, &e) == SM_OK && t.n[n].tag == 0xA0) {
        int32_t c = der_child(&t, n, 0x81);
        uint32_t v;
        if (c != DER_NONE && der_uint(&t, c, 32767, &v, "", &e) == SM_OK)
            id = (int32_t)v;
    }
    der_tree_free(&t);
    return id;
}

void saip_free(saip_pkg *p)
{
    if (!p)
        return;
    der_tree_free(&p->tree);
    free(p->pes);
    free(p);
}

static void init_file(saip_file *f)
{
    f->pe = f->file = f->content = f->fcp = SAIP_NONE;
    f->n_fill = 0;
}

sm_rc saip_decode(const uint8_t *der, size_t len, saip_pkg **out, sm_err *err)
{
    *out = NULL;
    if (!der || len == 0)
        return sm_errf(err, SM_EPARSE, "saip: empty package");
    if (len > SAIP_MAX_PACKAGE)
        return sm_errf(err, SM_ELIMIT, "saip: package of %zu bytes exceeds the limit of %u", len, SAIP_MAX_PACKAGE);
    saip_pkg *p = calloc(1, sizeof *p);
    if (!p)
        return sm_errf(err, SM_ENOMEM, "saip: out of memory");
    p->der = der;
    p->len = len;
    der_tree_init(&p->tree, der, len, SAIP_MAX_DEPTH, SAIP_MAX_NODES);
    p->hdr.iccid_node = p->hdr.pol_node = p->hdr.conn_node = SAIP_NONE;
    init_file(&p->ef_iccid);
    init_file(&p->ef_imsi);
    init_file(&p->ef_acc);
    init_file(&p->ef_msisdn);
    size_t cap = 0, off = 0;
    int32_t owner = SAIP_NONE;
    sm_rc rc = SM_OK;
    while (off < len) {
        if (p->npes == SAIP_MAX_PES) {
            rc = sm_errf(err, SM_ELIMIT, "saip: more than %u PEs", SAIP_MAX_PES);
            goto fail;
        }
        if (p->npes == cap) {
            cap = cap ? cap * 2 : 32;
            saip_pe *np = realloc(p->pes, cap * sizeof *np);
            if (!np) {
                rc = sm_errf(err, SM_ENOMEM, "saip: out of memory");
                goto fail;
            }
            p->pes = np;
        }
        int32_t node;
        rc = der_parse_one(&p->tree, off, len, DER_NONE, &node, err);
        if (rc != SM_OK) {
            if (p->npes > 0 && p->pes[p->npes - 1].tag == SAIP_PE_END) {
                sm_err_prefix(err, "saip: %zu trailing bytes after the end PE, at offset %zu", len - off, off);
            } else {
                int32_t id = peek_id(der, len, off);
                if (id != SAIP_NONE)
                    sm_err_prefix(err, "saip: PE %zu (identification %d) at offset %zu", p->npes, (int)id, off);
                else
                    sm_err_prefix(err, "saip: PE %zu at offset %zu", p->npes, off);
            }
            goto fail;
        }
        saip_pe *pe = &p->pes[p->npes++];
        memset(pe, 0, sizeof *pe);
        pe->node = node;
        pe->tag = N(p, node)->tag;
        pe->name = saip_pe_name(pe->tag);
        pe->id = SAIP_NONE;
        pe->owner = SAIP_NONE;
        pe->template_id = SAIP_NONE;
        rc = decode_pe(p, p->npes - 1, &owner, err);
        if (rc != SM_OK) {
            char d[128];
            sm_err_prefix(err, "saip: %s", saip_pe_describe(p, p->npes - 1, d, sizeof d));
            goto fail;
        }
        off = N(p, node)->off + N(p, node)->hlen + N(p, node)->len;
    }
    if (p->hdr.iccid_node == SAIP_NONE) {
        rc = sm_errf(err, SM_EPARSE, "saip: no ProfileHeader PE");
        goto fail;
    }
    *out = p;
    return SM_OK;
fail:
    saip_free(p);
    return rc;
}
