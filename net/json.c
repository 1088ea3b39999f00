/* Strict bounded JSON parser and string writer. */
#include "net/json.h"

#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

typedef struct jp {
    const char *p, *end, *start;
    const json_limits *lim;
    unsigned long nodes;
    sm_err *err;
    sm_rc rc;
} jp;

static bool jerr(jp *j, sm_rc rc, const char *what)
{
    if (j->rc == SM_OK)
        j->rc = sm_errf(j->err, rc, "json: %s at offset %zu", what, (size_t)(j->p - j->start));
    return false;
}

static void ws(jp *j)
{
    while (j->p < j->end && (*j->p == ' ' || *j->p == '\t' || *j->p == '\n' || *j->p == '\r'))
        j->p++;
}

void jv_free(jv *v)
{
    if (!v)
        return;
    for (size_t i = 0; i < v->n; i++)
        jv_free(v->items[i]);
    free(v->items);
    free(v->key);
    free(v->s);
    free(v);
}

static bool push(jv *parent, jv *child)
{
    if (parent->n == parent->cap) {
        size_t nc = parent->cap ? parent->cap * 2 : 4;
        jv **it = realloc(parent->items, nc * sizeof *it);
        if (!it)
            return false;
        parent->items = it;
        parent->cap = nc;
    }
    parent->items[parent->n++] = child;
    return true;
}

static void put_utf8(sm_buf *b, uint32_t cp)
{
    if (cp < 0x80)
        sm_buf_append_byte(b, (uint8_t)cp);
    else if (cp < 0x800) {
        sm_buf_append_byte(b, (uint8_t)(0xC0 | (cp >> 6)));
        sm_buf_append_byte(b, (uint8_t)(0x80 | (cp & 0x3F)));
    } else if (cp < 0x10000) {
        sm_buf_append_byte(b, (uint8_t)(0xE0 | (cp >> 12)));
        sm_buf_append_byte(b, (uint8_t)(0x80 | ((cp >> 6) & 0x3F)));
        sm_buf_append_byte(b, (uint8_t)(0x80 | (cp & 0x3F)));
    } else {
        sm_buf_append_byte(b, (uint8_t)(0xF0 | (cp >> 18)));
        sm_buf_append_byte(b, (uint8_t)(0x80 | ((cp >> 12) & 0x3F)));
        sm_buf_append_byte(b, (uint8_t)(0x80 | ((cp >> 6) & 0x3F)));
        sm_buf_append_byte(b, (uint8_t)(0x80 | (cp & 0x3F)));
    }
}

static int hex4(const char *p, uint32_t *out)
{
    uint32_t v = 0;
    for (int i = 0; i < 4; i++) {
        char c = p[i];
        v <<= 4;
        if (c >= '0' && c <= '9')
            v |= (uint32_t)(c - '0');
        else if (c >= 'a' && c <= 'f')
            v |= (uint32_t)(c - 'a' + 10);
        else if (c >= 'A' && c <= 'F')
            v |= (uint32_t)(c - 'A' + 10);
        else
            return -1;
    }
    *out = v;
    return 0;
}

/* length of a valid UTF-8 sequence starting at p (0 = invalid) */
static size_t utf8_len(const unsigned char *p, const unsigned char *end)
{
    unsigned c = p[0];
    size_t n;
    uint32_t cp;
    if (c < 0x80)
        return 1;
    if ((c & 0xE0) == 0xC0) {
        n = 2;
        cp = c & 0x1F;
    } else if ((c & 0xF0) == 0xE0) {
        n = 3;
        cp = c & 0x0F;
    } else if ((c & 0xF8) == 0xF0) {
        n = 4;
        cp = c & 0x07;
    } else
        return 0;
    if ((size_t)(end - p) < n)
        return 0;
    for (size_t i = 1; i < n; i++) {
        if ((p[i] & 0xC0) != 0x80)
            return 0;
        cp = (cp << 6) | (p[i] & 0x3F);
    }
    if ((n == 2 && cp < 0x80) || (n == 3 && cp < 0x800) || (n == 4 && (cp < 0x10000 || cp > 0x10FFFF)) ||
        (cp >= 0xD800 && cp <= 0xDFFF))
        return 0;
    return n;
}

