/* net/ codecs without a network: the function table against the SGP.02 v3 WSDL operations, SOAP and
 * REST decoding/encoding round trips, the strict JSON and HTTP parsers, value accessors, token
 * buckets, peer matching, and docs/openapi.json matching `smctl es openapi`. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>
#include <event2/buffer.h>

#include "net/http.h"
#include "net/json.h"
#include "net/limits.h"
#include "net/peer.h"
#include "net/rest.h"
#include "net/soap.h"
#include "tests/support/testenv.h"

#define EID "89001012012341234012345678901224"

static const xml_limits XL = {.max_bytes = 1 << 20, .max_depth = 32, .max_nodes = 5000};
static const json_limits JL = {.max_bytes = 1 << 20, .max_depth = 32, .max_nodes = 5000};

/* every operation of the ten v3 WSDLs (ES1/2/3/4/7), by interface and function */
static const char *const wsdl_ops[] = {
    "ES1.RegisterEIS", "ES2.GetEIS", "ES2.DownloadProfile", "ES2.UpdatePolicyRules", "ES2.UpdateSubscriptionAddress",
    "ES2.EnableProfile", "ES2.DisableProfile", "ES2.DeleteProfile", "ES2.HandleProfileDisabledNotification",
    "ES2.HandleProfileEnabledNotification", "ES2.HandleProfileDeletedNotification", "ES2.HandleSMSRChangeNotification",
    "ES3.GetEIS", "ES3.AuditEIS", "ES3.CreateISDP", "ES3.SendData", "ES3.ProfileDownloadCompleted",
    "ES3.UpdatePolicyRules", "ES3.UpdateSubscriptionAddress", "ES3.EnableProfile", "ES3.DisableProfile",
    "ES3.DeleteISDP", "ES3.UpdateConnectivityParameters", "ES3.HandleProfileDisabledNotification",
    "ES3.HandleProfileEnabledNotification", "ES3.HandleProfileDeletedNotification", "ES3.HandleSMSRChangeNotification",
    "ES4.GetEIS", "ES4.AuditEIS", "ES4.UpdatePolicyRules", "ES4.UpdateSubscriptionAddress", "ES4.EnableProfile",
    "ES4.DisableProfile", "ES4.DeleteProfile", "ES4.PrepareSMSRChange", "ES4.SMSRChange",
    "ES4.HandleProfileDisabledNotification", "ES4.HandleProfileEnabledNotification",
    "ES4.HandleProfileDeletedNotification", "ES4.HandleSMSRChangeNotification", "ES7.CreateAdditionalKeySet",
    "ES7.HandoverEUICC", "ES7.AuthenticateSMSR", "ES7.HandleSMSRChangeNotification",
};

static void check_type(const es_type *t, int depth)
{
    assert_true(depth < 10);
    assert_non_null(t->name);
    for (size_t i = 0; i < t->n; i++) {
        const es_field *f = &t->fields[i];
        assert_non_null(f->name);
        if (f->type == EST_STRUCT) {
            assert_non_null(f->sub);
            check_type(f->sub, depth + 1);
        }
        if (f->check == ESC_ENUM)
            assert_non_null(f->choices);
    }
}

