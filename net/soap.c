/* SOAP 1.2 + WS-Addressing binding of the GSMA ES functions. */
#include "net/soap.h"

#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include "lib/hex.h"

/* ---- decoding ------------------------------------------------------------------------------ */

typedef struct dctx {
    int lenient; /* > 0 inside a lenient type (EIS) */
    xmlDocPtr doc;
    es_status *st;
    char path[512];
} dctx;

static bool fail(dctx *d, const char *reason, const char *what)
{
    if (d->st->exec != ES_EXEC_FAILED)
        es_status_fail(d->st, ES_SUBJ_FUNCTION, reason, "%s%s%s", d->path, d->path[0] ? ": " : "", what);
    return false;
}

static bool rps_ns(xmlNodePtr n)
{
    /* elementFormDefault="qualified": body elements are in the GSMA namespace; unqualified ones
     * (sent by some peers) are accepted too */
    return !n->ns || !n->ns->href || !strcmp((const char *)n->ns->href, RPS_NS);
}

static const es_field *field_by_name(const es_type *t, const char *name, bool attr)
{
    for (size_t i = 0; i < t->n; i++)
        if (!strcasecmp(t->fields[i].name, name) && ((t->fields[i].flags & ES_F_ATTR) != 0) == attr)
            return &t->fields[i];
    return NULL;
}

static bool scalar(dctx *d, const es_field *f, const char *text, size_t len, es_value *dst, const char *name)
{
    switch (f->type) {
    case EST_STRING:
    case EST_DATETIME:
        return es_add_strn(dst, name, text, len) != NULL || fail(d, ES_RSN_INVALID, "out of memory");
    case EST_HEX: {
        uint8_t *p = NULL;
        size_t n = 0;
        sm_err e = {0};
        if (sm_hex_decode_alloc(text, &p, &n, &e) != SM_OK)
            return fail(d, ES_RSN_INVALID, "not hexadecimal");
        es_value *v = es_add_bytes(dst, name, p, n);
        free(p);
        return v != NULL;
    }
    case EST_INT: {
        errno = 0;
        char *end = NULL;
        long long x = strtoll(text, &end, 10);
        if (!len || errno || !end || *end)
            return fail(d, ES_RSN_INVALID, "not an integer");
        return es_add_int(dst, name, x) != NULL;
    }
    case EST_BOOL:
        if (!strcmp(text, "true") || !strcmp(text, "1"))
            return es_add_bool(dst, name, true) != NULL;
        if (!strcmp(text, "false") || !strcmp(text, "0"))
            return es_add_bool(dst, name, false) != NULL;
        return fail(d, ES_RSN_INVALID, "not a boolean");
    default:
        return fail(d, ES_RSN_INVALID, "unexpected type");
    }
}

static bool decode_fields(dctx *d, const es_type *t, xmlNodePtr parent, xmlNodePtr first, es_value *dst, int depth);

static bool decode_element(dctx *d, const es_field *f, xmlNodePtr n, es_value *dst, const char *name, int depth)
{
    if (f->type == EST_STRUCT) {
        es_value *s = es_add_struct(dst, name);
        if (!s)
            return fail(d, ES_RSN_INVALID, "out of memory");
        int l = (f->sub->flags & ES_T_LENIENT) != 0;
        d->lenient += l;
        bool ok = decode_fields(d, f->sub, n, xml_first_elem(n), s, depth + 1);
        d->lenient -= l;
        if (ok && (f->flags & ES_F_KEEP_XML) && name) {
            size_t cl = 0;
            char *x = xml_c14n_node(d->doc, n, &cl);
            char member[96];
            snprintf(member, sizeof member, "%s@c14n", name);
            ok = x && es_add_strn(dst, member, x, cl);
            free(x);
            if (!ok)
                return fail(d, ES_RSN_INVALID, "cannot serialise");
        }
        return ok;
    }
    if (f->type == EST_XML) {
        size_t l = 0;
        char *x = xml_c14n_children(d->doc, n, &l);
        if (!x)
            return fail(d, ES_RSN_INVALID, "cannot serialise");
        es_value *v = es_add_strn(dst, name, x, l);
        free(x);
        return v != NULL;
    }
    if (xml_first_elem(n))
        return fail(d, ES_RSN_INVALID, "element content where text was expected");
    size_t l = 0;
    char *t = xml_text(n, &l);
    if (!t)
        return fail(d, ES_RSN_INVALID, "out of memory");
    bool ok = scalar(d, f, t, l, dst, name);
    free(t);
    return ok;
}

