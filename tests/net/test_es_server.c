/* net/ end to end: real mutual TLS on loopback with the server key in a SoftHSM2 token, a test PKI
 * made at run time, the ES server with a worker pool — good calls per interface, wrong roles, missing,
 * expired and untrusted certificates, malformed SOAP, XXE and billion laughs, an oversized streamed
 * body, slowloris, replays, rate limits, the asynchronous path, the REST binding. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>

#include "tests/support/nettest.h"

#define SOAP "application/soap+xml; charset=utf-8"
#define JSON "application/json"
#define EID "89001012012341234012345678901224"

static nettest N;
static int g_geteis_calls;
static pthread_mutex_t g_mu = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t g_cv = PTHREAD_COND_INITIALIZER;
static char g_cb_relates[256], g_cb_aid[64];
static int g_cb_count;

/* ---- test handlers -------------------------------------------------------------------------- */

static void h_geteis(es_call *c, void *arg)
{
    pthread_mutex_lock(&g_mu);
    g_geteis_calls++;
    pthread_mutex_unlock(&g_mu);
    const char *eid = es_str(c->in, "Eid");
    es_value *eis = es_add_struct(c->out, "Eis");
    es_value *si = es_add_struct(eis, "EumSignedInfo");
    es_add_str(si, "Eid", eid ? eid : "");
    es_add_str(eis, "Smsr-id", "1.3.6.1.4.1.99999.1.2");
    es_add_int(eis, "RemainingMemory", 123456);
}

static void h_ok(es_call *c, void *arg) {}

static void h_createisdp(es_call *c, void *arg)
{
    int64_t mem = 0;
    es_int(c->in, "RequiredMemory", &mem);
    if (mem > 1000000) {
        es_status_fail(&c->status, ES_SUBJ_EUICC, "4.8", "insufficient memory");
        return;
    }
    es_add_str(c->out, "Isd-p-aid", "A0000005591010FFFFFFFF8900001000");
}

static void h_createisdp_cb(es_call *c, void *arg)
{
    pthread_mutex_lock(&g_mu);
    snprintf(g_cb_relates, sizeof g_cb_relates, "%s", c->hdr.relates_to);
    const char *aid = es_str(c->in, "Isd-p-aid");
    snprintf(g_cb_aid, sizeof g_cb_aid, "%s", aid ? aid : "");
    g_cb_count++;
    pthread_cond_broadcast(&g_cv);
    pthread_mutex_unlock(&g_mu);
}

static void bind_all(es_server *s, void *arg)
{
    sm_err err = {0};
    const char *sync[] = {"ES1.RegisterEIS", "ES2.GetEIS", "ES3.GetEIS", "ES4.GetEIS"};
    for (size_t i = 0; i < 4; i++)
        if (es_server_bind(s, sync[i], ES_KIND_REQUEST, i ? h_geteis : h_ok, NULL, &err) != SM_OK)
            abort();
    es_server_bind(s, "ES7.HandleSMSRChangeNotification", ES_KIND_NOTIFICATION, h_ok, NULL, &err);
    es_server_bind(s, "ES3.CreateISDP", ES_KIND_REQUEST, h_createisdp, NULL, &err);
    es_server_bind(s, "ES3.CreateISDP", ES_KIND_RESPONSE, h_createisdp_cb, NULL, &err);
    assert_int_equal(es_server_bind(s, "ES2.NoSuchFunction", ES_KIND_REQUEST, h_ok, NULL, &err), SM_ENOTFOUND);
}

static int setup(void **state)
{
    nettest_opts o = {.rate = 20, .burst = 40, .request_timeout_s = 2, .max_body = 1 << 20};
    nettest_start(&N, &o, bind_all, NULL);
    return 0;
}

static int teardown(void **state)
{
    nettest_stop(&N);
    return 0;
}

/* ---- messages ------------------------------------------------------------------------------- */

static char *soap(const char *el, const char *fcid, const char *fields, const char *extra_hdr)
{
    char *b = malloc(8192);
    snprintf(b, 8192,
             "<?xml version=\"1.0\"?><s:Envelope xmlns:s=\"http://www.w3.org/2003/05/soap-envelope\" "
             "xmlns:wsa=\"http://www.w3.org/2005/08/addressing\" xmlns:rps=\"http://namespaces.gsma.org/esim-messaging/3\">"
             "<s:Header><wsa:MessageID>msg-%s</wsa:MessageID><wsa:Action>http://gsma.com/x/%s</wsa:Action>%s</s:Header>"
             "<s:Body><rps:%s><rps:FunctionCallIdentifier>%s</rps:FunctionCallIdentifier>%s</rps:%s></s:Body></s:Envelope>",
             fcid, el, extra_hdr ? extra_hdr : "", el, fcid, fields, el);
    return b;
}

