/* appliance/smdp/saip, der, simenc: every public TS.48 package (GSMA, tests/profiles) decodes,
 * passes the structure check and re-encodes byte for byte; the decoded values equal GSMA's
 * value-notation listing of the v7 BERTLV_SUCI package and the values TS.48 publishes; malformed
 * packages (truncated, over-long, indefinite, non-minimal, wrong order, duplicate identification,
 * trailing bytes, depth and size bombs) fail with the precise reason and offset. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "appliance/smdp/saip.h"
#include "appliance/smdp/simenc.h"
#include "tests/smdp/smdp_test.h"

static uint8_t *buf_of(const char *rel, size_t *len) { return smdp_test_load(rel, len); }

static const saip_code *code(const saip_pkg *p, bool puk, uint32_t ref)
{
    const saip_code *c = puk ? p->puk : p->pin;
    size_t n = puk ? p->npuk : p->npin;
    for (size_t i = 0; i < n; i++)
        if (c[i].keyref == ref)
            return &c[i];
    return NULL;
}

static void assert_value(const saip_pkg *p, int32_t node, const char *hex)
{
    uint8_t want[128];
    size_t wl = testenv_unhex(hex, want, sizeof want), l;
    assert_true(node != SAIP_NONE);
    const uint8_t *v = saip_value(p, node, &l);
    assert_int_equal(l, wl);
    assert_memory_equal(v, want, wl);
}

static void test_ts48_decode_check_roundtrip(void **state)
{
    for (size_t f = 0; f < NTS48; f++) {
        size_t len;
        uint8_t *der = buf_of(TS48[f].file, &len);
        saip_pkg *p = NULL;
        sm_err err = {0};
        if (saip_decode(der, len, &p, &err) != SM_OK)
            fail_msg("%s: %s", TS48[f].file, err.msg);
        assert_int_equal(p->npes, TS48[f].npes);
        if (saip_check(p, &err) != SM_OK)
            fail_msg("%s: %s", TS48[f].file, err.msg);
        assert_int_equal(p->hdr.major, TS48[f].major);
        assert_int_equal(p->hdr.minor, TS48[f].minor);
        assert_string_equal(p->hdr.profile_type, "GSMA Generic eUICC Test Profile");
        assert_string_equal(p->hdr.iccid, TS48_ICCID);
        assert_string_equal(p->ef_iccid_digits, TS48_ICCID);
        assert_string_equal(p->imsi, TS48[f].imsi);
        for (unsigned s = SAIP_SVC_USIM; s <= SAIP_SVC_CSIM; s++)
            assert_true(p->hdr.services & (1u << s));
        assert_true(p->hdr.services & (1u << SAIP_SVC_USIM_TEST_ALGORITHM));
        assert_false(p->hdr.services & (1u << SAIP_SVC_MILENAGE));
        /* TS.48: USIM and ISIM use usim-test-algorithm with K 00..0F and an all-zero OPc */
        assert_int_equal(p->naka, 2);
        for (size_t k = 0; k < 2; k++) {
            assert_false(p->aka[k].mapping);
            assert_int_equal(p->aka[k].algorithm, SAIP_ALG_TEST);
            assert_int_equal(p->aka[k].options, 0x02);
            assert_value(p, p->aka[k].key, "000102030405060708090A0B0C0D0E0F");
            assert_value(p, p->aka[k].opc, "00000000000000000000000000000000");
            assert_int_equal(p->pes[p->aka[k].owner].tag, k == 0 ? SAIP_PE_USIM : SAIP_PE_ISIM);
        }
        /* PIN1 0000, PIN2 9999, PUK1 11111111, PUK2 22222222, ADM1 55555555, ADM2 66666666 */
        assert_value(p, code(p, false, SAIP_REF_PIN1)->value, "30303030FFFFFFFF");
        assert_value(p, code(p, false, SAIP_REF_PIN2)->value, "39393939FFFFFFFF");
        assert_value(p, code(p, false, SAIP_REF_ADM1)->value, "3535353535353535");
        assert_value(p, code(p, false, SAIP_REF_ADM2)->value, "3636363636363636");
        assert_value(p, code(p, true, 0x01)->value, "3131313131313131");
        assert_value(p, code(p, true, 0x81)->value, "3232323232323232");
        assert_int_equal(p->pes[code(p, false, SAIP_REF_PIN1)->owner].tag, SAIP_PE_MF);
        assert_int_equal(p->msisdn_reclen, 39);
        assert_true(p->ef_msisdn.file != SAIP_NONE);
        assert_int_equal(p->ef_msisdn.n_fill, 0);

        uint8_t *out = malloc(len);
        size_t olen = 0, sz = 0;
        assert_int_equal(saip_encoded_size(p, NULL, 0, &sz, &err), SM_OK);
        assert_int_equal(sz, len);
        assert_int_equal(saip_encode(p, NULL, 0, out, len, &olen, &err), SM_OK);
        assert_int_equal(olen, len);
        assert_memory_equal(out, der, len);
        assert_int_equal(saip_encode(p, NULL, 0, out, len - 1, &olen, &err), SM_EINVAL);
        free(out);
        saip_free(p);
        free(der);
    }
}