static void test_table(void **state)
{
    size_t nops = sizeof wsdl_ops / sizeof wsdl_ops[0], ngsma = 0;
    for (size_t i = 0; i < es_nfunctions; i++) /* smbox extensions (urn:smbox: actions) are not WSDL operations */
        ngsma += !strncmp(es_functions[i].req_action, "http://gsma.com/", 16);
    assert_int_equal(ngsma, nops);
    for (size_t i = 0; i < nops; i++) {
        const es_function *f = es_function_by_qname(wsdl_ops[i]);
        assert_non_null(f);
        assert_non_null(f->in);
        assert_non_null(f->req_action);
        assert_true(!strncmp(f->req_action, "http://gsma.com/ES", 18));
        check_type(f->in, 0);
        if (f->mode != ES_NOTIFY) {
            assert_non_null(f->out);
            assert_non_null(f->resp_action);
            check_type(f->out, 0);
        }
    }
    /* element names, both directions */
    es_kind k;
    assert_ptr_equal(es_function_by_element("ES3-CreateISDPResponse", &k), es_function_by_qname("ES3.CreateISDP"));
    assert_int_equal(k, ES_KIND_RESPONSE);
    assert_ptr_equal(es_function_by_element("ES3-HandleProfileEnabledNotification", &k),
                     es_function_by_qname("ES3.HandleProfileEnabledNotification"));
    assert_int_equal(k, ES_KIND_NOTIFICATION);
    assert_null(es_function_by_element("ES5-CreateISDPRequest", &k));
    assert_null(es_function_by_element("ES3-HandleProfileEnabledNotificationRequest", &k));
    char el[96];
    es_function_element(es_function_by_qname("ES3.ProfileDownloadCompleted"), ES_KIND_REQUEST, el, sizeof el);
    assert_string_equal(el, "ES3-ProfileDownloadCompletedRequest");
    /* callers: each interface open to its callers only */
    const es_function *g2 = es_function_by_qname("ES2.GetEIS"), *g4 = es_function_by_qname("ES4.GetEIS");
    assert_true(es_function_allows(g2, ES_KIND_REQUEST, ES_ROLE_MNO));
    assert_false(es_function_allows(g2, ES_KIND_REQUEST, ES_ROLE_SMDP));
    assert_true(es_function_allows(g4, ES_KIND_REQUEST, ES_ROLE_M2MSP));
    assert_false(es_function_allows(es_function_by_qname("ES4.UpdatePolicyRules"), ES_KIND_REQUEST, ES_ROLE_M2MSP));
    assert_true(es_function_allows(es_function_by_qname("ES3.CreateISDP"), ES_KIND_RESPONSE, ES_ROLE_SMSR));
    assert_false(es_function_allows(es_function_by_qname("ES4.EnableProfile"), ES_KIND_RESPONSE, ES_ROLE_SMSR));
    assert_false(es_function_served(es_function_by_qname("ES2.HandleProfileEnabledNotification"), ES_KIND_NOTIFICATION));
}

