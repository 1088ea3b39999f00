/* The profile download procedure (es2.DownloadProfile) step by step against an SM-SR double bound on
 * the ES3 functions of our own server (reached in-process: es.peers endpoint `local`) and a card double
 * that really runs the key establishment and the SCP03t session (tests/smdp/dl_card.h): the happy path
 * in several SendData parts, the enable path and a refused enable (Executed-WithWarning), a receipt
 * that does not verify and a card error during SCP03t (both cleaned up with ES3.DeleteISDP; the profile
 * back to stock, resp. retired), the SM-SR answering Expired, an unknown EID, stock exhausted, a profile
 * used at most once under two concurrent downloads, the validity period running out, and the final
 * answer each time (status, subject/reason, ICCID) as the requester receives it. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "net/es_answer.h"
#include "tests/smdp/dl_fixture.h"

static int setup(void **state)
{
    /* small SendData parts: a TS.48 profile needs several */
    return dl_setup(4096);
}

static int teardown(void **state) { return dl_teardown(); }

static void expect_final(const char *mid, es_exec exec, const char *subject, const char *reason, const char *iccid)
{
    final_answer fa = final_of("ES2.DownloadProfileResponse", mid);
    assert_true(fa.found);
    if (fa.st.exec != exec || (subject && strcmp(fa.st.subject, subject)) || (reason && strcmp(fa.st.reason, reason)))
        fail_msg("final answer %s %s/%s \"%s\", expected %s %s/%s", es_exec_name(fa.st.exec), fa.st.subject,
                 fa.st.reason, fa.st.message, es_exec_name(exec), subject ? subject : "*", reason ? reason : "*");
    if (iccid)
        assert_string_equal(fa.iccid, iccid);
}

static void test_happy_path(void **state)
{
    reset_world();
    order("DL-HAPPY", "89000123456789012341", 2);
    int64_t id = start(NULL, "DL-HAPPY", false, 600, "mid-happy");
    drive(&id, 1, 200);
    char st[16], step[64];
    proc_state(id, st, sizeof st, step, sizeof step);
    assert_string_equal(st, "done");
    assert_string_equal(step, "respond");
    /* the card installed the first profile of the type, personalised */
    assert_true(CARD.installed);
    assert_string_equal(CARD.iccid, "89000123456789012341");
    assert_string_equal(CARD.imsi, "001010000000001");
    assert_true(CARD.segments > 1);
    assert_int_equal(CARD.sessions, 1);
    assert_false(CARD.enabled);
    /* the SM-SR saw our SM-DP, in-process */
    assert_string_equal(SR_CALLER, OUR_DP);
    assert_int_equal(SR_ROLE, ES_ROLE_SMDP);
    assert_int_equal(SR_CALLS[0], 1);                /* GetEIS */
    assert_int_equal(SR_CALLS[1], 1);                /* CreateISDP */
    assert_true(SR_CALLS[2] >= 4);                   /* SendData: 3A01, 3A02, 2+ parts of SCP03t */
    assert_int_equal(SR_CALLS[3], 1);                /* ProfileDownloadCompleted */
    assert_int_equal(SR_CALLS[4] + SR_CALLS[5], 0);  /* no enable, no delete */
    assert_string_equal(stock_state("89000123456789012341"), "installed");
    assert_string_equal(stock_state("89000123456789012358"), "available");
    expect_final("mid-happy", ES_EXEC_SUCCESS, NULL, NULL, "89000123456789012341");
    /* the ISD-P keys are kept, wrapped, with the SCP03 sequence counter the session used */
    assert_int_equal(sql_long("SELECT count(*) FROM dp_isdp_keyset WHERE iccid = '89000123456789012341' AND "
                              "scp_seq = 1 AND length(enc) = 24"),
                     1);
    assert_int_equal(sql_long("SELECT count(*) FROM dp_order WHERE state = 'done' AND iccid = '89000123456789012341'"),
                     1);
    /* every ES3 request went through the outbox and was delivered */
    assert_int_equal(sql_long("SELECT count(*) FROM outbox WHERE proc_id = %lld AND state <> 'delivered'", (long long)id),
                     0);
}