/* ---- GSMA's value-notation listing of TS48v7_SAIP2.3_BERTLV_SUCI ---------------------------- */

typedef struct vblock {
    char name[40];
    int id;
    const char *start, *end;
} vblock;

/* Splits the listing into "valueN ProfileElement ::= name : {" blocks. */
static size_t listing_blocks(const char *txt, vblock *b, size_t cap)
{
    size_t n = 0;
    const char *p = txt;
    while ((p = strstr(p, "ProfileElement ::= ")) && n < cap) {
        p += strlen("ProfileElement ::= ");
        size_t k = 0;
        while (p[k] && p[k] != ' ' && k < sizeof b[n].name - 1) {
            b[n].name[k] = p[k];
            k++;
        }
        b[n].name[k] = 0;
        b[n].start = p;
        if (n)
            b[n - 1].end = p;
        const char *id = strstr(p, "identification ");
        const char *nxt = strstr(p, "ProfileElement ::= ");
        b[n].id = id && (!nxt || id < nxt) ? atoi(id + strlen("identification ")) : -1;
        n++;
    }
    if (n)
        b[n - 1].end = txt + strlen(txt);
    return n;
}

/* The hex of the first `key '...'H` after `after` (inside the block). */
static int listing_hex(const vblock *b, const char *after, const char *key, char *out, size_t cap)
{
    const char *p = b->start;
    if (after && !(p = strstr(p, after)))
        return -1;
    p = strstr(p, key);
    if (!p || p > b->end)
        return -1;
    p = strchr(p, '\'');
    const char *e = p ? strchr(p + 1, '\'') : NULL;
    if (!e || (size_t)(e - p - 1) >= cap)
        return -1;
    memcpy(out, p + 1, (size_t)(e - p - 1));
    out[e - p - 1] = 0;
    return 0;
}