static bool decode_fields(dctx *d, const es_type *t, xmlNodePtr parent, xmlNodePtr first, es_value *dst, int depth)
{
    size_t pl = strlen(d->path);
    if (depth > 64)
        return fail(d, ES_RSN_INVALID, "nested too deeply");
    /* attributes */
    for (xmlAttrPtr a = parent ? parent->properties : NULL; a; a = a->next) {
        const es_field *f = field_by_name(t, (const char *)a->name, true);
        if (!f)
            continue; /* foreign attributes (xsi:type, ...) are ignored */
        xmlChar *v = xmlNodeListGetString(d->doc, a->children, 1);
        const char *s = v ? (const char *)v : "";
        snprintf(d->path + pl, sizeof d->path - pl, "%s@%s", pl ? "/" : "", f->name);
        bool ok = scalar(d, f, s, strlen(s), dst, f->name);
        xmlFree(v);
        d->path[pl] = 0;
        if (!ok)
            return false;
    }
    for (xmlNodePtr c = first; c; c = xml_next_elem(c)) {
        const es_field *f = rps_ns(c) ? field_by_name(t, (const char *)c->name, false) : NULL;
        snprintf(d->path + pl, sizeof d->path - pl, "%s%s", pl ? "/" : "", (const char *)c->name);
        if (!f) {
            if ((t->flags & ES_T_LENIENT) || d->lenient) {
                d->path[pl] = 0;
                continue;
            }
            return fail(d, ES_RSN_INVALID, "unexpected element");
        }
        es_value *target = dst;
        const char *name = f->name;
        if (es_field_repeated(f)) {
            es_value *list = (es_value *)es_get(dst, f->name);
            if (!list)
                list = es_add_list(dst, f->name);
            if (!list)
                return fail(d, ES_RSN_INVALID, "out of memory");
            target = list;
            name = NULL;
        } else if (es_get(dst, f->name)) {
            return fail(d, ES_RSN_INVALID, "appears more than once");
        }
        if (!decode_element(d, f, c, target, name, depth))
            return false;
        d->path[pl] = 0;
    }
    return true;
}

/* copies an element's text; false when it does not fit (never truncated: it may be multi-byte UTF-8) */
static bool copy_text(xmlNodePtr n, char *out, size_t cap)
{
    size_t l = 0;
    char *t = xml_text(n, &l);
    bool ok = t && l < cap;
    if (ok)
        memcpy(out, t, l + 1);
    else
        out[0] = 0;
    free(t);
    return ok;
}

static bool copy_address(xmlNodePtr n, char *out, size_t cap)
{
    for (xmlNodePtr c = xml_first_elem(n); c; c = xml_next_elem(c))
        if (xml_is(c, WSA_NS, "Address"))
            return copy_text(c, out, cap);
    return true;
}

static bool must_understand(xmlNodePtr h)
{
    xmlChar *mu = xmlGetNsProp(h, (const xmlChar *)"mustUnderstand", (const xmlChar *)SOAP12_NS);
    bool r = mu && (!strcmp((const char *)mu, "true") || !strcmp((const char *)mu, "1"));
    xmlFree(mu);
    return r;
}

static sm_rc decode_header(xmlNodePtr hdr, es_header *h, soap_fault *fault, sm_err *err)
{
    for (xmlNodePtr c = xml_first_elem(hdr); c; c = xml_next_elem(c)) {
        bool ok = true;
        if (xml_is(c, WSA_NS, "MessageID"))
            ok = copy_text(c, h->message_id, sizeof h->message_id);
        else if (xml_is(c, WSA_NS, "To"))
            ok = copy_text(c, h->to, sizeof h->to);
        else if (xml_is(c, WSA_NS, "Action"))
            ok = copy_text(c, h->action, sizeof h->action);
        else if (xml_is(c, WSA_NS, "RelatesTo"))
            ok = copy_text(c, h->relates_to, sizeof h->relates_to);
        else if (xml_is(c, WSA_NS, "From"))
            ok = copy_address(c, h->from, sizeof h->from);
        else if (xml_is(c, WSA_NS, "ReplyTo"))
            ok = copy_address(c, h->reply_to, sizeof h->reply_to);
        else if (must_understand(c)) {
            *fault = SOAP_FAULT_MUST_UNDERSTAND;
            return sm_errf(err, SM_EPROTO, "soap: header block %s is marked mustUnderstand", (const char *)c->name);
        }
        if (!ok) {
            *fault = SOAP_FAULT_SENDER;
            return sm_errf(err, SM_EPARSE, "soap: header wsa:%s is too long", (const char *)c->name);
        }
    }
    /* an anonymous ReplyTo means "answer on this connection" */
    if (!strcmp(h->reply_to, WSA_NS "/anonymous") || !strcmp(h->reply_to, WSA_NS "/none"))
        h->reply_to[0] = 0;
    return SM_OK;
}

