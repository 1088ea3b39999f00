/* End to end: the development world comes up (token and key ceremony, PKI for the HSM keys, fleet
 * registered through its batch file, the TS.48 order in stock) and every simulated card matches its
 * EIS; then the ES functions a profile download involves refuse the wrong callers — another
 * stakeholder's role (1.1/1.2), a certificate that names no peer (1.1/1.1), a requester id that is not
 * the certificate's (1.1/1.2), a certificate of a foreign CA (refused in the TLS handshake) — each
 * refusal audited, and none of them starts anything. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "tests/support/e2e.h"

static e2e_world W;

static int group_setup(void **st)
{
    (void)st;
    e2e_opts o = {.fleet = 20, .order_qty = 10};
    return e2e_setup(&W, &o);
}

static int group_teardown(void **st)
{
    (void)st;
    e2e_teardown(&W);
    return 0;
}

static void test_world_up(void **st)
{
    (void)st;
    /* the fleet of the batch file is registered, the order is in stock */
    assert_int_equal(e2e_sql_long(&W, "SELECT count(*) FROM euicc"), (long)W.neids);
    assert_int_equal(e2e_sql_long(&W, "SELECT count(*) FROM profile_stock WHERE state = 'available'"), 10);
    /* the appliance's keys are in the token, and none is extractable or readable */
    int status = 0;
    char *out = e2e_smctl(&W, &status, "hsm list");
    assert_non_null(out);
    assert_int_equal(status, 0);
    assert_non_null(strstr(out, "smbox-smdp-sign"));
    assert_non_null(strstr(out, "smbox-smsr-sign"));
    assert_non_null(strstr(out, "smbox-tls-es"));
    free(out);
    /* no private key of the appliance sits in the world's files: the GP certificates were issued for the
     * HSM keys */
    char *keys = e2e_sql(&W, "SELECT 1"); /* the database answers */
    assert_non_null(keys);
    free(keys);
    char path[400];
    snprintf(path, sizeof path, "%s/smdp-gp.key", W.pki);
    assert_int_not_equal(access(path, F_OK), 0);
    snprintf(path, sizeof path, "%s/smsr-gp.key", W.pki);
    assert_int_not_equal(access(path, F_OK), 0);
    /* every card's profiles (simulator) are the EIS's */
    char why[4096];
    if (e2e_check_cards(&W, W.eids, W.neids, why, sizeof why) != 0)
        fail_msg("cards and EIS differ:\n%s", why);
}

typedef struct wrong {
    const char *who, *iface, *function, *body;
    int http;
    const char *subject, *reason;
} wrong;

#define EID_X "\"Eid\":\"%s\""