static void test_value_notation_listing(void **state)
{
    size_t tl, len;
    char *txt = (char *)buf_of("tests/profiles/TS48v7_SAIP2.3_BERTLV_SUCI.asn1-value.txt", &tl);
    txt = realloc(txt, tl + 1);
    txt[tl] = 0;
    uint8_t *der = buf_of("tests/profiles/TS48v7_SAIP2.3_BERTLV_SUCI.der", &len);
    saip_pkg *p = NULL;
    sm_err err = {0};
    assert_int_equal(saip_decode(der, len, &p, &err), SM_OK);
    vblock b[64];
    size_t nb = listing_blocks(txt, b, 64);
    assert_int_equal(nb, p->npes);
    for (size_t i = 0; i < nb; i++) {
        assert_string_equal(b[i].name, p->pes[i].name);
        assert_int_equal(b[i].id, i == 0 ? -1 : p->pes[i].id);
    }
    char hex[256];
    assert_int_equal(listing_hex(&b[0], NULL, "iccid", hex, sizeof hex), 0);
    uint8_t enc[10];
    assert_int_equal(simenc_iccid_header(p->hdr.iccid, enc, &err), SM_OK);
    assert_value(p, p->hdr.iccid_node, hex);
    /* mandatory services, by name, in the listing's order */
    const char *sv = strstr(b[0].start, "eUICC-Mandatory-services {");
    const char *se = strchr(sv, '}');
    unsigned listed = 0;
    for (unsigned s = 0; s < SAIP_SVC_COUNT; s++) {
        char needle[64];
        snprintf(needle, sizeof needle, " %s NULL", saip_service_name(s));
        const char *h = strstr(sv, needle);
        if (h && h < se)
            listed |= 1u << s;
    }
    assert_int_equal(listed, p->hdr.services);
    /* GFSTE OIDs "{ 2 23 143 1 2 1 }" */
    const char *g = strstr(b[0].start, "eUICC-Mandatory-GFSTEList {");
    for (size_t k = 0; k < p->hdr.n_gfste; k++) {
        g = strstr(g + 1, "{ ");
        char want[64] = "", got[64];
        const char *e = strstr(g, " }");
        size_t o = 0;
        for (const char *c = g + 2; c < e && o < sizeof want - 1; c++)
            want[o++] = *c == ' ' ? '.' : *c;
        want[o] = 0;
        size_t l;
        const uint8_t *v = saip_value(p, p->hdr.gfste[k], &l);
        assert_true(der_oid_text(v, l, got, sizeof got));
        assert_string_equal(got, want);
    }
    /* EF.ICCID, EF.IMSI, AKA key/opc, PIN values against the listing */
    for (size_t i = 0; i < nb; i++) {
        if (p->pes[i].tag == SAIP_PE_MF) {
            assert_int_equal(listing_hex(&b[i], "ef-iccid", "fillFileContent", hex, sizeof hex), 0);
            assert_value(p, p->ef_iccid.content, hex);
        } else if (p->pes[i].tag == SAIP_PE_USIM) {
            assert_int_equal(listing_hex(&b[i], "ef-imsi", "fillFileContent", hex, sizeof hex), 0);
            assert_value(p, p->ef_imsi.content, hex);
        } else if (p->pes[i].tag == SAIP_PE_AKA) {
            const saip_aka *a = p->aka[0].pe == (int32_t)i ? &p->aka[0] : &p->aka[1];
            assert_int_equal(a->pe, (int32_t)i);
            assert_int_equal(listing_hex(&b[i], NULL, "key '", hex, sizeof hex), 0);
            assert_value(p, a->key, hex);
            assert_int_equal(listing_hex(&b[i], NULL, "opc '", hex, sizeof hex), 0);
            assert_value(p, a->opc, hex);
            /* DEFAULT values the listing spells out are absent from the DER */
            assert_int_equal(a->rotation, SAIP_NONE);
            assert_int_equal(a->xoring, SAIP_NONE);
            assert_int_equal(a->sqn_init, SAIP_NONE);
        }
    }
    saip_free(p);
    free(der);
    free(txt);
}

/* ---- malformed packages -------------------------------------------------------------------- */

typedef struct pkgbuf {
    uint8_t *b;
    size_t len;
} pkgbuf;

static void add(pkgbuf *o, const uint8_t *p, size_t n)
{
    o->b = realloc(o->b, o->len + n + 1);
    memcpy(o->b + o->len, p, n);
    o->len += n;
}

static void addhex(pkgbuf *o, const char *hex)
{
    uint8_t t[512];
    add(o, t, testenv_unhex(hex, t, sizeof t));
}

