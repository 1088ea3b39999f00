/* testutil: JSON reader and small helpers for the simulator tests. */
#include "tests/sim/testutil.h"

#include <ctype.h>
#include <ftw.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

enum { TJ_NULL, TJ_STR, TJ_NUM, TJ_BOOL, TJ_ARR, TJ_OBJ };
struct tj {
    int type;
    char *s;        /* string / number text */
    char **keys;    /* object */
    struct tj **v;  /* array / object values */
    size_t n;
};

typedef struct { const char *p, *end; } tjp;

static void ws(tjp *p)
{
    while (p->p < p->end && isspace((unsigned char)*p->p))
        p->p++;
}

static tj *parse(tjp *p, int depth);

static char *pstr(tjp *p)
{
    if (p->p >= p->end || *p->p != '"')
        return NULL;
    p->p++;
    size_t cap = 16, n = 0;
    char *s = malloc(cap);
    while (s && p->p < p->end && *p->p != '"') {
        char c = *p->p++;
        if (c == '\\' && p->p < p->end) {
            c = *p->p++;
            if (c == 'n') c = '\n';
            else if (c == 't') c = '\t';
            else if (c == 'u') { p->p += (p->end - p->p >= 4) ? 4 : 0; c = '?'; }
        }
        if (n + 2 > cap) {
            char *ns = realloc(s, cap *= 2);
            if (!ns) { free(s); return NULL; }
            s = ns;
        }
        s[n++] = c;
    }
    if (!s || p->p >= p->end) { free(s); return NULL; }
    p->p++;
    s[n] = 0;
    return s;
}

static int push(tj *j, char *key, tj *v)
{
    tj **nv = realloc(j->v, (j->n + 1) * sizeof *nv);
    if (!nv) return -1;
    j->v = nv;
    if (j->type == TJ_OBJ) {
        char **nk = realloc(j->keys, (j->n + 1) * sizeof *nk);
        if (!nk) return -1;
        j->keys = nk;
        j->keys[j->n] = key;
    }
    j->v[j->n++] = v;
    return 0;
}

static tj *parse(tjp *p, int depth)
{
    ws(p);
    if (p->p >= p->end || depth > 64)
        return NULL;
    tj *j = calloc(1, sizeof *j);
    if (!j) return NULL;
    char c = *p->p;
    if (c == '"') {
        j->type = TJ_STR;
        if (!(j->s = pstr(p))) goto bad;
    } else if (c == '{' || c == '[') {
        j->type = c == '{' ? TJ_OBJ : TJ_ARR;
        char close = c == '{' ? '}' : ']';
        p->p++;
        ws(p);
        if (p->p < p->end && *p->p == close) { p->p++; return j; }
        for (;;) {
            char *key = NULL;
            if (j->type == TJ_OBJ) {
                ws(p);
                if (!(key = pstr(p))) goto bad;
                ws(p);
                if (p->p >= p->end || *p->p != ':') { free(key); goto bad; }
                p->p++;
            }
            tj *v = parse(p, depth + 1);
            if (!v || push(j, key, v)) { free(key); tj_free(v); goto bad; }
            ws(p);
            if (p->p < p->end && *p->p == ',') { p->p++; continue; }
            if (p->p < p->end && *p->p == close) { p->p++; break; }
            goto bad;
        }
    } else {
        const char *s = p->p;
        while (p->p < p->end && (isalnum((unsigned char)*p->p) || *p->p == '-' || *p->p == '+' || *p->p == '.'))
            p->p++;
        if (p->p == s) goto bad;
        j->type = (*s == 't' || *s == 'f') ? TJ_BOOL : *s == 'n' ? TJ_NULL : TJ_NUM;
        j->s = strndup(s, (size_t)(p->p - s));
    }
    return j;
bad:
    tj_free(j);
    return NULL;
}

void tj_free(tj *j)
{
    if (!j) return;
    for (size_t i = 0; i < j->n; i++) {
        tj_free(j->v[i]);
        if (j->keys) free(j->keys[i]);
    }
    free(j->v);
    free(j->keys);
    free(j->s);
    free(j);
}

tj *tj_load(const char *rel)
{
    char path[1024];
    sim_buf b;
    sim_buf_init(&b);
    sim_err e = {0};
    if (sim_read_file(tu_src(rel, path, sizeof path), &b, &e)) {
        fprintf(stderr, "tj_load: %s\n", e.msg);
        return NULL;
    }
    tjp p = {(const char *)b.p, (const char *)b.p + b.len};
    tj *j = parse(&p, 0);
    if (!j) fprintf(stderr, "tj_load: %s: JSON syntax error\n", path);
    sim_buf_free(&b);
    return j;
}

const tj *tj_get(const tj *j, const char *key)
{
    if (!j || j->type != TJ_OBJ) return NULL;
    for (size_t i = 0; i < j->n; i++)
        if (!strcmp(j->keys[i], key)) return j->v[i];
    return NULL;
}

const tj *tj_path(const tj *j, const char *path)
{
    char tmp[256];
    snprintf(tmp, sizeof tmp, "%s", path);
    char *save = NULL;
    for (char *k = strtok_r(tmp, "/", &save); k && j; k = strtok_r(NULL, "/", &save)) {
        if (j->type == TJ_ARR) j = tj_at(j, (size_t)atoi(k));
        else j = tj_get(j, k);
    }
    return j;
}

const tj *tj_at(const tj *j, size_t i) { return (j && j->type == TJ_ARR && i < j->n) ? j->v[i] : NULL; }
size_t tj_len(const tj *j) { return (j && (j->type == TJ_ARR || j->type == TJ_OBJ)) ? j->n : 0; }
const char *tj_str(const tj *j) { return (j && (j->type == TJ_STR || j->type == TJ_NUM)) ? j->s : NULL; }
const char *tj_key(const tj *j, size_t i) { return (j && j->type == TJ_OBJ && i < j->n) ? j->keys[i] : NULL; }
const tj *tj_val(const tj *j, size_t i) { return (j && j->type == TJ_OBJ && i < j->n) ? j->v[i] : NULL; }

void tu_hexbuf(const char *hex, sim_buf *out)
{
    sim_err e = {0};
    if (!hex || sim_unhex_buf(hex, strlen(hex), out, &e)) {
        fprintf(stderr, "bad hex in test data: %s\n", hex ? e.msg : "(missing)");
        abort();
    }
}

size_t tu_hex(const char *hex, uint8_t *out, size_t cap)
{
    sim_err e = {0};
    size_t n = 0;
    if (!hex || sim_unhex(hex, out, cap, &n, &e)) {
        fprintf(stderr, "bad hex in test data: %s\n", hex ? e.msg : "(missing)");
        abort();
    }
    return n;
}

const char *tu_src(const char *rel, char *out, size_t cap)
{
    const char *root = getenv("SMBOX_SRCDIR");
    snprintf(out, cap, "%s/%s", root && *root ? root : ".", rel);
    return out;
}

char *tu_tmpdir(char *out, size_t cap)
{
    snprintf(out, cap, "/tmp/simtest.XXXXXX");
    return mkdtemp(out);
}

static int rmone(const char *p, const struct stat *st, int fl, struct FTW *f)
{
    (void)st; (void)fl; (void)f;
    return remove(p);
}

void tu_rmrf(const char *dir)
{
    nftw(dir, rmone, 16, FTW_DEPTH | FTW_PHYS);
}