static bool decode_status(dctx *d, xmlNodePtr n, es_status *st)
{
    es_status_ok(st);
    bool have = false;
    for (xmlNodePtr c = xml_first_elem(n); c; c = xml_next_elem(c)) {
        if (!strcasecmp((const char *)c->name, "Status")) {
            char v[64];
            copy_text(c, v, sizeof v);
            if (!es_exec_parse(v, &st->exec))
                return fail(d, ES_RSN_INVALID, "FunctionExecutionStatus/Status: unknown value");
            have = true;
        } else if (!strcasecmp((const char *)c->name, "StatusCodeData")) {
            for (xmlNodePtr s = xml_first_elem(c); s; s = xml_next_elem(s)) {
                const char *nm = (const char *)s->name;
                bool ok = true;
                if (!strcasecmp(nm, "Subject"))
                    ok = copy_text(s, st->subject, sizeof st->subject);
                else if (!strcasecmp(nm, "Reason"))
                    ok = copy_text(s, st->reason, sizeof st->reason);
                else if (!strcasecmp(nm, "SubjectIdentifier"))
                    ok = copy_text(s, st->subject_id, sizeof st->subject_id);
                else if (!strcasecmp(nm, "Message"))
                    ok = copy_text(s, st->message, sizeof st->message);
                if (!ok)
                    return fail(d, ES_RSN_INVALID, "FunctionExecutionStatus/StatusCodeData: a member is too long");
            }
        }
    }
    if (!have)
        return fail(d, ES_RSN_MANDATORY_MISSING, "FunctionExecutionStatus/Status is missing");
    return true;
}

static time_t parse_time(const char *s)
{
    struct tm tm;
    memset(&tm, 0, sizeof tm);
    const char *e = strptime(s, "%Y-%m-%dT%H:%M:%S", &tm);
    return e ? timegm(&tm) : 0;
}