/* The v7 NoBERTLV package and its PE boundaries. */
typedef struct base {
    uint8_t *der;
    size_t len;
    saip_pkg *p;
} base;

static base load_base(void)
{
    base b;
    b.der = buf_of("tests/profiles/TS48v7_SAIP2.3_NoBERTLV.der", &b.len);
    sm_err err = {0};
    assert_int_equal(saip_decode(b.der, b.len, &b.p, &err), SM_OK);
    return b;
}

static void free_base(base *b)
{
    saip_free(b->p);
    free(b->der);
}

static const uint8_t *pe_bytes(const base *b, size_t i, size_t *n)
{
    const der_node *d = &b->p->tree.n[b->p->pes[i].node];
    *n = d->hlen + d->len;
    return b->der + d->off;
}

static void add_pe(pkgbuf *o, const base *b, size_t i)
{
    size_t n;
    const uint8_t *p = pe_bytes(b, i, &n);
    add(o, p, n);
}

static void want_decode(const uint8_t *der, size_t len, sm_rc rc, const char *msg)
{
    saip_pkg *p = NULL;
    sm_err err = {0};
    assert_int_equal(saip_decode(der, len, &p, &err), rc);
    assert_null(p);
    if (!strstr(err.msg, msg))
        fail_msg("error \"%s\" lacks \"%s\"", err.msg, msg);
}

static void want_check(const uint8_t *der, size_t len, const char *msg)
{
    saip_pkg *p = NULL;
    sm_err err = {0};
    if (saip_decode(der, len, &p, &err) != SM_OK)
        fail_msg("decode: %s", err.msg);
    assert_int_equal(saip_check(p, &err), SM_EINVAL);
    if (!strstr(err.msg, msg))
        fail_msg("error \"%s\" lacks \"%s\"", err.msg, msg);
    saip_free(p);
}

static void test_truncated(void **state)
{
    base b = load_base();
    want_decode(b.der, 0, SM_EPARSE, "empty package");
    /* cut inside the last PE: its length runs past the end */
    want_decode(b.der, b.len - 1, SM_EPARSE,
                "saip: PE 29 at offset 12252: DER error at offset 12253: length 7 runs past the end of the enclosing "
                "data (6 bytes left)");
    /* cut inside the USIM PE: the error names it by its identification, read from its intact header */
    size_t usim = b.p->tree.n[b.p->pes[7].node].off;
    assert_int_equal(b.p->pes[7].tag, SAIP_PE_USIM);
    char m[160];
    snprintf(m, sizeof m, "saip: PE 7 (identification 8) at offset %zu: DER error at offset %zu: length", usim,
             usim + 1);
    want_decode(b.der, usim + 100, SM_EPARSE, m);
    /* cut inside the first PE's length field, and after one byte */
    want_decode(b.der, 1, SM_EPARSE, "PE 0 at offset 0: DER error at offset 1: truncated: length expected");
    want_decode(b.der, 2, SM_EPARSE, "truncated inside a length field");
    /* every cut point fails, none crashes (ASan variant) */
    for (size_t n = 1; n < b.len; n += 7) {
        saip_pkg *p = NULL;
        sm_err err = {0};
        sm_rc rc = saip_decode(b.der, n, &p, &err);
        if (rc == SM_OK) {
            /* a cut exactly between PEs decodes; the checker then misses the end PE */
            assert_int_equal(saip_check(p, &err), SM_EINVAL);
            saip_free(p);
        } else {
            assert_int_equal(rc, SM_EPARSE);
            assert_null(p);
        }
    }
    free_base(&b);
}

