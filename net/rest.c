/* The REST/JSON binding of the ES functions and its OpenAPI description. */
#include "net/rest.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include "lib/hex.h"
#include "net/xml.h"

/* ---- paths ----------------------------------------------------------------------------------- */

bool rest_parse_path(const char *path, const es_function **f, es_kind *kind)
{
    size_t pl = strlen(REST_PREFIX);
    if (strncmp(path, REST_PREFIX, pl))
        return false;
    const char *p = path + pl;
    const char *slash = strchr(p, '/');
    if (!slash)
        return false;
    es_iface iface = es_iface_parse(p, (size_t)(slash - p));
    const char *name = slash + 1;
    if (!iface || !*name || strchr(name, '/') || strlen(name) > 80)
        return false;
    char el[100];
    snprintf(el, sizeof el, "%s-%s", es_iface_name(iface), name);
    es_kind k;
    const es_function *fn = es_function_by_element(el, &k);
    if (!fn)
        return false;
    size_t nl = strlen(name);
    if (k == ES_KIND_REQUEST && nl > 7 && !strcasecmp(name + nl - 7, "Request"))
        return false; /* the request path is the bare function name */
    *f = fn;
    *kind = k;
    return true;
}

void rest_path(const es_function *f, es_kind kind, char *out, size_t cap)
{
    char es[4] = {0};
    const char *n = es_iface_name(f->iface);
    for (int i = 0; i < 3; i++)
        es[i] = (char)(n[i] >= 'A' && n[i] <= 'Z' ? n[i] + 32 : n[i]);
    snprintf(out, cap, REST_PREFIX "%s/%s%s", es, f->name, kind == ES_KIND_RESPONSE ? "Response" : "");
}

/* ---- decoding -------------------------------------------------------------------------------- */

typedef struct rctx {
    int lenient;
    es_status *st;
    char path[512];
} rctx;

static bool rfail(rctx *r, const char *reason, const char *what)
{
    if (r->st->exec != ES_EXEC_FAILED)
        es_status_fail(r->st, ES_SUBJ_FUNCTION, reason, "%s%s%s", r->path, r->path[0] ? ": " : "", what);
    return false;
}

static bool xml_fragment_ok(const char *s, size_t n)
{
    /* an EST_XML value is emitted verbatim in SOAP: it must be well-formed on its own */
    sm_buf b;
    sm_buf_init(&b);
    sm_buf_append_str(&b, "<x>");
    sm_buf_append(&b, s, n);
    sm_buf_append_str(&b, "</x>");
    if (b.failed) {
        sm_buf_free(&b);
        return false;
    }
    xml_limits lim = {.max_bytes = b.len, .max_depth = 64, .max_nodes = 100000};
    xmlDocPtr doc = NULL;
    sm_err e = {0};
    sm_rc rc = xml_parse((const char *)b.data, b.len, &lim, &doc, &e);
    sm_buf_free(&b);
    if (doc)
        xmlFreeDoc(doc);
    return rc == SM_OK;
}

static bool decode_obj(rctx *r, const es_type *t, const jv *o, es_value *dst, int depth);

static bool decode_val(rctx *r, const es_field *f, const jv *v, es_value *dst, const char *name, int depth)
{
    switch (f->type) {
    case EST_STRING:
    case EST_DATETIME:
    case EST_XML:
        if (v->t != JV_STR)
            return rfail(r, ES_RSN_INVALID, "must be a string");
        if (f->type == EST_XML && !xml_fragment_ok(v->s, v->slen))
            return rfail(r, ES_RSN_INVALID, "not well-formed XML");
        return es_add_strn(dst, name, v->s, v->slen) != NULL || rfail(r, ES_RSN_INVALID, "out of memory");
    case EST_HEX: {
        if (v->t != JV_STR)
            return rfail(r, ES_RSN_INVALID, "must be a hexadecimal string");
        uint8_t *p = NULL;
        size_t n = 0;
        sm_err e = {0};
        if (sm_hex_decode_alloc(v->s, &p, &n, &e) != SM_OK)
            return rfail(r, ES_RSN_INVALID, "not hexadecimal");
        es_value *x = es_add_bytes(dst, name, p, n);
        free(p);
        return x != NULL || rfail(r, ES_RSN_INVALID, "out of memory");
    }
    case EST_INT: {
        long long x;
        if (!jv_int(v, &x))
            return rfail(r, ES_RSN_INVALID, "must be an integer");
        return es_add_int(dst, name, x) != NULL || rfail(r, ES_RSN_INVALID, "out of memory");
    }
    case EST_BOOL:
        if (v->t != JV_BOOL)
            return rfail(r, ES_RSN_INVALID, "must be true or false");
        return es_add_bool(dst, name, v->b) != NULL || rfail(r, ES_RSN_INVALID, "out of memory");
    case EST_STRUCT: {
        if (v->t != JV_OBJ)
            return rfail(r, ES_RSN_INVALID, "must be an object");
        es_value *s = es_add_struct(dst, name);
        if (!s)
            return rfail(r, ES_RSN_INVALID, "out of memory");
        int l = (f->sub->flags & ES_T_LENIENT) != 0;
        r->lenient += l;
        bool ok = decode_obj(r, f->sub, v, s, depth + 1);
        r->lenient -= l;
        return ok;
    }
    }
    return rfail(r, ES_RSN_INVALID, "unexpected type");
}

