/* Order file parser: line-oriented, strict, bounded, all-or-nothing (docs/sm-dp-files.md). */
#include "appliance/smdp/orderfile.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "appliance/smdp/persodata.h"
#include "appliance/smdp/simenc.h"
#include "lib/secmem.h"

enum key {
    K_PROFILE_TYPE,
    K_TEMPLATE,
    K_MNO,
    K_ICCID_START,
    K_IMSI_START,
    K_MNC_DIGITS,
    K_QUANTITY,
    K_OP_ENC,
    K_PIN1, /* K_PIN1 + smdp_code */
    K_COUNT = K_PIN1 + SMDP_CODE_COUNT
};

static const char *const KEYS[K_COUNT] = {"profile-type", "template", "mno",  "iccid-start", "imsi-start",
                                          "mnc-digits",   "quantity", "op-enc", "pin1",       "pin2",
                                          "puk1",         "puk2",     "adm1", "adm2"};
#define K_REQUIRED 8 /* the keys before K_PIN1 */

typedef struct tok {
    const char *p;
    size_t n;
} tok;

#define MAX_TOKENS 16

typedef struct parser {
    const char *text;
    size_t len;
    unsigned line;
    smdp_order *o;
    bool seen[K_COUNT];
    bool overrides;
    size_t ovcap;
} parser;

static sm_rc perr(const parser *p, sm_err *err, const char *fmt, ...) __attribute__((format(printf, 3, 4)));

static sm_rc perr(const parser *p, sm_err *err, const char *fmt, ...)
{
    char m[400];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(m, sizeof m, fmt, ap);
    va_end(ap);
    return sm_errf(err, SM_EPARSE, "order line %u: %s", p->line, m);
}

static bool eq(tok t, const char *s)
{
    return strlen(s) == t.n && memcmp(t.p, s, t.n) == 0;
}

static bool digits(tok t, size_t min, size_t max)
{
    if (t.n < min || t.n > max)
        return false;
    for (size_t i = 0; i < t.n; i++)
        if (t.p[i] < '0' || t.p[i] > '9')
            return false;
    return true;
}

/* Words echoed in errors: at most 20 of [a-z-], so that a misplaced secret is never shown. */
static bool safe_word(tok t)
{
    if (t.n == 0 || t.n > 20)
        return false;
    for (size_t i = 0; i < t.n; i++)
        if (!((t.p[i] >= 'a' && t.p[i] <= 'z') || t.p[i] == '-'))
            return false;
    return true;
}

static void copy(char *dst, tok t)
{
    memcpy(dst, t.p, t.n);
    dst[t.n] = 0;
}

