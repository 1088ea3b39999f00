/* bench_es5 (make bench-es5): ES5 delivery throughput against the simulator on loopback — SCP80 SMS
 * packets with their PoRs per second (SMPP both ways, SCP80 wrap and PoR check in the HSM, the queue
 * in PostgreSQL), then HTTPS admin sessions per second (push SMS, PSK-TLS handshake with the PSK
 * unwrapped by the HSM, one script and its answer, session end). One node (3 workers), one
 * simulator, one throw-away cluster and token, all on this machine's cores.
 * BENCH_CARDS (default 200) cards; BENCH_SMS_PER_CARD (default 5) SMS requests each. */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "appliance/es5/es5.h"
#include "tests/support/es5test.h"
#include "tests/support/testpg.h"

/* the test helpers, compiled in (bench programs link the layer archives only) */
#include "tests/support/es5test.c"
#include "tests/support/testenv.c"
#include "tests/support/testpg.c"

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + ts.tv_nsec / 1e9;
}

static long pending(db_conn *c)
{
    static db_stmt st = {"SELECT count(*) FROM es5_request WHERE state <> 'done'", 0, 0};
    db_res *r = NULL;
    long n = db_exec(c, &st, NULL, &r, NULL) == SM_OK ? (long)db_res_int(r, 0, 0) : -1;
    db_res_free(r);
    return n;
}

static long count_status(db_conn *c, int status)
{
    static db_stmt st = {"SELECT count(*) FROM es5_request WHERE state = 'done' AND status = $1::int", 1, 0};
    db_params p;
    db_params_init(&p);
    db_p_int(&p, status);
    db_res *r = NULL;
    long n = db_exec(c, &st, &p, &r, NULL) == SM_OK ? (long)db_res_int(r, 0, 0) : -1;
    db_res_free(r);
    return n;
}

static int run_batch(db_conn *c, const es5t_fleet *f, int per_card, es5_channel ch, es5t_node *node, double *secs)
{
    uint8_t script[32];
    size_t sl = es5t_capdu(script, sizeof script, "80CA005A00");
    sm_err err = {0};
    long ok0 = count_status(c, ES5_OK);
    if (db_begin(c, &err) != SM_OK)
        return -1;
    for (size_t i = 0; i < f->n; i++)
        for (int k = 0; k < per_card; k++) {
            const es5t_card *card = &f->cards[i];
            es5_request r = {.eid = card->eid, .aid = card->isdr_aid, .aid_len = card->isdr_aid_len,
                             .script = script, .script_len = sl, .channel = ch, .label = "bench"};
            int64_t id;
            if (es5_submit(c, &r, &id, &err) != SM_OK) {
                fprintf(stderr, "bench_es5: submit: %s\n", err.msg);
                db_rollback(c);
                return -1;
            }
        }
    if (db_commit(c, &err) != SM_OK)
        return -1;
    double t0 = now_s();
    es5_kick(&node->app);
    while (pending(c) > 0 && now_s() - t0 < 600)
        usleep(20000);
    *secs = now_s() - t0;
    long ok = count_status(c, ES5_OK) - ok0;
    long want = (long)f->n * per_card;
    if (ok != want) {
        fprintf(stderr, "bench_es5: %ld of %ld requests ended OK\n", ok, want);
        return -1;
    }
    return 0;
}

int main(void)
{
    int ncards = getenv("BENCH_CARDS") ? atoi(getenv("BENCH_CARDS")) : 200;
    int per = getenv("BENCH_SMS_PER_CARD") ? atoi(getenv("BENCH_SMS_PER_CARD")) : 5;
    if (ncards < 1 || ncards > 10000 || per < 1 || per > 100)
        return 2;
    testenv_hsm T;
    testpg pg;
    char dir[256], conninfo[512], fdir[300];
    if (testenv_hsm_setup(&T) != 0 || testpg_start(&pg) != 0 ||
        testpg_schema_db(&pg, "bench", conninfo, sizeof conninfo) != 0 ||
        testenv_mkdtemp(dir, sizeof dir, "smbox-bench-es5") != 0)
        return 1;
    snprintf(fdir, sizeof fdir, "%s/fleet", dir);
    es5t_fleet f;
    es5t_sim sim;
    es5t_node node;
    int rc = 1;
    if (es5t_fleet_make(&f, fdir, (unsigned)ncards) != 0)
        goto out;
    int smpp = es5t_free_port(), admin = es5t_free_port();
    if (es5t_sim_start(&sim, &f, smpp, admin, "") != 0)
        goto out;
    char yaml[1000];
    snprintf(yaml, sizeof yaml,
             "  smpp_server: 127.0.0.1:%d\n  sms_source_addr: \"%s\"\n  admin_listen: 127.0.0.1:%d\n"
             "  admin_url: https://127.0.0.1:%d/ram\n  por_timeout_ms: 20000\n  session_wait_ms: 20000\n"
             "  poll_ms: 20\n  admin_idle_ms: 0\n  smpp_window: 50\n",
             smpp, ES5T_SR_SMS, admin, admin);
    if (es5t_node_start(&node, &T, dir, "bench", conninfo, yaml) != 0)
        goto out_sim;
    db_pool *pool = testpg_pool(conninfo, 1);
    db_conn *c = NULL;
    if (db_pool_take(pool, &c, NULL) != SM_OK ||
        es5t_fleet_import(&f, c, node.app.loop_hsm, &node.app.keys.key[AK_KEK], node.app.keys.label[AK_KEK]) != 0)
        goto out_node;
    double s_sms = 0, s_https = 0;
    if (run_batch(c, &f, per, ES5_CH_SMS, &node, &s_sms) != 0 || run_batch(c, &f, 1, ES5_CH_HTTPS, &node, &s_https))
        goto out_node;
    long n_sms = (long)ncards * per;
    printf("es5 SMS:   %ld requests (SCP80 packet + PoR each) to %d cards in %.2f s: %.0f packets/s\n", n_sms, ncards,
           s_sms, n_sms / s_sms);
    printf("es5 HTTPS: %d requests (push SMS + PSK-TLS session + script + answer each) in %.2f s: %.0f sessions/s\n",
           ncards, s_https, ncards / s_https);
    printf("simulator: push=%ld https_sessions=%ld mt=%ld por=%ld\n", es5t_sim_stat(&sim, "push"),
           es5t_sim_stat(&sim, "https_sessions"), es5t_sim_stat(&sim, "mt"), es5t_sim_stat(&sim, "por"));
    rc = 0;
out_node:
    if (c)
        db_pool_give(c);
    db_pool_close(pool);
    es5t_node_stop(&node);
out_sim:
    es5t_sim_stop(&sim);
out:
    es5t_fleet_free(&f);
    testpg_stop(&pg);
    testenv_hsm_teardown(&T);
    testenv_rmtree(dir);
    return rc;
}