static void test_wrong_callers(void **st)
{
    (void)st;
    const char *eid = W.eids[0];
    const char *iccid = "89990010000000000012";
    char b_dl[256], b_eid[128], b_create[256], b_send[256], b_pdc[200], b_prof[200], b_es4[200], b_dpen[200];
    snprintf(b_dl, sizeof b_dl,
             "{\"Eid\":\"%s\",\"SmSr-id\":\"2.999.30.1\",\"ProfileType\":\"TS48v7-SAIP2.3\",\"EnableProfile\":true}", eid);
    snprintf(b_eid, sizeof b_eid, "{\"Eid\":\"%s\"}", eid);
    snprintf(b_create, sizeof b_create,
             "{\"Eid\":\"%s\",\"Iccid\":\"%s\",\"Mno-id\":\"2.999.40.1\",\"RequiredMemory\":16384,\"MoreToDo\":true}", eid,
             iccid);
    snprintf(b_send, sizeof b_send, "{\"Eid\":\"%s\",\"Sd-aid\":\"A0000005591010FFFFFFFF8900001100\",\"Data\":\"8400\"}",
             eid);
    snprintf(b_pdc, sizeof b_pdc, "{\"Eid\":\"%s\",\"Iccid\":\"%s\",\"ProfileType\":\"TS48v7-SAIP2.3\"}", eid, iccid);
    snprintf(b_prof, sizeof b_prof, "{\"Eid\":\"%s\",\"Iccid\":\"%s\"}", eid, iccid);
    snprintf(b_es4, sizeof b_es4, "{\"Eid\":\"%s\",\"Iccid\":\"%s\"}", eid, iccid);
    snprintf(b_dpen, sizeof b_dpen, "{\"Eid\":\"%s\",\"SmSr-id\":\"2.999.30.1\",\"Iccid\":\"%s\"}", eid, iccid);
    const wrong cases[] = {
        /* ES2 (MNO -> SM-DP): the download request itself */
        {"eum1", "es2", "DownloadProfile", b_dl, 403, "1.1", "1.2"},
        {"m2msp1", "es2", "DownloadProfile", b_dl, 403, "1.1", "1.2"},
        {"eum1", "es2", "EnableProfile", b_dpen, 403, "1.1", "1.2"},
        /* ES3 (SM-DP -> SM-SR): only our own SM-DP may call, in-process */
        {"mno1", "es3", "GetEIS", b_eid, 403, "1.1", "1.2"},
        {"mno1", "es3", "CreateISDP", b_create, 403, "1.1", "1.2"},
        {"mno1", "es3", "SendData", b_send, 403, "1.1", "1.2"},
        {"mno1", "es3", "ProfileDownloadCompleted", b_pdc, 403, "1.1", "1.2"},
        {"mno1", "es3", "EnableProfile", b_prof, 403, "1.1", "1.2"},
        {"eum1", "es3", "CreateISDP", b_create, 403, "1.1", "1.2"},
        {"m2msp1", "es3", "SendData", b_send, 403, "1.1", "1.2"},
        /* ES1 (EUM -> SM-SR) and ES4 (MNO / M2M SP -> SM-SR) */
        {"mno1", "es1", "RegisterEIS", "{\"Eis\":{}}", 403, "1.1", "1.2"},
        {"eum1", "es4", "EnableProfile", b_es4, 403, "1.1", "1.2"},
        /* a certificate of the development CA that names no peer: the test PKI's own SM-DP/SM-SR */
        {"smdp", "es2", "DownloadProfile", b_dl, 403, "1.1", "1.1"},
        {"smsr2", "es3", "CreateISDP", b_create, 403, "1.1", "1.1"},
    };
    long denied0 = e2e_sql_long(&W, "SELECT count(*) FROM audit_log WHERE outcome = 'denied'");
    long proc0 = e2e_sql_long(&W, "SELECT count(*) FROM proc");
    char fcid[64];
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        const wrong *c = &cases[i];
        e2e_resp r;
        snprintf(fcid, sizeof fcid, "wrong-%zu", i);
        int http = e2e_call(&W, c->who, c->iface, c->function, fcid, 600, c->body, &r);
        if (http != c->http || strcmp(r.status, "Failed") || strcmp(r.subject, c->subject) || strcmp(r.reason, c->reason))
            fail_msg("%s calling %s.%s: HTTP %d status %s %s/%s (%s), expected %d Failed %s/%s", c->who, c->iface,
                     c->function, http, r.status, r.subject, r.reason, r.message, c->http, c->subject, c->reason);
        e2e_resp_free(&r);
    }
    /* every refusal is in the audit trail; nothing was started */
    long denied = e2e_sql_long(&W, "SELECT count(*) FROM audit_log WHERE outcome = 'denied'") - denied0;
    assert_true(denied >= (long)(sizeof cases / sizeof cases[0]));
    assert_int_equal(e2e_sql_long(&W, "SELECT count(*) FROM proc"), proc0);
    assert_int_equal(e2e_sql_long(&W, "SELECT count(*) FROM profile_stock WHERE state <> 'available'"), 0);
}

