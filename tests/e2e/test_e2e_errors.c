/* End to end: profile downloads that must fail, and fail cleanly — an unknown EID (8.1.1/3.9), an
 * unknown ICCID (8.2.1/3.9), an eUICC whose certificate comes from an unknown EUM (8.5.x, the card
 * never contacted), a profile type whose stock is used up (8.2.5), a card that cannot be reached
 * within the validity period (Expired 1.6/5.3, nothing left on either side), a card that loses power
 * in the middle of the profile transfer (the ISD-P deleted again, the profile not installed), the same
 * on an eUICC without HTTPS support (the transfer cut into SCP80 packets to the ISD-P's TAR, the card
 * losing power between two of them), and an SMSC that loses and duplicates messages
 * (the download still completes). The ISD-R's commands go by SMS in this world, so the SMSC's faults
 * hit SCP80 packets, PoRs and pushes. After each, the card and its EIS agree. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "tests/support/e2e.h"

static e2e_world W;
static int next_card; /* cards are used once each, in batch order (HTTPS ones first) */

#define N_SMS 1

static int group_setup(void **st)
{
    (void)st;
    /* the ISD-R's commands by SMS; short timers: a PoR or a session that does not come is retried within
     * seconds */
    e2e_opts o = {.fleet = 30, .sms_only = N_SMS, .order_qty = 20,
                  .extra_yaml = "es5:\n  prefer_channel: sms\n  sms_max_parts: 8\n  por_timeout_ms: 3000\n"
                                "  session_wait_ms: 8000\nsmsr:\n  platform_channel: sms\n"};
    return e2e_setup(&W, &o);
}

static int group_teardown(void **st)
{
    (void)st;
    e2e_teardown(&W);
    return 0;
}

static const char *https_card(void)
{
    while ((size_t)next_card < W.neids && W.sms_only[next_card])
        next_card++;
    assert_true((size_t)next_card < W.neids);
    return W.eids[next_card++];
}

static const char *sms_card(void)
{
    static size_t k;
    while (k < W.neids && !W.sms_only[k])
        k++;
    assert_true(k < W.neids);
    return W.eids[k++];
}

/* a download request; *sync gets the answer when it was refused on the spot (HTTP status not 202) */
static int request(const char *fcid, const char *eid, const char *iccid, long validity_s, e2e_msg *sync)
{
    e2e_resp r;
    char body[512];
    if (iccid)
        snprintf(body, sizeof body, "{\"Eid\":\"%s\",\"SmSr-id\":\"2.999.30.1\",\"Iccid\":\"%s\",\"EnableProfile\":true}",
                 eid, iccid);
    else
        snprintf(body, sizeof body,
                 "{\"Eid\":\"%s\",\"SmSr-id\":\"2.999.30.1\",\"ProfileType\":\"TS48v7-SAIP2.3\",\"EnableProfile\":true}",
                 eid);
    int http = e2e_call(&W, "mno1", "es2", "DownloadProfile", fcid, validity_s, body, &r);
    memset(sync, 0, sizeof *sync);
    snprintf(sync->status, sizeof sync->status, "%s", r.status);
    snprintf(sync->subject, sizeof sync->subject, "%s", r.subject);
    snprintf(sync->reason, sizeof sync->reason, "%s", r.reason);
    sync->answered = http;
    e2e_resp_free(&r);
    return http;
}

/* the asynchronous answer of a request made earlier */
static e2e_msg answer(const char *fcid, int timeout_ms)
{
    e2e_msg m;
    if (e2e_peer_wait(W.mno, fcid, timeout_ms, &m) != 0)
        fail_msg("%s: no answer within %d ms", fcid, timeout_ms);
    return m;
}

/* a download whose outcome we wait for; returns the answer (free its body) */
static e2e_msg download(const char *fcid, const char *eid, const char *iccid, long validity_s, int timeout_ms)
{
    e2e_resp r;
    char body[512];
    if (iccid)
        snprintf(body, sizeof body, "{\"Eid\":\"%s\",\"SmSr-id\":\"2.999.30.1\",\"Iccid\":\"%s\",\"EnableProfile\":true}",
                 eid, iccid);
    else
        snprintf(body, sizeof body,
                 "{\"Eid\":\"%s\",\"SmSr-id\":\"2.999.30.1\",\"ProfileType\":\"TS48v7-SAIP2.3\",\"EnableProfile\":true}",
                 eid);
    int http = e2e_call(&W, "mno1", "es2", "DownloadProfile", fcid, validity_s, body, &r);
    e2e_msg m;
    memset(&m, 0, sizeof m);
    if (http != 202) {
        /* refused on the spot: the synchronous answer carries the status */
        snprintf(m.status, sizeof m.status, "%s", r.status);
        snprintf(m.subject, sizeof m.subject, "%s", r.subject);
        snprintf(m.reason, sizeof m.reason, "%s", r.reason);
        m.answered = http;
        e2e_resp_free(&r);
        return m;
    }
    e2e_resp_free(&r);
    if (e2e_peer_wait(W.mno, fcid, timeout_ms, &m) != 0)
        fail_msg("%s: no answer within %d ms", fcid, timeout_ms);
    return m;
}

