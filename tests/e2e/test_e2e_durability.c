/* End to end, durability: a batch of profile downloads is started (the ISD-R's enabling and the
 * notification confirmations by SMS with PoRs, the rest in SCP81 sessions after SMS pushes), smboxd is
 * killed with SIGKILL at a random moment, started again, and every download must end exactly once —
 * completed or cleanly failed: each answer reaches the MNO with one outcome (copies of an
 * at-least-once delivery agree), no profile is given to two cards or counted installed without a
 * card holding it, no ISD-P is left on a card or in the EIS half made, the card and its EIS agree,
 * and no card is left with an unconfirmed notification. Repeated for ROUNDS random kill points
 * (SMBOX_E2E_SEED reproduces a run; SMBOX_E2E_ROUNDS changes the count). */
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

#include "tests/support/e2e.h"

#define ROUNDS 4
#define PER_ROUND 16

static e2e_world W;
static unsigned seed;
static int rounds = ROUNDS;

static int group_setup(void **st)
{
    (void)st;
    const char *s = getenv("SMBOX_E2E_SEED"), *r = getenv("SMBOX_E2E_ROUNDS");
    seed = s && *s ? (unsigned)strtoul(s, NULL, 10) : (unsigned)time(NULL) ^ (unsigned)getpid();
    if (r && *r)
        rounds = atoi(r) > 0 ? atoi(r) : ROUNDS;
    fprintf(stderr, "e2e: durability seed %u (SMBOX_E2E_SEED=%u reproduces it), %d rounds\n", seed, seed, rounds);
    srand(seed);
    e2e_opts o = {.fleet = (unsigned)(rounds * PER_ROUND), .order_qty = (unsigned)(rounds * PER_ROUND + 5),
                  /* the waits a kill leaves behind (a push whose session never came, a PoR never
                   * received, the dead node's claims on procedure steps, ES5 requests, outbox messages
                   * and the scripts in its admin sessions) end in seconds, not the production half
                   * minute: each round waits on them */
                  .extra_yaml = "workers:\n  lease_ms: 4000\n"
                                "es5:\n  prefer_channel: sms\n  sms_max_parts: 8\n  por_timeout_ms: 5000\n"
                                "  session_wait_ms: 10000\n  lease_ms: 4000\n  script_timeout_s: 10\n"
                                "smsr:\n  platform_channel: sms\n"};
    return e2e_setup(&W, &o);
}

static int group_teardown(void **st)
{
    (void)st;
    e2e_teardown(&W);
    return 0;
}

typedef struct dl {
    char fcid[48];
    char eid[33];
    e2e_msg a;
} dl;

static bool quiet(void *arg)
{
    (void)arg;
    long busy = e2e_sql_long(&W, "SELECT (SELECT count(*) FROM proc WHERE state IN ('ready','running','waiting')) + "
                                 "(SELECT count(*) FROM es5_request WHERE state <> 'done') + "
                                 "(SELECT count(*) FROM outbox WHERE state NOT IN ('delivered','dead'))");
    return busy == 0;
}

