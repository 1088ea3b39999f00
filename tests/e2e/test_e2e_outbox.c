/* End to end: the outbox is delivered as soon as its messages commit, not on the pump's poll. The world
 * runs with es.outbox_poll_ms at an hour, so only the wake-ups can deliver anything: a download (every
 * ES3 message between the co-located SM-DP and SM-SR and the answer to the MNO go through the outbox)
 * completes within seconds, each message sent right after its commit; a message another node queues
 * (a row and a NOTIFY from another session, as a second smboxd would) reaches its peer at once; after
 * smboxd's listening session is cut by the server, it listens again and the next node's message goes out
 * too. */
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
    e2e_opts o = {.fleet = 10, .order_qty = 5, .extra_yaml = "es:\n  outbox_poll_ms: 3600000\n"};
    if (e2e_setup(&W, &o) != 0)
        return -1;
    /* the listening session is up before anything is queued */
    return e2e_smboxd_log_wait(&W, "event=outbox_listening", 1, 30000) ? 0 : -1;
}

static int group_teardown(void **st)
{
    (void)st;
    e2e_teardown(&W);
    return 0;
}

static void test_download_without_the_poll(void **st)
{
    (void)st;
    char *cfg = e2e_smctl(&W, NULL, "config show");
    assert_non_null(cfg);
    assert_non_null(strstr(cfg, "3600000")); /* the poll is out of the picture */
    free(cfg);
    long before = e2e_sql_long(&W, "SELECT count(*) FROM outbox");
    char body[256];
    snprintf(body, sizeof body,
             "{\"Eid\":\"%s\",\"SmSr-id\":\"2.999.30.1\",\"ProfileType\":\"TS48v7-SAIP2.3\",\"EnableProfile\":false}",
             W.eids[0]);
    e2e_resp r;
    assert_int_equal(e2e_call(&W, "mno1", "es2", "DownloadProfile", "outbox-dl-1", 600, body, &r), 202);
    e2e_resp_free(&r);
    e2e_msg m;
    if (e2e_peer_wait(W.mno, "outbox-dl-1", W.asan ? 120000 : 60000, &m) != 0)
        fail_msg("no answer to the download: the outbox was not delivered without its poll");
    assert_string_equal(m.status, "Executed-Success");
    e2e_msg_free(&m);
    /* every ES3 message and the answer went through the outbox, each delivered within seconds of its commit */
    assert_true(e2e_sql_long(&W, "SELECT count(*) FROM outbox") - before >= 8);
    /* the answer's own row is marked delivered once the MNO's HTTP answer is back, which may be just
     * after the MNO saw the message */
    long left = -1;
    for (int t = 0; t < 100 && left != 0; t++) {
        left = e2e_sql_long(&W, "SELECT count(*) FROM outbox WHERE state <> 'delivered'");
        if (left)
            usleep(50000);
    }
    assert_int_equal(left, 0);
    long worst_ms = e2e_sql_long(&W, "SELECT coalesce(max(extract(epoch FROM delivered_at - created_at) * 1000), 0)::bigint "
                                     "FROM outbox");
    assert_true(worst_ms < (W.asan ? 20000 : 10000));
}

/* A row and its NOTIFY from another session, as another node's commit makes them. */
static void queue_from_other_node(const char *mid)
{
    char *out = e2e_sql(
        &W,
        "BEGIN;\n"
        "INSERT INTO outbox (dest_role, dest_id, kind, payload) VALUES ('mno', '2.999.40.1', "
        "'ES2.HandleProfileEnabledNotification', convert_to('smbox-es-outbox/1\nrest\n"
        "https://127.0.0.1:%d/gsma/rest/es2/HandleProfileEnabledNotification\n\n\n"
        "{\"header\":{\"functionRequesterIdentifier\":\"2.999.20.1\",\"functionCallIdentifier\":\"%s\","
        "\"messageId\":\"%s\"},\"body\":{}}', 'UTF8'));\n"
        "SELECT pg_notify('smbox_outbox', 'node2/1');\n"
        "COMMIT;\n",
        W.mno_port, mid, mid);
    assert_non_null(out);
    free(out);
}

static bool delivered_to_mno(const char *mid)
{
    e2e_msg *v = NULL;
    size_t n = e2e_peer_msgs(W.mno, "HandleProfileEnabledNotification", &v);
    bool found = false;
    for (size_t i = 0; i < n; i++)
        found = found || !strcmp(v[i].message_id, mid);
    e2e_msgs_free(v, n);
    return found;
}

static bool wait_delivered(const char *mid, int timeout_ms)
{
    for (int t = 0; t < timeout_ms; t += 100) {
        if (delivered_to_mno(mid))
            return true;
        usleep(100000);
    }
    return false;
}

static void test_other_nodes_message(void **st)
{
    (void)st;
    queue_from_other_node("node2-msg-1");
    if (!wait_delivered("node2-msg-1", 10000))
        fail_msg("another node's message was not delivered on its NOTIFY");
    /* the listening session is cut (a server restart, an administrator): smboxd listens again */
    long listens = e2e_smboxd_log_count(&W, "event=outbox_listening");
    char *out = e2e_sql(&W, "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity "
                            "WHERE query = 'LISTEN smbox_outbox' AND datname = 'smbox'");
    assert_non_null(out);
    assert_int_equal(atoi(out), 1);
    free(out);
    assert_true(e2e_smboxd_log_wait(&W, "event=outbox_listen_lost", 1, 10000));
    assert_true(e2e_smboxd_log_wait(&W, "event=outbox_listening", listens + 1, 30000));
    queue_from_other_node("node2-msg-2");
    if (!wait_delivered("node2-msg-2", 10000))
        fail_msg("another node's message was not delivered after the listener reconnected");
    assert_true(e2e_smboxd_alive(&W));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_download_without_the_poll),
        cmocka_unit_test(test_other_nodes_message),
    };
    return cmocka_run_group_tests_name("e2e_outbox", tests, group_setup, group_teardown);
}