static void test_enable_path(void **state)
{
    reset_world();
    order("DL-ENABLE", "89000123456789022340", 1);
    int64_t id = start("89000123456789022340", NULL, true, 600, "mid-enable");
    drive(&id, 1, 200);
    char st[16], step[64];
    proc_state(id, st, sizeof st, step, sizeof step);
    assert_string_equal(st, "done");
    assert_true(CARD.installed);
    assert_true(CARD.enabled);
    assert_int_equal(SR_CALLS[4], 1);
    expect_final("mid-enable", ES_EXEC_SUCCESS, NULL, NULL, "89000123456789022340");
}

static void test_enable_refused_is_a_warning(void **state)
{
    reset_world();
    SRF.enable_fails = true;
    order("DL-ENWARN", "89000123456789032349", 1);
    int64_t id = start("89000123456789032349", NULL, true, 600, "mid-enwarn");
    drive(&id, 1, 200);
    char st[16], step[64];
    proc_state(id, st, sizeof st, step, sizeof step);
    assert_string_equal(st, "done");
    assert_true(CARD.installed);
    assert_false(CARD.enabled);
    assert_string_equal(stock_state("89000123456789032349"), "installed");
    expect_final("mid-enwarn", ES_EXEC_WARNING, "8.4", "4.2", "89000123456789032349");
}

static void test_receipt_mismatch(void **state)
{
    reset_world();
    CARD.f.corrupt_receipt = true;
    order("DL-RECEIPT", "89000123456789042348", 1);
    int64_t id = start(NULL, "DL-RECEIPT", false, 600, "mid-receipt");
    drive(&id, 1, 200);
    char st[16], step[64];
    proc_state(id, st, sizeof st, step, sizeof step);
    assert_string_equal(st, "failed");
    /* error management: the ISD-P was deleted; nothing of the profile left the SM-DP: back to stock */
    assert_int_equal(CARD.deletes, 1);
    assert_int_equal(CARD.segments, 0);
    assert_string_equal(stock_state("89000123456789042348"), "available");
    expect_final("mid-receipt", ES_EXEC_FAILED, "8.3", "4.2", NULL);
    assert_int_equal(sql_long("SELECT count(*) FROM dp_isdp_keyset WHERE iccid = '89000123456789042348'"), 0);
}

static void test_card_error_during_scp03t(void **state)
{
    reset_world();
    CARD.f.scp_error_at = 3;
    order("DL-SCPERR", "89000123456789052347", 1);
    int64_t id = start(NULL, "DL-SCPERR", false, 600, "mid-scperr");
    drive(&id, 1, 200);
    char st[16], step[64];
    proc_state(id, st, sizeof st, step, sizeof step);
    assert_string_equal(st, "failed");
    assert_int_equal(CARD.deletes, 1);
    assert_false(CARD.installed);
    /* protected segments reached the card: the profile is never offered again, the MNO gets its ICCID */
    assert_string_equal(stock_state("89000123456789052347"), "retired");
    expect_final("mid-scperr", ES_EXEC_FAILED, "8.3", "4.2", "89000123456789052347");
}

static void test_pe_error_reported_by_isdp(void **state)
{
    reset_world();
    CARD.f.pe_error = true;
    order("DL-PEERR", "89000123456789062346", 1);
    int64_t id = start(NULL, "DL-PEERR", false, 600, "mid-peerr");
    drive(&id, 1, 200);
    char st[16], step[64];
    proc_state(id, st, sizeof st, step, sizeof step);
    assert_string_equal(st, "failed");
    assert_int_equal(CARD.deletes, 1);
    assert_string_equal(stock_state("89000123456789062346"), "retired");
    expect_final("mid-peerr", ES_EXEC_FAILED, "8.3", "4.2", NULL);
}

static void test_smsr_expired(void **state)
{
    reset_world();
    SRF.create_expired = true;
    order("DL-EXPIRED", "89000123456789072345", 1);
    int64_t id = start(NULL, "DL-EXPIRED", false, 600, "mid-expired");
    drive(&id, 1, 200);
    char st[16], step[64];
    proc_state(id, st, sizeof st, step, sizeof step);
    assert_string_equal(st, "failed");
    assert_int_equal(CARD.deletes, 0); /* no ISD-P was created */
    assert_string_equal(stock_state("89000123456789072345"), "available");
    expect_final("mid-expired", ES_EXEC_EXPIRED, "1.6", "5.3", NULL);
    assert_int_equal(sql_long("SELECT count(*) FROM dp_order WHERE call_id = 'mid-expired' AND state = 'expired'"), 1);
}

