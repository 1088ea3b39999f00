/* Lookups over the ES function table, role names, and validation of decoded trees. */
#include "net/es_table.h"

#include <stdio.h>
#include <string.h>
#include <strings.h>

static const char *const iface_names[] = {"", "ES1", "ES2", "ES3", "ES4", "ES7"};

const char *es_iface_name(es_iface i) { return (unsigned)i <= ES_IF_ES7 ? iface_names[i] : "?"; }

es_iface es_iface_parse(const char *s, size_t n)
{
    for (int i = ES_IF_ES1; i <= ES_IF_ES7; i++)
        if (n == 3 && !strncasecmp(s, iface_names[i], 3))
            return (es_iface)i;
    return (es_iface)0;
}

static const char *const role_names[] = {"none", "mno", "m2msp", "eum", "smdp", "smsr"};

const char *es_role_name(es_role r) { return (unsigned)r <= ES_ROLE_SMSR ? role_names[r] : "none"; }

es_role es_role_parse(const char *s)
{
    for (int i = 1; s && i <= ES_ROLE_SMSR; i++)
        if (!strcasecmp(s, role_names[i]))
            return (es_role)i;
    return ES_ROLE_NONE;
}

const es_function *es_function_find(es_iface iface, const char *name)
{
    for (size_t i = 0; i < es_nfunctions; i++)
        if (es_functions[i].iface == iface && !strcasecmp(es_functions[i].name, name))
            return &es_functions[i];
    return NULL;
}

const es_function *es_function_by_qname(const char *q)
{
    const char *dot = q ? strchr(q, '.') : NULL;
    if (!dot)
        return NULL;
    es_iface i = es_iface_parse(q, (size_t)(dot - q));
    return i ? es_function_find(i, dot + 1) : NULL;
}

static bool ends_with(const char *s, size_t n, const char *suf, size_t *stem)
{
    size_t k = strlen(suf);
    if (n > k && !strncasecmp(s + n - k, suf, k)) {
        *stem = n - k;
        return true;
    }
    return false;
}

const es_function *es_function_by_element(const char *el, es_kind *kind)
{
    /* "ES2-GetEISRequest": interface, '-', name, optional Request/Response suffix */
    if (!el || strlen(el) < 5 || el[3] != '-')
        return NULL;
    es_iface iface = es_iface_parse(el, 3);
    if (!iface)
        return NULL;
    const char *name = el + 4;
    size_t n = strlen(name), stem = n;
    es_kind k = ES_KIND_REQUEST;
    if (ends_with(name, n, "Request", &stem))
        k = ES_KIND_REQUEST;
    else if (ends_with(name, n, "Response", &stem))
        k = ES_KIND_RESPONSE;
    else if (ends_with(name, n, "Notification", &stem)) {
        k = ES_KIND_NOTIFICATION;
        stem = n;
    }
    char buf[96];
    if (stem >= sizeof buf)
        return NULL;
    memcpy(buf, name, stem);
    buf[stem] = 0;
    const es_function *f = es_function_find(iface, buf);
    if (!f)
        return NULL;
    if ((f->mode == ES_NOTIFY) != (k == ES_KIND_NOTIFICATION))
        return NULL;
    if (kind)
        *kind = k;
    return f;
}

void es_function_element(const es_function *f, es_kind kind, char *out, size_t cap)
{
    snprintf(out, cap, "%s-%s%s", es_iface_name(f->iface), f->name,
             f->mode == ES_NOTIFY ? "" : kind == ES_KIND_RESPONSE ? "Response" : "Request");
}

bool es_function_served(const es_function *f, es_kind kind)
{
    switch (kind) {
    case ES_KIND_REQUEST:
        return f->mode != ES_NOTIFY && f->callers != 0;
    case ES_KIND_NOTIFICATION:
        return f->mode == ES_NOTIFY && f->callers != 0;
    case ES_KIND_RESPONSE:
        /* we are the requester of ES3 (as SM-DP) and of ES7 (as the other SM-SR) */
        return f->mode == ES_ASYNC && (f->iface == ES_IF_ES3 || f->iface == ES_IF_ES7);
    }
    return false;
}