sm_rc soap_decode(const char *buf, size_t len, const xml_limits *lim, es_iface iface, es_msg *m, es_status *fst,
                  soap_fault *fault, sm_err *err)
{
    memset(m, 0, sizeof *m);
    es_status_ok(fst);
    *fault = SOAP_FAULT_NONE;
    xmlDocPtr doc = NULL;
    sm_rc rc = xml_parse(buf, len, lim, &doc, err);
    if (rc != SM_OK) {
        *fault = rc == SM_ELIMIT ? SOAP_FAULT_LIMIT : SOAP_FAULT_SENDER;
        return rc;
    }
    xmlNodePtr env = xmlDocGetRootElement(doc);
    xmlNodePtr header = NULL, body = NULL;
    if (xml_is(env, SOAP11_NS, "Envelope")) {
        *fault = SOAP_FAULT_VERSION;
        rc = sm_errf(err, SM_EPROTO, "soap: SOAP 1.1 envelope; this endpoint speaks SOAP 1.2");
        goto out;
    }
    if (!xml_is(env, SOAP12_NS, "Envelope")) {
        *fault = xml_is(env, NULL, "Envelope") ? SOAP_FAULT_VERSION : SOAP_FAULT_SENDER;
        rc = sm_errf(err, SM_EPROTO, "soap: the document is not a SOAP 1.2 envelope");
        goto out;
    }
    for (xmlNodePtr c = xml_first_elem(env); c; c = xml_next_elem(c)) {
        if (xml_is(c, SOAP12_NS, "Header") && !header && !body)
            header = c;
        else if (xml_is(c, SOAP12_NS, "Body") && !body)
            body = c;
        else {
            *fault = SOAP_FAULT_SENDER;
            rc = sm_errf(err, SM_EPROTO, "soap: unexpected element %s in the envelope", (const char *)c->name);
            goto out;
        }
    }
    if (!body) {
        *fault = SOAP_FAULT_SENDER;
        rc = sm_errf(err, SM_EPROTO, "soap: envelope without a Body");
        goto out;
    }
    if (header && (rc = decode_header(header, &m->hdr, fault, err)) != SM_OK)
        goto out;
    xmlNodePtr el = xml_first_elem(body);
    if (!el || xml_next_elem(el)) {
        *fault = SOAP_FAULT_SENDER;
        rc = sm_errf(err, SM_EPROTO, "soap: the Body must hold exactly one element");
        goto out;
    }
    if (!el->ns || !el->ns->href || strcmp((const char *)el->ns->href, RPS_NS)) {
        *fault = SOAP_FAULT_SENDER;
        rc = sm_errf(err, SM_EPROTO, "soap: body element %s is not in the GSMA namespace %s", (const char *)el->name,
                     RPS_NS);
        goto out;
    }
    es_kind kind;
    const es_function *f = es_function_by_element((const char *)el->name, &kind);
    if (!f || (iface && f->iface != iface)) {
        *fault = SOAP_FAULT_SENDER;
        rc = sm_errf(err, SM_ENOTFOUND, "soap: %s is not a function of %s", (const char *)el->name,
                     iface ? es_iface_name(iface) : "any ES interface");
        goto out;
    }
    m->fn = f;
    m->kind = kind;
    m->body = es_struct_new();
    if (!m->body) {
        *fault = SOAP_FAULT_SENDER;
        rc = sm_errf(err, SM_ENOMEM, "soap: out of memory");
        goto out;
    }
    dctx d = {.doc = doc, .st = fst};
    /* base fields first (BaseRequestType / BaseResponseType), then the function's own */
    xmlNodePtr first = xml_first_elem(el);
    const es_type *t = kind == ES_KIND_RESPONSE ? f->out : f->in;
    bool have_fcid = false;
    while (first && rps_ns(first)) {
        const char *nm = (const char *)first->name;
        if (kind == ES_KIND_REQUEST && !strcasecmp(nm, "FunctionCallIdentifier")) {
            if (!copy_text(first, m->hdr.fcid, sizeof m->hdr.fcid)) {
                fail(&d, ES_RSN_INVALID, "FunctionCallIdentifier: longer than 255 bytes");
                goto fields_done;
            }
            have_fcid = m->hdr.fcid[0] != 0;
        } else if (kind == ES_KIND_REQUEST && !strcasecmp(nm, "ValidityPeriod")) {
            char v[32];
            copy_text(first, v, sizeof v);
            char *end = NULL;
            errno = 0;
            long x = strtol(v, &end, 10);
            if (errno || !end || *end || x <= 0) {
                fail(&d, ES_RSN_INVALID, "ValidityPeriod: not a positive integer");
                goto fields_done;
            }
            m->hdr.validity = x;
        } else if (kind == ES_KIND_RESPONSE && !strcasecmp(nm, "ProcessingStart")) {
            char v[64];
            copy_text(first, v, sizeof v);
            m->proc_start = parse_time(v);
        } else if (kind == ES_KIND_RESPONSE && !strcasecmp(nm, "ProcessingEnd")) {
            char v[64];
            copy_text(first, v, sizeof v);
            m->proc_end = parse_time(v);
        } else if (kind == ES_KIND_RESPONSE && !strcasecmp(nm, "AcceptableValidityPeriod")) {
            char v[32];
            copy_text(first, v, sizeof v);
            m->acceptable_validity = strtol(v, NULL, 10);
        } else if (kind == ES_KIND_RESPONSE && !strcasecmp(nm, "FunctionExecutionStatus")) {
            if (!decode_status(&d, first, &m->status))
                goto fields_done;
        } else {
            break;
        }
        first = xml_next_elem(first);
    }
    if (kind == ES_KIND_REQUEST && !have_fcid) {
        fail(&d, ES_RSN_MANDATORY_MISSING, "mandatory element FunctionCallIdentifier is missing");
        goto fields_done;
    }
    if (decode_fields(&d, t, NULL, first, m->body, 0)) {
        if (kind == ES_KIND_RESPONSE && m->status.exec >= ES_EXEC_FAILED)
            es_validate_lenient(t, m->body, fst);
        else
            es_validate(t, m->body, fst);
    }
fields_done:
    rc = SM_OK;
out:
    xmlFreeDoc(doc);
    return rc;
}