static void test_unknown_eid(void **state)
{
    reset_world();
    SRF.eid_unknown = true;
    order("DL-NOEID", "89000123456789082344", 1);
    int64_t id = start(NULL, "DL-NOEID", false, 600, "mid-noeid");
    drive(&id, 1, 200);
    expect_final("mid-noeid", ES_EXEC_FAILED, "8.1.1", "3.9", NULL);
    assert_string_equal(stock_state("89000123456789082344"), "available");
}

static void test_stock_exhausted_and_unknowns(void **state)
{
    reset_world();
    order("DL-ONE", "89000123456789092343", 1);
    int64_t a = start(NULL, "DL-ONE", false, 600, "mid-one-a");
    drive(&a, 1, 200);
    expect_final("mid-one-a", ES_EXEC_SUCCESS, NULL, NULL, "89000123456789092343");
    /* the type's stock is used up */
    int64_t b = start(NULL, "DL-ONE", false, 600, "mid-one-b");
    /* an ICCID that is not ours, a type nobody has, an ICCID used already */
    int64_t c = start("89000123456789999943", NULL, false, 600, "mid-no-iccid");
    int64_t d = start(NULL, "NO-SUCH-TYPE", false, 600, "mid-no-type");
    int64_t e = start("89000123456789092343", NULL, false, 600, "mid-used");
    int64_t ids[] = {b, c, d, e};
    drive(ids, 4, 50);
    expect_final("mid-one-b", ES_EXEC_FAILED, "8.2.5", "3.7", NULL);
    expect_final("mid-no-iccid", ES_EXEC_FAILED, "8.2.1", "3.9", NULL);
    expect_final("mid-no-type", ES_EXEC_FAILED, "8.2.5", "3.9", NULL);
    expect_final("mid-used", ES_EXEC_FAILED, "8.2.1", "3.3", NULL);
    assert_int_equal(SR_CALLS[0], 1); /* none of them reached the SM-SR */
}

static void test_profile_used_at_most_once(void **state)
{
    reset_world();
    SRF.create_silent = true; /* both stay after their reservation */
    order("DL-RACE", "89000123456789102340", 1);
    int64_t t1 = start(NULL, "DL-RACE", false, 600, "mid-race-t1");
    int64_t t2 = start(NULL, "DL-RACE", false, 600, "mid-race-t2");
    int64_t i1 = start("89000123456789102340", NULL, false, 600, "mid-race-i1");
    /* three reservations of the one profile on both workers at once */
    tw_job j1, j2;
    eng_arg a1 = {.max = 1}, a2 = {.max = 2};
    assert_int_equal(tw_job_start(&j1, N.workers, engine_job, &a1), SM_OK);
    assert_int_equal(tw_job_start(&j2, N.workers, engine_job, &a2), SM_OK);
    tw_job_wait(&j1);
    tw_job_wait(&j2);
    int64_t ids[] = {t1, t2, i1};
    for (int i = 0; i < 30; i++) {
        eng_arg ea = {.max = 8};
        on_worker(engine_job, &ea);
        consume_answers();
        on_worker(pump_job, NULL);
    }
    (void)ids;
    /* exactly one holds it; the two others were told why not */
    assert_int_equal(sql_long("SELECT count(*) FROM profile_stock WHERE iccid = '89000123456789102340' AND "
                              "state = 'reserved'"),
                     1);
    int winners = 0, told = 0;
    const char *mids[] = {"mid-race-t1", "mid-race-t2", "mid-race-i1"};
    for (int i = 0; i < 3; i++) {
        final_answer fa = final_of("ES2.DownloadProfileResponse", mids[i]);
        if (!fa.found) {
            winners++;
            continue;
        }
        told++;
        assert_int_equal(fa.st.exec, ES_EXEC_FAILED);
        assert_true(!strcmp(fa.st.reason, "3.7") || !strcmp(fa.st.reason, "3.3"));
    }
    assert_int_equal(winners, 1);
    assert_int_equal(told, 2);
    assert_int_equal(SR_CALLS[1], 1); /* one ISD-P creation asked for */
}