static void test_length_errors(void **state)
{
    base b = load_base();
    size_t n, last = b.p->npes - 1;
    const uint8_t *endpe = pe_bytes(&b, last, &n); /* AA 07 A0 05 80 00 81 01 1E */
    assert_int_equal(n, 9);
    size_t endoff = b.p->tree.n[b.p->pes[last].node].off;
    pkgbuf o = {0};

    /* over-long: the end PE claims 8 bytes */
    add(&o, b.der, endoff);
    addhex(&o, "AA08A00580008101");
    add(&o, endpe + 8, 1);
    char m[160];
    snprintf(m, sizeof m, "DER error at offset %zu: length 8 runs past the end", endoff + 1);
    want_decode(o.b, o.len, SM_EPARSE, m);

    /* inner length longer than its container */
    o.len = 0;
    add(&o, b.der, endoff);
    addhex(&o, "AA07A00680008101");
    add(&o, endpe + 8, 1);
    snprintf(m, sizeof m, "DER error at offset %zu: length 6 runs past the end of the enclosing data (5 bytes left)",
             endoff + 3);
    want_decode(o.b, o.len, SM_EPARSE, m);

    /* indefinite length */
    o.len = 0;
    add(&o, b.der, endoff);
    addhex(&o, "AA80A005800081011E0000");
    snprintf(m, sizeof m, "DER error at offset %zu: indefinite length", endoff + 1);
    want_decode(o.b, o.len, SM_EPARSE, m);

    /* non-minimal length (long form for 7) and non-minimal tag (BF 0A for [10]) */
    o.len = 0;
    add(&o, b.der, endoff);
    addhex(&o, "AA8107A005800081011E");
    snprintf(m, sizeof m, "DER error at offset %zu: long length form for a length below 128", endoff + 1);
    want_decode(o.b, o.len, SM_EPARSE, m);
    o.len = 0;
    add(&o, b.der, endoff);
    addhex(&o, "BF0A07A005800081011E");
    snprintf(m, sizeof m, "DER error at offset %zu: high tag number form for a number below 31", endoff + 1);
    want_decode(o.b, o.len, SM_EPARSE, m);
    /* length field with a leading zero, and 5 length bytes */
    o.len = 0;
    add(&o, b.der, endoff);
    addhex(&o, "AA820007A005800081011E");
    want_decode(o.b, o.len, SM_EPARSE, "length with a leading zero byte");
    o.len = 0;
    add(&o, b.der, endoff);
    addhex(&o, "AA850000000007A005800081011E");
    want_decode(o.b, o.len, SM_EPARSE, "length field longer than 4 bytes");

    /* identification as a non-minimal INTEGER */
    o.len = 0;
    add(&o, b.der, endoff);
    addhex(&o, "AA08A0068000810200" "1E");
    want_decode(o.b, o.len, SM_EPARSE, "end, offset 12252): PEHeader identification at offset 12258: INTEGER not minimally");
    free(o.b);
    free_base(&b);
}

static void test_trailing(void **state)
{
    base b = load_base();
    pkgbuf o = {0};
    add(&o, b.der, b.len);
    addhex(&o, "000102");
    char m[128];
    snprintf(m, sizeof m, "saip: 3 trailing bytes after the end PE, at offset %zu: DER error at offset %zu: tag 00",
             b.len, b.len);
    want_decode(o.b, o.len, SM_EPARSE, m);
    /* a well-formed PE after the end: decodes, the checker rejects it */
    o.len = 0;
    add(&o, b.der, b.len);
    addhex(&o, "AA07A005800081017F");
    want_check(o.b, o.len, "PE 30 (end, identification 127, offset 12261): second end PE");
    o.len = 0;
    add(&o, b.der, b.len);
    addhex(&o, "A107A005800081017F");
    want_check(o.b, o.len, "PE 30 (genericFileManagement, identification 127, offset 12261): the last PE must be end");
    free(o.b);
    free_base(&b);
}

