/* The OpenAPI 3.0 description of the REST binding, generated from the function table. */
#include <stdio.h>
#include <string.h>

#include "net/rest.h"

#define MAXT 128

typedef struct tset {
    const es_type *t[MAXT];
    size_t n;
} tset;

static void collect(tset *s, const es_type *t)
{
    if (!t)
        return;
    for (size_t i = 0; i < s->n; i++)
        if (s->t[i] == t)
            return;
    if (s->n < MAXT)
        s->t[s->n++] = t;
    for (size_t i = 0; i < t->n; i++)
        if (t->fields[i].type == EST_STRUCT)
            collect(s, t->fields[i].sub);
}

static void q(sm_buf *b, const char *s) { json_put_str(b, s, strlen(s)); }

static void scalar_schema(sm_buf *b, const es_field *f)
{
    switch (f->type) {
    case EST_STRING:
    case EST_DATETIME:
    case EST_XML:
        sm_buf_append_str(b, "{\"type\":\"string\"");
        if (f->type == EST_DATETIME)
            sm_buf_append_str(b, ",\"format\":\"date-time\"");
        if (f->type == EST_XML)
            sm_buf_append_str(b, ",\"description\":\"XML fragment (exclusive canonical form), e.g. ds:Signature content\"");
        if (f->check == ESC_ENUM) {
            sm_buf_append_str(b, ",\"enum\":[");
            const char *p = f->choices;
            bool first = true;
            while (p && *p) {
                const char *bar = strchr(p, '|');
                size_t k = bar ? (size_t)(bar - p) : strlen(p);
                if (!first)
                    sm_buf_append_byte(b, ',');
                first = false;
                json_put_str(b, p, k);
                p = bar ? bar + 1 : NULL;
            }
            sm_buf_append_byte(b, ']');
        } else if (f->check == ESC_OID) {
            sm_buf_append_str(b, ",\"pattern\":\"^([0-9]+[.])*[0-9]+$\"");
        } else if (f->check == ESC_HEXSTR) {
            sm_buf_append_str(b, ",\"pattern\":\"^([0-9A-Fa-f]{2})*$\"");
            if (f->minlen)
                sm_buf_printf(b, ",\"minLength\":%u", 2 * f->minlen);
            if (f->maxlen)
                sm_buf_printf(b, ",\"maxLength\":%u", 2 * f->maxlen);
        } else if (f->check == ESC_ICCID) {
            sm_buf_append_str(b, ",\"pattern\":\"^89[0-9fF]{4,18}$\"");
        } else if (f->check == ESC_DIGITS) {
            sm_buf_append_str(b, ",\"pattern\":\"^[0-9]*$\"");
        } else if (f->check == ESC_VERSION) {
            sm_buf_append_str(b, ",\"pattern\":\"^[0-9]+[.][0-9]+[.][0-9]+$\"");
        }
        if (f->check != ESC_HEXSTR && f->maxlen)
            sm_buf_printf(b, ",\"maxLength\":%u", f->maxlen);
        if (f->check != ESC_HEXSTR && f->minlen)
            sm_buf_printf(b, ",\"minLength\":%u", f->minlen);
        sm_buf_append_byte(b, '}');
        break;
    case EST_HEX:
        sm_buf_append_str(b, "{\"type\":\"string\",\"format\":\"hex\",\"pattern\":\"^([0-9A-Fa-f]{2})*$\"}");
        break;
    case EST_INT:
        sm_buf_append_str(b, "{\"type\":\"integer\",\"format\":\"int64\"");
        if (f->lo < f->hi)
            sm_buf_printf(b, ",\"minimum\":%lld,\"maximum\":%lld", (long long)f->lo, (long long)f->hi);
        sm_buf_append_byte(b, '}');
        break;
    case EST_BOOL:
        sm_buf_append_str(b, "{\"type\":\"boolean\"}");
        break;
    case EST_STRUCT:
        sm_buf_printf(b, "{\"$ref\":\"#/components/schemas/%s\"}", f->sub->name);
        break;
    }
}