/* one round: its own cards, a kill -9 at a random point, a restart */
static void round_once(int round)
{
    size_t n = PER_ROUND, k = 0;
    dl *d = calloc(n, sizeof *d);
    assert_non_null(d);
    for (size_t i = (size_t)round * PER_ROUND; i < W.neids && k < n; i++, k++) {
        memcpy(d[k].eid, W.eids[i], 33);
        snprintf(d[k].fcid, sizeof d[k].fcid, "dur-%d-%zu", round, i);
    }
    assert_int_equal(k, n);
    long start = e2e_smboxd_log_count(&W, "event=es3_request");
    for (size_t i = 0; i < n; i++) {
        e2e_resp r;
        int http = e2e_download(&W, d[i].fcid, d[i].eid, NULL, true, &r);
        if (http != 202)
            fail_msg("round %d: %s answered HTTP %d %s", round, d[i].fcid, http, r.status);
        e2e_resp_free(&r);
    }
    /* the kill points: uniform over the protocol's progress — after a random number of the ES3 requests
     * the batch makes (GetEIS, CreateISDP, the SendData of key establishment and of the profile,
     * ProfileDownloadCompleted, EnableProfile), the last ones while the cards switch and notify; odd rounds
     * are killed twice */
    for (int kill = 0; kill < 1 + round % 2; kill++) {
        /* uniform over what is left of the round (counted conservatively: 6 per download) */
        long now = e2e_smboxd_log_count(&W, "event=es3_request"), left = (long)(6 * n) - (now - start);
        long base = now, target = base + 1 + rand() % (left > 1 ? left : 1);
        int64_t t0 = e2e_now_us();
        while (e2e_smboxd_log_count(&W, "event=es3_request") < target && e2e_now_us() - t0 < 20000000)
            usleep(20000);
        int delay_ms = (int)((e2e_now_us() - t0) / 1000);
        long running = e2e_sql_long(&W, "SELECT count(*) FROM proc WHERE state IN ('ready','running','waiting')");
        char phases[512] = "";
        char *ph = e2e_sql(&W, "SELECT string_agg(phase || '=' || n, ' ') FROM (SELECT phase, count(*) n FROM "
                               "dp_download WHERE outcome IS NULL GROUP BY phase) x");
        if (ph) {
            ph[strcspn(ph, "\n")] = 0;
            snprintf(phases, sizeof phases, "%s", ph);
            free(ph);
        }
        fprintf(stderr, "e2e: round %d: kill -9 at ES3 request %ld of the round, after %d ms (%ld procedures in flight; "
                        "downloads at %s)\n",
                round, target - base, delay_ms, running, phases[0] ? phases : "-");
        e2e_smboxd_kill9(&W);
        usleep((useconds_t)(rand() % 2000) * 1000);
        assert_int_equal(e2e_smboxd_start(&W), 0);
    }

    /* every download ends, exactly once */
    int ok = 0, failed = 0;
    for (size_t i = 0; i < n; i++) {
        if (e2e_peer_wait(W.mno, d[i].fcid, 900000, &d[i].a) != 0)
            fail_msg("round %d: %s (%s) never answered", round, d[i].fcid, d[i].eid);
        if (!strcmp(d[i].a.status, "Executed-Success") || !strcmp(d[i].a.status, "Executed-WithWarning"))
            ok++;
        else
            failed++;
    }
    assert_true(e2e_until(quiet, NULL, 600000));
    fprintf(stderr, "e2e: round %d: %d completed, %d failed cleanly\n", round, ok, failed);

    e2e_msg *all = NULL;
    size_t na = e2e_peer_msgs(W.mno, NULL, &all);
    for (size_t i = 0; i < n; i++) {
        /* one outcome per download, whatever the number of copies */
        for (size_t j = 0; j < na; j++)
            if (!strcmp(all[j].relates_to, d[i].fcid) &&
                (strcmp(all[j].status, d[i].a.status) || strcmp(all[j].iccid, d[i].a.iccid)))
                fail_msg("round %d: %s answered %s %s and %s %s", round, d[i].fcid, d[i].a.status, d[i].a.iccid,
                         all[j].status, all[j].iccid);
        bool success = !strcmp(d[i].a.status, "Executed-Success") || !strcmp(d[i].a.status, "Executed-WithWarning");
        long mine = e2e_sql_long(&W, "SELECT count(*) FROM profile WHERE eid = '%s' AND iccid LIKE '8999%%'", d[i].eid);
        if (success) {
            assert_true(d[i].a.iccid[0] != 0);
            assert_int_equal(mine, 1);
            assert_int_equal(e2e_sql_long(&W, "SELECT count(*) FROM profile WHERE iccid = '%s'", d[i].a.iccid), 1);
            assert_int_equal(e2e_sql_long(&W, "SELECT count(*) FROM profile_stock WHERE iccid = '%s' AND state = "
                                              "'installed'",
                                          d[i].a.iccid),
                             1);
        } else {
            /* cleanly failed: nothing of it on the card or in the EIS */
            if (mine != 0)
                fail_msg("round %d: %s failed (%s %s/%s) but %ld downloaded profile(s) are in the EIS", round, d[i].fcid,
                         d[i].a.status, d[i].a.subject, d[i].a.reason, mine);
        }
        /* the card has no half-made ISD-P and no notification waiting for confirmation */
        char *p = e2e_sim(&W, "profiles %s", d[i].eid);
        assert_non_null(p);
        if (strstr(p, "SELECTABLE") || strstr(p, "PERSONALIZED"))
            fail_msg("round %d: %s left an ISD-P behind on card %s:\n%s", round, d[i].fcid, d[i].eid, p);
        free(p);
    }
    e2e_msgs_free(all, na);

    /* stock: every installed profile sits on exactly one card; none is stuck reserved */
    assert_int_equal(e2e_sql_long(&W, "SELECT count(*) FROM profile_stock WHERE state = 'reserved'"), 0);
    assert_int_equal(e2e_sql_long(&W, "SELECT count(*) FROM profile_stock s WHERE s.state = 'installed' AND NOT EXISTS "
                                      "(SELECT 1 FROM profile p WHERE p.iccid = s.iccid)"),
                     0);
    assert_int_equal(e2e_sql_long(&W, "SELECT count(*) FROM profile WHERE state IN ('creating','Created')"), 0);
    char (*eids)[33] = calloc(n, sizeof *eids);
    assert_non_null(eids);
    for (size_t i = 0; i < n; i++)
        memcpy(eids[i], d[i].eid, 33);
    char why[4096];
    if (e2e_check_cards(&W, eids, n, why, sizeof why) != 0)
        fail_msg("round %d: cards and EIS differ:\n%s", round, why);
    free(eids);
    for (size_t i = 0; i < n; i++)
        e2e_msg_free(&d[i].a);
    free(d);
}

static void test_kill9_rounds(void **st)
{
    (void)st;
    for (int r = 0; r < rounds; r++)
        round_once(r);
    /* no card keeps an unconfirmed notification, and the audit trail survived every crash */
    char *l = e2e_sim(&W, "list %zu 0", W.neids);
    assert_non_null(l);
    if (strstr(l, "pending=1") || strstr(l, "pending=2") || strstr(l, "pending=3"))
        fail_msg("cards with unconfirmed notifications:\n%s", l);
    free(l);
    int status = 0;
    char *out = e2e_smctl(&W, &status, "audit verify");
    if (status != 0)
        fail_msg("smctl audit verify after %d crashes: %s", rounds, out ? out : "");
    free(out);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_kill9_rounds),
    };
    return cmocka_run_group_tests(tests, group_setup, group_teardown);
}