static void expect(const e2e_msg *m, const char *what, const char *status, const char *subject_prefix,
                   const char *reason)
{
    if (strcmp(m->status, status) || strncmp(m->subject, subject_prefix, strlen(subject_prefix)) ||
        (reason && strcmp(m->reason, reason)))
        fail_msg("%s: %s %s/%s, expected %s %s*/%s", what, m->status, m->subject, m->reason, status, subject_prefix,
                 reason ? reason : "*");
}

static void consistent(const char *eid)
{
    char e[1][33];
    memcpy(e[0], eid, 33);
    char why[2048];
    if (e2e_check_cards(&W, e, 1, why, sizeof why) != 0)
        fail_msg("card and EIS differ:\n%s", why);
}

/* nothing at all reached this card: its only ISD-P is the provisioning profile's */
static void untouched(const char *eid)
{
    assert_int_equal(e2e_sql_long(&W, "SELECT count(*) FROM profile WHERE eid = '%s'", eid), 1);
    assert_int_equal(e2e_sql_long(&W, "SELECT count(*) FROM es5_request WHERE eid = '%s' AND label NOT ILIKE '%%notif%%'",
                                  eid),
                     0);
    consistent(eid);
}

/* profiles the download of that call holds or spent (reserved or installed) */
static long held(const char *fcid)
{
    return e2e_sql_long(&W, "SELECT count(*) FROM profile_stock s JOIN dp_download d USING (iccid) WHERE d.call_id = '%s' "
                            "AND s.state IN ('reserved', 'installed')",
                        fcid);
}

static void test_unknown_eid(void **st)
{
    (void)st;
    char eid[33];
    e2e_eid_make("890490320000000000000099999999", eid);
    e2e_msg m = download("err-eid", eid, NULL, 300, 60000);
    expect(&m, "unknown EID", "Failed", "8.1.1", "3.9");
    e2e_msg_free(&m);
    assert_int_equal(held("err-eid"), 0);
}

static void test_unknown_iccid(void **st)
{
    (void)st;
    const char *eid = https_card();
    e2e_msg m = download("err-iccid", eid, "89990099999999999990", 300, 60000);
    expect(&m, "unknown ICCID", "Failed", "8.2.1", "3.9");
    e2e_msg_free(&m);
    untouched(eid);
}

/* the EIS of a registered eUICC now carries an ECASD certificate issued by an EUM nobody knows (the
 * registration itself would refuse such a card: its chain is checked at import) */
static void test_unknown_eum(void **st)
{
    (void)st;
    const char *eid = https_card();
    char dir[400], cmd[1400];
    snprintf(dir, sizeof dir, "%s/foreign", W.dir);
    snprintf(cmd, sizeof cmd, "'%s' fleet --count 1 --out '%s' --no-es1 >/dev/null", W.sim, dir);
    assert_int_equal(system(cmd), 0);
    /* importing the foreign batch is refused: its EUM does not chain to our CI */
    int status = 0;
    char *out = e2e_smctl(&W, &status, "euicc import '%s/euicc-batch.txt'", dir);
    assert_int_not_equal(status, 0);
    free(out);
    /* the foreign card's certificate, swapped into the EIS of one of ours */
    char path[460];
    snprintf(path, sizeof path, "%s/euicc-batch.txt", dir);
    FILE *f = fopen(path, "r");
    assert_non_null(f);
    char *line = NULL;
    size_t cap = 0;
    char cert[1024] = "";
    while (getline(&line, &cap, f) > 0) {
        char *p = strstr(line, ";ecasd-cert=");
        if (p && !strncmp(line, "eis;", 4)) {
            sscanf(p + 12, "%1023[0-9a-f]", cert);
            break;
        }
    }
    free(line);
    fclose(f);
    assert_true(strlen(cert) > 100);
    out = e2e_sql(&W, "UPDATE euicc SET ecasd_cert = decode('%s', 'hex') WHERE eid = '%s'", cert, eid);
    assert_non_null(out);
    free(out);
    e2e_msg m = download("err-eum", eid, NULL, 300, 60000);
    expect(&m, "unknown EUM", "Failed", "8.5", NULL);
    e2e_msg_free(&m);
    /* the card was never contacted, the profile is back in stock */
    assert_int_equal(e2e_sql_long(&W, "SELECT count(*) FROM es5_request WHERE eid = '%s' AND label NOT ILIKE '%%notif%%'",
                                  eid),
                     0);
    assert_int_equal(e2e_sql_long(&W, "SELECT count(*) FROM profile WHERE eid = '%s'", eid), 1);
    assert_int_equal(held("err-eum"), 0);
}

