/* ES1 at the SM-SR (appliance/smsr/es1.c, xmldsig.c): RegisterEIS decoded from SOAP bodies as the
 * simulator writes them (`sim fleet`, es1/<EID>.xml) and run through the SM-SR's handler — the EumSignature
 * in the simulator's form and in standard XML-DSig form, tampered signatures and signed data, another
 * EUM, an unknown EUM, a wrong transport key, a repeated registration — and the ImportEISBatch upload. */
#include "tests/smsr/smsr_fixture.h"

#include <time.h>

#include "appliance/workers.h"
#include "net/rest.h"
#include "net/soap.h"
#include "net/xml.h"
#include "tests/support/testenv.h"
#include "tests/support/xsd.h"

#include <libxml/parser.h>

static db_pool *POOL;
static db_conn *C;
static char CI[600];

static int setup(void **state)
{
    fx_start();
    fx_db_at(&POOL, &C, CI, sizeof CI);
    return 0;
}

static int teardown(void **state)
{
    fx_db_close(POOL, C);
    fx_stop();
    return 0;
}

/* the simulator's ES1 body of the i-th eUICC, as it wrote it */
static char *es1_body(int i, char eid[33])
{
    char *t = fx_batch(NULL);
    char *l = fx_line(t, i + 1);
    memcpy(eid, strstr(l, "eid=") + 4, 32);
    eid[32] = 0;
    free(l);
    free(t);
    char path[400];
    snprintf(path, sizeof path, "%s/fleet/es1/%s.xml", FX.dir, eid);
    return fx_read(path, NULL);
}

/* The simulator's ES1.RegisterEIS body element is valid against GSMA's schema (SGP.02 XSD: element name,
 * KeyComponents with type and value, EumSignature of ds:SignatureType), so the SM-SR is tested with what
 * a real EUM sends. */
static void test_simulator_body_matches_xsd(void **state)
{
    char eid[33];
    char *x = es1_body(0, eid);
    xmlSchemaPtr schema = txsd_load();
    assert_non_null(schema);
    xmlDocPtr doc = xmlReadMemory(x, (int)strlen(x), "es1.xml", NULL, XML_PARSE_NONET | XML_PARSE_NOBLANKS);
    assert_non_null(doc);
    /* Envelope > Body > the function's element */
    xmlNodePtr body = xmlDocGetRootElement(doc)->children;
    while (body && !(body->type == XML_ELEMENT_NODE && !strcmp((const char *)body->name, "Body")))
        body = body->next;
    assert_non_null(body);
    xmlNodePtr fn = body->children;
    while (fn && fn->type != XML_ELEMENT_NODE)
        fn = fn->next;
    assert_non_null(fn);
    assert_string_equal((const char *)fn->name, "ES1-RegisterEISRequest");
    xmlDocPtr one = xmlNewDoc((const xmlChar *)"1.0");
    xmlDocSetRootElement(one, xmlDocCopyNode(fn, one, 1));
    char errs[2048];
    if (txsd_validate(schema, xmlDocGetRootElement(one), errs, sizeof errs) != 0)
        fail_msg("the simulator's ES1 body does not validate: %s", errs);
    /* and a departure from it is caught: the element name the simulator used to write */
    xmlNodeSetName(xmlDocGetRootElement(one), (const xmlChar *)"RegisterEISRequest");
    assert_int_not_equal(txsd_validate(schema, xmlDocGetRootElement(one), NULL, 0), 0);
    xmlFreeDoc(one);
    xmlFreeDoc(doc);
    xmlSchemaFree(schema);
    free(x);
}

static char *replace(char *s, const char *from, const char *to)
{
    char *p = strstr(s, from);
    if (!p)
        fx_die("'%s' not in the body", from);
    size_t a = (size_t)(p - s), fl = strlen(from), tl = strlen(to), n = strlen(s);
    char *o = malloc(n - fl + tl + 1);
    memcpy(o, s, a);
    memcpy(o + a, to, tl);
    memcpy(o + a + tl, p + fl, n - a - fl + 1);
    free(s);
    return o;
}

