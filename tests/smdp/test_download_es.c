/* The SM-DP's ES side over real mutual TLS: ES2.DownloadProfile from the MNO (SOAP and REST; a repeated
 * FunctionCallIdentifier starts nothing; a request without Iccid and ProfileType fails 1.6/2.3), the
 * ES2.ImportOrder extension (the MNO's own order in, its MNO file back; another MNO's order refused with
 * nothing stored), the ES4.DownloadProfile extension for the eUICC owner (and refused for anyone else),
 * the ES3 notification relayed to the MNO over ES2, and the remote SM-SR path: the same download with
 * the SM-SR double behind a second HTTPS server (its own certificate, our SM-DP identified by ours). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "appliance/smdp/dl_repo.h"
#include "tests/smdp/dl_fixture.h"

#define SOAP "application/soap+xml; charset=utf-8"
#define JSONT "application/json"
#define REMOTE_SR "1.3.6.1.4.1.99999.20"

/* ---- the remote SM-SR: a second ES server with its own certificate, on its own loop ------------------ */

static struct {
    struct event_base *base;
    sm_workers *workers;
    net_tls *tls;
    es_server *srv;
    pthread_t loop;
    char url[64];
    char fp[65];
} B;

static void *b_loop(void *arg)
{
    event_base_loop(B.base, EVLOOP_NO_EXIT_ON_EMPTY);
    return NULL;
}

typedef struct bx {
    void (*job)(void *, void *);
    void (*done)(void *);
    void *arg;
} bx;

static void bx_run(sm_worker *w, void *a)
{
    bx *x = a;
    x->job(w, x->arg);
}

static void bx_done(void *a)
{
    bx *x = a;
    x->done(x->arg);
    free(x);
}

static sm_rc b_submit(void *ctx, void (*job)(void *, void *), void (*done)(void *), void *arg)
{
    bx *x = malloc(sizeof *x);
    *x = (bx){job, done, arg};
    sm_rc rc = sm_workers_submit(ctx, bx_run, bx_done, x);
    if (rc != SM_OK)
        free(x);
    return rc;
}

static void remote_start(void)
{
    assert_int_equal(testpki_issue(&N.pki, "srb", "smsr-b", "IP:127.0.0.1,DNS:localhost", NULL, 0, 30, 0), 0);
    testpki_fingerprint(&N.pki, "srb", B.fp);
    char cert[400], key[400];
    testpki_path(&N.pki, "srb", "crt", cert, sizeof cert);
    testpki_path(&N.pki, "srb", "key", key, sizeof key);
    sm_err err = {0};
    net_tls_config tc = {.cert_file = cert, .ca_file = N.pki.ca_file, .dev_key_file = key};
    assert_int_equal(net_tls_new(&tc, &B.tls, &err), SM_OK);
    B.base = event_base_new();
    assert_int_equal(sm_workers_start(B.base, N.hsm, 1, NULL, 0, 0, &B.workers, &err), SM_OK);
    /* it knows our SM-DP by our server certificate; its answers go back to our endpoint */
    static char our_ep[64];
    snprintf(our_ep, sizeof our_ep, "https://127.0.0.1:%d", N.port);
    static es_peer_entry bp[1];
    bp[0] = (es_peer_entry){.id = OUR_DP, .role = ES_ROLE_SMDP, .fingerprint = N.server_fp, .endpoint = our_ep};
    es_server_config sc = {.listen = "127.0.0.1:0", .tls = B.tls, .peers = {bp, 1}, .max_body_bytes = 1u << 20,
                           .max_header_bytes = 8192, .max_xml_depth = 32, .max_xml_nodes = 20000,
                           .rate_per_second = 1000, .rate_burst = 1000, .idle_timeout_s = 30, .request_timeout_s = 30,
                           .handshake_timeout_s = 10, .max_conns = 64, .handshake_threads = 1,
                           .public_url = "https://127.0.0.1", .smdp_id = "1.3.6.1.4.1.99999.21",
                           .smsr_id = REMOTE_SR, .client_timeout_s = 10, .client_retries = 1,
                           .client_backoff_ms = 100, .exec = {b_submit, B.workers}};
    assert_int_equal(es_server_start(B.base, &sc, &B.srv, &err), SM_OK);
    bind_sr_double(B.srv);
    snprintf(B.url, sizeof B.url, "https://127.0.0.1:%d", es_server_port(B.srv));
    pthread_create(&B.loop, NULL, b_loop, NULL);
    /* our side: the remote SM-SR in es.peers (its certificate, its endpoint), in our trust list too */
    es_peer_entry peers[20];
    size_t np = 0;
    for (size_t i = 0; i < N.sc.peers.n && np < 19; i++)
        peers[np++] = N.sc.peers.v[i];
    peers[np++] = (es_peer_entry){.id = REMOTE_SR, .role = ES_ROLE_SMSR, .fingerprint = B.fp, .endpoint = B.url};
    es_peer_list l = {peers, np};
    assert_int_equal(es_server_set_peers(N.srv, &l, &err), SM_OK);
    snprintf(X.peers[X.npeers].id, sizeof X.peers[0].id, REMOTE_SR);
    snprintf(X.peers[X.npeers].endpoint, sizeof X.peers[0].endpoint, "%s", B.url);
    X.npeers++;
}