/* ---- encoding ------------------------------------------------------------------------------- */

static void put_elem_text(sm_buf *b, const char *pfx, const char *name, const char *text)
{
    sm_buf_printf(b, "<%s:%s>", pfx, name);
    xml_escape(b, text, strlen(text));
    sm_buf_printf(b, "</%s:%s>", pfx, name);
}

static void put_scalar(sm_buf *b, const es_field *f, const es_value *v)
{
    switch (v->type) {
    case ESV_STR:
        if (f->type == EST_XML)
            sm_buf_append(b, v->str, v->len); /* verbatim canonical XML, checked when decoded */
        else
            xml_escape(b, v->str, v->len);
        break;
    case ESV_BYTES: {
        static const char hx[] = "0123456789ABCDEF";
        for (size_t i = 0; i < v->len; i++) {
            sm_buf_append_byte(b, (uint8_t)hx[v->bytes[i] >> 4]);
            sm_buf_append_byte(b, (uint8_t)hx[v->bytes[i] & 15]);
        }
        break;
    }
    case ESV_INT:
        sm_buf_printf(b, "%" PRId64, v->i);
        break;
    case ESV_BOOL:
        sm_buf_append_str(b, v->b ? "true" : "false");
        break;
    default:
        break;
    }
}

static void enc_fields(sm_buf *b, const es_type *t, const es_value *v, int depth);

static void enc_one(sm_buf *b, const es_field *f, const es_value *v, int depth)
{
    sm_buf_printf(b, "<rps:%s", f->name);
    if (f->type == EST_STRUCT && v->type == ESV_STRUCT) {
        for (size_t i = 0; i < f->sub->n; i++) {
            const es_field *a = &f->sub->fields[i];
            const es_value *av = (a->flags & ES_F_ATTR) ? es_get(v, a->name) : NULL;
            if (!av)
                continue;
            sm_buf_printf(b, " %s=\"", a->name);
            put_scalar(b, a, av);
            sm_buf_append_byte(b, '"');
        }
        sm_buf_append_byte(b, '>');
        enc_fields(b, f->sub, v, depth + 1);
    } else {
        sm_buf_append_byte(b, '>');
        put_scalar(b, f, v);
    }
    sm_buf_printf(b, "</rps:%s>", f->name);
}

static void enc_fields(sm_buf *b, const es_type *t, const es_value *v, int depth)
{
    if (depth > 64 || !t)
        return;
    for (size_t i = 0; i < t->n; i++) {
        const es_field *f = &t->fields[i];
        if (f->flags & ES_F_ATTR)
            continue;
        const es_value *m = es_get(v, f->name);
        if (!m)
            continue;
        if (m->type == ESV_LIST) {
            for (size_t k = 0; k < m->n; k++)
                enc_one(b, f, m->kids[k], depth);
        } else {
            enc_one(b, f, m, depth);
        }
    }
}

static void put_time(sm_buf *b, const char *name, time_t t)
{
    struct tm tm;
    char s[40];
    gmtime_r(&t, &tm);
    strftime(s, sizeof s, "%Y-%m-%dT%H:%M:%SZ", &tm);
    put_elem_text(b, "rps", name, s);
}