static void test_soap_roundtrip(void **state)
{
    const char *req =
        "<e:Envelope xmlns:e=\"http://www.w3.org/2003/05/soap-envelope\" xmlns:a=\"http://www.w3.org/2005/08/addressing\" "
        "xmlns:r=\"http://namespaces.gsma.org/esim-messaging/3\" xmlns:ds=\"http://www.w3.org/2000/09/xmldsig#\">"
        "<e:Header><a:MessageID>m-1</a:MessageID><a:ReplyTo><a:Address>https://dp/cb</a:Address></a:ReplyTo></e:Header>"
        "<e:Body><r:ES1-RegisterEISRequest><r:FunctionCallIdentifier> f-1 </r:FunctionCallIdentifier>"
        "<r:ValidityPeriod>600</r:ValidityPeriod><r:Eis><r:EumSignedInfo><r:Eid>" EID "</r:Eid>"
        "<r:EuiccCapabilities><r:CattpSupport>true</r:CattpSupport><r:HttpSupport>0</r:HttpSupport>"
        "<r:SecurePacketVersion>9.2.0</r:SecurePacketVersion><r:RemoteProvisioningVersion>3.1.0</r:RemoteProvisioningVersion>"
        "</r:EuiccCapabilities></r:EumSignedInfo><r:EumSignature><ds:SignedInfo><ds:Reference URI=\"\"/></ds:SignedInfo>"
        "<ds:SignatureValue>AAAA</ds:SignatureValue></r:EumSignature><r:RemainingMemory>1000</r:RemainingMemory>"
        "<r:ProfileInfo><r:Iccid>8988299000000000014</r:Iccid><r:pol2><r:Rule><r:Subject>PROFILE</r:Subject>"
        "<r:Action>DISABLE</r:Action><r:Qualification>Not-Allowed</r:Qualification></r:Rule></r:pol2></r:ProfileInfo>"
        "<r:ProfileInfo><r:Iccid>8988299000000000022</r:Iccid></r:ProfileInfo>"
        "<r:Isd-r><r:Keyset><r:Version>1</r:Version><r:Key kcv=\"A1B2C3\"><r:Index>1</r:Index>"
        "<r:KeyComponents type=\"88\" value=\"00112233\"/></r:Key></r:Keyset></r:Isd-r>"
        "<r:Unknown>ignored inside an EIS</r:Unknown></r:Eis></r:ES1-RegisterEISRequest></e:Body></e:Envelope>";
    es_msg m;
    es_status st;
    soap_fault fault;
    sm_err err = {0};
    assert_int_equal(soap_decode(req, strlen(req), &XL, ES_IF_ES1, &m, &st, &fault, &err), SM_OK);
    assert_int_equal(st.exec, ES_EXEC_SUCCESS);
    assert_string_equal(m.hdr.fcid, "f-1");
    assert_int_equal(m.hdr.validity, 600);
    assert_string_equal(m.hdr.reply_to, "https://dp/cb");
    const es_value *eis = es_struct(m.body, "Eis");
    assert_string_equal(es_str(es_struct(eis, "EumSignedInfo"), "Eid"), EID);
    bool b = false;
    assert_true(es_bool(es_struct(es_struct(eis, "EumSignedInfo"), "EuiccCapabilities"), "CattpSupport", &b) && b);
    int64_t mem = 0;
    assert_true(es_int(eis, "RemainingMemory", &mem));
    assert_int_equal(mem, 1000);
    assert_int_equal(es_count(eis, "ProfileInfo"), 2);
    const es_value *p0 = es_item(eis, "ProfileInfo", 0);
    assert_string_equal(es_str(es_item(es_struct(p0, "pol2"), "Rule", 0), "Action"), "DISABLE");
    const es_value *key = es_item(es_item(es_struct(eis, "Isd-r"), "Keyset", 0), "Key", 0);
    const uint8_t *kcv;
    size_t kl;
    assert_true(es_bytes(key, "kcv", &kcv, &kl));
    assert_int_equal(kl, 3);
    assert_string_equal(es_str(es_item(key, "KeyComponents", 0), "type"), "88");
    /* the signed part kept as exclusive canonical XML for the signature check */
    const char *si = es_str(eis, "EumSignedInfo@c14n");
    assert_non_null(si);
    assert_true(!strncmp(si, "<r:EumSignedInfo xmlns:r=\"http://namespaces.gsma.org/esim-messaging/3\"><r:Eid>", 77));
    /* ds:Signature content kept verbatim, namespaces declared (exclusive canonical form) */
    const char *sig = es_str(eis, "EumSignature");
    assert_non_null(strstr(sig, "<ds:SignedInfo xmlns:ds=\"http://www.w3.org/2000/09/xmldsig#\">"));

    /* encode and decode again: same values */
    sm_buf out;
    sm_buf_init(&out);
    assert_int_equal(soap_encode(&m, &out, &err), SM_OK);
    es_msg m2;
    assert_int_equal(soap_decode((const char *)out.data, out.len, &XL, 0, &m2, &st, &fault, &err), SM_OK);
    assert_int_equal(st.exec, ES_EXEC_SUCCESS);
    assert_string_equal(es_str(es_struct(m2.body, "Eis"), "EumSignature"), sig);
    assert_int_equal(es_count(es_struct(m2.body, "Eis"), "ProfileInfo"), 2);
    /* and through REST */
    sm_buf js;
    sm_buf_init(&js);
    assert_int_equal(rest_encode(&m2, &js, &err), SM_OK);
    es_msg m3;
    assert_int_equal(rest_decode((const char *)js.data, js.len, &JL, m2.fn, ES_KIND_REQUEST, &m3, &st, &err), SM_OK);
    assert_int_equal(st.exec, ES_EXEC_SUCCESS);
    assert_string_equal(m3.hdr.fcid, "f-1");
    assert_string_equal(es_str(es_struct(m3.body, "Eis"), "EumSignature"), sig);
    es_msg_clear(&m);
    es_msg_clear(&m2);
    es_msg_clear(&m3);
    sm_buf_free(&out);
    sm_buf_free(&js);
}