static void remote_stop(void)
{
    event_base_loopbreak(B.base);
    pthread_join(B.loop, NULL);
    es_server_stop(B.srv, 2);
    sm_workers_stop(B.workers);
    event_base_free(B.base);
    net_tls_free(B.tls);
}

/* ES4.DownloadProfile ownership: the M2M SP owns EID, nobody owns anything else */
static sm_rc owner_of(db_conn *c, const char *eid, const char *caller, void *arg, sm_err *err)
{
    if (strcmp(eid, EID))
        return sm_errf(err, SM_ENOTFOUND, "unknown EID");
    return strcmp(caller, M2MSP) ? sm_errf(err, SM_EPERM, "not the owner") : SM_OK;
}

static int setup(void **state)
{
    if (dl_setup(65536) != 0)
        return -1;
    X.owner = owner_of;
    remote_start();
    return 0;
}

static int teardown(void **state)
{
    remote_stop();
    return dl_teardown();
}

static char *soap(const char *el, const char *fcid, const char *fields)
{
    char *b = malloc(8192);
    snprintf(b, 8192,
             "<s:Envelope xmlns:s=\"http://www.w3.org/2003/05/soap-envelope\" xmlns:wsa=\"http://www.w3.org/2005/08/addressing\" "
             "xmlns:rps=\"http://namespaces.gsma.org/esim-messaging/3\"><s:Header><wsa:MessageID>msg-%s</wsa:MessageID>"
             "</s:Header><s:Body><rps:%s><rps:FunctionCallIdentifier>%s</rps:FunctionCallIdentifier>"
             "<rps:ValidityPeriod>600</rps:ValidityPeriod>%s</rps:%s></s:Body></s:Envelope>",
             fcid, el, fcid, fields, el);
    return b;
}

static int64_t proc_of_call(const char *requester, const char *fcid)
{
    db_conn *c = conn();
    int64_t id = 0;
    sm_err err = {0};
    assert_int_equal(dp_dl_find_call(c, requester, fcid, &id, &err), SM_OK);
    db_pool_give(c);
    return id;
}