static void type_schema(sm_buf *b, const es_type *t)
{
    sm_buf_append_str(b, "{\"type\":\"object\"");
    if (t->flags & ES_T_LENIENT)
        sm_buf_append_str(b, ",\"description\":\"Decoded leniently: members may be missing, unknown members are ignored.\"");
    else
        sm_buf_append_str(b, ",\"additionalProperties\":false");
    sm_buf_append_str(b, ",\"properties\":{");
    for (size_t i = 0; i < t->n; i++) {
        const es_field *f = &t->fields[i];
        if (i)
            sm_buf_append_byte(b, ',');
        q(b, f->name);
        sm_buf_append_byte(b, ':');
        if (es_field_repeated(f)) {
            sm_buf_append_str(b, "{\"type\":\"array\",\"items\":");
            scalar_schema(b, f);
            if (f->min)
                sm_buf_printf(b, ",\"minItems\":%u", f->min);
            if (f->max)
                sm_buf_printf(b, ",\"maxItems\":%u", f->max);
            sm_buf_append_byte(b, '}');
        } else {
            scalar_schema(b, f);
        }
    }
    sm_buf_append_byte(b, '}');
    bool any = false;
    for (size_t i = 0; i < t->n && !(t->flags & ES_T_LENIENT); i++)
        if (t->fields[i].min > 0) {
            sm_buf_append_str(b, any ? "," : ",\"required\":[");
            any = true;
            q(b, t->fields[i].name);
        }
    if (any)
        sm_buf_append_byte(b, ']');
    sm_buf_append_byte(b, '}');
}

static const char *kind_header(es_kind k)
{
    return k == ES_KIND_REQUEST ? "RequestHeader" : k == ES_KIND_RESPONSE ? "ResponseHeader" : "NotificationHeader";
}

static void path_item(sm_buf *b, const es_function *f, es_kind k, bool *first)
{
    char path[160];
    rest_path(f, k, path, sizeof path);
    const es_type *t = k == ES_KIND_RESPONSE ? f->out : f->in;
    if (!*first)
        sm_buf_append_str(b, ",\n");
    *first = false;
    q(b, path);
    sm_buf_append_str(b, ":{\"post\":{");
    char opid[128], summary[512];
    snprintf(opid, sizeof opid, "%s-%s%s", es_iface_name(f->iface), f->name,
             k == ES_KIND_RESPONSE ? "Response" : "");
    sm_buf_append_str(b, "\"operationId\":");
    q(b, opid);
    char callers[64] = "";
    unsigned roles = k == ES_KIND_RESPONSE ? f->provider : f->callers;
    for (int r = ES_ROLE_MNO; r <= ES_ROLE_SMSR; r++)
        if (roles & ES_R(r)) {
            size_t l = strlen(callers);
            snprintf(callers + l, sizeof callers - l, "%s%s", l ? ", " : "", es_role_name((es_role)r));
        }
    snprintf(summary, sizeof summary, "%s%s Callers: %s. %s.", f->doc ? f->doc : "",
             k == ES_KIND_RESPONSE ? " Asynchronous response (callback) of the function." : "", callers,
             k == ES_KIND_NOTIFICATION                  ? "Notification: 202, no body"
             : k == ES_KIND_RESPONSE                    ? "Acknowledged with 202, no body"
             : f->mode == ES_ASYNC                      ? "Asynchronous: 202 now, the response is POSTed to replyTo"
                                                        : "Synchronous");
    sm_buf_append_str(b, ",\"summary\":");
    q(b, summary);
    sm_buf_printf(b, ",\"tags\":[\"%s\"]", es_iface_name(f->iface));
    sm_buf_printf(b, ",\"requestBody\":{\"required\":true,\"content\":{\"application/json\":{\"schema\":{\"type\":\"object\","
                     "\"required\":[\"header\"],\"additionalProperties\":false,\"properties\":{\"header\":{\"$ref\":"
                     "\"#/components/schemas/%s\"},\"body\":{\"$ref\":\"#/components/schemas/%s\"}}}}}}",
                  kind_header(k), t->name);
    sm_buf_append_str(b, ",\"responses\":{");
    if (k == ES_KIND_REQUEST && f->mode == ES_SYNC)
        sm_buf_printf(b, "\"200\":{\"description\":\"Executed (any execution status)\",\"content\":{\"application/json\":"
                         "{\"schema\":{\"type\":\"object\",\"properties\":{\"header\":{\"$ref\":\"#/components/schemas/"
                         "ResponseHeader\"},\"body\":{\"$ref\":\"#/components/schemas/%s\"}}}}}},",
                      f->out->name);
    else
        sm_buf_append_str(b, "\"202\":{\"description\":\"Accepted\"},");
    sm_buf_append_str(b, "\"default\":{\"description\":\"Refused: HTTP status and the GSMA status code\","
                         "\"content\":{\"application/json\":{\"schema\":{\"$ref\":\"#/components/schemas/ErrorAnswer\"}}}}");
    sm_buf_append_str(b, "}}}");
}

