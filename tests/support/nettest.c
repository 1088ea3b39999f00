/* Shared set-up of the net/ tests. */
#include "tests/support/nettest.h"

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include <event2/thread.h>
#include <openssl/err.h>
#include <openssl/ssl.h>

#include "lib/log.h"

#define DIE(...)                              \
    do {                                      \
        fprintf(stderr, "nettest: " __VA_ARGS__); \
        fprintf(stderr, "\n");                \
        abort();                              \
    } while (0)

/* executor over sm_workers */
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

static void on_audit(void *ctx, void *worker, const es_audit_rec *rec)
{
    nettest *n = ctx;
    pthread_mutex_lock(&n->mu);
    n->audits++;
    pthread_mutex_unlock(&n->mu);
}

static void *loop_main(void *arg)
{
    nettest *n = arg;
    event_base_loop(n->base, EVLOOP_NO_EXIT_ON_EMPTY);
    return NULL;
}

static const struct {
    const char *name, *cn, *id, *role;
} roles[] = {
    {"mno", "mno1", "1.3.6.1.4.1.99999.7", "mno"},      {"m2msp", "sp1", "1.3.6.1.4.1.99999.8", "m2msp"},
    {"eum", "eum1", "1.3.6.1.4.1.99999.9", "eum"},      {"smdp", "smdp1", "1.3.6.1.4.1.99999.3", "smdp"},
    {"smsr", "smsr1", "1.3.6.1.4.1.99999.4", "smsr"},   {"smsr2", "smsr2", "1.3.6.1.4.1.99999.5", "smsr"},
    {"mno2", "mno2", "1.3.6.1.4.1.99999.10", "mno"},
};