static void test_es2_download_soap_and_replay(void **state)
{
    reset_world();
    order("ES-SOAP", "89000123456789202348", 1);
    char *m = soap("ES2-DownloadProfileRequest", "es2-soap-1",
                   "<rps:Eid>" EID "</rps:Eid><rps:SmSr-id>" OUR_SR "</rps:SmSr-id><rps:ProfileType>ES-SOAP"
                   "</rps:ProfileType><rps:EnableProfile>true</rps:EnableProfile>");
    tresp r = nettest_post(&N, "mno", "/gsma/soap/es2", SOAP, m);
    assert_int_equal(r.status, 202);
    tresp_free(&r);
    /* the same FunctionCallIdentifier again: accepted again, nothing new started */
    r = nettest_post(&N, "mno", "/gsma/soap/es2", SOAP, m);
    assert_int_equal(r.status, 202);
    tresp_free(&r);
    free(m);
    assert_int_equal(sql_long("SELECT count(*) FROM dp_download WHERE call_id = 'es2-soap-1'"), 1);
    int64_t id = proc_of_call(MNO, "es2-soap-1");
    assert_true(id > 0);
    drive(&id, 1, 200);
    assert_true(CARD.installed && CARD.enabled);
    final_answer fa = final_of("ES2.DownloadProfileResponse", "msg-es2-soap-1");
    assert_true(fa.found);
    assert_int_equal(fa.st.exec, ES_EXEC_SUCCESS);
    assert_string_equal(fa.iccid, "89000123456789202348");
}

static void test_es2_download_rest_refusals(void **state)
{
    reset_world();
    const char *body = "{\"header\":{\"functionCallIdentifier\":\"es2-rest-1\",\"messageId\":\"msg-es2-rest-1\"},"
                       "\"body\":{\"Eid\":\"" EID "\",\"SmSr-id\":\"" OUR_SR "\",\"EnableProfile\":false}}";
    tresp r = nettest_post(&N, "mno", "/gsma/rest/es2/DownloadProfile", JSONT, body);
    assert_int_equal(r.status, 202);
    tresp_free(&r);
    final_answer fa = final_of("ES2.DownloadProfileResponse", "msg-es2-rest-1");
    assert_true(fa.found);
    assert_int_equal(fa.st.exec, ES_EXEC_FAILED);
    assert_string_equal(fa.st.subject, "1.6");
    assert_string_equal(fa.st.reason, "2.3");
    /* an SM-SR this SM-DP does not know */
    body = "{\"header\":{\"functionCallIdentifier\":\"es2-rest-2\",\"messageId\":\"msg-es2-rest-2\"},"
           "\"body\":{\"Eid\":\"" EID "\",\"SmSr-id\":\"1.2.3.4\",\"ProfileType\":\"X\",\"EnableProfile\":false}}";
    r = nettest_post(&N, "mno", "/gsma/rest/es2/DownloadProfile", JSONT, body);
    assert_int_equal(r.status, 202);
    tresp_free(&r);
    fa = final_of("ES2.DownloadProfileResponse", "msg-es2-rest-2");
    assert_true(fa.found);
    assert_string_equal(fa.st.subject, "8.7");
    assert_string_equal(fa.st.reason, "3.9");
    /* an M2M SP may not call ES2 */
    r = nettest_post(&N, "m2msp", "/gsma/rest/es2/DownloadProfile", JSONT, body);
    assert_int_equal(r.status, 403);
    tresp_free(&r);
    assert_int_equal(sql_long("SELECT count(*) FROM dp_download WHERE call_id LIKE 'es2-rest-%%'"), 0);
}

static char *import_body(const char *fcid, const char *iccid, const char *mno)
{
    static const uint8_t TK[16] = {0x10, 0x21, 0x32, 0x43, 0x54, 0x65, 0x76, 0x87,
                                   0x98, 0xa9, 0xba, 0xcb, 0xdc, 0xed, 0xfe, 0x0f};
    uint8_t op[16] = {1, 2, 3}, enc[16];
    ref_aes_ecb(TK, 16, op, enc);
    char hex[33];
    sm_hex_encode(enc, 16, hex);
    char *b = malloc(4096);
    snprintf(b, 4096,
             "{\"header\":{\"functionCallIdentifier\":\"%s\"},\"body\":{\"OrderFile\":\"smbox-order 1\\n"
             "profile-type ES-IMPORT\\ntemplate " TEMPLATE "\\nmno %s\\niccid-start %s\\nimsi-start 001019000000001\\n"
             "mnc-digits 2\\nquantity 3\\nop-enc %s\\nend\\n\"}}",
             fcid, mno, iccid, hex);
    return b;
}