/* decodes a SOAP body as the ES server does and runs the SM-SR's handler in a transaction */
static es_status call(const char *body, es_iface iface, const char *caller, es_value **out)
{
    es_msg m;
    es_status fst;
    soap_fault fault;
    sm_err err = {0};
    xml_limits lim = {.max_bytes = 1 << 20, .max_depth = 32, .max_nodes = 20000};
    if (soap_decode(body, strlen(body), &lim, iface, &m, &fst, &fault, &err) != SM_OK)
        fail_msg("decode: %s", err.msg);
    if (fst.exec != ES_EXEC_SUCCESS)
        fail_msg("decode: %s", fst.message);
    es_call c;
    memset(&c, 0, sizeof c);
    c.fn = m.fn;
    c.kind = m.kind;
    c.binding = ES_BIND_SOAP;
    c.hdr = m.hdr;
    c.in = m.body;
    c.out = es_struct_new();
    es_status_ok(&c.status);
    snprintf(c.caller.id, sizeof c.caller.id, "%s", caller);
    c.caller.role = ES_ROLE_EUM;
    c.caller.known = true;
    sm_worker w = {.id = 0, .hsm = FX.s, .db = C};
    c.worker = &w;
    c.in_tx = true;
    c.received = time(NULL);
    assert_int_equal(db_begin(C, &err), SM_OK);
    assert_int_equal(smsr_dispatch(&FX.x, &c), SM_OK);
    assert_int_equal(db_commit(C, &err), SM_OK);
    if (out)
        *out = c.out;
    else
        es_value_free(c.out);
    es_msg_clear(&m);
    return c.status;
}

static void expect(const es_status *st, es_exec exec, const char *subj, const char *rsn)
{
    if (st->exec != exec || (subj && strcmp(st->subject, subj)) || (rsn && strcmp(st->reason, rsn)))
        fail_msg("status %s %s/%s (%s), expected %s %s/%s", es_exec_name(st->exec), st->subject, st->reason, st->message,
                 es_exec_name(exec), subj ? subj : "", rsn ? rsn : "");
}

static bool registered(const char *eid)
{
    db_euicc e;
    sm_err err = {0};
    sm_rc rc = db_eis_get(C, eid, &e, &err);
    if (rc == SM_OK)
        db_euicc_clear(&e);
    return rc == SM_OK;
}

static void test_register_simulator_body(void **state)
{
    char eid[33];
    char *b = es1_body(0, eid);
    es_status st = call(b, ES_IF_ES1, FX_EUM_ID, NULL);
    expect(&st, ES_EXEC_SUCCESS, NULL, NULL);
    db_euicc e;
    sm_err err = {0};
    assert_int_equal(db_eis_get(C, eid, &e, &err), SM_OK);
    assert_string_equal(e.smsr_id, FX_SMSR_ID);
    assert_string_equal(e.http_version, "1.1.0");
    /* what the EUM signed is kept with its signature, for a later handover */
    assert_non_null(memmem(e.eum_signed, e.eum_signed_len, "<EumSignedInfo", 14));
    assert_non_null(memmem(e.eum_signed, e.eum_signed_len, "SignatureValue", 14));
    db_euicc_clear(&e);
    db_keyset ks;
    assert_int_equal(db_keyset_get(C, eid, 1, &ks, &err), SM_OK);
    assert_int_equal(ks.nkeys, 3);
    assert_string_equal(ks.keys[2].kek_label, "smbox-kek");
    assert_int_equal(db_keyset_get(C, eid, 0x40, &ks, &err), SM_OK);
    assert_int_equal(ks.keys[0].key_type, 0x85);
    db_profile *pv = NULL;
    size_t np = 0;
    assert_int_equal(db_eis_profiles(C, eid, false, &pv, &np, &err), SM_OK);
    assert_int_equal(np, 1);
    assert_string_equal(pv[0].state, "Enabled");
    assert_true(pv[0].fallback);
    free(pv);
    /* again, with other call identifiers: nothing changes, and the answer says so */
    st = call(b, ES_IF_ES1, FX_EUM_ID, NULL);
    expect(&st, ES_EXEC_WARNING, "8.1.1", "3.3");
    free(b);
}