void nettest_start(nettest *n, const nettest_opts *o, void (*bind_cb)(es_server *s, void *arg), void *arg)
{
    memset(n, 0, sizeof *n);
    pthread_mutex_init(&n->mu, NULL);
    signal(SIGPIPE, SIG_IGN);
    sm_log_init("test", SM_LOG_WARN, 2);
    if (testenv_hsm_setup(&n->T) != 0)
        DIE("token set-up failed");
    n->hsm = testenv_hsm_open(&n->T, 6);
    hsm_sess *s;
    sm_err err = {0};
    if (hsm_session_get(n->hsm, &s, &err) != SM_OK)
        DIE("session: %s", err.msg);
    hsm_keyspec ks = {.type = HSM_KT_EC_PRIV, .curve = HSM_CURVE_P256, .usage = HSM_U_SIGN, .token = true,
                      .label = "smbox-tls-es", .id = (const uint8_t *)"tls1", .idlen = 4};
    hsm_key priv, pub;
    sm_rc rc = hsm_key_find(s, "smbox-tls-es", HSM_KT_EC_PRIV, &priv, &err);
    if (rc == SM_ENOTFOUND) {
        sm_err_clear(&err);
        rc = hsm_ec_generate(s, &ks, &priv, &pub, &err);
    }
    if (rc != SM_OK)
        DIE("TLS key: %s", err.msg);
    uint8_t pt[HSM_EC_POINT_MAX];
    size_t pl = 0;
    if (hsm_ec_public(s, &priv, pt, sizeof pt, &pl, NULL, &err) != SM_OK)
        DIE("public key: %s", err.msg);
    hsm_session_put(s);
    if (testpki_init(&n->pki) != 0)
        DIE("pki");
    EVP_PKEY *spub = testpki_pub_from_point(pt, pl);
    if (!spub || testpki_issue(&n->pki, "server", "smbox", "IP:127.0.0.1,DNS:localhost", spub, 0, 30, 0) != 0)
        DIE("server certificate");
    EVP_PKEY_free(spub);
    testpki_fingerprint(&n->pki, "server", n->server_fp);
    /* the port first: peers' endpoints point back at this server */
    {
        int fd = socket(AF_INET, SOCK_STREAM, 0);
        struct sockaddr_in a = {.sin_family = AF_INET};
        inet_pton(AF_INET, "127.0.0.1", &a.sin_addr);
        socklen_t al = sizeof a;
        if (fd < 0 || bind(fd, (struct sockaddr *)&a, sizeof a) != 0 || getsockname(fd, (struct sockaddr *)&a, &al) != 0)
            DIE("no free port");
        n->port = ntohs(a.sin_port);
        close(fd);
        snprintf(n->listen, sizeof n->listen, "127.0.0.1:%d", n->port);
    }
    static char endpoint[64];
    snprintf(endpoint, sizeof endpoint, "https://127.0.0.1:%d", n->port);
    es_peer_entry *peers = n->peers;
    size_t np = 0;
    static char fps[16][65];
    for (size_t i = 0; i < sizeof roles / sizeof roles[0]; i++) {
        if (testpki_issue(&n->pki, roles[i].name, roles[i].cn, NULL, NULL, 0, 30, 0) != 0)
            DIE("client certificate %s", roles[i].name);
        testpki_fingerprint(&n->pki, roles[i].name, fps[np]);
        peers[np] = (es_peer_entry){.id = roles[i].id, .role = es_role_parse(roles[i].role), .fingerprint = fps[np],
                                    .endpoint = endpoint};
        np++;
    }
    /* the appliance itself, as the SM-SR answering its own SM-DP over ES3 (async responses) */
    static char ep[128];
    peers[np++] = (es_peer_entry){.id = "1.3.6.1.4.1.99999.1.2", .role = ES_ROLE_SMSR, .fingerprint = n->server_fp};
    /* the test SM-DP's server certificate (ReplyTo points at this server in the tests) */
    peers[np++] = (es_peer_entry){.id = "1.3.6.1.4.1.99999.3", .role = ES_ROLE_SMDP, .fingerprint = n->server_fp,
                                  .endpoint = endpoint};
    /* known by subject rather than fingerprint */
    peers[np++] = (es_peer_entry){.id = "1.3.6.1.4.1.99999.11", .role = ES_ROLE_EUM, .subject = "CN=eum2,O=smbox-test"};
    testpki_issue(&n->pki, "eum2", "eum2", NULL, NULL, 0, 30, 0);
    testpki_issue(&n->pki, "unknown", "stranger", NULL, NULL, 0, 30, 0);
    testpki_issue(&n->pki, "expired", "mno1", NULL, NULL, -20, -1, 0);
    testpki_issue(&n->pki, "untrusted", "mno1", NULL, NULL, 0, 30, 1);

    evthread_use_pthreads();
    n->base = event_base_new();
    n->nwhooks = o && o->nwhooks ? (o->nwhooks > 4 ? 4 : o->nwhooks) : 0;
    for (size_t i = 0; i < n->nwhooks; i++)
        n->whooks[i] = o->whooks[i];
    if (sm_workers_start(n->base, n->hsm, 2, n->whooks, n->nwhooks, 0, &n->workers, &err) != SM_OK)
        DIE("workers: %s", err.msg);
    char cert[400];
    testpki_path(&n->pki, "server", "crt", cert, sizeof cert);
    net_tls_config tc = {.cert_file = cert, .ca_file = n->pki.ca_file, .p11_module = n->T.module,
                         .token_label = n->T.label, .key_label = "smbox-tls-es", .pin = n->T.pin};
    if (net_tls_new(&tc, &n->tls, &err) != SM_OK)
        DIE("tls: %s", err.msg);
    es_server_config sc = {
        .listen = n->listen, .tls = n->tls, .peers = {peers, np},
        .max_body_bytes = o && o->max_body ? o->max_body : 1u << 20, .max_header_bytes = 8192, .max_xml_depth = 32,
        .max_xml_nodes = 5000, .rate_per_second = o && o->rate ? o->rate : 1000, .rate_burst = o && o->burst ? o->burst : 1000,
        .idle_timeout_s = o && o->idle_timeout_s ? o->idle_timeout_s : 30,
        .request_timeout_s = o && o->request_timeout_s ? o->request_timeout_s : 30, .handshake_timeout_s = 10,
        .max_conns = 256, .handshake_threads = 2, .public_url = "https://127.0.0.1", .smdp_id = "1.3.6.1.4.1.99999.1.1",
        .smsr_id = "1.3.6.1.4.1.99999.1.2", .client_timeout_s = 10, .client_retries = 2, .client_backoff_ms = 100,
        .exec = {xsubmit, n->workers}, .hooks = {.audit = on_audit, .ctx = n}};
    if (o && o->hooks)
        sc.hooks = *o->hooks;
    (void)ep;
    if (es_server_start(n->base, &sc, &n->srv, &err) != SM_OK)
        DIE("server: %s", err.msg);
    n->sc = sc;
    n->sc.listen = n->listen;
    n->bind_cb = bind_cb;
    n->bind_arg = arg;
    if (bind_cb)
        bind_cb(n->srv, arg);
    pthread_create(&n->loop, NULL, loop_main, n);
}

void nettest_restart(nettest *n)
{
    event_base_loopbreak(n->base);
    pthread_join(n->loop, NULL);
    es_server_stop(n->srv, 5);
    sm_workers_stop(n->workers);
    event_base_free(n->base);
    n->base = event_base_new();
    sm_err err = {0};
    if (sm_workers_start(n->base, n->hsm, 2, n->whooks, n->nwhooks, 0, &n->workers, &err) != SM_OK)
        DIE("workers: %s", err.msg);
    n->sc.exec.ctx = n->workers;
    if (es_server_start(n->base, &n->sc, &n->srv, &err) != SM_OK)
        DIE("server restart: %s", err.msg);
    if (n->bind_cb)
        n->bind_cb(n->srv, n->bind_arg);
    pthread_create(&n->loop, NULL, loop_main, n);
}

void nettest_stop(nettest *n)
{
    event_base_loopbreak(n->base);
    pthread_join(n->loop, NULL);
    es_server_stop(n->srv, 5);
    sm_workers_stop(n->workers);
    net_tls_free(n->tls);
    event_base_free(n->base);
    testpki_free(&n->pki);
    /* the pkcs11 engine keeps the module initialised for the process: leave hsm_close for exit */
    testenv_hsm_teardown(&n->T);
}