static bool decode_obj(rctx *r, const es_type *t, const jv *o, es_value *dst, int depth)
{
    if (depth > 64)
        return rfail(r, ES_RSN_INVALID, "nested too deeply");
    size_t pl = strlen(r->path);
    for (size_t i = 0; i < o->n; i++) {
        const jv *m = o->items[i];
        snprintf(r->path + pl, sizeof r->path - pl, "%s%s", pl ? "/" : "", m->key);
        const es_field *f = NULL;
        for (size_t k = 0; k < t->n && !f; k++)
            if (!strcmp(t->fields[k].name, m->key))
                f = &t->fields[k];
        if (!f) {
            if ((t->flags & ES_T_LENIENT) || r->lenient) {
                r->path[pl] = 0;
                continue;
            }
            return rfail(r, ES_RSN_INVALID, "unexpected member");
        }
        if (m->t == JV_NULL) { /* null = absent */
            r->path[pl] = 0;
            continue;
        }
        if (es_field_repeated(f)) {
            if (m->t != JV_ARR)
                return rfail(r, ES_RSN_INVALID, "must be an array");
            es_value *list = es_add_list(dst, f->name);
            if (!list)
                return rfail(r, ES_RSN_INVALID, "out of memory");
            for (size_t k = 0; k < m->n; k++)
                if (!decode_val(r, f, m->items[k], list, NULL, depth))
                    return false;
        } else if (!decode_val(r, f, m, dst, f->name, depth)) {
            return false;
        }
        r->path[pl] = 0;
    }
    return true;
}

/* copies a header string; false when it is not a string or does not fit (never truncated) */
static bool hdr_str(const jv *h, const char *key, char *out, size_t cap)
{
    const jv *v = jv_get(h, key);
    if (!v)
        return true;
    if (v->t != JV_STR || v->slen >= cap)
        return false;
    memcpy(out, v->s, v->slen + 1);
    return true;
}

static bool decode_status(rctx *r, const jv *s, es_status *st)
{
    es_status_ok(st);
    const jv *v = jv_get(s, "status");
    if (!v || v->t != JV_STR || !es_exec_parse(v->s, &st->exec))
        return rfail(r, ES_RSN_INVALID, "header/functionExecutionStatus/status missing or unknown");
    const jv *d = jv_get(s, "statusCodeData");
    if (d && d->t == JV_OBJ &&
        (!hdr_str(d, "subjectCode", st->subject, sizeof st->subject) ||
         !hdr_str(d, "reasonCode", st->reason, sizeof st->reason) ||
         !hdr_str(d, "subjectIdentifier", st->subject_id, sizeof st->subject_id) ||
         !hdr_str(d, "message", st->message, sizeof st->message)))
        return rfail(r, ES_RSN_INVALID, "header/functionExecutionStatus/statusCodeData: a member is not a string or is too long");
    return true;
}

