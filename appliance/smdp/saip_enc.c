/* SAIP re-encoding with edits: every TLV is written again (tag as found, minimal length), so a
 * changed value length ripples through all enclosing lengths. Two passes: sizes, then bytes. */
#include "appliance/smdp/saip.h"

#include <stdlib.h>
#include <string.h>

#define N(p, i) (&(p)->tree.n[(i)])

typedef struct enc {
    const saip_pkg *p;
    const saip_edit *e;
    size_t n;
    int32_t *value_edit; /* per node: index of its VALUE edit, or -1 */
    uint8_t *has_append; /* per node: 1 when some APPEND edit targets it */
    size_t *content;     /* per node: encoded content length */
} enc;

static sm_rc check_edits(enc *x, sm_err *err)
{
    const saip_pkg *p = x->p;
    for (size_t k = 0; k < x->n; k++) {
        const saip_edit *e = &x->e[k];
        if (e->node < 0 || (size_t)e->node >= p->tree.count)
            return sm_errf(err, SM_EINVAL, "saip encode: edit %zu names node %d outside the package", k, (int)e->node);
        if (!e->data && e->len)
            return sm_errf(err, SM_EINVAL, "saip encode: edit %zu has no data", k);
        if (e->len > SAIP_MAX_PACKAGE)
            return sm_errf(err, SM_ELIMIT, "saip encode: edit %zu of %zu bytes is too large", k, e->len);
        const der_node *nd = N(p, e->node);
        if (e->kind == SAIP_EDIT_VALUE) {
            if (nd->cons)
                return sm_errf(err, SM_EINVAL, "saip encode: edit %zu replaces the value of a constructed element "
                                               "(offset %u)", k, nd->off);
            if (der_tag_class(nd->tag) == 0)
                return sm_errf(err, SM_EINVAL, "saip encode: edit %zu replaces a universal-type value (offset %u); "
                                               "only tagged fields are personalised", k, nd->off);
            if (x->value_edit[e->node] >= 0)
                return sm_errf(err, SM_EINVAL, "saip encode: two value edits for the element at offset %u", nd->off);
            x->value_edit[e->node] = (int32_t)k;
        } else if (e->kind == SAIP_EDIT_APPEND) {
            if (!nd->cons)
                return sm_errf(err, SM_EINVAL, "saip encode: edit %zu appends to a primitive element (offset %u)", k,
                               nd->off);
            der_tree t;
            sm_err e2 = {0};
            sm_rc rc = der_parse_all_one(&t, e->data, e->len, SAIP_MAX_DEPTH, 4096, &e2);
            der_tree_free(&t);
            if (rc != SM_OK)
                return sm_errf(err, SM_EINVAL, "saip encode: edit %zu appends data that is not one DER TLV: %s", k,
                               e2.msg);
            x->has_append[e->node] = 1;
        } else {
            return sm_errf(err, SM_EINVAL, "saip encode: edit %zu has an unknown kind", k);
        }
    }
    return SM_OK;
}

/* Content size of node i (children first: post-order over the tree, recursion depth bounded by
 * SAIP_MAX_DEPTH). Returns the whole TLV size. */
static size_t size_of(enc *x, int32_t i)
{
    const der_node *nd = N(x->p, i);
    size_t c;
    if (x->value_edit[i] >= 0) {
        c = x->e[x->value_edit[i]].len;
    } else if (nd->cons) {
        c = 0;
        for (int32_t ch = nd->child; ch != DER_NONE; ch = N(x->p, ch)->next)
            c += size_of(x, ch);
        if (x->has_append[i])
            for (size_t k = 0; k < x->n; k++)
                if (x->e[k].kind == SAIP_EDIT_APPEND && x->e[k].node == i)
                    c += x->e[k].len;
    } else {
        c = nd->len;
    }
    x->content[i] = c;
    return der_tag_size(nd->tag) + der_len_size(c) + c;
}

static uint8_t *emit(const enc *x, int32_t i, uint8_t *o)
{
    const saip_pkg *p = x->p;
    const der_node *nd = N(p, i);
    size_t tl = der_tag_size(nd->tag);
    memcpy(o, p->der + nd->off, tl);
    o += tl;
    o += der_put_len(o, x->content[i]);
    if (x->value_edit[i] >= 0) {
        const saip_edit *e = &x->e[x->value_edit[i]];
        if (e->len)
            memcpy(o, e->data, e->len);
        return o + e->len;
    }
    if (!nd->cons) {
        memcpy(o, p->der + nd->off + nd->hlen, nd->len);
        return o + nd->len;
    }
    for (int32_t ch = nd->child; ch != DER_NONE; ch = N(p, ch)->next)
        o = emit(x, ch, o);
    if (x->has_append[i])
        for (size_t k = 0; k < x->n; k++)
            if (x->e[k].kind == SAIP_EDIT_APPEND && x->e[k].node == i) {
                memcpy(o, x->e[k].data, x->e[k].len);
                o += x->e[k].len;
            }
    return o;
}

static sm_rc prepare(enc *x, const saip_pkg *p, const saip_edit *e, size_t n, size_t *total, sm_err *err)
{
    memset(x, 0, sizeof *x);
    x->p = p;
    x->e = e;
    x->n = n;
    size_t cnt = p->tree.count;
    x->value_edit = malloc(cnt * sizeof *x->value_edit);
    x->has_append = calloc(cnt, 1);
    x->content = malloc(cnt * sizeof *x->content);
    if (!x->value_edit || !x->has_append || !x->content)
        return sm_errf(err, SM_ENOMEM, "saip encode: out of memory");
    for (size_t k = 0; k < cnt; k++)
        x->value_edit[k] = -1;
    sm_rc rc = check_edits(x, err);
    if (rc != SM_OK)
        return rc;
    size_t t = 0;
    for (size_t k = 0; k < p->npes; k++)
        t += size_of(x, p->pes[k].node);
    if (t > 2u * SAIP_MAX_PACKAGE)
        return sm_errf(err, SM_ELIMIT, "saip encode: result of %zu bytes is too large", t);
    *total = t;
    return SM_OK;
}

static void release(enc *x)
{
    free(x->value_edit);
    free(x->has_append);
    free(x->content);
}

sm_rc saip_encoded_size(const saip_pkg *p, const saip_edit *e, size_t n, size_t *size, sm_err *err)
{
    enc x;
    sm_rc rc = prepare(&x, p, e, n, size, err);
    release(&x);
    return rc;
}

sm_rc saip_encode(const saip_pkg *p, const saip_edit *e, size_t n, uint8_t *out, size_t cap, size_t *outlen,
                  sm_err *err)
{
    enc x;
    size_t total = 0;
    sm_rc rc = prepare(&x, p, e, n, &total, err);
    if (rc == SM_OK && total > cap)
        rc = sm_errf(err, SM_EINVAL, "saip encode: %zu bytes do not fit the %zu-byte buffer", total, cap);
    if (rc == SM_OK) {
        uint8_t *o = out;
        for (size_t k = 0; k < p->npes; k++)
            o = emit(&x, p->pes[k].node, o);
        if ((size_t)(o - out) != total)
            rc = sm_errf(err, SM_EINTERNAL, "saip encode: wrote %zu bytes, sized %zu", (size_t)(o - out), total);
        else
            *outlen = total;
    }
    release(&x);
    return rc;
}