/* ---- client --------------------------------------------------------------------------------- */

struct tconn {
    SSL_CTX *ctx;
    SSL *ssl;
    int fd;
};

void tresp_free(tresp *r)
{
    free(r->body);
    r->body = NULL;
}

tconn *nettest_connect(nettest *n, const char *who)
{
    tconn *c = calloc(1, sizeof *c);
    c->fd = -1;
    c->ctx = SSL_CTX_new(TLS_client_method());
    SSL_CTX_load_verify_locations(c->ctx, n->pki.ca_file, NULL);
    SSL_CTX_set_verify(c->ctx, SSL_VERIFY_PEER, NULL);
    if (who) {
        char crt[400], key[400];
        testpki_path(&n->pki, who, "crt", crt, sizeof crt);
        testpki_path(&n->pki, who, "key", key, sizeof key);
        SSL_CTX_use_certificate_file(c->ctx, crt, SSL_FILETYPE_PEM);
        SSL_CTX_use_PrivateKey_file(c->ctx, key, SSL_FILETYPE_PEM);
    }
    c->fd = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons((uint16_t)n->port)};
    inet_pton(AF_INET, "127.0.0.1", &a.sin_addr);
    int one = 1;
    setsockopt(c->fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    struct timeval tv = {15, 0};
    setsockopt(c->fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
    setsockopt(c->fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof tv);
    if (connect(c->fd, (struct sockaddr *)&a, sizeof a) != 0) {
        tconn_close(c);
        return NULL;
    }
    c->ssl = SSL_new(c->ctx);
    SSL_set_fd(c->ssl, c->fd);
    X509_VERIFY_PARAM_set1_ip_asc(SSL_get0_param(c->ssl), "127.0.0.1");
    if (SSL_connect(c->ssl) != 1) {
        ERR_clear_error();
        tconn_close(c);
        return NULL;
    }
    /* TLS 1.3: a refused client certificate shows on the first read; probe without blocking long */
    return c;
}

void tconn_close(tconn *c)
{
    if (!c)
        return;
    if (c->ssl)
        SSL_free(c->ssl);
    if (c->fd >= 0)
        close(c->fd);
    SSL_CTX_free(c->ctx);
    free(c);
}

long tconn_write(tconn *c, const void *p, size_t len)
{
    size_t off = 0;
    while (off < len) {
        int w = SSL_write(c->ssl, (const char *)p + off, (int)(len - off));
        if (w <= 0) {
            ERR_clear_error();
            return off ? (long)off : -1;
        }
        off += (size_t)w;
    }
    return (long)off;
}

tresp tconn_read(tconn *c, int timeout_s)
{
    tresp r = {.status = -2};
    struct timeval tv = {timeout_s, 0};
    setsockopt(c->fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
    char *buf = NULL;
    size_t len = 0, cap = 0;
    long clen = -1;
    size_t hdr_end = 0;
    while (1) {
        if (cap - len < 4096) {
            cap = cap ? cap * 2 : 8192;
            buf = realloc(buf, cap + 1);
        }
        int n = SSL_read(c->ssl, buf + len, (int)(cap - len));
        if (n <= 0) {
            ERR_clear_error();
            break;
        }
        len += (size_t)n;
        buf[len] = 0;
        if (!hdr_end) {
            char *e = strstr(buf, "\r\n\r\n");
            if (e) {
                hdr_end = (size_t)(e - buf) + 4;
                const char *cl = strcasestr(buf, "\r\nContent-Length:");
                clen = cl && cl < e ? strtol(cl + 17, NULL, 10) : 0;
            }
        }
        if (hdr_end && (long)(len - hdr_end) >= clen)
            break;
    }
    if (hdr_end && buf && !strncmp(buf, "HTTP/1.1 ", 9)) {
        r.status = atoi(buf + 9);
        r.len = len - hdr_end;
        r.body = malloc(r.len + 1);
        memcpy(r.body, buf + hdr_end, r.len);
        r.body[r.len] = 0;
    }
    free(buf);
    return r;
}

tresp tconn_post(tconn *c, const char *path, const char *ctype, const char *body)
{
    char head[1024];
    size_t bl = strlen(body);
    int hl = snprintf(head, sizeof head,
                      "POST %s HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: %s\r\nContent-Length: %zu\r\n\r\n", path,
                      ctype, bl);
    if (tconn_write(c, head, (size_t)hl) < 0 || tconn_write(c, body, bl) < 0) {
        tresp r = {.status = -2};
        return r;
    }
    return tconn_read(c, 15);
}

tresp nettest_post(nettest *n, const char *who, const char *path, const char *ctype, const char *body)
{
    tconn *c = nettest_connect(n, who);
    if (!c) {
        tresp r = {.status = -1};
        return r;
    }
    tresp r = tconn_post(c, path, ctype, body);
    if (r.status == -2) {
        /* with TLS 1.3 the server's refusal of the certificate arrives after the client's Finished */
        r.status = -1;
    }
    tconn_close(c);
    return r;
}