static void test_validity_period_runs_out(void **state)
{
    reset_world();
    SRF.create_silent = true; /* the SM-SR never answers CreateISDP */
    order("DL-TIMEOUT", "89000123456789112349", 1);
    int64_t id = start(NULL, "DL-TIMEOUT", false, 1, "mid-timeout");
    /* rounds until the deadline has passed and the engine ended the procedure (no timing asserted) */
    for (int i = 0; i < 400 && !proc_ended(id); i++) {
        eng_arg ea = {.max = 8};
        on_worker(engine_job, &ea);
        consume_answers();
        on_worker(pump_job, NULL);
        struct timespec ts = {0, 20 * 1000 * 1000};
        nanosleep(&ts, NULL);
    }
    char st[16], step[64];
    proc_state(id, st, sizeof st, step, sizeof step);
    assert_string_equal(st, "expired");
    expect_final("mid-timeout", ES_EXEC_EXPIRED, "1.6", "5.3", NULL);
    assert_string_equal(stock_state("89000123456789112349"), "available");
}

/* The answer to CreateISDP arrives while the procedure is not waiting (a late duplicate of the GetEIS
 * answer woke it just before): it is kept and taken, not lost. */
static void test_answer_while_not_waiting(void **state)
{
    reset_world();
    SRF.create_silent = true;
    order("DL-LATE", "89000123456789132347", 1);
    int64_t id = start(NULL, "DL-LATE", false, 600, "mid-late");
    char st[16], step[64];
    for (int i = 0; i < 40; i++) {
        proc_state(id, st, sizeof st, step, sizeof step);
        if (!strcmp(st, "waiting") && !strcmp(step, "isdp"))
            break;
        eng_arg ea = {.max = 8};
        on_worker(engine_job, &ea);
        on_worker(pump_job, NULL);
    }
    assert_string_equal(step, "isdp");
    db_conn *c = conn();
    sm_err err = {0};
    /* a late duplicate of the GetEIS answer (request 1): wakes it */
    es_answer stale = {.fn = es_function_by_qname("ES3.GetEIS")};
    es_status_ok(&stale.status);
    es_answer_message_id(id, 1, stale.relates_to, sizeof stale.relates_to);
    assert_int_equal(es_answer_wake(c, id, &stale, &err), SM_OK);
    /* the SM-SR's real answer to CreateISDP (request 2) now finds it ready, not waiting */
    pthread_mutex_lock(&CARD.mu);
    CARD.isdp = true;
    CARD.aid_len = 16;
    size_t al;
    sm_hex_decode(AIDHEX, CARD.aid, 16, &al, NULL);
    pthread_mutex_unlock(&CARD.mu);
    es_answer ok = {.fn = es_function_by_qname("ES3.CreateISDP"), .body = es_struct_new()};
    es_status_ok(&ok.status);
    es_add_str(ok.body, "Isd-p-aid", AIDHEX);
    es_answer_message_id(id, 2, ok.relates_to, sizeof ok.relates_to);
    assert_int_equal(es_answer_wake(c, id, &ok, &err), SM_ESTATE);
    es_value_free(ok.body);
    db_pool_give(c);
    drive(&id, 1, 200);
    proc_state(id, st, sizeof st, step, sizeof step);
    assert_string_equal(st, "done");
    assert_true(CARD.installed);
    expect_final("mid-late", ES_EXEC_SUCCESS, NULL, NULL, "89000123456789132347");
    assert_int_equal(sql_long("SELECT count(*) FROM proc_answer WHERE proc_id = %lld", (long long)id), 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_happy_path),
        cmocka_unit_test(test_enable_path),
        cmocka_unit_test(test_enable_refused_is_a_warning),
        cmocka_unit_test(test_receipt_mismatch),
        cmocka_unit_test(test_card_error_during_scp03t),
        cmocka_unit_test(test_pe_error_reported_by_isdp),
        cmocka_unit_test(test_smsr_expired),
        cmocka_unit_test(test_unknown_eid),
        cmocka_unit_test(test_stock_exhausted_and_unknowns),
        cmocka_unit_test(test_profile_used_at_most_once),
        cmocka_unit_test(test_validity_period_runs_out),
        cmocka_unit_test(test_answer_while_not_waiting),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