static bool parse_string(jp *j, char **out, size_t *olen)
{
    j->p++; /* opening quote */
    sm_buf b;
    sm_buf_init(&b);
    while (1) {
        if (j->p >= j->end) {
            sm_buf_free(&b);
            return jerr(j, SM_EPARSE, "unterminated string");
        }
        unsigned char c = (unsigned char)*j->p;
        if (c == '"') {
            j->p++;
            break;
        }
        if (c < 0x20) {
            sm_buf_free(&b);
            return jerr(j, SM_EPARSE, "control character in a string");
        }
        if (c == '\\') {
            if (j->end - j->p < 2) {
                sm_buf_free(&b);
                return jerr(j, SM_EPARSE, "truncated escape");
            }
            char e = j->p[1];
            j->p += 2;
            switch (e) {
            case '"': sm_buf_append_byte(&b, '"'); break;
            case '\\': sm_buf_append_byte(&b, '\\'); break;
            case '/': sm_buf_append_byte(&b, '/'); break;
            case 'b': sm_buf_append_byte(&b, '\b'); break;
            case 'f': sm_buf_append_byte(&b, '\f'); break;
            case 'n': sm_buf_append_byte(&b, '\n'); break;
            case 'r': sm_buf_append_byte(&b, '\r'); break;
            case 't': sm_buf_append_byte(&b, '\t'); break;
            case 'u': {
                uint32_t cp;
                if (j->end - j->p < 4 || hex4(j->p, &cp)) {
                    sm_buf_free(&b);
                    return jerr(j, SM_EPARSE, "bad \\u escape");
                }
                j->p += 4;
                if (cp >= 0xD800 && cp <= 0xDBFF) {
                    uint32_t lo;
                    if (j->end - j->p < 6 || j->p[0] != '\\' || j->p[1] != 'u' || hex4(j->p + 2, &lo) || lo < 0xDC00 ||
                        lo > 0xDFFF) {
                        sm_buf_free(&b);
                        return jerr(j, SM_EPARSE, "unpaired surrogate");
                    }
                    j->p += 6;
                    cp = 0x10000 + ((cp - 0xD800) << 10) + (lo - 0xDC00);
                } else if (cp >= 0xDC00 && cp <= 0xDFFF) {
                    sm_buf_free(&b);
                    return jerr(j, SM_EPARSE, "unpaired surrogate");
                }
                if (cp == 0) {
                    sm_buf_free(&b);
                    return jerr(j, SM_EPARSE, "NUL character in a string");
                }
                put_utf8(&b, cp);
                break;
            }
            default:
                sm_buf_free(&b);
                return jerr(j, SM_EPARSE, "bad escape");
            }
            continue;
        }
        if (c < 0x80) {
            /* a run of plain ASCII (hexBinary values are long ones) is copied at once */
            const char *q = j->p + 1;
            while (q < j->end && (unsigned char)*q >= 0x20 && (unsigned char)*q < 0x80 && *q != '"' && *q != '\\')
                q++;
            sm_buf_append(&b, j->p, (size_t)(q - j->p));
            j->p = q;
            continue;
        }
        size_t n = utf8_len((const unsigned char *)j->p, (const unsigned char *)j->end);
        if (!n) {
            sm_buf_free(&b);
            return jerr(j, SM_EPARSE, "invalid UTF-8");
        }
        sm_buf_append(&b, j->p, n);
        j->p += n;
    }
    sm_buf_append_byte(&b, 0);
    if (b.failed) {
        sm_buf_free(&b);
        return jerr(j, SM_ENOMEM, "out of memory");
    }
    size_t l;
    *out = (char *)sm_buf_steal(&b, &l);
    *olen = l - 1;
    return true;
}

static bool parse_value(jp *j, jv **out, unsigned depth);

static bool lit(jp *j, const char *w)
{
    size_t n = strlen(w);
    if ((size_t)(j->end - j->p) < n || memcmp(j->p, w, n))
        return jerr(j, SM_EPARSE, "unexpected token");
    j->p += n;
    return true;
}

static bool parse_number(jp *j, jv *v)
{
    const char *s = j->p;
    if (j->p < j->end && *j->p == '-')
        j->p++;
    if (j->p >= j->end)
        return jerr(j, SM_EPARSE, "bad number");
    if (*j->p == '0')
        j->p++;
    else if (*j->p >= '1' && *j->p <= '9')
        while (j->p < j->end && *j->p >= '0' && *j->p <= '9')
            j->p++;
    else
        return jerr(j, SM_EPARSE, "bad number");
    if (j->p < j->end && *j->p == '.') {
        j->p++;
        if (j->p >= j->end || *j->p < '0' || *j->p > '9')
            return jerr(j, SM_EPARSE, "bad number");
        while (j->p < j->end && *j->p >= '0' && *j->p <= '9')
            j->p++;
    }
    if (j->p < j->end && (*j->p == 'e' || *j->p == 'E')) {
        j->p++;
        if (j->p < j->end && (*j->p == '+' || *j->p == '-'))
            j->p++;
        if (j->p >= j->end || *j->p < '0' || *j->p > '9')
            return jerr(j, SM_EPARSE, "bad number");
        while (j->p < j->end && *j->p >= '0' && *j->p <= '9')
            j->p++;
    }
    size_t n = (size_t)(j->p - s);
    if (n > 64)
        return jerr(j, SM_ELIMIT, "number too long");
    v->s = malloc(n + 1);
    if (!v->s)
        return jerr(j, SM_ENOMEM, "out of memory");
    memcpy(v->s, s, n);
    v->s[n] = 0;
    v->slen = n;
    return true;
}