static void test_soap_status_and_errors(void **state)
{
    es_msg m = {.fn = es_function_by_qname("ES3.CreateISDP"), .kind = ES_KIND_RESPONSE};
    es_status_fail(&m.status, "8.1", "4.8", "memory <full> & more");
    snprintf(m.hdr.relates_to, sizeof m.hdr.relates_to, "r-1");
    m.body = es_struct_new();
    es_add_str(m.body, "Isd-p-aid", "A0000005591010FFFFFFFF8900001000");
    sm_buf b;
    sm_buf_init(&b);
    sm_err err = {0};
    assert_int_equal(soap_encode(&m, &b, &err), SM_OK);
    sm_buf_append_byte(&b, 0);
    const char *x = (const char *)b.data;
    /* BaseResponseType order: FunctionExecutionStatus before the function's own fields */
    const char *fes = strstr(x, "<rps:FunctionExecutionStatus>"), *aid = strstr(x, "<rps:Isd-p-aid>");
    assert_non_null(fes);
    assert_non_null(aid);
    assert_true(fes < aid);
    assert_non_null(strstr(x, "<rps:Status>FAILED</rps:Status><rps:StatusCodeData><rps:Subject>8.1</rps:Subject>"
                              "<rps:Reason>4.8</rps:Reason><rps:Message>memory &lt;full&gt; &amp; more</rps:Message>"));
    assert_non_null(strstr(x, "<wsa:Action>http://gsma.com/ES3/ProfileManagementCallBack/ES3-CreateISDP</wsa:Action>"));
    es_msg d;
    es_status st;
    soap_fault f;
    assert_int_equal(soap_decode(x, strlen(x), &XL, ES_IF_ES3, &d, &st, &f, &err), SM_OK);
    assert_int_equal(d.kind, ES_KIND_RESPONSE);
    assert_int_equal(d.status.exec, ES_EXEC_FAILED);
    assert_string_equal(d.status.reason, "4.8");
    es_msg_clear(&d);
    es_msg_clear(&m);
    sm_buf_free(&b);

    /* field errors become GSMA statuses naming the field */
    const char *bad = "<s:Envelope xmlns:s=\"http://www.w3.org/2003/05/soap-envelope\" xmlns:r=\"http://namespaces.gsma.org/esim-messaging/3\">"
                      "<s:Body><r:ES3-CreateISDPRequest><r:FunctionCallIdentifier>x</r:FunctionCallIdentifier>"
                      "<r:Eid>" EID "</r:Eid><r:Iccid>8988299000000000014</r:Iccid><r:Mno-id>1.2</r:Mno-id>"
                      "<r:RequiredMemory>lots</r:RequiredMemory></r:ES3-CreateISDPRequest></s:Body></s:Envelope>";
    assert_int_equal(soap_decode(bad, strlen(bad), &XL, ES_IF_ES3, &d, &st, &f, &err), SM_OK);
    assert_int_equal(st.exec, ES_EXEC_FAILED);
    assert_string_equal(st.reason, "2.1");
    assert_non_null(strstr(st.message, "RequiredMemory"));
    es_msg_clear(&d);
    /* mustUnderstand header we do not process */
    const char *mu = "<s:Envelope xmlns:s=\"http://www.w3.org/2003/05/soap-envelope\"><s:Header><x:Sec xmlns:x=\"urn:x\" "
                     "s:mustUnderstand=\"true\"/></s:Header><s:Body/></s:Envelope>";
    assert_int_not_equal(soap_decode(mu, strlen(mu), &XL, 0, &d, &st, &f, &err), SM_OK);
    assert_int_equal(f, SOAP_FAULT_MUST_UNDERSTAND);
    es_msg_clear(&d);
    /* too many nodes */
    sm_buf big;
    sm_buf_init(&big);
    sm_buf_append_str(&big, "<s:Envelope xmlns:s=\"http://www.w3.org/2003/05/soap-envelope\"><s:Body>");
    for (int i = 0; i < 6000; i++)
        sm_buf_append_str(&big, "<a/>");
    sm_buf_append_str(&big, "</s:Body></s:Envelope>");
    sm_err e2 = {0};
    assert_int_equal(soap_decode((const char *)big.data, big.len, &XL, 0, &d, &st, &f, &e2), SM_ELIMIT);
    assert_int_equal(f, SOAP_FAULT_LIMIT);
    es_msg_clear(&d);
    sm_buf_free(&big);
}

static sm_rc jparse(const char *s)
{
    jv *v = NULL;
    sm_err err = {0};
    sm_rc rc = json_parse(s, strlen(s), &JL, &v, &err);
    jv_free(v);
    return rc;
}