static int audits(void)
{
    pthread_mutex_lock(&N.mu);
    int a = N.audits;
    pthread_mutex_unlock(&N.mu);
    return a;
}

static void expect_success(tresp *r)
{
    assert_int_equal(r->status, 200);
    assert_non_null(strstr(r->body, "EXECUTED_SUCCESS"));
}

/* ---- tests ------------------------------------------------------------------------------------ */

static void test_good_call_per_interface(void **state)
{
    char *m = soap("ES1-RegisterEISRequest", "t1", "<rps:Eis><rps:Smsr-id>1.3.6.1.4.1.99999.1.2</rps:Smsr-id></rps:Eis>", NULL);
    tresp r = nettest_post(&N, "eum", "/gsma/soap/es1", SOAP, m);
    expect_success(&r);
    assert_non_null(strstr(r.body, "ES1-RegisterEISResponse"));
    assert_non_null(strstr(r.body, "<wsa:RelatesTo>msg-t1</wsa:RelatesTo>"));
    tresp_free(&r);
    free(m);
    /* an EUM known by certificate subject rather than fingerprint */
    m = soap("ES1-RegisterEISRequest", "t1b", "<rps:Eis/>", NULL);
    r = nettest_post(&N, "eum2", "/gsma/soap/es1", SOAP, m);
    expect_success(&r);
    tresp_free(&r);
    free(m);

    m = soap("ES2-GetEISRequest", "t2", "<rps:Eid>" EID "</rps:Eid><rps:Smsr-id>1.2.3</rps:Smsr-id>", NULL);
    r = nettest_post(&N, "mno", "/gsma/soap/es2", SOAP, m);
    expect_success(&r);
    assert_non_null(strstr(r.body, "<rps:Eid>" EID "</rps:Eid>"));
    assert_non_null(strstr(r.body, "<rps:RemainingMemory>123456</rps:RemainingMemory>"));
    tresp_free(&r);
    free(m);

    m = soap("ES3-GetEISRequest", "t3", "<rps:Eid>" EID "</rps:Eid>", NULL);
    r = nettest_post(&N, "smdp", "/esim-messaging/3/ES3/ES3SmSrService", SOAP, m);
    expect_success(&r);
    tresp_free(&r);
    free(m);

    m = soap("ES4-GetEISRequest", "t4", "<rps:Eid>" EID "</rps:Eid>", NULL);
    r = nettest_post(&N, "mno", "/gsma/soap/es4", SOAP, m);
    expect_success(&r);
    tresp_free(&r);
    r = nettest_post(&N, "m2msp", "/gsma/soap/es4", SOAP, m);
    expect_success(&r);
    tresp_free(&r);
    free(m);

    const char *notif = "<?xml version=\"1.0\"?><s:Envelope xmlns:s=\"http://www.w3.org/2003/05/soap-envelope\" "
                        "xmlns:rps=\"http://namespaces.gsma.org/esim-messaging/3\"><s:Body><rps:ES7-HandleSMSRChangeNotification>"
                        "<rps:Eis/><rps:CompletionTimestamp>2024-01-01T00:00:00Z</rps:CompletionTimestamp>"
                        "</rps:ES7-HandleSMSRChangeNotification></s:Body></s:Envelope>";
    r = nettest_post(&N, "smsr", "/gsma/soap/es7", SOAP, notif);
    assert_int_equal(r.status, 202);
    tresp_free(&r);
}