static void test_register_refusals(void **state)
{
    char eid[33];
    char *b = es1_body(1, eid);
    /* another EUM than the one that signed it */
    es_status st = call(b, ES_IF_ES1, "2.999.10.7", NULL);
    expect(&st, ES_EXEC_FAILED, "1.1", "1.2");
    /* the signed data changed */
    char *t = replace(strdup(b), "<PlatformVersion>1.0.0</PlatformVersion>", "<PlatformVersion>1.0.1</PlatformVersion>");
    st = call(t, ES_IF_ES1, FX_EUM_ID, NULL);
    expect(&st, ES_EXEC_FAILED, "8.6", "6.1");
    free(t);
    /* the signature changed */
    t = strdup(b);
    char *sv = strstr(t, "<ds:SignatureValue>") + 19;
    sv[5] = sv[5] == 'a' ? 'b' : 'a';
    st = call(t, ES_IF_ES1, FX_EUM_ID, NULL);
    expect(&st, ES_EXEC_FAILED, "8.6", "6.1");
    free(t);
    /* key values under another transport key than the one named */
    assert_int_equal(testenv_sh("test -d '%s/pki4' || '%s' pki --out '%s/pki4' >/dev/null", FX.dir, FX.sim, FX.dir), 0);
    char path[400];
    snprintf(path, sizeof path, "%s/pki4/tk-eum1-smsr.hex", FX.dir);
    fx_import_tk("TK-OTHER", path);
    t = replace(strdup(b), "value=\"" FX_TK_ID "\"", "value=\"TK-OTHER\"");
    st = call(t, ES_IF_ES1, FX_EUM_ID, NULL);
    expect(&st, ES_EXEC_FAILED, "8.6", "6.2");
    free(t);
    /* another SM-SR's eUICC */
    t = replace(strdup(b), "<Smsr-id>" FX_SMSR_ID "</Smsr-id>", "<Smsr-id>2.999.30.2</Smsr-id>");
    st = call(t, ES_IF_ES1, FX_EUM_ID, NULL);
    expect(&st, ES_EXEC_FAILED, "8.7", "3.8");
    free(t);
    assert_false(registered(eid));
    /* an EUM whose certificate the SM-SR does not have */
    assert_int_equal(testpg_sql(CI, "DELETE FROM eum"), 0);
    st = call(b, ES_IF_ES1, FX_EUM_ID, NULL);
    expect(&st, ES_EXEC_FAILED, "1.1", "1.2");
    assert_false(registered(eid));
    /* refused calls are audited, nothing else stays */
    DB_STMT(q, 0, "SELECT count(*) FROM audit_log WHERE action = 'es1.RegisterEIS' AND outcome = 'failed'");
    db_res *r = NULL;
    sm_err err = {0};
    assert_int_equal(db_exec(C, &q, NULL, &r, &err), SM_OK);
    assert_int_equal(db_res_int(r, 0, 0), 6);
    db_res_free(r);
    char path2[400];
    snprintf(path2, sizeof path2, "%s/pki/eum1.crt", FX.dir);
    size_t l;
    uint8_t *der = fx_der_cert(path2, &l);
    assert_int_equal(smsr_eum_put(C, "test", FX_EUM_ID, der, l, FX_TK_ID, &err), SM_OK);
    free(der);
    free(b);
}

/* Over REST the EIS has no signed XML form: refused with a reason, nothing stored. */
static void test_register_over_rest_refused(void **state)
{
    char eid[33];
    char *b = es1_body(3, eid);
    es_msg m;
    es_status fst;
    soap_fault fault;
    sm_err err = {0};
    xml_limits lim = {.max_bytes = 1 << 20, .max_depth = 32, .max_nodes = 20000};
    assert_int_equal(soap_decode(b, strlen(b), &lim, ES_IF_ES1, &m, &fst, &fault, &err), SM_OK);
    sm_buf j;
    sm_buf_init(&j);
    assert_int_equal(rest_encode(&m, &j, &err), SM_OK);
    es_msg_clear(&m);
    json_limits jl = {.max_bytes = 1 << 20, .max_depth = 32, .max_nodes = 20000};
    es_msg r;
    assert_int_equal(rest_decode((const char *)j.data, j.len, &jl, es_function_by_qname("ES1.RegisterEIS"),
                                 ES_KIND_REQUEST, &r, &fst, &err), SM_OK);
    sm_buf_free(&j);
    es_call c;
    memset(&c, 0, sizeof c);
    c.fn = r.fn;
    c.kind = r.kind;
    c.binding = ES_BIND_REST;
    c.hdr = r.hdr;
    c.in = r.body;
    c.out = es_struct_new();
    es_status_ok(&c.status);
    snprintf(c.caller.id, sizeof c.caller.id, "%s", FX_EUM_ID);
    c.caller.role = ES_ROLE_EUM;
    sm_worker w = {.id = 0, .hsm = FX.s, .db = C};
    c.worker = &w;
    c.in_tx = true;
    assert_int_equal(db_begin(C, &err), SM_OK);
    assert_int_equal(smsr_dispatch(&FX.x, &c), SM_OK);
    assert_int_equal(db_commit(C, &err), SM_OK);
    expect(&c.status, ES_EXEC_FAILED, "8.6", "6.1");
    assert_non_null(strstr(c.status.message, "SOAP"));
    assert_false(registered(eid));
    es_value_free(c.out);
    es_msg_clear(&r);
    free(b);
}

