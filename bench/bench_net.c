/* bench_net: the ES server of smbox for `make bench-net` — mutual TLS with the key in a PKCS#11
 * token (libp11 engine), the worker pool, and ES2.GetEIS answered from a cached EIS record by a
 * trivial handler. Runs until SIGTERM/SIGINT; prints "ready port=N" when listening. */
#include <getopt.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <event2/event.h>
#include <event2/thread.h>

#include "appliance/workers.h"
#include "lib/log.h"
#include "net/es_server.h"

static es_value *g_eis;

static void h_geteis(es_call *c, void *arg)
{
    (void)arg;
    es_attach(c->out, "Eis", es_value_dup(g_eis));
}

typedef struct xjob {
    void (*job)(void *, void *);
    void (*done)(void *);
    void *arg;
} xjob;

static void xrun(sm_worker *w, void *a)
{
    xjob *x = a;
    x->job(w, x->arg);
}

static void xdone(void *a)
{
    xjob *x = a;
    x->done(x->arg);
    free(x);
}

static sm_rc xsubmit(void *ctx, void (*job)(void *, void *), void (*done)(void *), void *arg)
{
    xjob *x = malloc(sizeof *x);
    if (!x)
        return SM_ENOMEM;
    *x = (xjob){job, done, arg};
    sm_rc rc = sm_workers_submit(ctx, xrun, xdone, x);
    if (rc != SM_OK)
        free(x);
    return rc;
}

static void on_sig(evutil_socket_t s, short w, void *arg)
{
    (void)s;
    (void)w;
    event_base_loopexit(arg, NULL);
}

