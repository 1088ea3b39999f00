/* The SOAP binding against the GSMA schemas: for every function of the table, a request (or
 * notification) and a response with every field filled are encoded and their body element validated
 * against the SGP.02 v3 XSD (tests/vectors/gsma-sgp02/xsd/) — namespaces, element
 * names, order, types. The encoded messages then decode back to the same function. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>
#include <libxml/parser.h>
#include <libxml/xmlschemas.h>

#include "net/soap.h"
#include "tests/support/testenv.h"
#include "tests/support/xsd.h"

static xmlSchemaPtr SCHEMA;
static char ERRS[4096];

static const char DSIG[] =
    "<ds:SignedInfo xmlns:ds=\"http://www.w3.org/2000/09/xmldsig#\"><ds:CanonicalizationMethod "
    "Algorithm=\"http://www.w3.org/2001/10/xml-exc-c14n#\"></ds:CanonicalizationMethod><ds:SignatureMethod "
    "Algorithm=\"http://www.w3.org/2001/04/xmldsig-more#ecdsa-sha256\"></ds:SignatureMethod><ds:Reference URI=\"\">"
    "<ds:DigestMethod Algorithm=\"http://www.w3.org/2001/04/xmlenc#sha256\"></ds:DigestMethod>"
    "<ds:DigestValue>AAAA</ds:DigestValue></ds:Reference></ds:SignedInfo>"
    "<ds:SignatureValue xmlns:ds=\"http://www.w3.org/2000/09/xmldsig#\">AAAA</ds:SignatureValue>";

static int setup(void **state)
{
    SCHEMA = txsd_load();
    return SCHEMA ? 0 : -1;
}

static int teardown(void **state)
{
    xmlSchemaFree(SCHEMA);
    return 0;
}

static void fill(const es_type *t, es_value *v, int depth);

static void sample(const es_field *f, es_value *dst, const char *name, int depth)
{
    switch (f->type) {
    case EST_STRING: {
        char buf[80];
        const char *s = "x";
        switch (f->check) {
        case ESC_OID: s = "1.3.6.1.4.1.99999.7"; break;
        case ESC_ICCID: s = "8988299000000000014"; break;
        case ESC_DIGITS: s = "31612345678"; break;
        case ESC_VERSION: s = "3.1.0"; break;
        case ESC_ENUM: {
            size_t k = strcspn(f->choices, "|");
            snprintf(buf, sizeof buf, "%.*s", (int)k, f->choices);
            s = buf;
            break;
        }
        case ESC_HEXSTR: {
            unsigned n = f->minlen ? f->minlen : 16;
            if (f->maxlen && n > f->maxlen)
                n = f->maxlen;
            for (unsigned i = 0; i < n; i++)
                memcpy(buf + 2 * i, "A0", 2);
            buf[2 * n] = 0;
            s = buf;
            break;
        }
        default: break;
        }
        es_add_str(dst, name, s);
        break;
    }
    case EST_DATETIME: es_add_str(dst, name, "2024-01-01T00:00:00Z"); break;
    case EST_XML: es_add_str(dst, name, DSIG); break;
    case EST_HEX: {
        static const uint8_t b[] = {0x01, 0x02, 0x03};
        es_add_bytes(dst, name, b, sizeof b);
        break;
    }
    case EST_INT: es_add_int(dst, name, f->lo < f->hi ? (f->lo < 1 && f->hi >= 1 ? 1 : f->lo) : 1); break;
    case EST_BOOL: es_add_bool(dst, name, true); break;
    case EST_STRUCT: fill(f->sub, es_add_struct(dst, name), depth + 1); break;
    }
}

static void fill(const es_type *t, es_value *v, int depth)
{
    assert_true(depth < 12);
    for (size_t i = 0; i < t->n; i++) {
        const es_field *f = &t->fields[i];
        if (es_field_repeated(f)) {
            es_value *l = es_add_list(v, f->name);
            int n = f->max == 0 || f->max >= 2 ? 2 : 1;
            for (int k = 0; k < n; k++)
                sample(f, l, NULL, depth);
        } else {
            sample(f, v, f->name, depth);
        }
    }
}

static void check(const es_function *f, es_kind kind, const es_type *t)
{
    es_msg m = {.fn = f, .kind = kind};
    snprintf(m.hdr.message_id, sizeof m.hdr.message_id, "m-1");
    snprintf(m.hdr.fcid, sizeof m.hdr.fcid, "c-1");
    m.hdr.validity = 60;
    if (kind == ES_KIND_RESPONSE) {
        snprintf(m.hdr.relates_to, sizeof m.hdr.relates_to, "m-0");
        es_status_set(&m.status, ES_EXEC_WARNING, "8.2.1", "3.8", "a warning");
        m.proc_start = 1700000000;
        m.proc_end = 1700000001;
        m.acceptable_validity = 600;
    }
    m.body = es_struct_new();
    fill(t, m.body, 0);
    sm_buf b;
    sm_buf_init(&b);
    sm_err err = {0};
    assert_int_equal(soap_encode(&m, &b, &err), SM_OK);
    xmlDocPtr doc = xmlReadMemory((const char *)b.data, (int)b.len, NULL, NULL, XML_PARSE_NONET);
    assert_non_null(doc);
    xmlNodePtr body = NULL;
    for (xmlNodePtr c = xml_first_elem(xmlDocGetRootElement(doc)); c; c = xml_next_elem(c))
        if (xml_is(c, SOAP12_NS, "Body"))
            body = c;
    xmlNodePtr el = xml_first_elem(body);
    assert_non_null(el);
    int rc = txsd_validate(SCHEMA, el, ERRS, sizeof ERRS);
    if (rc != 0)
        fprintf(stderr, "%s.%s kind %d does not validate:\n%s\n%.*s\n", es_iface_name(f->iface), f->name, kind, ERRS,
                (int)b.len, (const char *)b.data);
    assert_int_equal(rc, 0);
    xmlFreeDoc(doc);
    /* and it decodes back to the same function, fields valid */
    xml_limits lim = {.max_bytes = 1 << 20, .max_depth = 64, .max_nodes = 100000};
    es_msg d;
    es_status st;
    soap_fault fault;
    assert_int_equal(soap_decode((const char *)b.data, b.len, &lim, f->iface, &d, &st, &fault, &err), SM_OK);
    assert_ptr_equal(d.fn, f);
    assert_int_equal(d.kind, kind);
    assert_int_equal(st.exec, ES_EXEC_SUCCESS);
    es_msg_clear(&d);
    es_msg_clear(&m);
    sm_buf_free(&b);
}

static void test_every_message_validates(void **state)
{
    int n = 0;
    for (size_t i = 0; i < es_nfunctions; i++) {
        const es_function *f = &es_functions[i];
        if (strncmp(f->req_action, "http://gsma.com/", 16))
            continue; /* smbox extensions are not in the GSMA schema */
        if (f->mode == ES_NOTIFY) {
            check(f, ES_KIND_NOTIFICATION, f->in);
            n++;
        } else {
            check(f, ES_KIND_REQUEST, f->in);
            check(f, ES_KIND_RESPONSE, f->out);
            n += 2;
        }
    }
    assert_int_equal(n, 75); /* 31 functions x (request + response) + 13 notifications */
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_every_message_validates),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