sm_rc rest_decode(const char *buf, size_t len, const json_limits *lim, const es_function *f, es_kind kind, es_msg *m,
                  es_status *fst, sm_err *err)
{
    memset(m, 0, sizeof *m);
    es_status_ok(fst);
    jv *root = NULL;
    sm_rc rc = json_parse(buf, len, lim, &root, err);
    if (rc != SM_OK)
        return rc;
    m->fn = f;
    m->kind = kind;
    m->body = es_struct_new();
    rctx r = {.st = fst};
    if (!m->body) {
        jv_free(root);
        return sm_errf(err, SM_ENOMEM, "rest: out of memory");
    }
    if (root->t != JV_OBJ) {
        rfail(&r, ES_RSN_INVALID, "the message must be a JSON object");
        goto done;
    }
    for (size_t i = 0; i < root->n; i++)
        if (strcmp(root->items[i]->key, "header") && strcmp(root->items[i]->key, "body")) {
            snprintf(r.path, sizeof r.path, "%s", root->items[i]->key);
            rfail(&r, ES_RSN_INVALID, "unexpected member (only header and body)");
            goto done;
        }
    const jv *h = jv_get(root, "header");
    if (h && h->t != JV_OBJ) {
        rfail(&r, ES_RSN_INVALID, "header must be an object");
        goto done;
    }
    if (!hdr_str(h, "functionCallIdentifier", m->hdr.fcid, sizeof m->hdr.fcid) ||
        !hdr_str(h, "functionRequesterIdentifier", m->hdr.requester, sizeof m->hdr.requester) ||
        !hdr_str(h, "messageId", m->hdr.message_id, sizeof m->hdr.message_id) ||
        !hdr_str(h, "relatesTo", m->hdr.relates_to, sizeof m->hdr.relates_to) ||
        !hdr_str(h, "replyTo", m->hdr.reply_to, sizeof m->hdr.reply_to) ||
        !hdr_str(h, "from", m->hdr.from, sizeof m->hdr.from)) {
        rfail(&r, ES_RSN_INVALID, "a header member is not a string or is too long");
        goto done;
    }
    const jv *vp = jv_get(h, "validityPeriod");
    if (vp) {
        long long x;
        if (!jv_int(vp, &x) || x <= 0 || x > 0x7fffffffLL) {
            rfail(&r, ES_RSN_INVALID, "header/validityPeriod must be a positive integer");
            goto done;
        }
        m->hdr.validity = (long)x;
    }
    if (kind == ES_KIND_REQUEST && !m->hdr.fcid[0]) {
        rfail(&r, ES_RSN_MANDATORY_MISSING, "mandatory header/functionCallIdentifier is missing");
        goto done;
    }
    if (kind == ES_KIND_RESPONSE) {
        const jv *s = jv_get(h, "functionExecutionStatus");
        if (!s || s->t != JV_OBJ) {
            rfail(&r, ES_RSN_MANDATORY_MISSING, "mandatory header/functionExecutionStatus is missing");
            goto done;
        }
        if (!decode_status(&r, s, &m->status))
            goto done;
    }
    const es_type *t = kind == ES_KIND_RESPONSE ? f->out : f->in;
    const jv *b = jv_get(root, "body");
    if (b && b->t != JV_OBJ) {
        rfail(&r, ES_RSN_INVALID, "body must be an object");
        goto done;
    }
    if (b && !decode_obj(&r, t, b, m->body, 0))
        goto done;
    if (kind == ES_KIND_RESPONSE && m->status.exec >= ES_EXEC_FAILED)
        es_validate_lenient(t, m->body, fst);
    else
        es_validate(t, m->body, fst);
done:
    jv_free(root);
    return SM_OK;
}

/* ---- encoding -------------------------------------------------------------------------------- */

static void put_key(sm_buf *b, bool *first, const char *k)
{
    if (!*first)
        sm_buf_append_byte(b, ',');
    *first = false;
    json_put_str(b, k, strlen(k));
    sm_buf_append_byte(b, ':');
}

static void enc_obj(sm_buf *b, const es_type *t, const es_value *v, int depth);

static void enc_val(sm_buf *b, const es_field *f, const es_value *v, int depth)
{
    switch (v->type) {
    case ESV_STR:
        json_put_str(b, v->str, v->len);
        break;
    case ESV_BYTES: {
        static const char hx[] = "0123456789ABCDEF";
        sm_buf_append_byte(b, '"');
        for (size_t i = 0; i < v->len; i++) {
            sm_buf_append_byte(b, (uint8_t)hx[v->bytes[i] >> 4]);
            sm_buf_append_byte(b, (uint8_t)hx[v->bytes[i] & 15]);
        }
        sm_buf_append_byte(b, '"');
        break;
    }
    case ESV_INT:
        sm_buf_printf(b, "%" PRId64, v->i);
        break;
    case ESV_BOOL:
        sm_buf_append_str(b, v->b ? "true" : "false");
        break;
    case ESV_STRUCT:
        enc_obj(b, f->type == EST_STRUCT ? f->sub : NULL, v, depth + 1);
        break;
    case ESV_LIST:
        sm_buf_append_str(b, "null");
        break;
    }
}