static void test_wrong_role_per_interface(void **state)
{
    static const struct {
        const char *who, *path, *el, *fields;
    } cases[] = {
        {"mno", "/gsma/soap/es1", "ES1-RegisterEISRequest", "<rps:Eis/>"},
        {"smsr", "/gsma/soap/es2", "ES2-GetEISRequest", "<rps:Eid>" EID "</rps:Eid><rps:Smsr-id>1.2</rps:Smsr-id>"},
        {"mno", "/gsma/soap/es3", "ES3-GetEISRequest", "<rps:Eid>" EID "</rps:Eid>"},
        {"smdp", "/gsma/soap/es4", "ES4-GetEISRequest", "<rps:Eid>" EID "</rps:Eid>"},
        {"eum", "/gsma/soap/es7", "ES7-HandoverEUICCRequest", "<rps:Eis/>"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        int a0 = audits();
        char fcid[16];
        snprintf(fcid, sizeof fcid, "wr%zu", i);
        char *m = soap(cases[i].el, fcid, cases[i].fields, NULL);
        tresp r = nettest_post(&N, cases[i].who, cases[i].path, SOAP, m);
        assert_int_equal(r.status, 200);
        assert_non_null(strstr(r.body, "<rps:Status>FAILED</rps:Status>"));
        assert_non_null(strstr(r.body, "<rps:Subject>1.1</rps:Subject><rps:Reason>1.2</rps:Reason>"));
        assert_int_equal(audits(), a0 + 1);
        tresp_free(&r);
        free(m);
    }
    /* a trusted certificate that is in no es.peers entry: unknown requester */
    int a0 = audits();
    char *m = soap("ES2-GetEISRequest", "unk", "<rps:Eid>" EID "</rps:Eid><rps:Smsr-id>1.2</rps:Smsr-id>", NULL);
    tresp r = nettest_post(&N, "unknown", "/gsma/soap/es2", SOAP, m);
    assert_int_equal(r.status, 200);
    assert_non_null(strstr(r.body, "<rps:Subject>1.1</rps:Subject><rps:Reason>1.1</rps:Reason>"));
    assert_int_equal(audits(), a0 + 1);
    tresp_free(&r);
    /* wsa:From naming another entity than the certificate */
    free(m);
    m = soap("ES2-GetEISRequest", "spoof", "<rps:Eid>" EID "</rps:Eid><rps:Smsr-id>1.2</rps:Smsr-id>",
             "<wsa:From><wsa:Address>https://x/?EntityId=1.3.6.1.4.1.99999.10</wsa:Address></wsa:From>");
    r = nettest_post(&N, "mno", "/gsma/soap/es2", SOAP, m);
    assert_non_null(strstr(r.body, "<rps:Subject>1.1</rps:Subject><rps:Reason>1.2</rps:Reason>"));
    tresp_free(&r);
    free(m);
}

static void test_bad_certificates(void **state)
{
    char *m = soap("ES2-GetEISRequest", "nc", "<rps:Eid>" EID "</rps:Eid><rps:Smsr-id>1.2</rps:Smsr-id>", NULL);
    int before = g_geteis_calls;
    const char *who[] = {NULL, "expired", "untrusted"};
    for (int i = 0; i < 3; i++) {
        tresp r = nettest_post(&N, who[i], "/gsma/soap/es2", SOAP, m);
        assert_int_equal(r.status, -1);
        tresp_free(&r);
    }
    assert_int_equal(g_geteis_calls, before);
    free(m);
}

static void test_malformed_and_hostile_xml(void **state)
{
    tresp r = nettest_post(&N, "mno", "/gsma/soap/es2", SOAP, "<s:Envelope xmlns:s='http://www.w3.org/2003/05/soap-envelope'><s:Body>");
    assert_int_equal(r.status, 400);
    assert_non_null(strstr(r.body, "soap:Fault"));
    assert_non_null(strstr(r.body, "soap:Sender"));
    tresp_free(&r);
    r = nettest_post(&N, "mno", "/gsma/soap/es2", SOAP, "<Envelope xmlns='http://schemas.xmlsoap.org/soap/envelope/'><Body/></Envelope>");
    assert_int_equal(r.status, 400);
    assert_non_null(strstr(r.body, "VersionMismatch"));
    tresp_free(&r);
    /* a known function of another interface on this endpoint */
    char *m = soap("ES3-GetEISRequest", "x1", "<rps:Eid>" EID "</rps:Eid>", NULL);
    r = nettest_post(&N, "mno", "/gsma/soap/es2", SOAP, m);
    assert_int_equal(r.status, 400);
    tresp_free(&r);
    free(m);
    /* a missing mandatory field: GSMA status naming it */
    m = soap("ES2-GetEISRequest", "x2", "<rps:Eid>" EID "</rps:Eid>", NULL);
    r = nettest_post(&N, "mno", "/gsma/soap/es2", SOAP, m);
    assert_int_equal(r.status, 200);
    assert_non_null(strstr(r.body, "<rps:Reason>2.2</rps:Reason>"));
    assert_non_null(strstr(r.body, "Smsr-id"));
    tresp_free(&r);
    free(m);

    const char *xxe = "<?xml version=\"1.0\"?><!DOCTYPE s:Envelope [<!ENTITY x SYSTEM \"file:///etc/passwd\">]>"
                      "<s:Envelope xmlns:s=\"http://www.w3.org/2003/05/soap-envelope\" xmlns:rps=\"http://namespaces.gsma.org/esim-messaging/3\">"
                      "<s:Body><rps:ES2-GetEISRequest><rps:FunctionCallIdentifier>&x;</rps:FunctionCallIdentifier>"
                      "</rps:ES2-GetEISRequest></s:Body></s:Envelope>";
    r = nettest_post(&N, "mno", "/gsma/soap/es2", SOAP, xxe);
    assert_int_equal(r.status, 400);
    assert_non_null(strstr(r.body, "DTD"));
    assert_null(strstr(r.body, "root:"));
    tresp_free(&r);
    const char *lol = "<?xml version=\"1.0\"?><!DOCTYPE l [<!ENTITY a \"aaaaaaaaaa\"><!ENTITY b \"&a;&a;&a;&a;&a;&a;&a;&a;&a;&a;\">"
                      "<!ENTITY c \"&b;&b;&b;&b;&b;&b;&b;&b;&b;&b;\"><!ENTITY d \"&c;&c;&c;&c;&c;&c;&c;&c;&c;&c;\">]>"
                      "<s:Envelope xmlns:s=\"http://www.w3.org/2003/05/soap-envelope\"><s:Body>&d;&d;&d;&d;</s:Body></s:Envelope>";
    r = nettest_post(&N, "mno", "/gsma/soap/es2", SOAP, lol);
    assert_int_equal(r.status, 400);
    assert_non_null(strstr(r.body, "soap:Fault"));
    tresp_free(&r);
    /* an entity reference without any DTD */
    r = nettest_post(&N, "mno", "/gsma/soap/es2", SOAP,
                     "<s:Envelope xmlns:s=\"http://www.w3.org/2003/05/soap-envelope\"><s:Body>&x;</s:Body></s:Envelope>");
    assert_int_equal(r.status, 400);
    tresp_free(&r);
    /* nesting beyond the limit */
    char deep[4096] = "<s:Envelope xmlns:s=\"http://www.w3.org/2003/05/soap-envelope\"><s:Body>";
    for (int i = 0; i < 40; i++)
        strcat(deep, "<a>");
    for (int i = 0; i < 40; i++)
        strcat(deep, "</a>");
    strcat(deep, "</s:Body></s:Envelope>");
    r = nettest_post(&N, "mno", "/gsma/soap/es2", SOAP, deep);
    assert_int_equal(r.status, 413);
    tresp_free(&r);
}

static void test_expect_continue(void **state)
{
    /* a client waiting for "100 Continue" gets it once the headers are accepted, then its answer */
    tconn *c = nettest_connect(&N, "mno");
    assert_non_null(c);
    char *m = soap("ES2-GetEISRequest", "cont-1", "<rps:Eid>" EID "</rps:Eid><rps:Smsr-id>1.2</rps:Smsr-id>", NULL);
    char head[256];
    snprintf(head, sizeof head, "POST /gsma/soap/es2 HTTP/1.1\r\nHost: x\r\nExpect: 100-continue\r\n"
                                "Content-Length: %zu\r\n\r\n", strlen(m));
    assert_true(tconn_write(c, head, strlen(head)) > 0);
    tresp r = tconn_read(c, 10);
    assert_int_equal(r.status, 100);
    tresp_free(&r);
    assert_true(tconn_write(c, m, strlen(m)) > 0);
    r = tconn_read(c, 10);
    expect_success(&r);
    tresp_free(&r);
    tconn_close(c);
    free(m);
}

static void test_huge_body_refused_early(void **state)
{
    tconn *c = nettest_connect(&N, "mno");
    assert_non_null(c);
    const char *head = "POST /gsma/soap/es2 HTTP/1.1\r\nHost: x\r\nContent-Type: application/soap+xml\r\n"
                       "Content-Length: 104857600\r\n\r\n";
    assert_true(tconn_write(c, head, strlen(head)) > 0);
    /* the answer comes from the headers alone */
    tresp r = tconn_read(c, 15);
    assert_int_equal(r.status, 413);
    tresp_free(&r);
    /* and the server stops listening soon: far less than 100 MB can be pushed */
    static char chunk[65536];
    memset(chunk, 'A', sizeof chunk);
    long total = 0;
    for (int i = 0; i < 1600; i++) {
        long w = tconn_write(c, chunk, sizeof chunk);
        if (w <= 0)
            break;
        total += w;
    }
    assert_true(total < 100L * 1024 * 1024);
    tconn_close(c);
    /* chunked: refused once the chunks pass the limit */
    c = nettest_connect(&N, "mno");
    assert_non_null(c);
    const char *h2 = "POST /gsma/soap/es2 HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n";
    tconn_write(c, h2, strlen(h2));
    char sz[32];
    snprintf(sz, sizeof sz, "%zx\r\n", sizeof chunk);
    for (int i = 0; i < 20; i++) {
        if (tconn_write(c, sz, strlen(sz)) <= 0 || tconn_write(c, chunk, sizeof chunk) <= 0 || tconn_write(c, "\r\n", 2) <= 0)
            break;
    }
    r = tconn_read(c, 15);
    assert_int_equal(r.status, 413);
    tresp_free(&r);
    tconn_close(c);
}

static void test_slowloris(void **state)
{
    tconn *c = nettest_connect(&N, "mno2");
    assert_non_null(c);
    const char *part = "POST /gsma/soap/es2 HTTP/1.1\r\nHost: x\r\nX-Slow: ";
    tconn_write(c, part, strlen(part));
    /* drip a byte a second: the request deadline (2 s) ends it, whatever the idle timeout */
    tresp r = {.status = -2};
    for (int i = 0; i < 20; i++) {
        if (tconn_write(c, "a", 1) <= 0)
            break;
        r = tconn_read(c, 1);
        if (r.status != -2)
            break;
    }
    assert_int_equal(r.status, 408);
    tresp_free(&r);
    tconn_close(c);
}

static void test_replay(void **state)
{
    char *m = soap("ES2-GetEISRequest", "replay-1", "<rps:Eid>" EID "</rps:Eid><rps:Smsr-id>1.2</rps:Smsr-id>", NULL);
    int before = g_geteis_calls;
    tresp r1 = nettest_post(&N, "mno", "/gsma/soap/es2", SOAP, m);
    tresp r2 = nettest_post(&N, "mno", "/gsma/soap/es2", SOAP, m);
    expect_success(&r1);
    expect_success(&r2);
    assert_int_equal(g_geteis_calls, before + 1);
    assert_non_null(strstr(r2.body, "<rps:Eid>" EID "</rps:Eid>"));
    tresp_free(&r1);
    tresp_free(&r2);
    /* the same call id from another requester is another call */
    tresp r3 = nettest_post(&N, "mno2", "/gsma/soap/es2", SOAP, m);
    expect_success(&r3);
    assert_int_equal(g_geteis_calls, before + 2);
    tresp_free(&r3);
    free(m);
    /* the same call id reused for another function */
    m = soap("ES4-GetEISRequest", "replay-1", "<rps:Eid>" EID "</rps:Eid>", NULL);
    tresp r4 = nettest_post(&N, "mno", "/gsma/soap/es4", SOAP, m);
    assert_non_null(strstr(r4.body, "<rps:Reason>3.3</rps:Reason>"));
    tresp_free(&r4);
    free(m);
}

static void test_unsupported_function(void **state)
{
    char *m = soap("ES2-UpdatePolicyRulesRequest", "ns1",
                   "<rps:Eid>" EID "</rps:Eid><rps:Iccid>8988299000000000014</rps:Iccid><rps:Smsr-id>1.2</rps:Smsr-id>", NULL);
    tresp r = nettest_post(&N, "mno", "/gsma/soap/es2", SOAP, m);
    assert_int_equal(r.status, 200);
    assert_non_null(strstr(r.body, "<rps:Status>FAILED</rps:Status>"));
    assert_non_null(strstr(r.body, "<rps:Subject>1.6</rps:Subject><rps:Reason>3.1</rps:Reason>"));
    tresp_free(&r);
    free(m);
    /* an asynchronous function without handler is refused at once, never accepted */
    m = soap("ES2-DownloadProfileRequest", "ns2",
             "<rps:Eid>" EID "</rps:Eid><rps:SmSr-id>1.2</rps:SmSr-id><rps:EnableProfile>true</rps:EnableProfile>", NULL);
    r = nettest_post(&N, "mno", "/gsma/soap/es2", SOAP, m);
    assert_int_equal(r.status, 200);
    assert_non_null(strstr(r.body, "<rps:Reason>3.1</rps:Reason>"));
    tresp_free(&r);
    free(m);
}

static void test_rate_limit(void **state)
{
    tconn *c = nettest_connect(&N, "smsr2");
    assert_non_null(c);
    char *m = soap("ES7-HandoverEUICCRequest", "rl", "<rps:Eis/>", NULL);
    int limited = 0, n = 0;
    for (; n < 200 && !limited; n++) {
        tresp r = tconn_post(c, "/gsma/soap/es7", SOAP, m);
        if (r.status == 429)
            limited = 1;
        else
            assert_int_equal(r.status, 200);
        tresp_free(&r);
    }
    assert_true(limited);
    assert_true(n > 20); /* the burst passed first */
    tconn_close(c);
    free(m);
    /* another identity is not affected */
    m = soap("ES3-GetEISRequest", "rl2", "<rps:Eid>" EID "</rps:Eid>", NULL);
    tresp r = nettest_post(&N, "smdp", "/gsma/soap/es3", SOAP, m);
    expect_success(&r);
    tresp_free(&r);
    free(m);
}

static int wait_callback(int want)
{
    struct timespec dl;
    clock_gettime(CLOCK_REALTIME, &dl);
    dl.tv_sec += 20;
    pthread_mutex_lock(&g_mu);
    while (g_cb_count < want)
        if (pthread_cond_timedwait(&g_cv, &g_mu, &dl) != 0)
            break;
    int n = g_cb_count;
    pthread_mutex_unlock(&g_mu);
    return n;
}

static void test_async_path(void **state)
{
    char hdr[256];
    snprintf(hdr, sizeof hdr, "<wsa:ReplyTo><wsa:Address>https://127.0.0.1:%d/gsma/soap/es3</wsa:Address></wsa:ReplyTo>", N.port);
    char *m = soap("ES3-CreateISDPRequest", "async-1",
                   "<rps:Eid>" EID "</rps:Eid><rps:Iccid>8988299000000000014</rps:Iccid><rps:Mno-id>1.2.3</rps:Mno-id>"
                   "<rps:RequiredMemory>65536</rps:RequiredMemory>",
                   hdr);
    int before = g_cb_count;
    tresp r = nettest_post(&N, "smdp", "/gsma/soap/es3", SOAP, m);
    assert_int_equal(r.status, 202);
    assert_int_equal(r.len, 0);
    tresp_free(&r);
    /* the response is delivered to ReplyTo by the client (mutual TLS with the HSM key) */
    assert_int_equal(wait_callback(before + 1), before + 1);
    pthread_mutex_lock(&g_mu);
    assert_string_equal(g_cb_relates, "msg-async-1");
    assert_string_equal(g_cb_aid, "A0000005591010FFFFFFFF8900001000");
    pthread_mutex_unlock(&g_mu);
    free(m);
}

static void test_rest(void **state)
{
    const char *req = "{\"header\":{\"functionCallIdentifier\":\"rest-1\",\"validityPeriod\":60},"
                      "\"body\":{\"Eid\":\"" EID "\",\"Smsr-id\":\"1.2.3\"}}";
    tresp r = nettest_post(&N, "mno", "/gsma/rest/es2/GetEIS", JSON, req);
    assert_int_equal(r.status, 200);
    assert_non_null(strstr(r.body, "\"status\":\"Executed-Success\""));
    assert_non_null(strstr(r.body, "\"Eid\":\"" EID "\""));
    tresp_free(&r);
    /* wrong role */
    r = nettest_post(&N, "smdp", "/gsma/rest/es2/GetEIS", JSON, req);
    assert_int_equal(r.status, 403);
    assert_non_null(strstr(r.body, "\"subjectCode\":\"1.1\",\"reasonCode\":\"1.2\""));
    tresp_free(&r);
    /* malformed JSON, bad field, unknown function, missing mandatory */
    r = nettest_post(&N, "mno", "/gsma/rest/es2/GetEIS", JSON, "{\"header\":{,}");
    assert_int_equal(r.status, 400);
    assert_non_null(strstr(r.body, "\"reasonCode\":\"2.1\""));
    tresp_free(&r);
    r = nettest_post(&N, "mno", "/gsma/rest/es2/GetEIS", JSON,
                     "{\"header\":{\"functionCallIdentifier\":\"rest-2\"},\"body\":{\"Eid\":\"XYZ\",\"Smsr-id\":\"1.2\"}}");
    assert_int_equal(r.status, 400);
    assert_non_null(strstr(r.body, "Eid"));
    tresp_free(&r);
    r = nettest_post(&N, "mno", "/gsma/rest/es2/NoSuch", JSON, req);
    assert_int_equal(r.status, 404);
    tresp_free(&r);
    r = nettest_post(&N, "mno", "/gsma/rest/es2/GetEIS", JSON,
                     "{\"header\":{\"functionCallIdentifier\":\"rest-3\"},\"body\":{\"Eid\":\"" EID "\"}}");
    assert_int_equal(r.status, 400);
    assert_non_null(strstr(r.body, "\"reasonCode\":\"2.2\""));
    tresp_free(&r);
    /* replay over REST */
    int before = g_geteis_calls;
    r = nettest_post(&N, "mno", "/gsma/rest/es2/GetEIS", JSON, req);
    assert_int_equal(r.status, 200);
    assert_int_equal(g_geteis_calls, before);
    tresp_free(&r);
    /* async over REST: the callback arrives as JSON at the peer's endpoint (ReplyTo here) */
    char body[1024];
    snprintf(body, sizeof body,
             "{\"header\":{\"functionCallIdentifier\":\"rest-async\",\"messageId\":\"rest-msg-1\",\"replyTo\":"
             "\"https://127.0.0.1:%d/gsma/rest/es3/CreateISDPResponse\"},\"body\":{\"Eid\":\"" EID "\",\"Iccid\":"
             "\"8988299000000000014\",\"Mno-id\":\"1.2.3\",\"RequiredMemory\":100}}",
             N.port);
    int cb0 = g_cb_count;
    r = nettest_post(&N, "smdp", "/gsma/rest/es3/CreateISDP", JSON, body);
    assert_int_equal(r.status, 202);
    tresp_free(&r);
    assert_int_equal(wait_callback(cb0 + 1), cb0 + 1);
    pthread_mutex_lock(&g_mu);
    assert_string_equal(g_cb_relates, "rest-msg-1");
    pthread_mutex_unlock(&g_mu);
    /* a no-body error for a non-POST */
    tconn *c = nettest_connect(&N, "mno");
    const char *get = "GET /gsma/rest/es2/GetEIS HTTP/1.1\r\nHost: x\r\n\r\n";
    tconn_write(c, get, strlen(get));
    r = tconn_read(c, 10);
    assert_int_equal(r.status, 405);
    tresp_free(&r);
    tconn_close(c);
}

static void test_async_to_configured_endpoint(void **state)
{
    /* no ReplyTo: the response goes to the caller's configured endpoint (<endpoint>/gsma/soap/es3) */
    char *m = soap("ES3-CreateISDPRequest", "async-ep",
                   "<rps:Eid>" EID "</rps:Eid><rps:Iccid>8988299000000000014</rps:Iccid><rps:Mno-id>1.2.3</rps:Mno-id>"
                   "<rps:RequiredMemory>5000000</rps:RequiredMemory>",
                   NULL);
    int before = g_cb_count;
    tresp r = nettest_post(&N, "smdp", "/gsma/soap/es3", SOAP, m);
    assert_int_equal(r.status, 202);
    tresp_free(&r);
    assert_int_equal(wait_callback(before + 1), before + 1);
    pthread_mutex_lock(&g_mu);
    assert_string_equal(g_cb_relates, "msg-async-ep");
    assert_string_equal(g_cb_aid, ""); /* the handler's Failed status (8.1/4.8) went back, without an AID */
    pthread_mutex_unlock(&g_mu);
    free(m);
}

typedef struct reload_arg {
    es_peer_list l;
    int done;
} reload_arg;

static void do_reload(evutil_socket_t fd, short what, void *arg)
{
    reload_arg *ra = arg;
    sm_err err = {0};
    es_server_set_peers(N.srv, &ra->l, &err);
    pthread_mutex_lock(&g_mu);
    ra->done = 1;
    pthread_cond_broadcast(&g_cv);
    pthread_mutex_unlock(&g_mu);
}

static void reload_on_loop(reload_arg *ra)
{
    ra->done = 0;
    struct timeval tv = {0, 0};
    event_base_once(N.base, -1, EV_TIMEOUT, do_reload, ra, &tv);
    pthread_mutex_lock(&g_mu);
    while (!ra->done)
        pthread_cond_wait(&g_cv, &g_mu);
    pthread_mutex_unlock(&g_mu);
}

static void test_peers_reload(void **state)
{
    /* mno2 is dropped from es.peers: its open keep-alive connection is unknown from its next request */
    tconn *c = nettest_connect(&N, "mno2");
    assert_non_null(c);
    char *m = soap("ES2-GetEISRequest", "reload-1", "<rps:Eid>" EID "</rps:Eid><rps:Smsr-id>1.2</rps:Smsr-id>", NULL);
    tresp r = tconn_post(c, "/gsma/soap/es2", SOAP, m);
    expect_success(&r);
    tresp_free(&r);
    es_peer_entry saved[16];
    size_t n = N.sc.peers.n, k = 0;
    memcpy(saved, N.peers, n * sizeof saved[0]);
    reload_arg ra;
    es_peer_entry without[16];
    for (size_t i = 0; i < n; i++)
        if (strcmp(saved[i].id, "1.3.6.1.4.1.99999.10"))
            without[k++] = saved[i];
    ra.l = (es_peer_list){without, k};
    reload_on_loop(&ra);
    free(m);
    m = soap("ES2-GetEISRequest", "reload-2", "<rps:Eid>" EID "</rps:Eid><rps:Smsr-id>1.2</rps:Smsr-id>", NULL);
    r = tconn_post(c, "/gsma/soap/es2", SOAP, m);
    assert_int_equal(r.status, 200);
    assert_non_null(strstr(r.body, "<rps:Subject>1.1</rps:Subject><rps:Reason>1.1</rps:Reason>"));
    tresp_free(&r);
    tconn_close(c);
    ra.l = (es_peer_list){saved, n};
    reload_on_loop(&ra);
    r = nettest_post(&N, "mno2", "/gsma/soap/es2", SOAP, m);
    expect_success(&r);
    tresp_free(&r);
    free(m);
}

static void test_client(void **state)
{
    es_client *c = es_server_client(N.srv);
    char url[128];
    snprintf(url, sizeof url, "https://127.0.0.1:%d/gsma/soap/es7", N.port);
    es_msg m = {.fn = es_function_by_qname("ES7.HandleSMSRChangeNotification"), .kind = ES_KIND_NOTIFICATION};
    m.body = es_struct_new();
    es_add_struct(m.body, "Eis");
    es_add_str(m.body, "CompletionTimestamp", "2024-01-01T00:00:00Z");
    snprintf(m.hdr.message_id, sizeof m.hdr.message_id, "client-n1");
    es_client_stats s0, s1;
    es_client_get_stats(c, &s0);
    es_msg ans;
    int http = 0;
    sm_err err = {0};
    /* mutual TLS with the HSM key; the server certificate checked against the expected peer */
    assert_int_equal(es_client_call(c, url, "1.3.6.1.4.1.99999.3", ES_BIND_SOAP, &m, &ans, &http, &err), SM_OK);
    assert_int_equal(http, 202);
    snprintf(m.hdr.message_id, sizeof m.hdr.message_id, "client-n2");
    assert_int_equal(es_client_call(c, url, "1.3.6.1.4.1.99999.3", ES_BIND_SOAP, &m, &ans, &http, &err), SM_OK);
    es_client_get_stats(c, &s1);
    assert_true(s1.reused >= s0.reused + 1); /* the second call reused the kept-alive connection */
    es_msg_clear(&m);

    /* a synchronous call: the answer is decoded (here a refusal: the appliance as SM-SR may not call ES3.GetEIS) */
    es_msg g = {.fn = es_function_by_qname("ES3.GetEIS"), .kind = ES_KIND_REQUEST};
    g.body = es_struct_new();
    es_add_str(g.body, "Eid", EID);
    snprintf(g.hdr.fcid, sizeof g.hdr.fcid, "client-g1");
    snprintf(g.hdr.message_id, sizeof g.hdr.message_id, "client-g1");
    snprintf(url, sizeof url, "https://127.0.0.1:%d/gsma/soap/es3", N.port);
    assert_int_equal(es_client_call(c, url, NULL, ES_BIND_SOAP, &g, &ans, &http, &err), SM_OK);
    assert_ptr_equal(ans.fn, g.fn);
    assert_int_equal(ans.kind, ES_KIND_RESPONSE);
    assert_int_equal(ans.status.exec, ES_EXEC_FAILED);
    assert_string_equal(ans.status.reason, "1.2");
    assert_string_equal(ans.hdr.relates_to, "client-g1");
    es_msg_clear(&ans);

    /* the server is not the peer we meant: refused before anything is sent */
    sm_err_clear(&err);
    assert_int_equal(es_client_call(c, url, "1.3.6.1.4.1.99999.7", ES_BIND_SOAP, &g, &ans, &http, &err), SM_EPERM);
    assert_non_null(strstr(err.msg, "expected peer"));

    /* nobody listening: retried with back-off, then failed */
    es_client_get_stats(c, &s0);
    snprintf(url, sizeof url, "https://127.0.0.1:1/gsma/soap/es3");
    sm_err_clear(&err);
    assert_int_not_equal(es_client_call(c, url, NULL, ES_BIND_SOAP, &g, &ans, &http, &err), SM_OK);
    es_client_get_stats(c, &s1);
    assert_int_equal(s1.retried, s0.retried + 2); /* client_retries = 2 in the test set-up */
    es_msg_clear(&g);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_good_call_per_interface),
        cmocka_unit_test(test_wrong_role_per_interface),
        cmocka_unit_test(test_bad_certificates),
        cmocka_unit_test(test_malformed_and_hostile_xml),
        cmocka_unit_test(test_expect_continue),
        cmocka_unit_test(test_huge_body_refused_early),
        cmocka_unit_test(test_slowloris),
        cmocka_unit_test(test_replay),
        cmocka_unit_test(test_unsupported_function),
        cmocka_unit_test(test_async_path),
        cmocka_unit_test(test_async_to_configured_endpoint),
        cmocka_unit_test(test_client),
        cmocka_unit_test(test_peers_reload),
        cmocka_unit_test(test_rest),
        cmocka_unit_test(test_rate_limit),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
