#include "tests/support/json.h"

#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "lib/hex.h"

typedef struct {
    const char *p, *end;
    char *err;
    size_t errlen;
    int depth;
} P;

static tj *parse_value(P *p);

static void ws(P *p)
{
    while (p->p < p->end && isspace((unsigned char)*p->p))
        p->p++;
}

static tj *fail(P *p, const char *what)
{
    if (p->err && !p->err[0])
        snprintf(p->err, p->errlen, "json: %s at offset %ld", what, (long)(p->end - p->p));
    return NULL;
}

static char *parse_string(P *p)
{
    if (p->p >= p->end || *p->p != '"')
        return (char *)fail(p, "expected string");
    p->p++;
    size_t cap = 32, n = 0;
    char *s = malloc(cap);
    while (p->p < p->end && *p->p != '"') {
        char c = *p->p++;
        if (c == '\\') {
            if (p->p >= p->end)
                break;
            char e = *p->p++;
            switch (e) {
            case 'n': c = '\n'; break;
            case 't': c = '\t'; break;
            case 'r': c = '\r'; break;
            case 'b': c = '\b'; break;
            case 'f': c = '\f'; break;
            case 'u':
                if (p->end - p->p < 4) {
                    free(s);
                    return (char *)fail(p, "bad \\u escape");
                }
                {
                    char hx[5] = {p->p[0], p->p[1], p->p[2], p->p[3], 0};
                    long v = strtol(hx, NULL, 16);
                    c = v < 0x80 ? (char)v : '?';
                    p->p += 4;
                }
                break;
            default: c = e;
            }
        }
        if (n + 2 > cap)
            s = realloc(s, cap *= 2);
        s[n++] = c;
    }
    if (p->p >= p->end) {
        free(s);
        return (char *)fail(p, "unterminated string");
    }
    p->p++;
    s[n] = 0;
    return s;
}

static tj *newv(tj_type t)
{
    tj *v = calloc(1, sizeof *v);
    v->type = t;
    return v;
}

static void push(tj *c, tj *item)
{
    c->items = realloc(c->items, (c->n + 1) * sizeof *c->items);
    c->items[c->n++] = item;
}

static tj *parse_container(P *p, int obj)
{
    if (++p->depth > 64)
        return fail(p, "nesting too deep");
    tj *v = newv(obj ? TJ_OBJ : TJ_ARR);
    p->p++;
    ws(p);
    if (p->p < p->end && *p->p == (obj ? '}' : ']')) {
        p->p++;
        p->depth--;
        return v;
    }
    for (;;) {
        ws(p);
        char *key = NULL;
        if (obj) {
            key = parse_string(p);
            if (!key)
                goto bad;
            ws(p);
            if (p->p >= p->end || *p->p != ':') {
                free(key);
                fail(p, "expected ':'");
                goto bad;
            }
            p->p++;
        }
        tj *item = parse_value(p);
        if (!item) {
            free(key);
            goto bad;
        }
        item->key = key;
        push(v, item);
        ws(p);
        if (p->p < p->end && *p->p == ',') {
            p->p++;
            continue;
        }
        if (p->p < p->end && *p->p == (obj ? '}' : ']')) {
            p->p++;
            p->depth--;
            return v;
        }
        fail(p, "expected ',' or end of container");
        goto bad;
    }
bad:
    tj_free(v);
    return NULL;
}

static tj *parse_value(P *p)
{
    ws(p);
    if (p->p >= p->end)
        return fail(p, "unexpected end");
    char c = *p->p;
    if (c == '{' || c == '[')
        return parse_container(p, c == '{');
    if (c == '"') {
        char *s = parse_string(p);
        if (!s)
            return NULL;
        tj *v = newv(TJ_STR);
        v->str = s;
        return v;
    }
    if (!strncmp(p->p, "true", 4) || !strncmp(p->p, "false", 5)) {
        tj *v = newv(TJ_BOOL);
        v->b = *p->p == 't';
        p->p += v->b ? 4 : 5;
        return v;
    }
    if (!strncmp(p->p, "null", 4)) {
        p->p += 4;
        return newv(TJ_NULL);
    }
    char *e;
    double d = strtod(p->p, &e);
    if (e == p->p)
        return fail(p, "bad value");
    p->p = e;
    tj *v = newv(TJ_NUM);
    v->num = d;
    return v;
}

tj *tj_parse(const char *text, size_t len, char *errbuf, size_t errlen)
{
    P p = {text, text + len, errbuf, errlen, 0};
    if (errbuf && errlen)
        errbuf[0] = 0;
    tj *v = parse_value(&p);
    if (v) {
        ws(&p);
        if (p.p != p.end) {
            tj_free(v);
            return fail(&p, "trailing data");
        }
    }
    return v;
}

tj *tj_load(const char *path)
{
    FILE *f = fopen(path, "rb");
    if (!f) {
        fprintf(stderr, "tj_load: cannot open %s\n", path);
        abort();
    }
    fseek(f, 0, SEEK_END);
    long n = ftell(f);
    fseek(f, 0, SEEK_SET);
    char *b = malloc((size_t)n + 1);
    if (fread(b, 1, (size_t)n, f) != (size_t)n)
        abort();
    fclose(f);
    char err[128];
    tj *v = tj_parse(b, (size_t)n, err, sizeof err);
    free(b);
    if (!v) {
        fprintf(stderr, "tj_load: %s: %s\n", path, err);
        abort();
    }
    return v;
}

void tj_free(tj *v)
{
    if (!v)
        return;
    for (size_t i = 0; i < v->n; i++)
        tj_free(v->items[i]);
    free(v->items);
    free(v->key);
    free(v->str);
    free(v);
}

const tj *tj_get(const tj *o, const char *key)
{
    if (!o || o->type != TJ_OBJ)
        return NULL;
    for (size_t i = 0; i < o->n; i++)
        if (strcmp(o->items[i]->key, key) == 0)
            return o->items[i];
    return NULL;
}

const char *tj_str(const tj *o, const char *key)
{
    const tj *v = tj_get(o, key);
    return v && v->type == TJ_STR ? v->str : NULL;
}

const tj *tj_path(const tj *o, const char *path)
{
    char buf[256];
    snprintf(buf, sizeof buf, "%s", path);
    const tj *cur = o;
    for (char *save = NULL, *tok = strtok_r(buf, ".", &save); tok && cur; tok = strtok_r(NULL, ".", &save)) {
        if (cur->type == TJ_ARR) {
            size_t i = strtoul(tok, NULL, 10);
            cur = i < cur->n ? cur->items[i] : NULL;
        } else {
            cur = tj_get(cur, tok);
        }
    }
    return cur;
}

uint8_t *tj_hex(const tj *o, const char *key, size_t *len)
{
    const char *s = tj_str(o, key);
    if (!s) {
        fprintf(stderr, "tj_hex: no string member '%s'\n", key);
        abort();
    }
    uint8_t *b = NULL;
    sm_err err = {0};
    if (!*s) {
        *len = 0;
        return calloc(1, 1);
    }
    if (sm_hex_decode_alloc(s, &b, len, &err) != SM_OK) {
        fprintf(stderr, "tj_hex: member '%s': %s\n", key, err.msg);
        abort();
    }
    return b;
}