static void enc_obj(sm_buf *b, const es_type *t, const es_value *v, int depth)
{
    sm_buf_append_byte(b, '{');
    bool first = true;
    for (size_t i = 0; t && depth < 64 && i < t->n; i++) {
        const es_field *f = &t->fields[i];
        const es_value *m = es_get(v, f->name);
        if (!m)
            continue;
        put_key(b, &first, f->name);
        if (es_field_repeated(f)) {
            sm_buf_append_byte(b, '[');
            for (size_t k = 0; m->type == ESV_LIST && k < m->n; k++) {
                if (k)
                    sm_buf_append_byte(b, ',');
                enc_val(b, f, m->kids[k], depth);
            }
            if (m->type != ESV_LIST)
                enc_val(b, f, m, depth);
            sm_buf_append_byte(b, ']');
        } else {
            enc_val(b, f, m, depth);
        }
    }
    sm_buf_append_byte(b, '}');
}

static void put_hstr(sm_buf *b, bool *first, const char *k, const char *v)
{
    if (!v || !*v)
        return;
    put_key(b, first, k);
    json_put_str(b, v, strlen(v));
}

static void put_status(sm_buf *b, const es_status *st)
{
    sm_buf_append_str(b, "{\"status\":");
    json_put_str(b, es_exec_name(st->exec), strlen(es_exec_name(st->exec)));
    if (st->exec != ES_EXEC_SUCCESS && st->subject[0]) {
        sm_buf_append_str(b, ",\"statusCodeData\":{");
        bool f = true;
        put_hstr(b, &f, "subjectCode", st->subject);
        put_hstr(b, &f, "reasonCode", st->reason);
        put_hstr(b, &f, "subjectIdentifier", st->subject_id);
        put_hstr(b, &f, "message", st->message);
        sm_buf_append_byte(b, '}');
    }
    sm_buf_append_byte(b, '}');
}

static void put_time(sm_buf *b, bool *first, const char *k, time_t t)
{
    struct tm tm;
    char s[40];
    gmtime_r(&t, &tm);
    strftime(s, sizeof s, "%Y-%m-%dT%H:%M:%SZ", &tm);
    put_hstr(b, first, k, s);
}

sm_rc rest_encode(const es_msg *m, sm_buf *b, sm_err *err)
{
    const es_function *f = m->fn;
    if (!f)
        return sm_errf(err, SM_EINVAL, "rest: no function to encode");
    const es_header *h = &m->hdr;
    sm_buf_append_str(b, "{\"header\":{");
    bool first = true;
    if (m->kind == ES_KIND_REQUEST) {
        put_hstr(b, &first, "functionRequesterIdentifier", h->requester);
        put_hstr(b, &first, "functionCallIdentifier", h->fcid);
        if (h->validity > 0) {
            put_key(b, &first, "validityPeriod");
            sm_buf_printf(b, "%ld", h->validity);
        }
        put_hstr(b, &first, "replyTo", h->reply_to);
    }
    put_hstr(b, &first, "messageId", h->message_id);
    put_hstr(b, &first, "relatesTo", h->relates_to);
    put_hstr(b, &first, "from", h->from);
    if (m->kind == ES_KIND_RESPONSE) {
        if (m->proc_start)
            put_time(b, &first, "processingStart", m->proc_start);
        if (m->proc_end)
            put_time(b, &first, "processingEnd", m->proc_end);
        if (m->acceptable_validity > 0) {
            put_key(b, &first, "acceptableValidityPeriod");
            sm_buf_printf(b, "%ld", m->acceptable_validity);
        }
        put_key(b, &first, "functionExecutionStatus");
        put_status(b, &m->status);
    }
    sm_buf_append_str(b, "},\"body\":");
    enc_obj(b, m->kind == ES_KIND_RESPONSE ? f->out : f->in, m->body, 0);
    sm_buf_append_byte(b, '}');
    if (b->failed)
        return sm_errf(err, SM_ENOMEM, "rest: out of memory encoding %s.%s", es_iface_name(f->iface), f->name);
    return SM_OK;
}

void rest_encode_status(const es_status *st, const char *relates_to, sm_buf *b)
{
    sm_buf_append_str(b, "{\"header\":{");
    bool first = true;
    put_hstr(b, &first, "relatesTo", relates_to);
    put_key(b, &first, "functionExecutionStatus");
    put_status(b, st);
    sm_buf_append_str(b, "}}");
}