static void test_stock_exhausted(void **st)
{
    (void)st;
    assert_int_equal(e2e_order(&W, "TINY", 1, "899900200000000001"), 0);
    const char *a = https_card(), *b = https_card();
    char body[300];
    e2e_resp r;
    snprintf(body, sizeof body, "{\"Eid\":\"%s\",\"SmSr-id\":\"2.999.30.1\",\"ProfileType\":\"TINY\",\"EnableProfile\":true}",
             a);
    assert_int_equal(e2e_call(&W, "mno1", "es2", "DownloadProfile", "err-tiny-1", 600, body, &r), 202);
    e2e_resp_free(&r);
    e2e_msg m;
    assert_int_equal(e2e_peer_wait(W.mno, "err-tiny-1", 180000, &m), 0);
    expect(&m, "the last TINY profile", "Executed-Success", "", NULL);
    e2e_msg_free(&m);
    snprintf(body, sizeof body, "{\"Eid\":\"%s\",\"SmSr-id\":\"2.999.30.1\",\"ProfileType\":\"TINY\",\"EnableProfile\":true}",
             b);
    int http = e2e_call(&W, "mno1", "es2", "DownloadProfile", "err-tiny-2", 600, body, &r);
    if (http == 202) {
        e2e_resp_free(&r);
        assert_int_equal(e2e_peer_wait(W.mno, "err-tiny-2", 60000, &m), 0);
    } else {
        memset(&m, 0, sizeof m);
        snprintf(m.status, sizeof m.status, "%s", r.status);
        snprintf(m.subject, sizeof m.subject, "%s", r.subject);
        snprintf(m.reason, sizeof m.reason, "%s", r.reason);
        e2e_resp_free(&r);
    }
    expect(&m, "TINY stock exhausted", "Failed", "8.2.5", NULL);
    e2e_msg_free(&m);
    untouched(b);
    consistent(a);
}

/* the slow case runs while the others do: a card that cannot be reached (the download expires with
 * its validity period) */
static char unreachable_eid[33];

static void test_slow_cases_started(void **st)
{
    (void)st;
    snprintf(unreachable_eid, sizeof unreachable_eid, "%s", https_card());
    char *r = e2e_sim(&W, "fault %s unreachable 1", unreachable_eid);
    assert_non_null(r);
    free(r);
    e2e_msg m;
    assert_int_equal(request("err-unreachable", unreachable_eid, NULL, 40, &m), 202);
}

static void test_unreachable(void **st)
{
    (void)st;
    const char *eid = unreachable_eid;
    e2e_msg m = answer("err-unreachable", 240000);
    expect(&m, "unreachable card", "Expired", "1.6", "5.3");
    e2e_msg_free(&m);
    char *r = e2e_sim(&W, "fault %s unreachable 0", eid);
    free(r);
    /* nothing half made: no ISD-P was created on the card, none is left in the EIS, the profile is not
     * spent (back in stock or retired, never installed, not held) */
    assert_int_equal(e2e_sql_long(&W, "SELECT count(*) FROM profile WHERE eid = '%s'", eid), 1);
    consistent(eid);
    assert_int_equal(held("err-unreachable"), 0);
}

/* the card loses power after its second SCP03t segment: either the SM-DP resumed in a new session and the
 * profile is there once, or the download failed and error management removed what was made */
