/* The decoded value tree of ES function calls. */
#include "net/es_value.h"

#include <stdlib.h>
#include <string.h>

static es_value *node_new(es_vtype t)
{
    es_value *v = calloc(1, sizeof *v);
    if (v)
        v->type = t;
    return v;
}

es_value *es_struct_new(void) { return node_new(ESV_STRUCT); }

void es_value_free(es_value *v)
{
    if (!v)
        return;
    for (size_t i = 0; i < v->n; i++)
        es_value_free(v->kids[i]);
    free(v->kids);
    free(v->name);
    free(v->str);
    free(v->bytes);
    free(v);
}

es_value *es_attach(es_value *s, const char *name, es_value *node)
{
    if (!s || !node || (s->type != ESV_STRUCT && s->type != ESV_LIST)) {
        es_value_free(node);
        return NULL;
    }
    if (name) {
        free(node->name);
        node->name = strdup(name);
        if (!node->name) {
            es_value_free(node);
            return NULL;
        }
    }
    if (s->n == s->cap) {
        size_t nc = s->cap ? s->cap * 2 : 4;
        es_value **k = realloc(s->kids, nc * sizeof *k);
        if (!k) {
            es_value_free(node);
            return NULL;
        }
        s->kids = k;
        s->cap = nc;
    }
    s->kids[s->n++] = node;
    return node;
}

es_value *es_value_dup(const es_value *v)
{
    if (!v)
        return NULL;
    es_value *d = node_new(v->type);
    if (!d)
        return NULL;
    d->i = v->i;
    d->b = v->b;
    d->len = v->len;
    if ((v->name && !(d->name = strdup(v->name))))
        goto fail;
    if (v->str) {
        d->str = malloc(v->len + 1);
        if (!d->str)
            goto fail;
        memcpy(d->str, v->str, v->len + 1);
    }
    if (v->bytes) {
        d->bytes = malloc(v->len ? v->len : 1);
        if (!d->bytes)
            goto fail;
        memcpy(d->bytes, v->bytes, v->len);
    }
    for (size_t i = 0; i < v->n; i++) {
        es_value *k = es_value_dup(v->kids[i]);
        if (!k || !es_attach(d, NULL, k))
            goto fail;
    }
    return d;
fail:
    es_value_free(d);
    return NULL;
}

const es_value *es_get(const es_value *s, const char *name)
{
    if (!s || s->type != ESV_STRUCT || !name)
        return NULL;
    for (size_t i = 0; i < s->n; i++)
        if (s->kids[i]->name && !strcmp(s->kids[i]->name, name))
            return s->kids[i];
    return NULL;
}

const char *es_str(const es_value *s, const char *name)
{
    const es_value *v = es_get(s, name);
    return v && v->type == ESV_STR ? v->str : NULL;
}

bool es_bytes(const es_value *s, const char *name, const uint8_t **p, size_t *len)
{
    const es_value *v = es_get(s, name);
    if (!v || v->type != ESV_BYTES)
        return false;
    *p = v->bytes;
    *len = v->len;
    return true;
}

bool es_int(const es_value *s, const char *name, int64_t *out)
{
    const es_value *v = es_get(s, name);
    if (!v || v->type != ESV_INT)
        return false;
    *out = v->i;
    return true;
}

bool es_bool(const es_value *s, const char *name, bool *out)
{
    const es_value *v = es_get(s, name);
    if (!v || v->type != ESV_BOOL)
        return false;
    *out = v->b;
    return true;
}

const es_value *es_struct(const es_value *s, const char *name)
{
    const es_value *v = es_get(s, name);
    return v && v->type == ESV_STRUCT ? v : NULL;
}

size_t es_count(const es_value *s, const char *name)
{
    const es_value *v = es_get(s, name);
    if (!v)
        return 0;
    return v->type == ESV_LIST ? v->n : 1;
}

const es_value *es_item(const es_value *s, const char *name, size_t i)
{
    const es_value *v = es_get(s, name);
    if (!v)
        return NULL;
    if (v->type != ESV_LIST)
        return i == 0 ? v : NULL;
    return i < v->n ? v->kids[i] : NULL;
}

es_value *es_add_strn(es_value *s, const char *name, const char *str, size_t n)
{
    es_value *v = node_new(ESV_STR);
    if (!v)
        return NULL;
    v->str = malloc(n + 1);
    if (!v->str) {
        free(v);
        return NULL;
    }
    memcpy(v->str, str, n);
    v->str[n] = 0;
    v->len = n;
    return es_attach(s, name, v);
}

es_value *es_add_str(es_value *s, const char *name, const char *str)
{
    return es_add_strn(s, name, str ? str : "", str ? strlen(str) : 0);
}

es_value *es_add_bytes(es_value *s, const char *name, const uint8_t *p, size_t n)
{
    es_value *v = node_new(ESV_BYTES);
    if (!v)
        return NULL;
    v->bytes = malloc(n ? n : 1);
    if (!v->bytes) {
        free(v);
        return NULL;
    }
    if (n)
        memcpy(v->bytes, p, n);
    v->len = n;
    return es_attach(s, name, v);
}

es_value *es_add_int(es_value *s, const char *name, int64_t x)
{
    es_value *v = node_new(ESV_INT);
    if (!v)
        return NULL;
    v->i = x;
    return es_attach(s, name, v);
}

es_value *es_add_bool(es_value *s, const char *name, bool x)
{
    es_value *v = node_new(ESV_BOOL);
    if (!v)
        return NULL;
    v->b = x;
    return es_attach(s, name, v);
}

es_value *es_add_struct(es_value *s, const char *name) { return es_attach(s, name, node_new(ESV_STRUCT)); }

es_value *es_add_list(es_value *s, const char *name) { return es_attach(s, name, node_new(ESV_LIST)); }