bool es_function_allows(const es_function *f, es_kind kind, es_role r)
{
    if (r == ES_ROLE_NONE || !es_function_served(f, kind))
        return false;
    if (kind == ES_KIND_RESPONSE)
        return (f->provider & ES_R(r)) != 0;
    return (f->callers & ES_R(r)) != 0;
}

void es_status_unsupported(es_status *st, const es_function *f)
{
    es_status_fail(st, ES_SUBJ_FUNCTION, ES_RSN_UNSUPPORTED, "function %s.%s is not supported by this appliance yet",
                   es_iface_name(f->iface), f->name);
}

/* ---- validation --------------------------------------------------------------------------- */

static bool is_hex(const char *s, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        char c = s[i];
        if (!((c >= '0' && c <= '9') || (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F')))
            return false;
    }
    return true;
}

static bool all_digits(const char *s, size_t n)
{
    for (size_t i = 0; i < n; i++)
        if (s[i] < '0' || s[i] > '9')
            return false;
    return true;
}

static bool in_choices(const char *choices, const char *s)
{
    size_t n = strlen(s);
    const char *p = choices;
    while (p && *p) {
        const char *bar = strchr(p, '|');
        size_t k = bar ? (size_t)(bar - p) : strlen(p);
        if (k == n && !strncmp(p, s, n))
            return true;
        p = bar ? bar + 1 : NULL;
    }
    return false;
}

static bool check_text(const es_field *f, const char *s, size_t n, const char **why)
{
    switch (f->check) {
    case ESC_NONE:
        break;
    case ESC_OID:
        if (!es_oid_valid(s)) {
            *why = "not an object identifier";
            return false;
        }
        break;
    case ESC_HEXSTR:
        if (n % 2 || !is_hex(s, n) || (f->minlen && n / 2 < f->minlen) || (f->maxlen && n / 2 > f->maxlen)) {
            *why = "not hexadecimal of the allowed length";
            return false;
        }
        return true;
    case ESC_ICCID:
        if (n < 6 || n > 20 || s[0] != '8' || s[1] != '9') {
            *why = "not an ICCID";
            return false;
        }
        for (size_t i = 2; i < n; i++)
            if (!((s[i] >= '0' && s[i] <= '9') || s[i] == 'f' || s[i] == 'F')) {
                *why = "not an ICCID";
                return false;
            }
        break;
    case ESC_DIGITS:
        if (!all_digits(s, n)) {
            *why = "not digits";
            return false;
        }
        break;
    case ESC_VERSION: {
        int parts = 0, digits = 0;
        for (size_t i = 0; i < n; i++) {
            if (s[i] >= '0' && s[i] <= '9')
                digits++;
            else if (s[i] == '.' && digits) {
                parts++;
                digits = 0;
            } else {
                parts = -9;
                break;
            }
        }
        if (parts != 2 || !digits) {
            *why = "not a version x.y.z";
            return false;
        }
        break;
    }
    case ESC_ENUM:
        if (!in_choices(f->choices, s)) {
            *why = "not one of the allowed values";
            return false;
        }
        break;
    }
    if ((f->minlen && n < f->minlen) || (f->maxlen && n > f->maxlen)) {
        *why = "length out of range";
        return false;
    }
    return true;
}

static bool validate_one(const es_field *f, const es_value *v, char *path, size_t plen, es_status *st, int depth,
                         bool lenient);

/* leniency is inherited: everything inside an EIS is checked for types, not for presence */
static bool validate_type(const es_type *t, const es_value *v, char *path, size_t plen, es_status *st, int depth,
                          bool inherited)
{
    if (depth > 32) {
        es_status_fail(st, ES_SUBJ_FUNCTION, ES_RSN_INVALID, "%s: nested too deeply", path);
        return false;
    }
    bool lenient = (t->flags & ES_T_LENIENT) || inherited;
    for (size_t i = 0; i < t->n; i++) {
        const es_field *f = &t->fields[i];
        const es_value *m = es_get(v, f->name);
        size_t pl = strlen(path);
        snprintf(path + pl, plen - pl, "%s%s", pl ? "/" : "", f->name);
        if (!m) {
            if (f->min > 0 && !lenient) {
                es_status_fail(st, ES_SUBJ_FUNCTION, ES_RSN_MANDATORY_MISSING, "mandatory element %s is missing", path);
                return false;
            }
        } else if (es_field_repeated(f)) {
            if (m->type != ESV_LIST) {
                es_status_fail(st, ES_SUBJ_FUNCTION, ES_RSN_INVALID, "%s must be a list", path);
                return false;
            }
            if ((!lenient && m->n < f->min) || (f->max && m->n > f->max)) {
                es_status_fail(st, ES_SUBJ_FUNCTION, ES_RSN_INVALID, "%s occurs %zu times (allowed %u..%s%u)", path,
                               m->n, f->min, f->max ? "" : "n", f->max);
                return false;
            }
            for (size_t k = 0; k < m->n; k++)
                if (!validate_one(f, m->kids[k], path, plen, st, depth, lenient))
                    return false;
        } else if (!validate_one(f, m, path, plen, st, depth, lenient)) {
            return false;
        }
        path[pl] = 0;
    }
    if (!lenient)
        for (size_t k = 0; v && k < v->n; k++) {
            bool known = false;
            for (size_t i = 0; i < t->n && !known; i++)
                known = v->kids[k]->name && !strcmp(v->kids[k]->name, t->fields[i].name);
            if (!known) {
                es_status_fail(st, ES_SUBJ_FUNCTION, ES_RSN_INVALID, "%s%s%s is not a field of %s", path,
                               *path ? "/" : "", v->kids[k]->name ? v->kids[k]->name : "?", t->name);
                return false;
            }
        }
    return true;
}

static bool validate_one(const es_field *f, const es_value *v, char *path, size_t plen, es_status *st, int depth,
                         bool lenient)
{
    const char *why = NULL;
    switch (f->type) {
    case EST_STRING:
    case EST_DATETIME:
    case EST_XML:
        if (v->type != ESV_STR)
            why = "must be text";
        else
            check_text(f, v->str, v->len, &why);
        break;
    case EST_HEX:
        if (v->type != ESV_BYTES)
            why = "must be hexadecimal bytes";
        else if ((f->minlen && v->len < f->minlen) || (f->maxlen && v->len > f->maxlen))
            why = "length out of range";
        break;
    case EST_INT:
        if (v->type != ESV_INT)
            why = "must be an integer";
        else if (f->lo < f->hi && (v->i < f->lo || v->i > f->hi))
            why = "out of range";
        break;
    case EST_BOOL:
        if (v->type != ESV_BOOL)
            why = "must be a boolean";
        break;
    case EST_STRUCT:
        if (v->type != ESV_STRUCT)
            why = "must be a structure";
        else
            return validate_type(f->sub, v, path, plen, st, depth + 1, lenient);
        break;
    }
    if (why) {
        es_status_fail(st, ES_SUBJ_FUNCTION, ES_RSN_INVALID, "%s: %s", path, why);
        return false;
    }
    return true;
}

bool es_validate(const es_type *t, const es_value *v, es_status *st)
{
    char path[512] = "";
    return validate_type(t, v, path, sizeof path, st, 0, false);
}

bool es_validate_lenient(const es_type *t, const es_value *v, es_status *st)
{
    char path[512] = "";
    return validate_type(t, v, path, sizeof path, st, 0, true);
}

bool es_call_expired(const es_call *c, time_t now)
{
    return c->hdr.validity > 0 && now - c->received >= c->hdr.validity;
}

void es_status_expired(es_status *st)
{
    es_status_set(st, ES_EXEC_EXPIRED, ES_SUBJ_FUNCTION, ES_RSN_TTL_EXPIRED, "the validity period elapsed");
}

void es_msg_clear(es_msg *m)
{
    es_value_free(m->body);
    memset(m, 0, sizeof *m);
}