static void test_json_strict(void **state)
{
    assert_int_equal(jparse("{\"a\":[1,2.5e3,true,null,\"x\\u00e9\\ud83d\\ude00\"]}"), SM_OK);
    assert_int_equal(jparse("{\"a\":1,}"), SM_EPARSE);
    assert_int_equal(jparse("{\"a\":1,\"a\":2}"), SM_EPARSE);
    assert_int_equal(jparse("[01]"), SM_EPARSE);
    assert_int_equal(jparse("\"\\u0000\""), SM_EPARSE);
    assert_int_equal(jparse("\"\\ud83d\""), SM_EPARSE);
    assert_int_equal(jparse("\"\xc3\x28\""), SM_EPARSE);
    assert_int_equal(jparse("\"\xe0\x80\xaf\""), SM_EPARSE); /* overlong */
    assert_int_equal(jparse("{} x"), SM_EPARSE);
    assert_int_equal(jparse("// c\n{}"), SM_EPARSE);
    /* strings: runs of plain ASCII copied whole, between escapes and multi-byte characters */
    {
        const char *t = "[\"ab\\\"cd\\u00e9ef\xc3\xa9gh\\\\\", \"\"]";
        jv *v = NULL;
        sm_err e = {0};
        assert_int_equal(json_parse(t, strlen(t), &JL, &v, &e), SM_OK);
        assert_int_equal(v->n, 2);
        assert_int_equal(v->items[0]->slen, 14);
        assert_memory_equal(v->items[0]->s, "ab\"cd\xc3\xa9" "ef\xc3\xa9gh\\", 15);
        assert_int_equal(v->items[1]->slen, 0);
        jv_free(v);
    }
    assert_int_equal(jparse("\"abc\tdef\""), SM_EPARSE);  /* a control character after a run */
    assert_int_equal(jparse("\"abcdef"), SM_EPARSE);        /* unterminated after a run */
    assert_int_equal(jparse("\"abc\\"), SM_EPARSE);       /* truncated escape after a run */
    assert_int_equal(jparse("\"abc\xff\""), SM_EPARSE);   /* invalid UTF-8 after a run */
    char deep[200] = "";
    for (int i = 0; i < 40; i++)
        strcat(deep, "[");
    for (int i = 0; i < 40; i++)
        strcat(deep, "]");
    assert_int_equal(jparse(deep), SM_ELIMIT);
    /* REST: types by the table */
    es_msg m;
    es_status st;
    sm_err err = {0};
    const es_function *f = es_function_by_qname("ES3.CreateISDP");
    const char *ok = "{\"header\":{\"functionCallIdentifier\":\"c\"},\"body\":{\"Eid\":\"" EID "\",\"Iccid\":\"8988299000000000014\","
                     "\"Mno-id\":\"1.2\",\"RequiredMemory\":\"100\"}}";
    assert_int_equal(rest_decode(ok, strlen(ok), &JL, f, ES_KIND_REQUEST, &m, &st, &err), SM_OK);
    assert_int_equal(st.exec, ES_EXEC_FAILED); /* an integer given as a string */
    assert_non_null(strstr(st.message, "RequiredMemory"));
    es_msg_clear(&m);
    const es_function *pa;
    es_kind k;
    assert_true(rest_parse_path("/gsma/rest/es3/CreateISDPResponse", &pa, &k));
    assert_ptr_equal(pa, f);
    assert_int_equal(k, ES_KIND_RESPONSE);
    assert_false(rest_parse_path("/gsma/rest/es3/CreateISDPRequest", &pa, &k));
    assert_false(rest_parse_path("/gsma/rest/es5/CreateISDP", &pa, &k));
}

static http_rc hparse(const char *raw, int *status)
{
    struct evbuffer *in = evbuffer_new();
    evbuffer_add(in, raw, strlen(raw));
    http_msg m;
    http_msg_init(&m, true);
    http_limits lim = {.max_header_bytes = 512, .max_body_bytes = 100};
    const char *why = NULL;
    *status = 0;
    http_rc r = http_parse(&m, in, &lim, status, &why);
    http_msg_free(&m);
    evbuffer_free(in);
    return r;
}