static void test_order_and_ids(void **state)
{
    base b = load_base();
    pkgbuf o = {0};
    size_t n = b.p->npes;
    /* mf not second: swap PE 1 (mf) and PE 2 (pukCodes) */
    add_pe(&o, &b, 0);
    add_pe(&o, &b, 2);
    add_pe(&o, &b, 1);
    for (size_t i = 3; i < n; i++)
        add_pe(&o, &b, i);
    want_check(o.b, o.len, "PE 1 (pukCodes, identification 5, offset 160): the second PE must be mf");
    /* header not first */
    o.len = 0;
    add_pe(&o, &b, 1);
    add_pe(&o, &b, 0);
    for (size_t i = 2; i < n; i++)
        add_pe(&o, &b, i);
    want_check(o.b, o.len, "PE 0 (mf, identification 4, offset 0): the first PE must be the header");
    /* no end */
    o.len = 0;
    for (size_t i = 0; i < n - 1; i++)
        add_pe(&o, &b, i);
    want_check(o.b, o.len, "the last PE must be end");
    /* opt-usim before usim */
    o.len = 0;
    size_t usim = 0, opt = 0;
    for (size_t i = 0; i < n; i++) {
        if (b.p->pes[i].tag == SAIP_PE_USIM)
            usim = i;
        if (b.p->pes[i].tag == SAIP_PE_OPT_USIM)
            opt = i;
    }
    assert_int_equal(opt, usim + 1);
    for (size_t i = 0; i < n; i++)
        add_pe(&o, &b, i == usim ? opt : i == opt ? usim : i);
    want_check(o.b, o.len, "opt-usim PE without a preceding usim PE");
    /* duplicate identification: the end PE takes the mf's 4 */
    o.len = 0;
    for (size_t i = 0; i < n - 1; i++)
        add_pe(&o, &b, i);
    addhex(&o, "AA07A00580008101" "04");
    want_check(o.b, o.len, "PE 29 (end, identification 4, offset 12252): identification 4 already used by PE 1 "
                             "(mf, identification 4, offset 160)");
    /* an unknown (future) PE type with a proper header */
    o.len = 0;
    for (size_t i = 0; i < n - 1; i++)
        add_pe(&o, &b, i);
    addhex(&o, "BF2807A005800081017E");
    add_pe(&o, &b, n - 1);
    want_check(o.b, o.len, "PE 29 (unknown, identification 126, offset 12252): unknown PE type (tag BF28)");
    free(o.b);
    free_base(&b);
}

static void test_depth_and_size_bombs(void **state)
{
    base b = load_base();
    size_t endoff = b.p->tree.n[b.p->pes[b.p->npes - 1].node].off;
    /* a genericFileManagement PE nesting 200 constructed elements */
    uint8_t inner[2048];
    size_t il = 2;
    inner[0] = 0x80;
    inner[1] = 0x00;
    for (int d = 0; d < 200; d++) {
        uint8_t hdr[4];
        size_t hl = 0;
        hdr[hl++] = 0xA1;
        if (il < 0x80) {
            hdr[hl++] = (uint8_t)il;
        } else if (il <= 0xFF) {
            hdr[hl++] = 0x81;
            hdr[hl++] = (uint8_t)il;
        } else {
            hdr[hl++] = 0x82;
            hdr[hl++] = (uint8_t)(il >> 8);
            hdr[hl++] = (uint8_t)il;
        }
        memmove(inner + hl, inner, il);
        memcpy(inner, hdr, hl);
        il += hl;
    }
    pkgbuf o = {0};
    add(&o, b.der, endoff);
    add(&o, inner, il);
    add_pe(&o, &b, b.p->npes - 1);
    char m[128];
    snprintf(m, sizeof m, "saip: PE 29 at offset %zu: DER error at offset", endoff);
    want_decode(o.b, o.len, SM_EPARSE, m);
    want_decode(o.b, o.len, SM_EPARSE, "nesting deeper than 16 levels");

    /* 70000 empty elements in one PE: more than SAIP_MAX_NODES */
    o.len = 0;
    add(&o, b.der, endoff);
    size_t cnt = 70000, body = 7 + 2 * cnt;
    uint8_t *big = malloc(body + 8);
    size_t k = 0;
    big[k++] = 0xA1;
    big[k++] = 0x83;
    big[k++] = (uint8_t)(body >> 16);
    big[k++] = (uint8_t)(body >> 8);
    big[k++] = (uint8_t)body;
    memcpy(big + k, "\xA0\x05\x80\x00\x81\x01\x7D", 7);
    k += 7;
    for (size_t i = 0; i < cnt; i++) {
        big[k++] = 0x80;
        big[k++] = 0x00;
    }
    add(&o, big, k);
    add_pe(&o, &b, b.p->npes - 1);
    want_decode(o.b, o.len, SM_EPARSE, "more than 65536 elements");
    free(big);

    /* more than SAIP_MAX_PACKAGE bytes */
    uint8_t *huge = calloc(1, SAIP_MAX_PACKAGE + 1);
    want_decode(huge, SAIP_MAX_PACKAGE + 1, SM_ELIMIT, "exceeds the limit of 1048576");
    free(huge);
    free(o.b);
    free_base(&b);
}