/* the caller's certificate is the MNO's but the request names another stakeholder */
static void test_requester_mismatch(void **st)
{
    (void)st;
    char json[512];
    snprintf(json, sizeof json,
             "{\"header\":{\"functionCallIdentifier\":\"mismatch-1\",\"validityPeriod\":600,"
             "\"functionRequesterIdentifier\":\"2.999.50.1\"},\"body\":{\"Eid\":\"%s\",\"SmSr-id\":\"2.999.30.1\","
             "\"ProfileType\":\"TS48v7-SAIP2.3\",\"EnableProfile\":true}}",
             W.eids[1]);
    e2e_resp r;
    int http = e2e_post(&W, "mno1", "/gsma/rest/es2/DownloadProfile", json, &r);
    if (http != 403 || strcmp(r.subject, "1.1") || strcmp(r.reason, "1.2"))
        fail_msg("requester mismatch: HTTP %d %s/%s (%s)", http, r.subject, r.reason, r.message);
    e2e_resp_free(&r);
    /* an asynchronous response or a notification from a stakeholder that is not our SM-SR */
    snprintf(json, sizeof json,
             "{\"header\":{\"relatesTo\":\"x-1\",\"functionExecutionStatus\":{\"status\":\"Executed-Success\"}},"
             "\"body\":{\"Isd-p-aid\":\"A0000005591010FFFFFFFF8900001100\"}}");
    http = e2e_post(&W, "mno1", "/gsma/rest/es3/CreateISDPResponse", json, &r);
    assert_true(http == 403 || http == 400);
    e2e_resp_free(&r);
    snprintf(json, sizeof json,
             "{\"header\":{\"functionCallIdentifier\":\"n-1\",\"messageId\":\"n-1\"},\"body\":{\"Eid\":\"%s\","
             "\"Iccid\":\"89990010000000000012\",\"Mno-id\":\"2.999.40.1\",\"CompletionTimestamp\":"
             "\"2026-01-01T00:00:00Z\"}}",
             W.eids[1]);
    http = e2e_post(&W, "eum1", "/gsma/rest/es3/HandleProfileEnabledNotification", json, &r);
    if (http != 403)
        fail_msg("notification from the EUM: HTTP %d %s/%s (%s)", http, r.subject, r.reason, r.message);
    e2e_resp_free(&r);
}

/* a client certificate of another CA never gets past the handshake */
static void test_foreign_ca(void **st)
{
    (void)st;
    char dir[400], cmd[1200];
    snprintf(dir, sizeof dir, "%s/foreign-pki", W.dir);
    snprintf(cmd, sizeof cmd, "'%s' pki --out '%s' >/dev/null", W.sim, dir);
    assert_int_equal(system(cmd), 0);
    char cert[460], key[460];
    snprintf(cert, sizeof cert, "%s/tls-mno1.crt", dir);
    snprintf(key, sizeof key, "%s/tls-mno1.key", dir);
    e2e_resp r;
    char body[256];
    snprintf(body, sizeof body,
             "{\"Eid\":\"%s\",\"SmSr-id\":\"2.999.30.1\",\"ProfileType\":\"TS48v7-SAIP2.3\",\"EnableProfile\":true}",
             W.eids[2]);
    int http = e2e_call_cert(&W, cert, key, "es2", "DownloadProfile", "foreign-1", 600, body, &r);
    /* refused in the handshake: the client sees the alert, or the connection closed under it (TLS 1.3
     * checks the client's certificate after the client finished: its first write may meet the reset) */
    if (http != -1 && http != -2)
        fail_msg("a certificate of another CA got an HTTP answer: %d %s", http, r.status);
    e2e_resp_free(&r);
    assert_true(e2e_smboxd_log_wait(&W, "event=tls_refused", 1, 10000));
    assert_int_equal(e2e_sql_long(&W, "SELECT count(*) FROM dp_download WHERE call_id = 'foreign-1'"), 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_world_up),
        cmocka_unit_test(test_wrong_callers),
        cmocka_unit_test(test_requester_mismatch),
        cmocka_unit_test(test_foreign_ca),
    };
    return cmocka_run_group_tests(tests, group_setup, group_teardown);
}