/* A standard XML-DSig EumSignature: ECDSA over the exclusive c14n of ds:SignedInfo, base64 values. */
static void test_register_standard_xmldsig(void **state)
{
    char eid[33];
    char *b = es1_body(2, eid);
    /* the canonical EumSignedInfo as the ES layer keeps it */
    es_msg m;
    es_status fst;
    soap_fault fault;
    sm_err err = {0};
    xml_limits lim = {.max_bytes = 1 << 20, .max_depth = 32, .max_nodes = 20000};
    assert_int_equal(soap_decode(b, strlen(b), &lim, ES_IF_ES1, &m, &fst, &fault, &err), SM_OK);
    const char *c14n = es_str(es_struct(m.body, "Eis"), "EumSignedInfo@c14n");
    assert_non_null(c14n);
    uint8_t dg[32];
    unsigned dl = 0;
    EVP_Digest(c14n, strlen(c14n), dg, &dl, EVP_sha256(), NULL);
    es_msg_clear(&m);
    char dg64[64];
    EVP_EncodeBlock((unsigned char *)dg64, dg, 32);
    char si[1024];
    snprintf(si, sizeof si,
             "<ds:SignedInfo xmlns:ds=\"http://www.w3.org/2000/09/xmldsig#\"><ds:CanonicalizationMethod "
             "Algorithm=\"http://www.w3.org/2001/10/xml-exc-c14n#\"></ds:CanonicalizationMethod><ds:SignatureMethod "
             "Algorithm=\"http://www.w3.org/2001/04/xmldsig-more#ecdsa-sha256\"></ds:SignatureMethod><ds:Reference "
             "URI=\"\"><ds:DigestMethod Algorithm=\"http://www.w3.org/2001/04/xmlenc#sha256\"></ds:DigestMethod>"
             "<ds:DigestValue>%s</ds:DigestValue></ds:Reference></ds:SignedInfo>",
             dg64);
    /* sign the canonical SignedInfo with the EUM key (DER signature, base64) */
    FILE *f = fopen(fx_pki("eum1.key"), "r");
    EVP_PKEY *k = PEM_read_PrivateKey(f, NULL, NULL, NULL);
    fclose(f);
    xmlDocPtr doc = NULL;
    assert_int_equal(xml_parse(si, strlen(si), &lim, &doc, &err), SM_OK);
    size_t cl = 0;
    char *canon = xml_c14n_node(doc, xmlDocGetRootElement(doc), &cl);
    xmlFreeDoc(doc);
    unsigned char der[80];
    size_t derl = sizeof der;
    EVP_MD_CTX *mc = EVP_MD_CTX_new();
    assert_int_equal(EVP_DigestSignInit(mc, NULL, EVP_sha256(), NULL, k), 1);
    assert_int_equal(EVP_DigestSign(mc, der, &derl, (unsigned char *)canon, cl), 1);
    EVP_MD_CTX_free(mc);
    EVP_PKEY_free(k);
    free(canon);
    char sig64[200];
    EVP_EncodeBlock((unsigned char *)sig64, der, (int)derl);
    /* SignedInfo and SignatureValue in place of the simulator's (EumSignature is a ds:SignatureType) */
    char *s0 = strstr(b, "<EumSignature"), *s1 = strstr(b, "</EumSignature>");
    assert_non_null(s0);
    s0 = strchr(s0, '>') + 1;
    char sig[2048];
    snprintf(sig, sizeof sig, "%s<ds:SignatureValue>%s</ds:SignatureValue>", si + 0, sig64);
    /* SignedInfo inside EumSignature: drop its own namespace declaration (inherited) */
    char *nb = malloc(strlen(b) + strlen(sig) + 1);
    sprintf(nb, "%.*s%s%s", (int)(s0 - b), b, sig, s1);
    nb = replace(nb, "<ds:SignedInfo xmlns:ds=\"http://www.w3.org/2000/09/xmldsig#\">", "<ds:SignedInfo>");
    es_status st = call(nb, ES_IF_ES1, FX_EUM_ID, NULL);
    expect(&st, ES_EXEC_SUCCESS, NULL, NULL);
    assert_true(registered(eid));
    free(nb);
    free(b);
}