static void test_http_parser(void **state)
{
    int s;
    assert_int_equal(hparse("POST /x HTTP/1.1\r\nContent-Length: 3\r\n\r\nabc", &s), HTTP_DONE);
    assert_int_equal(hparse("POST /x HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n0\r\n\r\n", &s), HTTP_DONE);
    assert_int_equal(hparse("POST /x HTTP/1.1\r\nContent-Length: 3\r\nTransfer-Encoding: chunked\r\n\r\n", &s), HTTP_ERROR);
    assert_int_equal(s, 400);
    assert_int_equal(hparse("POST /x HTTP/1.1\r\nContent-Length: 101\r\n\r\n", &s), HTTP_ERROR);
    assert_int_equal(s, 413);
    assert_int_equal(hparse("POST /x HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n65\r\n", &s), HTTP_ERROR);
    assert_int_equal(s, 413);
    assert_int_equal(hparse("POST /x HTTP/1.1\r\nContent-Length: 1\r\nContent-Length: 1\r\n\r\n", &s), HTTP_ERROR);
    assert_int_equal(hparse("POST /x HTTP/1.1\r\nA: b\r\n c\r\n\r\n", &s), HTTP_ERROR);
    assert_int_equal(hparse("POST /x HTTP/1.1\r\n\r\n", &s), HTTP_ERROR);
    assert_int_equal(s, 411);
    assert_int_equal(hparse("POST /x HTTP/2.0\r\n\r\n", &s), HTTP_ERROR);
    assert_int_equal(s, 505);
    assert_int_equal(hparse("POST /x HTTP/1.1\r\nTransfer-Encoding: gzip\r\n\r\n", &s), HTTP_ERROR);
    assert_int_equal(s, 501);
    char big[1024] = "POST /x HTTP/1.1\r\nX: ";
    memset(big + strlen(big), 'a', 600);
    assert_int_equal(hparse(big, &s), HTTP_ERROR);
    assert_int_equal(s, 431);
    assert_int_equal(hparse("POST /x HTTP/1.1\r\nContent-Length: 5\r\n\r\nab", &s), HTTP_MORE);
}

static void test_ratelimit(void **state)
{
    es_ratelimit *r = es_ratelimit_new(2, 3);
    assert_true(es_ratelimit_take(r, "a", 100.0));
    assert_true(es_ratelimit_take(r, "a", 100.0));
    assert_true(es_ratelimit_take(r, "a", 100.0));
    assert_false(es_ratelimit_take(r, "a", 100.0));
    assert_true(es_ratelimit_take(r, "b", 100.0));
    assert_true(es_ratelimit_take(r, "a", 100.5)); /* one token refilled */
    assert_false(es_ratelimit_take(r, "a", 100.5));
    es_ratelimit_free(r);
}

static void test_peer_match(void **state)
{
    net_cert_info ci;
    memset(&ci, 0, sizeof ci);
    snprintf(ci.subject, sizeof ci.subject, "CN=mno1,O=x");
    memset(ci.fingerprint, 'a', 64);
    snprintf(ci.san[0], sizeof ci.san[0], "mno1.example");
    ci.nsan = 1;
    char fp[200] = "";
    for (int i = 0; i < 32; i++)
        strcat(fp, i ? ":AA" : "AA");
    es_peer_entry e[] = {
        {.id = "1", .role = ES_ROLE_SMSR, .subject = "CN=other"},
        {.id = "2", .role = ES_ROLE_MNO, .fingerprint = fp, .san = "mno1.example"},
        {.id = "3", .role = ES_ROLE_EUM},
    };
    es_peer_list l = {e, 3};
    es_peer p;
    assert_true(es_peer_identify(&l, &ci, &p));
    assert_string_equal(p.id, "2");
    assert_int_equal(p.role, ES_ROLE_MNO);
    assert_false(es_peer_entry_matches(&e[2], &ci)); /* no criterion: never matches */
    ci.fingerprint[0] = 'b';
    assert_false(es_peer_identify(&l, &ci, &p));
    char id[64];
    assert_true(es_peer_from_entity("https://x/es2?EntityId=1.2.3", id, sizeof id));
    assert_string_equal(id, "1.2.3");
}

static void test_openapi_doc_current(void **state)
{
    char path[1024];
    testenv_path(path, sizeof path, "docs/openapi.json");
    FILE *f = fopen(path, "rb");
    assert_non_null(f);
    sm_buf file;
    sm_buf_init(&file);
    char chunk[4096];
    size_t n;
    while ((n = fread(chunk, 1, sizeof chunk, f)) > 0)
        sm_buf_append(&file, chunk, n);
    fclose(f);
    sm_buf gen;
    sm_buf_init(&gen);
    rest_openapi(&gen);
    assert_int_equal(gen.len, file.len);
    assert_memory_equal(gen.data, file.data, gen.len); /* regenerate: smctl es openapi > docs/openapi.json */
    sm_buf_free(&gen);
    sm_buf_free(&file);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_table),          cmocka_unit_test(test_soap_roundtrip),
        cmocka_unit_test(test_soap_status_and_errors), cmocka_unit_test(test_json_strict),
        cmocka_unit_test(test_http_parser),    cmocka_unit_test(test_ratelimit),
        cmocka_unit_test(test_peer_match),     cmocka_unit_test(test_openapi_doc_current),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