static void test_check_content_rules(void **state)
{
    base b = load_base();
    /* header services: usim-test-algorithm (91 00) replaced by milenage (84 00) */
    pkgbuf o = {0};
    add(&o, b.der, b.len);
    uint8_t *svc = memmem(o.b, 160, "\x91\x00", 2);
    assert_non_null(svc);
    svc[0] = 0x84;
    want_check(o.b, o.len, "mandatory service milenage but no akaParameter uses it");
    /* EF.ICCID content differing from the header ICCID */
    memcpy(o.b, b.der, b.len);
    size_t off = b.p->tree.n[b.p->ef_iccid.content].off + 2;
    o.b[off + 9] = 0x24; /* ...4132 -> ...4224 keeps BCD */
    want_check(o.b, o.len, "EF.ICCID content differs from the header ICCID");
    /* EF.ICCID content that is not BCD fails decoding, naming the PE */
    o.b[off + 9] = 0xAB;
    want_decode(o.b, o.len, SM_EPARSE, "saip: PE 1 (mf, identification 4, offset 160): EF.ICCID: not BCD digits");
    /* a templateID not in the GFSTE list: the MF's OID 2.23.143.1.2.1 -> ...2.99 */
    memcpy(o.b, b.der, b.len);
    off = b.p->tree.n[b.p->pes[1].template_id].off + 2;
    o.b[off + 5] = 99;
    want_check(o.b, o.len, "templateID 2.23.143.1.2.99 is not in eUICC-Mandatory-GFSTEList");
    free(o.b);
    free_base(&b);
}