static const char *const common_schemas =
    "\"RequestHeader\":{\"type\":\"object\",\"required\":[\"functionCallIdentifier\"],\"additionalProperties\":true,"
    "\"properties\":{\"functionRequesterIdentifier\":{\"type\":\"string\",\"description\":\"Optional; the requester "
    "is the authenticated TLS client\"},\"functionCallIdentifier\":{\"type\":\"string\"},\"validityPeriod\":{\"type\":"
    "\"integer\",\"minimum\":1},\"messageId\":{\"type\":\"string\"},\"replyTo\":{\"type\":\"string\",\"format\":\"uri\"},"
    "\"from\":{\"type\":\"string\"}}},\n"
    "\"NotificationHeader\":{\"type\":\"object\",\"properties\":{\"messageId\":{\"type\":\"string\"},\"from\":{\"type\":"
    "\"string\"}}},\n"
    "\"ResponseHeader\":{\"type\":\"object\",\"required\":[\"functionExecutionStatus\"],\"properties\":{\"messageId\":"
    "{\"type\":\"string\"},\"relatesTo\":{\"type\":\"string\"},\"from\":{\"type\":\"string\"},\"processingStart\":"
    "{\"type\":\"string\",\"format\":\"date-time\"},\"processingEnd\":{\"type\":\"string\",\"format\":\"date-time\"},"
    "\"acceptableValidityPeriod\":{\"type\":\"integer\"},\"functionExecutionStatus\":{\"$ref\":\"#/components/schemas/"
    "FunctionExecutionStatus\"}}},\n"
    "\"FunctionExecutionStatus\":{\"type\":\"object\",\"required\":[\"status\"],\"properties\":{\"status\":{\"type\":"
    "\"string\",\"enum\":[\"Executed-Success\",\"Executed-WithWarning\",\"Failed\",\"Expired\"]},\"statusCodeData\":"
    "{\"type\":\"object\",\"properties\":{\"subjectCode\":{\"type\":\"string\"},\"reasonCode\":{\"type\":\"string\"},"
    "\"subjectIdentifier\":{\"type\":\"string\"},\"message\":{\"type\":\"string\"}}}}},\n"
    "\"ErrorAnswer\":{\"type\":\"object\",\"properties\":{\"header\":{\"$ref\":\"#/components/schemas/ResponseHeader\"}}}";

void rest_openapi(sm_buf *b)
{
    sm_buf_append_str(b, "{\"openapi\":\"3.0.3\",\n\"info\":{\"title\":\"smbox GSMA SGP.02 ES interfaces (REST binding)\","
                         "\"version\":\"1\",\"description\":\"The ES1/ES2/ES3/ES4/ES7 functions of the SGP.02 v3 "
                         "WSDLs as JSON over HTTPS with mutual TLS. Generated from net/es_functions.c by `smctl es "
                         "openapi`; see docs/net.md.\"},\n\"paths\":{\n");
    bool first = true;
    tset ts = {.n = 0};
    for (size_t i = 0; i < es_nfunctions; i++) {
        const es_function *f = &es_functions[i];
        static const es_kind kinds[] = {ES_KIND_REQUEST, ES_KIND_NOTIFICATION, ES_KIND_RESPONSE};
        for (int k = 0; k < 3; k++)
            if (es_function_served(f, kinds[k])) {
                path_item(b, f, kinds[k], &first);
                collect(&ts, kinds[k] == ES_KIND_RESPONSE ? f->out : f->in);
                if (kinds[k] == ES_KIND_REQUEST && f->mode == ES_SYNC)
                    collect(&ts, f->out);
            }
    }
    sm_buf_append_str(b, "},\n\"components\":{\"securitySchemes\":{\"mutualTLS\":{\"type\":\"http\",\"scheme\":\"mutual-tls\","
                         "\"description\":\"TLS client certificate from the es.peers trust list\"}},\n\"schemas\":{\n");
    sm_buf_append_str(b, common_schemas);
    for (size_t i = 0; i < ts.n; i++) {
        sm_buf_append_str(b, ",\n");
        q(b, ts.t[i]->name);
        sm_buf_append_byte(b, ':');
        type_schema(b, ts.t[i]);
    }
    sm_buf_append_str(b, "}}}\n");
}