static void power_loss(const char *fcid, const char *eid)
{
    char *r = e2e_sim(&W, "fault %s power-loss-after 2", eid);
    assert_non_null(r);
    free(r);
    long powerloss0 = e2e_sim_stat(&W, "power_losses");
    e2e_msg m = download(fcid, eid, NULL, 300, 240000);
    long powerloss = e2e_sim_stat(&W, "power_losses") - powerloss0;
    r = e2e_sim(&W, "fault %s power-loss-after 0", eid);
    free(r);
    fprintf(stderr, "e2e: %s: power loss on %s: %s %s/%s\n", fcid, eid, m.status, m.subject, m.reason);
    assert_true(powerloss >= 1);
    if (!strcmp(m.status, "Executed-Success")) {
        assert_int_equal(e2e_sql_long(&W, "SELECT count(*) FROM profile WHERE eid = '%s'", eid), 2);
    } else {
        expect(&m, "power loss", "Failed", "8.", NULL);
        assert_int_equal(e2e_sql_long(&W, "SELECT count(*) FROM profile WHERE eid = '%s'", eid), 1);
        char *p = e2e_sim(&W, "profiles %s", eid);
        assert_non_null(p);
        assert_null(strstr(p, "PERSONALIZED"));
        assert_null(strstr(p, "SELECTABLE"));
        free(p);
        if (m.iccid[0])
            assert_int_not_equal(e2e_sql_long(&W, "SELECT count(*) FROM profile_stock WHERE iccid = '%s' AND state = "
                                                  "'installed'", m.iccid),
                                 1);
    }
    e2e_msg_free(&m);
    consistent(eid);
}

static void test_power_loss(void **st)
{
    (void)st;
    power_loss("err-power", https_card());
}

/* no HTTPS: the profile travels as SCP80 packets to the ISD-P; the card loses power between two of them
 * (no PoR for the packet it dropped) */
static void test_power_loss_by_sms(void **st)
{
    (void)st;
    const char *eid = sms_card();
    power_loss("err-power-sms", eid);
    assert_int_equal(e2e_sql_long(&W, "SELECT count(*) FROM es5_request r JOIN euicc e USING (eid) WHERE r.eid = '%s' "
                                      "AND r.channel = 1 AND r.aid <> e.isdr_aid",
                                  eid) > 0,
                     1);
    assert_int_equal(e2e_sql_long(&W, "SELECT count(*) FROM es5_request WHERE eid = '%s' AND channel = 2", eid), 0);
}

/* after all of it: no profile is held by a download that ended */
static void test_stock_released(void **st)
{
    (void)st;
    assert_int_equal(e2e_sql_long(&W, "SELECT count(*) FROM profile_stock WHERE state = 'reserved'"), 0);
    assert_int_equal(e2e_sql_long(&W, "SELECT count(*) FROM profile WHERE state IN ('creating','Created')"), 0);
}

static void test_smsc_loses_and_duplicates(void **st)
{
    (void)st;
    const char *eid = https_card();
    long lost0 = e2e_sim_stat(&W, "mt_lost"), dup0 = e2e_sim_stat(&W, "mt_duplicated");
    char *r = e2e_sim(&W, "smsc lose 3");
    assert_non_null(r);
    free(r);
    r = e2e_sim(&W, "smsc duplicate 3");
    assert_non_null(r);
    free(r);
    e2e_msg m = download("err-smsc", eid, NULL, 1200, 600000);
    r = e2e_sim(&W, "smsc reset");
    free(r);
    expect(&m, "lossy SMSC", "Executed-Success", "", NULL);
    e2e_msg_free(&m);
    assert_true(e2e_sim_stat(&W, "mt_lost") >= lost0 + 3);
    assert_true(e2e_sim_stat(&W, "mt_duplicated") >= dup0 + 1);
    assert_int_equal(e2e_sql_long(&W, "SELECT count(*) FROM profile WHERE eid = '%s' AND state = 'Enabled' AND iccid "
                                      "LIKE '8999%%'",
                                  eid),
                     1);
    consistent(eid);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_slow_cases_started),
        cmocka_unit_test(test_unknown_eid),
        cmocka_unit_test(test_unknown_iccid),
        cmocka_unit_test(test_unknown_eum),
        cmocka_unit_test(test_stock_exhausted),
        cmocka_unit_test(test_power_loss),
        cmocka_unit_test(test_smsc_loses_and_duplicates),
        cmocka_unit_test(test_unreachable),
        cmocka_unit_test(test_power_loss_by_sms),
        cmocka_unit_test(test_stock_released),
    };
    return cmocka_run_group_tests(tests, group_setup, group_teardown);
}