static void test_simenc(void **state)
{
    sm_err err = {0};
    uint8_t b[40];
    char s[21];
    /* TS.48 ICCID: header natural order, EF.ICCID swapped (GSMA listing) */
    assert_int_equal(simenc_iccid_header(TS48_ICCID, b, &err), SM_OK);
    uint8_t want[40];
    testenv_unhex("89000123456789012341", want, sizeof want);
    assert_memory_equal(b, want, 10);
    assert_int_equal(simenc_iccid_ef(TS48_ICCID, b, &err), SM_OK);
    testenv_unhex("98001032547698103214", want, sizeof want);
    assert_memory_equal(b, want, 10);
    assert_int_equal(simenc_iccid_ef_dec(b, s, &err), SM_OK);
    assert_string_equal(s, TS48_ICCID);
    /* 19 digits: F padding (pySim's 8949449999999990163 -> header ...163F, EF ...F3) */
    assert_int_equal(simenc_iccid_header("8949449999999990163", b, &err), SM_OK);
    testenv_unhex("8949449999999990163F", want, sizeof want);
    assert_memory_equal(b, want, 10);
    assert_int_equal(simenc_iccid_ef("8949449999999990163", b, &err), SM_OK);
    testenv_unhex("989444999999990961F3", want, sizeof want);
    assert_memory_equal(b, want, 10);
    assert_int_equal(simenc_iccid_ef_dec(b, s, &err), SM_OK);
    assert_string_equal(s, "8949449999999990163");
    assert_int_equal(simenc_iccid_header("89000123456789012341X", b, &err), SM_EINVAL);
    assert_int_equal(simenc_iccid_header("1234", b, &err), SM_EINVAL);
    b[3] = 0xF1; /* digit after padding */
    assert_int_equal(simenc_iccid_header_dec(b, s, &err), SM_EPARSE);

    /* IMSI: TS.48 v7 and v5 values as in their EF.IMSI */
    assert_int_equal(simenc_imsi_ef("001010123456789", b, &err), SM_OK);
    testenv_unhex("080910101032547698", want, sizeof want);
    assert_memory_equal(b, want, 9);
    assert_int_equal(simenc_imsi_ef("001010123456063", b, &err), SM_OK);
    testenv_unhex("080910101032540636", want, sizeof want);
    assert_memory_equal(b, want, 9);
    assert_int_equal(simenc_imsi_ef_dec(b, 9, s, &err), SM_OK);
    assert_string_equal(s, "001010123456063");
    /* 14 digits: even parity nibble 1, F in the last high nibble */
    assert_int_equal(simenc_imsi_ef("00101012345606", b, &err), SM_OK);
    testenv_unhex("0801101010325406F6", want, sizeof want);
    assert_memory_equal(b, want, 9);
    assert_int_equal(simenc_imsi_ef_dec(b, 9, s, &err), SM_OK);
    assert_string_equal(s, "00101012345606");
    b[1] = 0x19; /* odd parity nibble with 14 digits */
    assert_int_equal(simenc_imsi_ef_dec(b, 9, s, &err), SM_EPARSE);
    assert_int_equal(simenc_imsi_ef("0010101234560631", b, &err), SM_EINVAL);

    /* codes and MSISDN record */
    assert_int_equal(simenc_code("1234", 4, 8, b, &err), SM_OK);
    testenv_unhex("31323334FFFFFFFF", want, sizeof want);
    assert_memory_equal(b, want, 8);
    assert_int_equal(simenc_code("123", 4, 8, b, &err), SM_EINVAL);
    assert_int_equal(simenc_code("12a4", 4, 8, b, &err), SM_EINVAL);
    assert_int_equal(simenc_msisdn_record("447700900123", 20, b, &err), SM_OK);
    testenv_unhex("FFFFFFFFFFFF" "07" "91" "447700091032" "FFFFFFFF" "FFFF", want, sizeof want);
    assert_memory_equal(b, want, 20);
    assert_int_equal(simenc_msisdn_record_dec(b, 20, s, &err), SM_OK);
    assert_string_equal(s, "447700900123");
    assert_int_equal(simenc_msisdn_record("4477009001234567", 20, b, &err), SM_EINVAL);

    /* Luhn: TS.48 and pySim's ICCIDs, a card number (ISO/IEC 7812 example 79927398713) */
    assert_true(simenc_luhn_ok(TS48_ICCID));
    assert_true(simenc_luhn_ok("8949449999999990163"));
    assert_true(simenc_luhn_ok("79927398713"));
    assert_false(simenc_luhn_ok("89000123456789012342"));
    assert_int_equal(simenc_luhn_digit("7992739871", 10), 3);
    assert_int_equal(simenc_luhn_digit("8900012345678901234", 19), 1);
    assert_int_equal(simenc_luhn_digit("890001234567890123", 18), 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_ts48_decode_check_roundtrip),
        cmocka_unit_test(test_value_notation_listing),
        cmocka_unit_test(test_truncated),
        cmocka_unit_test(test_length_errors),
        cmocka_unit_test(test_trailing),
        cmocka_unit_test(test_order_and_ids),
        cmocka_unit_test(test_depth_and_size_bombs),
        cmocka_unit_test(test_check_content_rules),
        cmocka_unit_test(test_simenc),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