static void test_import_batch_upload(void **state)
{
    /* a fresh database: the batch's eUICCs are new there */
    db_pool *pool;
    db_conn *c;
    char ci[600];
    fx_db_at(&pool, &c, ci, sizeof ci);
    db_conn *keep = C;
    C = c;
    char *t = fx_batch(NULL);
    /* the body as an EUM's SOAP client sends it (the text escaped as XML) */
    size_t n = strlen(t);
    char *b = malloc(n + 1024);
    int k = sprintf(b, "<s:Envelope xmlns:s=\"http://www.w3.org/2003/05/soap-envelope\" xmlns:rps=\"http://namespaces.gsma.org/"
                       "esim-messaging/3\"><s:Body><rps:ES1-ImportEISBatchRequest><rps:FunctionCallIdentifier>up-1"
                       "</rps:FunctionCallIdentifier><rps:Batch>");
    memcpy(b + k, t, n);
    sprintf(b + k + n, "</rps:Batch></rps:ES1-ImportEISBatchRequest></s:Body></s:Envelope>");
    es_value *out = NULL;
    es_status st = call(b, ES_IF_ES1, FX_EUM_ID, &out);
    expect(&st, ES_EXEC_SUCCESS, NULL, NULL);
    int64_t v = 0;
    assert_true(es_int(out, "Records", &v) && v == 5);
    assert_true(es_int(out, "Imported", &v) && v == 5);
    assert_int_equal(es_count(out, "Rejected"), 0);
    es_value_free(out);
    /* again: nothing changes, the answer says so */
    st = call(b, ES_IF_ES1, FX_EUM_ID, &out);
    expect(&st, ES_EXEC_WARNING, "8.6", "3.3");
    assert_true(es_int(out, "Unchanged", &v) && v == 5);
    es_value_free(out);
    /* a record with a bad signature: imported with a warning naming it */
    char *bad = strdup(t);
    char *l = fx_line(bad, 2);
    char *s = strstr(l, ";sig=") + 9;
    *s = *s == '0' ? '1' : '0';
    bad = fx_set_line(bad, 2, l);
    free(l);
    bad = fx_retrail(bad);
    n = strlen(bad);
    memcpy(b + k, bad, n);
    sprintf(b + k + n, "</rps:Batch></rps:ES1-ImportEISBatchRequest></s:Body></s:Envelope>");
    st = call(b, ES_IF_ES1, FX_EUM_ID, &out);
    expect(&st, ES_EXEC_WARNING, "8.6", "2.1");
    assert_int_equal(es_count(out, "Rejected"), 1);
    const es_value *r = es_item(out, "Rejected", 0);
    assert_true(es_int(r, "Line", &v) && v == 3);
    assert_string_equal(es_str(r, "Reason"), "EUM signature");
    es_value_free(out);
    /* another EUM may not upload it */
    st = call(b, ES_IF_ES1, "2.999.10.7", NULL);
    expect(&st, ES_EXEC_FAILED, "1.1", "1.2");
    free(bad);
    free(b);
    free(t);
    C = keep;
    fx_db_close(pool, c);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_simulator_body_matches_xsd),
        cmocka_unit_test(test_register_simulator_body),
        cmocka_unit_test(test_register_refusals),
        cmocka_unit_test(test_register_standard_xmldsig),
        cmocka_unit_test(test_register_over_rest_refused),
        cmocka_unit_test(test_import_batch_upload),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