static void test_es2_import_order(void **state)
{
    char *b = import_body("imp-1", "89000123456789302346", MNO);
    tresp r = nettest_post(&N, "mno", "/gsma/rest/es2/ImportOrder", JSONT, b);
    free(b);
    assert_int_equal(r.status, 200);
    assert_non_null(strstr(r.body, "Executed-Success"));
    assert_non_null(strstr(r.body, "\"Quantity\":3"));
    assert_non_null(strstr(r.body, "#smbox-mno-output,1"));
    assert_non_null(strstr(r.body, "89000123456789302346,001019000000001"));
    tresp_free(&r);
    assert_int_equal(sql_long("SELECT count(*) FROM profile_stock WHERE profile_type = 'ES-IMPORT' AND "
                              "state = 'available'"),
                     3);
    /* another MNO uploading an order for this one: refused, nothing stored */
    long st0 = sql_long("SELECT count(*) FROM profile_stock");
    b = import_body("imp-2", "89000123456789402344", MNO);
    r = nettest_post(&N, "mno2", "/gsma/rest/es2/ImportOrder", JSONT, b);
    free(b);
    assert_int_equal(r.status, 403);
    assert_non_null(strstr(r.body, "\"1.1\""));
    tresp_free(&r);
    /* a broken order file: refused with the line, nothing stored */
    b = import_body("imp-3", "89000123456789402344", MNO);
    char *q = strstr(b, "quantity 3");
    memcpy(q, "quantity X", 10);
    r = nettest_post(&N, "mno", "/gsma/rest/es2/ImportOrder", JSONT, b);
    free(b);
    assert_int_equal(r.status, 400);
    assert_non_null(strstr(r.body, "order line"));
    tresp_free(&r);
    assert_int_equal(sql_long("SELECT count(*) FROM profile_stock"), st0);
}

static void test_es4_download_for_the_owner(void **state)
{
    reset_world();
    order("ES-ES4", "89000123456789502341", 1);
    const char *body = "{\"header\":{\"functionCallIdentifier\":\"es4-1\",\"messageId\":\"msg-es4-1\"},"
                       "\"body\":{\"Eid\":\"" EID "\",\"ProfileType\":\"ES-ES4\",\"EnableProfile\":false}}";
    /* not the owner: refused in the answer, nothing started */
    const char *other = "{\"header\":{\"functionCallIdentifier\":\"es4-0\",\"messageId\":\"msg-es4-0\"},"
                        "\"body\":{\"Eid\":\"89001012012341234012345678901225\",\"ProfileType\":\"ES-ES4\","
                        "\"EnableProfile\":false}}";
    tresp r = nettest_post(&N, "m2msp", "/gsma/rest/es4/DownloadProfile", JSONT, other);
    assert_int_equal(r.status, 202);
    tresp_free(&r);
    final_answer fa = final_of("ES4.DownloadProfileResponse", "msg-es4-0");
    assert_true(fa.found);
    assert_string_equal(fa.st.subject, "8.1.1");
    /* an MNO may not call it */
    r = nettest_post(&N, "mno", "/gsma/rest/es4/DownloadProfile", JSONT, body);
    assert_int_equal(r.status, 403);
    tresp_free(&r);
    /* the owner */
    r = nettest_post(&N, "m2msp", "/gsma/rest/es4/DownloadProfile", JSONT, body);
    assert_int_equal(r.status, 202);
    tresp_free(&r);
    int64_t id = proc_of_call(M2MSP, "es4-1");
    assert_true(id > 0);
    drive(&id, 1, 200);
    assert_true(CARD.installed);
    fa = final_of("ES4.DownloadProfileResponse", "msg-es4-1");
    assert_true(fa.found);
    assert_int_equal(fa.st.exec, ES_EXEC_SUCCESS);
    assert_string_equal(fa.iccid, "89000123456789502341");
}