bool smdp_name_ok(const char *s)
{
    size_t n = s ? strlen(s) : 0;
    if (n == 0 || n > SMDP_NAME_MAX)
        return false;
    for (size_t i = 0; i < n; i++) {
        char c = s[i];
        if (!((c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '.' || c == '_' ||
              c == '-'))
            return false;
    }
    return true;
}

static const char *arena_put(parser *p, tok t)
{
    smdp_order *o = p->o;
    if (o->arena_len + t.n + 1 > o->arena_cap)
        return NULL;
    char *d = o->arena + o->arena_len;
    copy(d, t);
    o->arena_len += t.n + 1;
    return d;
}

/* A code value (PIN/PUK/ADM): digits within the code's bounds, stored in locked memory. */
static sm_rc code_value(parser *p, smdp_code c, tok v, const char **out, sm_err *err)
{
    size_t mn, mx;
    smdp_code_bounds(c, &mn, &mx);
    if (!digits(v, mn, mx))
        return perr(p, err, "%s must be %zu to %zu digits", smdp_code_name(c), mn, mx);
    *out = arena_put(p, v);
    return *out ? SM_OK : perr(p, err, "out of room for secret values");
}

static uint64_t num(const char *d, size_t n)
{
    uint64_t x = 0;
    for (size_t i = 0; i < n; i++)
        x = x * 10 + (uint64_t)(d[i] - '0');
    return x;
}

static sm_rc header_key(parser *p, const tok *t, size_t nt, sm_err *err)
{
    int k = -1;
    for (int i = 0; i < K_COUNT; i++)
        if (eq(t[0], KEYS[i]))
            k = i;
    if (k < 0)
        return perr(p, err, "unknown key%s%.*s%s (expected profile-type, template, mno, iccid-start, imsi-start, "
                            "mnc-digits, quantity, op-enc, pin1/2, puk1/2, adm1/2, override or end)",
                    safe_word(t[0]) ? " '" : "", safe_word(t[0]) ? (int)t[0].n : 0, t[0].p,
                    safe_word(t[0]) ? "'" : "");
    if (p->overrides)
        return perr(p, err, "%s after the first override line (header keys come first)", KEYS[k]);
    if (p->seen[k])
        return perr(p, err, "%s given twice", KEYS[k]);
    if (nt != 2)
        return perr(p, err, "%s takes exactly one value", KEYS[k]);
    p->seen[k] = true;
    smdp_order *o = p->o;
    tok v = t[1];
    switch (k) {
    case K_PROFILE_TYPE:
    case K_TEMPLATE:
    case K_MNO: {
        char *dst = k == K_PROFILE_TYPE ? o->profile_type : k == K_TEMPLATE ? o->template_id : o->mno;
        if (v.n > SMDP_NAME_MAX)
            return perr(p, err, "%s longer than %d characters", KEYS[k], SMDP_NAME_MAX);
        copy(dst, v);
        if (!smdp_name_ok(dst))
            return perr(p, err, "%s may only contain A-Z a-z 0-9 . _ -", KEYS[k]);
        return SM_OK;
    }
    case K_ICCID_START:
        if (!digits(v, SIMENC_ICCID_MIN, SIMENC_ICCID_MAX))
            return perr(p, err, "iccid-start must be %d to %d digits", SIMENC_ICCID_MIN, SIMENC_ICCID_MAX);
        copy(o->iccid_start, v);
        if (!simenc_luhn_ok(o->iccid_start))
            return perr(p, err, "iccid-start %s: check digit wrong (expected %d)", o->iccid_start,
                        simenc_luhn_digit(o->iccid_start, v.n - 1));
        return SM_OK;
    case K_IMSI_START:
        if (!digits(v, SIMENC_IMSI_MIN, SIMENC_IMSI_MAX))
            return perr(p, err, "imsi-start must be %d to %d digits", SIMENC_IMSI_MIN, SIMENC_IMSI_MAX);
        copy(o->imsi_start, v);
        return SM_OK;
    case K_MNC_DIGITS:
        if (!eq(v, "2") && !eq(v, "3"))
            return perr(p, err, "mnc-digits must be 2 or 3");
        o->mnc_digits = (unsigned)(v.p[0] - '0');
        return SM_OK;
    case K_QUANTITY:
        if (!digits(v, 1, 7) || v.p[0] == '0' || num(v.p, v.n) > SMDP_ORDER_MAX_QUANTITY)
            return perr(p, err, "quantity must be 1 to %u", SMDP_ORDER_MAX_QUANTITY);
        o->quantity = num(v.p, v.n);
        return SM_OK;
    case K_OP_ENC: {
        if (v.n != 32)
            return perr(p, err, "op-enc must be 32 hex digits (one AES block)");
        for (size_t i = 0; i < 32; i++) {
            char c = v.p[i];
            int h = c >= '0' && c <= '9' ? c - '0' : c >= 'a' && c <= 'f' ? c - 'a' + 10
                  : c >= 'A' && c <= 'F' ? c - 'A' + 10 : -1;
            if (h < 0)
                return perr(p, err, "op-enc must be 32 hex digits (one AES block)");
            o->op_enc[i / 2] = (uint8_t)(i % 2 ? o->op_enc[i / 2] | h : h << 4);
        }
        return SM_OK;
    }
    default:
        return code_value(p, (smdp_code)(k - K_PIN1), v, &o->code[k - K_PIN1], err);
    }
}

static sm_rc override_line(parser *p, const tok *t, size_t nt, sm_err *err)
{
    smdp_order *o = p->o;
    if (!p->seen[K_ICCID_START] || !p->seen[K_QUANTITY] || !p->seen[K_IMSI_START] || !p->seen[K_MNC_DIGITS])
        return perr(p, err, "override before iccid-start, imsi-start, mnc-digits and quantity");
    p->overrides = true;
    if (nt < 3)
        return perr(p, err, "override needs an ICCID and at least one field=value");
    size_t il = strlen(o->iccid_start);
    if (!digits(t[1], il, il))
        return perr(p, err, "override: the ICCID must have the %zu digits of iccid-start", il);
    char iccid[21];
    copy(iccid, t[1]);
    if (!simenc_luhn_ok(iccid))
        return perr(p, err, "override: ICCID %s: check digit wrong", iccid);
    uint64_t b0 = num(o->iccid_start, il - 1), b = num(iccid, il - 1);
    if (b < b0 || b - b0 >= o->quantity)
        return perr(p, err, "override: ICCID %s is not in this order's range", iccid);
    if (o->nov == SMDP_ORDER_MAX_OVERRIDES)
        return sm_errf(err, SM_ELIMIT, "order line %u: more than %u overrides", p->line, SMDP_ORDER_MAX_OVERRIDES);
    if (o->nov == p->ovcap) {
        size_t nc = p->ovcap ? p->ovcap * 2 : 16;
        smdp_order_override *n = realloc(o->ov, nc * sizeof *n);
        if (!n)
            return sm_errf(err, SM_ENOMEM, "order: out of memory");
        o->ov = n;
        p->ovcap = nc;
    }
    smdp_order_override *ov = &o->ov[o->nov];
    memset(ov, 0, sizeof *ov);
    ov->index = b - b0;
    ov->line = p->line;
    for (size_t i = 2; i < nt; i++) {
        const char *eqs = memchr(t[i].p, '=', t[i].n);
        if (!eqs)
            return perr(p, err, "override: field %zu is not name=value", i - 1);
        tok name = {t[i].p, (size_t)(eqs - t[i].p)}, val = {eqs + 1, t[i].n - name.n - 1};
        if (eq(name, "imsi")) {
            if (ov->imsi[0])
                return perr(p, err, "override: imsi given twice");
            if (!digits(val, SIMENC_IMSI_MIN, SIMENC_IMSI_MAX))
                return perr(p, err, "override: imsi must be %d to %d digits", SIMENC_IMSI_MIN, SIMENC_IMSI_MAX);
            copy(ov->imsi, val);
            continue;
        }
        if (eq(name, "msisdn")) {
            if (ov->msisdn[0])
                return perr(p, err, "override: msisdn given twice");
            if (!digits(val, 1, SIMENC_MSISDN_MAX))
                return perr(p, err, "override: msisdn must be 1 to %d digits (E.164 without '+')",
                            SIMENC_MSISDN_MAX);
            copy(ov->msisdn, val);
            continue;
        }
        int c = -1;
        for (int k = 0; k < SMDP_CODE_COUNT; k++)
            if (eq(name, smdp_code_name((smdp_code)k)))
                c = k;
        if (c < 0)
            return perr(p, err, "override: unknown field%s%.*s%s", safe_word(name) ? " '" : "",
                        safe_word(name) ? (int)name.n : 0, name.p, safe_word(name) ? "'" : "");
        if (ov->code[c])
            return perr(p, err, "override: %s given twice", smdp_code_name((smdp_code)c));
        sm_rc rc = code_value(p, (smdp_code)c, val, &ov->code[c], err);
        if (rc != SM_OK)
            return rc;
    }
    o->nov++;
    return SM_OK;
}

/* Splits a line at runs of spaces. */
static sm_rc tokens(const parser *p, const char *s, size_t n, tok *t, size_t *nt, sm_err *err)
{
    *nt = 0;
    size_t i = 0;
    while (i < n) {
        while (i < n && s[i] == ' ')
            i++;
        if (i == n)
            break;
        size_t st = i;
        while (i < n && s[i] != ' ')
            i++;
        if (*nt == MAX_TOKENS)
            return perr(p, err, "more than %d fields", MAX_TOKENS);
        t[(*nt)++] = (tok){s + st, i - st};
    }
    return SM_OK;
}

static int by_index(const void *a, const void *b)
{
    const smdp_order_override *x = a, *y = b;
    return x->index < y->index ? -1 : x->index > y->index;
}

static int by_imsi(const void *a, const void *b)
{
    const smdp_order_override *const *x = a, *const *y = b;
    return strcmp((*x)->imsi, (*y)->imsi);
}

const smdp_order_override *smdp_order_find(const smdp_order *o, uint64_t index)
{
    smdp_order_override key;
    key.index = index;
    return o->nov ? bsearch(&key, o->ov, o->nov, sizeof *o->ov, by_index) : NULL;
}

/* After the last line: required keys, ranges, duplicate ICCIDs, IMSI collisions. */
static sm_rc finish(parser *p, sm_err *err)
{
    smdp_order *o = p->o;
    for (int k = 0; k < K_REQUIRED; k++)
        if (!p->seen[k])
            return perr(p, err, "missing key %s", KEYS[k]);
    char tmp[21];
    sm_err e2 = {0};
    if (smdp_iccid_at(o->iccid_start, o->quantity - 1, tmp, &e2) != SM_OK)
        return perr(p, err, "%s", e2.msg);
    if (smdp_imsi_at(o->imsi_start, o->mnc_digits, o->quantity - 1, tmp, &e2) != SM_OK)
        return perr(p, err, "%s", e2.msg);
    if (o->nov > 1)
        qsort(o->ov, o->nov, sizeof *o->ov, by_index);
    for (size_t i = 1; i < o->nov; i++)
        if (o->ov[i].index == o->ov[i - 1].index) {
            unsigned a = o->ov[i - 1].line < o->ov[i].line ? o->ov[i - 1].line : o->ov[i].line;
            unsigned b = o->ov[i - 1].line < o->ov[i].line ? o->ov[i].line : o->ov[i - 1].line;
            p->line = b;
            return perr(p, err, "override for the same ICCID as line %u", a);
        }
    /* IMSI overrides: unique among themselves and not the range IMSI of another profile */
    size_t ni = 0;
    for (size_t i = 0; i < o->nov; i++)
        ni += o->ov[i].imsi[0] != 0;
    if (ni == 0)
        return SM_OK;
    const smdp_order_override **v = malloc(ni * sizeof *v);
    if (!v)
        return sm_errf(err, SM_ENOMEM, "order: out of memory");
    ni = 0;
    for (size_t i = 0; i < o->nov; i++)
        if (o->ov[i].imsi[0])
            v[ni++] = &o->ov[i];
    qsort(v, ni, sizeof *v, by_imsi);
    sm_rc rc = SM_OK;
    for (size_t i = 1; i < ni && rc == SM_OK; i++)
        if (strcmp(v[i]->imsi, v[i - 1]->imsi) == 0) {
            p->line = v[i]->line > v[i - 1]->line ? v[i]->line : v[i - 1]->line;
            rc = perr(p, err, "override: imsi %s also given on line %u", v[i]->imsi,
                      v[i]->line > v[i - 1]->line ? v[i - 1]->line : v[i]->line);
        }
    size_t il = strlen(o->imsi_start), pre = 3 + o->mnc_digits;
    for (size_t i = 0; i < ni && rc == SM_OK; i++) {
        const char *x = v[i]->imsi;
        if (strlen(x) != il || memcmp(x, o->imsi_start, pre) != 0)
            continue;
        uint64_t m0 = num(o->imsi_start + pre, il - pre), m = num(x + pre, il - pre);
        if (m < m0 || m - m0 >= o->quantity || m - m0 == v[i]->index)
            continue;
        const smdp_order_override *other = smdp_order_find(o, m - m0);
        if (other && other->imsi[0])
            continue; /* that profile does not use its range IMSI */
        p->line = v[i]->line;
        rc = perr(p, err, "override: imsi %s is the range IMSI of profile %llu", x, (unsigned long long)(m - m0));
    }
    free(v);
    return rc;
}

void smdp_order_free(smdp_order *o)
{
    if (!o)
        return;
    free(o->ov);
    sm_secmem_free(o->arena, o->arena_cap);
    free(o);
}

sm_rc smdp_order_parse(const char *text, size_t len, smdp_order **out, sm_err *err)
{
    *out = NULL;
    if (len > SMDP_ORDER_MAX_BYTES)
        return sm_errf(err, SM_ELIMIT, "order: %zu bytes exceed the limit of %u", len, SMDP_ORDER_MAX_BYTES);
    parser p;
    memset(&p, 0, sizeof p);
    p.text = text;
    p.len = len;
    p.o = calloc(1, sizeof *p.o);
    if (!p.o)
        return sm_errf(err, SM_ENOMEM, "order: out of memory");
    p.o->arena_cap = len + 1;
    p.o->arena = sm_secmem_alloc(p.o->arena_cap);
    if (!p.o->arena) {
        smdp_order_free(p.o);
        return sm_errf(err, SM_ENOMEM, "order: cannot lock memory for secret values (RLIMIT_MEMLOCK?)");
    }
    sm_rc rc = SM_OK;
    bool ended = false;
    size_t pos = 0;
    while (pos < len && rc == SM_OK) {
        p.line++;
        const char *nl = memchr(text + pos, '\n', len - pos);
        size_t n = nl ? (size_t)(nl - (text + pos)) : len - pos;
        const char *s = text + pos;
        pos += n + (nl ? 1 : 0);
        if (n > SMDP_ORDER_MAX_LINE) {
            rc = perr(&p, err, "longer than %d characters", SMDP_ORDER_MAX_LINE);
            break;
        }
        for (size_t i = 0; i < n && rc == SM_OK; i++) {
            unsigned char c = (unsigned char)s[i];
            if (c == '\r')
                rc = perr(&p, err, "carriage return (line ends must be LF only)");
            else if (c == '\t')
                rc = perr(&p, err, "tab character (separate fields with spaces)");
            else if (c < 0x20 || c > 0x7E)
                rc = perr(&p, err, "byte 0x%02X at column %zu is not printable ASCII", c, i + 1);
        }
        if (rc != SM_OK)
            break;
        tok t[MAX_TOKENS];
        size_t nt;
        if ((rc = tokens(&p, s, n, t, &nt, err)) != SM_OK)
            break;
        if (p.line == 1) {
            if (nt != 2 || !eq(t[0], "smbox-order"))
                rc = perr(&p, err, "not an order file (the first line must be 'smbox-order 1')");
            else if (!eq(t[1], "1"))
                rc = perr(&p, err, "order format version '%.*s' not supported (1 is)",
                          (int)(t[1].n > 10 ? 10 : t[1].n), t[1].p);
            continue;
        }
        if (nt == 0 || t[0].p[0] == '#')
            continue;
        if (ended) {
            rc = perr(&p, err, "content after 'end'");
        } else if (eq(t[0], "end")) {
            rc = nt == 1 ? SM_OK : perr(&p, err, "'end' takes no value");
            ended = true;
        } else if (eq(t[0], "override")) {
            rc = override_line(&p, t, nt, err);
        } else {
            rc = header_key(&p, t, nt, err);
        }
    }
    if (rc == SM_OK && p.line == 0)
        rc = sm_errf(err, SM_EPARSE, "order: empty file");
    if (rc == SM_OK && !ended)
        rc = perr(&p, err, "the file ends without 'end' (truncated?)");
    if (rc == SM_OK)
        rc = finish(&p, err);
    if (rc != SM_OK) {
        smdp_order_free(p.o);
        return rc;
    }
    *out = p.o;
    return SM_OK;
}