sm_rc soap_encode(const es_msg *m, sm_buf *b, sm_err *err)
{
    const es_function *f = m->fn;
    if (!f)
        return sm_errf(err, SM_EINVAL, "soap: no function to encode");
    char el[128];
    es_function_element(f, m->kind, el, sizeof el);
    sm_buf_append_str(b, "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<soap:Envelope xmlns:soap=\"" SOAP12_NS
                         "\" xmlns:wsa=\"" WSA_NS "\" xmlns:rps=\"" RPS_NS "\"><soap:Header>");
    const es_header *h = &m->hdr;
    if (h->from[0]) {
        sm_buf_append_str(b, "<wsa:From>");
        put_elem_text(b, "wsa", "Address", h->from);
        sm_buf_append_str(b, "</wsa:From>");
    }
    if (h->to[0])
        put_elem_text(b, "wsa", "To", h->to);
    const char *action = h->action[0] ? h->action : m->kind == ES_KIND_RESPONSE ? f->resp_action : f->req_action;
    if (action)
        put_elem_text(b, "wsa", "Action", action);
    if (h->message_id[0])
        put_elem_text(b, "wsa", "MessageID", h->message_id);
    if (h->relates_to[0])
        put_elem_text(b, "wsa", "RelatesTo", h->relates_to);
    if (h->reply_to[0] && m->kind == ES_KIND_REQUEST) {
        sm_buf_append_str(b, "<wsa:ReplyTo>");
        put_elem_text(b, "wsa", "Address", h->reply_to);
        sm_buf_append_str(b, "</wsa:ReplyTo>");
    }
    sm_buf_printf(b, "</soap:Header><soap:Body><rps:%s>", el);
    if (m->kind == ES_KIND_REQUEST) {
        put_elem_text(b, "rps", "FunctionCallIdentifier", h->fcid);
        if (h->validity > 0)
            sm_buf_printf(b, "<rps:ValidityPeriod>%ld</rps:ValidityPeriod>", h->validity);
        enc_fields(b, f->in, m->body, 0);
    } else if (m->kind == ES_KIND_NOTIFICATION) {
        enc_fields(b, f->in, m->body, 0);
    } else {
        if (m->proc_start)
            put_time(b, "ProcessingStart", m->proc_start);
        if (m->proc_end)
            put_time(b, "ProcessingEnd", m->proc_end);
        if (m->acceptable_validity > 0)
            sm_buf_printf(b, "<rps:AcceptableValidityPeriod>%ld</rps:AcceptableValidityPeriod>",
                          m->acceptable_validity);
        const es_status *st = &m->status;
        sm_buf_append_str(b, "<rps:FunctionExecutionStatus>");
        put_elem_text(b, "rps", "Status", es_exec_wire(st->exec));
        if (st->exec != ES_EXEC_SUCCESS && st->subject[0]) {
            sm_buf_append_str(b, "<rps:StatusCodeData>");
            put_elem_text(b, "rps", "Subject", st->subject);
            put_elem_text(b, "rps", "Reason", st->reason);
            if (st->subject_id[0])
                put_elem_text(b, "rps", "SubjectIdentifier", st->subject_id);
            if (st->message[0])
                put_elem_text(b, "rps", "Message", st->message);
            sm_buf_append_str(b, "</rps:StatusCodeData>");
        }
        sm_buf_append_str(b, "</rps:FunctionExecutionStatus>");
        enc_fields(b, f->out, m->body, 0);
    }
    sm_buf_printf(b, "</rps:%s></soap:Body></soap:Envelope>", el);
    if (b->failed)
        return sm_errf(err, SM_ENOMEM, "soap: out of memory encoding %s", el);
    return SM_OK;
}

void soap_encode_fault(const char *code, const char *reason, const char *relates_to, sm_buf *b)
{
    sm_buf_append_str(b, "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<soap:Envelope xmlns:soap=\"" SOAP12_NS
                         "\" xmlns:wsa=\"" WSA_NS "\">");
    sm_buf_append_str(b, "<soap:Header>");
    put_elem_text(b, "wsa", "Action", WSA_NS "/fault");
    if (relates_to && *relates_to)
        put_elem_text(b, "wsa", "RelatesTo", relates_to);
    sm_buf_append_str(b, "</soap:Header><soap:Body><soap:Fault><soap:Code><soap:Value>soap:");
    sm_buf_append_str(b, code);
    sm_buf_append_str(b, "</soap:Value></soap:Code><soap:Reason><soap:Text xml:lang=\"en\">");
    xml_escape(b, reason, strlen(reason));
    sm_buf_append_str(b, "</soap:Text></soap:Reason></soap:Fault></soap:Body></soap:Envelope>");
}

int soap_fault_http(soap_fault f)
{
    switch (f) {
    case SOAP_FAULT_LIMIT:
        return 413;
    case SOAP_FAULT_NONE:
        return 200;
    default:
        return 400;
    }
}

const char *soap_fault_code(soap_fault f)
{
    switch (f) {
    case SOAP_FAULT_VERSION:
        return "VersionMismatch";
    case SOAP_FAULT_MUST_UNDERSTAND:
        return "MustUnderstand";
    default:
        return "Sender";
    }
}