static void test_es3_notification_relayed(void **state)
{
    const char *body = "{\"header\":{\"messageId\":\"msg-notif-1\"},\"body\":{\"Eid\":\"" EID "\",\"Iccid\":"
                       "\"89000123456789012341\",\"Mno-id\":\"" MNO "\",\"CompletionTimestamp\":\"2026-01-01T00:00:00Z\"}}";
    long n0 = sql_long("SELECT count(*) FROM outbox WHERE kind = 'ES2.HandleProfileEnabledNotification'");
    tresp r = nettest_post(&N, "smsr", "/gsma/rest/es3/HandleProfileEnabledNotification", JSONT, body);
    assert_int_equal(r.status, 202);
    tresp_free(&r);
    assert_int_equal(sql_long("SELECT count(*) FROM outbox WHERE kind = 'ES2.HandleProfileEnabledNotification' AND "
                              "dest_id = '" MNO "' AND position('completionTimestamp' in convert_from(payload, 'UTF8')) "
                              "> 0"),
                     n0 + 1);
}

static void test_remote_smsr_over_https(void **state)
{
    reset_world();
    order("ES-REMOTE", "89000123456789602349", 1);
    es_reply_to rt;
    memset(&rt, 0, sizeof rt);
    snprintf(rt.qname, sizeof rt.qname, "ES2.DownloadProfile");
    rt.binding = ES_BIND_SOAP;
    snprintf(rt.relates_to, sizeof rt.relates_to, "mid-remote");
    snprintf(rt.address, sizeof rt.address, "https://127.0.0.1:1/gsma/soap/es2");
    snprintf(rt.peer_id, sizeof rt.peer_id, MNO);
    rt.peer_role = ES_ROLE_MNO;
    smdp_dl_request req = {.origin = "es2", .requester = MNO, .call_id = "remote-1", .mno_id = MNO, .eid = EID,
                           .smsr_id = REMOTE_SR, .profile_type = "ES-REMOTE", .enable = true, .validity_s = 600,
                           .reply = &rt};
    db_conn *c = conn();
    int64_t id = 0;
    sm_err err = {0};
    assert_int_equal(db_begin(c, &err), SM_OK);
    assert_int_equal(smdp_download_start(&X, c, &req, &id, &err), SM_OK);
    assert_int_equal(db_commit(c, &err), SM_OK);
    db_pool_give(c);
    drive(&id, 1, 300);
    char st[16], step[64];
    proc_state(id, st, sizeof st, step, sizeof step);
    assert_string_equal(st, "done");
    assert_true(CARD.installed && CARD.enabled);
    /* the remote SM-SR identified our SM-DP by its TLS certificate */
    assert_string_equal(SR_CALLER, OUR_DP);
    assert_int_equal(SR_ROLE, ES_ROLE_SMDP);
    final_answer fa = final_of("ES2.DownloadProfileResponse", "mid-remote");
    assert_true(fa.found);
    assert_int_equal(fa.st.exec, ES_EXEC_SUCCESS);
    /* its requests went out as HTTPS (no local: URL) */
    assert_int_equal(sql_long("SELECT count(*) FROM outbox WHERE proc_id = %lld AND "
                              "position('local:' in convert_from(payload, 'UTF8')) > 0",
                              (long long)id),
                     0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_es2_download_soap_and_replay), cmocka_unit_test(test_es2_download_rest_refusals),
        cmocka_unit_test(test_es2_import_order),             cmocka_unit_test(test_es4_download_for_the_owner),
        cmocka_unit_test(test_es3_notification_relayed),     cmocka_unit_test(test_remote_smsr_over_https),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