int main(int argc, char **argv)
{
    const char *listen = "127.0.0.1:0", *module = "/usr/lib/softhsm/libsofthsm2.so", *token = NULL, *key = NULL,
               *cert = NULL, *ca = NULL, *fp = NULL, *pin = getenv("BENCH_PIN"), *devkey = NULL;
    int workers = 2, hs = 1, c;
    static const struct option o[] = {{"listen", 1, 0, 'l'}, {"module", 1, 0, 'm'}, {"token", 1, 0, 't'},
                                      {"key", 1, 0, 'k'},    {"cert", 1, 0, 'c'},   {"ca", 1, 0, 'a'},
                                      {"peer-fp", 1, 0, 'f'}, {"workers", 1, 0, 'w'}, {"hs-threads", 1, 0, 'h'},
                                      {"dev-key", 1, 0, 'd'},
                                      {0, 0, 0, 0}};
    while ((c = getopt_long(argc, argv, "", o, NULL)) != -1) {
        switch (c) {
        case 'l': listen = optarg; break;
        case 'm': module = optarg; break;
        case 't': token = optarg; break;
        case 'k': key = optarg; break;
        case 'c': cert = optarg; break;
        case 'a': ca = optarg; break;
        case 'f': fp = optarg; break;
        case 'w': workers = atoi(optarg); break;
        case 'h': hs = atoi(optarg); break;
        case 'd': devkey = optarg; break;
        default: return 2;
        }
    }
    if (!token || !key || !cert || !ca || !fp || !pin) {
        fprintf(stderr, "usage: BENCH_PIN=... bench_net --token T --key LABEL --cert C --ca CA --peer-fp HEX "
                        "[--listen H:P] [--module SO] [--workers N] [--hs-threads N] [--dev-key PEM: key from a file, to compare]\n");
        return 2;
    }
    sm_log_init("bench_net", SM_LOG_WARN, 2);
    signal(SIGPIPE, SIG_IGN);
    evthread_use_pthreads();
    sm_err err = {0};
    hsm_config hc = {.module_path = module, .token_label = token, .pin = pin, .pin_len = strlen(pin),
                     .sessions = (unsigned)workers + 1};
    hsm_ctx *hsm = NULL;
    if (hsm_open(&hc, &hsm, &err) != SM_OK) {
        fprintf(stderr, "bench_net: %s\n", err.msg);
        return 1;
    }
    struct event_base *base = event_base_new();
    sm_workers *ws = NULL;
    net_tls *tls = NULL;
    es_server *srv = NULL;
    net_tls_config tc = {.cert_file = cert, .ca_file = ca, .p11_module = module, .token_label = token,
                         .key_label = key, .pin = pin, .dev_key_file = devkey};
    es_peer_entry peer = {.id = "1.3.6.1.4.1.99999.7", .role = ES_ROLE_MNO, .fingerprint = fp};
    if (sm_workers_start(base, hsm, (unsigned)workers, NULL, 0, 0, &ws, &err) != SM_OK ||
        net_tls_new(&tc, &tls, &err) != SM_OK) {
        fprintf(stderr, "bench_net: %s\n", err.msg);
        return 1;
    }
    es_server_config sc = {.listen = listen, .tls = tls, .peers = {&peer, 1}, .rate_per_second = 1e9, .rate_burst = 1e9,
                           .idle_timeout_s = 60, .request_timeout_s = 60, .handshake_timeout_s = 10, .max_conns = 4096,
                           .handshake_threads = (unsigned)hs, .public_url = "https://127.0.0.1",
                           .smdp_id = "1.3.6.1.4.1.99999.1.1", .smsr_id = "1.3.6.1.4.1.99999.1.2",
                           .exec = {xsubmit, ws}};
    if (es_server_start(base, &sc, &srv, &err) != SM_OK ||
        es_server_bind(srv, "ES2.GetEIS", ES_KIND_REQUEST, h_geteis, NULL, &err) != SM_OK) {
        fprintf(stderr, "bench_net: %s\n", err.msg);
        return 1;
    }
    /* the cached record: a small EIS as an MNO sees it */
    g_eis = es_struct_new();
    es_value *si = es_add_struct(g_eis, "EumSignedInfo");
    es_add_str(si, "Eid", "89001012012341234012345678901224");
    es_add_str(si, "Eum-id", "1.3.6.1.4.1.99999.9");
    es_add_str(si, "ProductionDate", "2024-01-01T00:00:00Z");
    es_add_str(si, "PlatformType", "bench");
    es_add_str(si, "PlatformVersion", "1.0.0");
    es_add_int(g_eis, "RemainingMemory", 262144);
    es_add_int(g_eis, "AvailableMemoryForProfiles", 524288);
    es_add_str(g_eis, "Smsr-id", "1.3.6.1.4.1.99999.1.2");
    es_value *pl = es_add_list(g_eis, "ProfileInfo");
    es_value *p = es_add_struct(pl, NULL);
    es_add_str(p, "Iccid", "8988299000000000014");
    es_add_str(p, "Isd-p-aid", "A0000005591010FFFFFFFF8900001000");
    es_add_str(p, "Mno-id", "1.3.6.1.4.1.99999.7");
    es_add_bool(p, "FallbackAttribute", true);
    es_add_str(es_add_struct(p, "SubscriptionAddress"), "Msisdn", "31612345678");
    es_add_str(p, "State", "Enabled");
    es_add_int(p, "AllocatedMemory", 65536);
    es_add_struct(p, "pol2");
    struct event *s1 = evsignal_new(base, SIGTERM, on_sig, base), *s2 = evsignal_new(base, SIGINT, on_sig, base);
    event_add(s1, NULL);
    event_add(s2, NULL);
    printf("ready port=%d\n", es_server_port(srv));
    fflush(stdout);
    event_base_dispatch(base);
    es_server_stats st;
    es_server_get_stats(srv, &st);
    fprintf(stderr, "handshakes=%lu hs_busy_mean_us=%lu hs_busy_max_us=%lu\n", st.handshakes,
            st.handshakes ? st.handshake_busy_us_total / st.handshakes : 0, st.handshake_busy_us_max);
    es_server_stop(srv, 5);
    sm_workers_stop(ws);
    net_tls_free(tls);
    event_free(s1);
    event_free(s2);
    event_base_free(base);
    es_value_free(g_eis);
    return 0;
}