static bool parse_value(jp *j, jv **out, unsigned depth)
{
    ws(j);
    if (j->p >= j->end)
        return jerr(j, SM_EPARSE, "unexpected end");
    if (++j->nodes > j->lim->max_nodes)
        return jerr(j, SM_ELIMIT, "too many values");
    if (depth > j->lim->max_depth)
        return jerr(j, SM_ELIMIT, "nested too deeply");
    jv *v = calloc(1, sizeof *v);
    if (!v)
        return jerr(j, SM_ENOMEM, "out of memory");
    *out = v;
    char c = *j->p;
    if (c == '{') {
        v->t = JV_OBJ;
        j->p++;
        ws(j);
        if (j->p < j->end && *j->p == '}') {
            j->p++;
            return true;
        }
        while (1) {
            ws(j);
            if (j->p >= j->end || *j->p != '"')
                return jerr(j, SM_EPARSE, "expected a member name");
            char *key;
            size_t kl;
            if (!parse_string(j, &key, &kl))
                return false;
            if (jv_get(v, key)) {
                free(key);
                return jerr(j, SM_EPARSE, "duplicate member name");
            }
            ws(j);
            if (j->p >= j->end || *j->p != ':') {
                free(key);
                return jerr(j, SM_EPARSE, "expected ':'");
            }
            j->p++;
            jv *m = NULL;
            bool ok = parse_value(j, &m, depth + 1);
            if (m)
                m->key = key;
            else
                free(key);
            if (m && !push(v, m)) {
                jv_free(m);
                return jerr(j, SM_ENOMEM, "out of memory");
            }
            if (!ok)
                return false;
            ws(j);
            if (j->p < j->end && *j->p == ',') {
                j->p++;
                continue;
            }
            if (j->p < j->end && *j->p == '}') {
                j->p++;
                return true;
            }
            return jerr(j, SM_EPARSE, "expected ',' or '}'");
        }
    }
    if (c == '[') {
        v->t = JV_ARR;
        j->p++;
        ws(j);
        if (j->p < j->end && *j->p == ']') {
            j->p++;
            return true;
        }
        while (1) {
            jv *m = NULL;
            bool ok = parse_value(j, &m, depth + 1);
            if (m && !push(v, m)) {
                jv_free(m);
                return jerr(j, SM_ENOMEM, "out of memory");
            }
            if (!ok)
                return false;
            ws(j);
            if (j->p < j->end && *j->p == ',') {
                j->p++;
                continue;
            }
            if (j->p < j->end && *j->p == ']') {
                j->p++;
                return true;
            }
            return jerr(j, SM_EPARSE, "expected ',' or ']'");
        }
    }
    if (c == '"') {
        v->t = JV_STR;
        return parse_string(j, &v->s, &v->slen);
    }
    if (c == 't') {
        v->t = JV_BOOL;
        v->b = true;
        return lit(j, "true");
    }
    if (c == 'f') {
        v->t = JV_BOOL;
        return lit(j, "false");
    }
    if (c == 'n') {
        v->t = JV_NULL;
        return lit(j, "null");
    }
    v->t = JV_NUM;
    return parse_number(j, v);
}

sm_rc json_parse(const char *buf, size_t len, const json_limits *lim, jv **out, sm_err *err)
{
    *out = NULL;
    if (len > lim->max_bytes)
        return sm_errf(err, SM_ELIMIT, "json: document of %zu bytes exceeds the limit of %zu", len, lim->max_bytes);
    jp j = {.p = buf, .end = buf + len, .start = buf, .lim = lim, .err = err, .rc = SM_OK};
    jv *v = NULL;
    bool ok = parse_value(&j, &v, 0);
    if (ok) {
        ws(&j);
        if (j.p != j.end)
            ok = jerr(&j, SM_EPARSE, "trailing data");
    }
    if (!ok) {
        jv_free(v);
        return j.rc;
    }
    *out = v;
    return SM_OK;
}

const jv *jv_get(const jv *o, const char *key)
{
    if (!o || o->t != JV_OBJ)
        return NULL;
    for (size_t i = 0; i < o->n; i++)
        if (o->items[i]->key && !strcmp(o->items[i]->key, key))
            return o->items[i];
    return NULL;
}

bool jv_int(const jv *v, long long *out)
{
    if (!v || v->t != JV_NUM || strpbrk(v->s, ".eE"))
        return false;
    errno = 0;
    char *end = NULL;
    long long x = strtoll(v->s, &end, 10);
    if (errno || !end || *end)
        return false;
    *out = x;
    return true;
}

void json_put_str(sm_buf *b, const char *s, size_t n)
{
    static const char hx[] = "0123456789abcdef";
    sm_buf_append_byte(b, '"');
    size_t run = 0;
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)s[i];
        if (c >= 0x20 && c != '"' && c != '\\') {
            run++;
            continue;
        }
        sm_buf_append(b, s + i - run, run);
        run = 0;
        if (c == '"' || c == '\\') {
            sm_buf_append_byte(b, '\\');
            sm_buf_append_byte(b, c);
        } else if (c == '\n')
            sm_buf_append_str(b, "\\n");
        else if (c == '\r')
            sm_buf_append_str(b, "\\r");
        else if (c == '\t')
            sm_buf_append_str(b, "\\t");
        else {
            char u[7] = {'\\', 'u', '0', '0', hx[c >> 4], hx[c & 15], 0};
            sm_buf_append_str(b, u);
        }
    }
    sm_buf_append(b, s + n - run, run);
    sm_buf_append_byte(b, '"');
}
