/* Outbound ES client. */
#include "net/es_client.h"

#include <arpa/inet.h>
#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/eventfd.h>
#include <time.h>
#include <unistd.h>

#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/bufferevent_ssl.h>
#include <openssl/x509v3.h>

#include "lib/log.h"
#include "net/http.h"
#include "net/rest.h"
#include "net/soap.h"
#include "net/tls.h"

typedef struct ec_req ec_req;

typedef struct ec_conn {
    es_client *c;
    struct bufferevent *bev;
    char key[300];
    char peer_id[ES_ID_MAX];
    ec_req *req;
    http_msg resp;
    bool reused;
    struct ec_conn *next;
} ec_conn;

struct ec_req {
    es_client *c;
    char host[256], port[8], path[512], key[300], peer_id[ES_ID_MAX], action[300];
    es_binding b;
    const es_function *fn;
    es_kind kind;
    sm_buf payload;
    int attempt;
    es_client_cb cb;
    void *arg;
    struct event *timer;
    ec_conn *conn;
    bool handshaking, cancelled, waiting_retry;
    ec_req *next;
};

typedef struct ec_post {
    struct ec_post *next;
    char url[ES_URL_MAX], peer_id[ES_ID_MAX], action[300];
    es_binding b;
    es_msg m;
    bool raw;
    sm_buf payload;
    es_client_cb cb;
    void *arg;
} ec_post;

struct es_client {
    es_client_config cfg;
    ec_conn *idle;
    ec_req *reqs;
    int efd;
    struct event *post_ev;
    pthread_mutex_t lock;
    ec_post *posts;
    es_client_stats st;
};

static void attempt(ec_req *r);
static void conn_free(ec_conn *k);

/* ---- helpers ----------------------------------------------------------------------------------- */

static bool parse_url(const char *url, char *host, size_t hcap, char *port, size_t pcap, char *path, size_t pathcap)
{
    if (strncasecmp(url, "https://", 8))
        return false;
    const char *h = url + 8;
    const char *slash = strchr(h, '/');
    size_t hl = slash ? (size_t)(slash - h) : strlen(h);
    char hp[300];
    if (!hl || hl >= sizeof hp)
        return false;
    memcpy(hp, h, hl);
    hp[hl] = 0;
    char *colon = NULL;
    if (hp[0] == '[') {
        char *rb = strchr(hp, ']');
        if (!rb)
            return false;
        *rb = 0;
        snprintf(host, hcap, "%.255s", hp + 1);
        colon = rb[1] == ':' ? rb + 1 : NULL;
    } else {
        colon = strrchr(hp, ':');
        if (colon)
            *colon = 0;
        snprintf(host, hcap, "%.255s", hp);
    }
    snprintf(port, pcap, "%s", colon ? colon + 1 : "443");
    snprintf(path, pathcap, "%s", slash ? slash : "/");
    return *host != 0;
}

void es_client_url(const char *base, es_binding b, const es_function *f, es_kind kind, char *out, size_t cap)
{
    if (!strcmp(base, "local")) {
        /* a co-located role (net/es_local.h): delivered in-process from the outbox */
        es_client_url("local:", b, f, kind, out, cap);
        return;
    }
    size_t bl = strlen(base);
    while (bl && base[bl - 1] == '/')
        bl--;
    const char *after_host = strncasecmp(base, "https://", 8) ? NULL : strchr(base + 8, '/');
    if (b == ES_BIND_SOAP) {
        if (after_host && (size_t)(after_host - base) < bl) {
            snprintf(out, cap, "%.*s", (int)bl, base);
            return;
        }
        char es[4] = {0};
        const char *n = es_iface_name(f->iface);
        for (int i = 0; i < 3; i++)
            es[i] = (char)(n[i] >= 'A' && n[i] <= 'Z' ? n[i] + 32 : n[i]);
        snprintf(out, cap, "%.*s/gsma/soap/%s", (int)bl, base, es);
    } else {
        char p[200];
        rest_path(f, kind, p, sizeof p);
        snprintf(out, cap, "%.*s%s", (int)bl, base, p);
    }
}

static void result_init(es_client_result *res, ec_req *r)
{
    memset(res, 0, sizeof *res);
    res->attempts = r->attempt;
    es_status_ok(&res->status);
}

static void req_free(ec_req *r)
{
    es_client *c = r->c;
    if (!r->cancelled)
        for (ec_req **p = &c->reqs; *p; p = &(*p)->next)
            if (*p == r) {
                *p = r->next;
                break;
            }
    if (r->timer)
        event_free(r->timer);
    sm_buf_free(&r->payload);
    free(r);
}

static void finish(ec_req *r, es_client_result *res)
{
    if (r->conn) {
        r->conn->req = NULL;
        r->conn = NULL;
    }
    if (res->rc == SM_OK)
        r->c->st.ok++;
    else {
        r->c->st.failed++;
        char q[300];
        sm_log(SM_LOG_WARN, "net", "es_call_failed", "to=%s:%s%s attempts=%d http=%d error=%s", r->host, r->port, r->path,
               r->attempt, res->http_status, SM_LOGQ(q, res->error));
    }
    if (r->cb)
        r->cb(res, r->arg);
    es_msg_clear(&res->msg);
    req_free(r);
}

static void fail_final(ec_req *r, sm_rc rc, int http, const char *why)
{
    es_client_result res;
    result_init(&res, r);
    res.rc = rc;
    res.http_status = http;
    snprintf(res.error, sizeof res.error, "%s", why);
    es_status_fail(&res.status, ES_SUBJ_FUNCTION, ES_RSN_NO_RESPONSE, "%s", why);
    finish(r, &res);
}

static void on_retry_timer(evutil_socket_t fd, short what, void *arg)
{
    (void)fd;
    (void)what;
    ec_req *r = arg;
    if (r->waiting_retry) {
        r->waiting_retry = false;
        attempt(r);
        return;
    }
    /* attempt timeout */
    if (r->conn) {
        ec_conn *k = r->conn;
        r->conn = NULL;
        k->req = NULL;
        conn_free(k);
    }
    if (r->handshaking) {
        /* the handshake completes later and is discarded; go on with a fresh request object */
        ec_req *n = calloc(1, sizeof *n);
        if (!n) {
            r->cancelled = false;
            fail_final(r, SM_ENOMEM, 0, "out of memory");
            return;
        }
        *n = *r;
        n->timer = evtimer_new(r->c->cfg.base, on_retry_timer, n);
        sm_buf_init(&r->payload);
        for (ec_req **p = &r->c->reqs; *p; p = &(*p)->next)
            if (*p == r) {
                *p = n;
                break;
            }
        r->cancelled = true;
        event_free(r->timer); /* the firing, non-persistent timer: allowed from its own callback */
        r->timer = NULL;
        r = n;
        r->handshaking = false;
    }
    /* treat as a retryable failure */
    es_client *c = r->c;
    if (r->attempt <= c->cfg.retries) {
        c->st.retried++;
        r->waiting_retry = true;
        int ms = c->cfg.backoff_ms << (r->attempt - 1);
        struct timeval tv = {ms / 1000, (ms % 1000) * 1000};
        evtimer_add(r->timer, &tv);
        return;
    }
    fail_final(r, SM_ETIMEOUT, 0, "no answer within the timeout");
}

static void retry_or_fail(ec_req *r, sm_rc rc, int http, const char *why)
{
    es_client *c = r->c;
    if (r->conn) {
        ec_conn *k = r->conn;
        r->conn = NULL;
        k->req = NULL;
        conn_free(k);
    }
    evtimer_del(r->timer);
    if (r->attempt <= c->cfg.retries) {
        c->st.retried++;
        char q[300];
        sm_log(SM_LOG_INFO, "net", "es_call_retry", "to=%s:%s%s attempt=%d why=%s", r->host, r->port, r->path, r->attempt,
               SM_LOGQ(q, why));
        r->waiting_retry = true;
        int ms = c->cfg.backoff_ms << (r->attempt - 1);
        struct timeval tv = {ms / 1000, (ms % 1000) * 1000};
        evtimer_add(r->timer, &tv);
        return;
    }
    fail_final(r, rc, http, why);
}

/* ---- connections --------------------------------------------------------------------------------- */

static void conn_free(ec_conn *k)
{
    es_client *c = k->c;
    for (ec_conn **p = &c->idle; *p; p = &(*p)->next)
        if (*p == k) {
            *p = k->next;
            break;
        }
    if (k->bev)
        bufferevent_free(k->bev);
    http_msg_free(&k->resp);
    free(k);
}

static void pool_put(ec_conn *k)
{
    es_client *c = k->c;
    unsigned n = 0;
    for (ec_conn *i = c->idle; i; i = i->next)
        if (!strcmp(i->key, k->key))
            n++;
    if (n >= c->cfg.max_idle_per_host) {
        conn_free(k);
        return;
    }
    http_msg_reset(&k->resp);
    struct timeval idle = {c->cfg.idle_s, 0};
    bufferevent_set_timeouts(k->bev, &idle, NULL);
    k->next = c->idle;
    c->idle = k;
}

static ec_conn *pool_take(es_client *c, const char *key, const char *peer_id)
{
    for (ec_conn **p = &c->idle; *p; p = &(*p)->next) {
        ec_conn *k = *p;
        if (!strcmp(k->key, key) && !strcmp(k->peer_id, peer_id)) {
            *p = k->next;
            k->next = NULL;
            return k;
        }
    }
    return NULL;
}

static void complete(ec_req *r, ec_conn *k)
{
    es_client *c = r->c;
    http_msg *m = &k->resp;
    int s = m->status;
    evtimer_del(r->timer);
    if (s == 408 || s == 429 || s >= 500) {
        char why[64];
        snprintf(why, sizeof why, "HTTP %d", s);
        retry_or_fail(r, SM_EPROTO, s, why);
        return;
    }
    es_client_result res;
    result_init(&res, r);
    res.http_status = s;
    /* a synchronous answer, or an asynchronous function refused on the spot (200 + its response) */
    if (m->body.len && s / 100 == 2 && r->fn && r->kind == ES_KIND_REQUEST) {
        sm_err e = {0};
        sm_rc rc;
        if (r->b == ES_BIND_SOAP) {
            soap_fault f;
            rc = soap_decode((const char *)m->body.data, m->body.len, &c->cfg.xlim, r->fn->iface, &res.msg, &res.status,
                             &f, &e);
        } else {
            rc = rest_decode((const char *)m->body.data, m->body.len, &c->cfg.jlim, r->fn, ES_KIND_RESPONSE, &res.msg,
                             &res.status, &e);
        }
        if (rc != SM_OK) {
            res.rc = SM_EPROTO;
            snprintf(res.error, sizeof res.error, "undecodable answer: %.200s", e.msg);
        } else if (res.status.exec == ES_EXEC_SUCCESS) {
            res.status = res.msg.status;
        }
    } else if (s / 100 != 2) {
        res.rc = SM_EPROTO;
        snprintf(res.error, sizeof res.error, "HTTP %d", s);
        /* a REST error answer carries the GSMA status */
        if (r->b == ES_BIND_REST && m->body.len) {
            jv *root = NULL;
            sm_err e = {0};
            if (json_parse((const char *)m->body.data, m->body.len, &c->cfg.jlim, &root, &e) == SM_OK) {
                const jv *st = jv_get(jv_get(jv_get(root, "header"), "functionExecutionStatus"), "statusCodeData");
                const jv *sc = jv_get(st, "subjectCode"), *rc2 = jv_get(st, "reasonCode");
                if (sc && rc2 && sc->t == JV_STR && rc2->t == JV_STR)
                    es_status_fail(&res.status, sc->s, rc2->s, "HTTP %d", s);
                jv_free(root);
            }
        }
    }
    bool keep = m->keep_alive && !http_header(m, "Connection") ? m->minor >= 1 : m->keep_alive;
    r->conn = NULL;
    k->req = NULL;
    if (keep)
        pool_put(k);
    else
        conn_free(k);
    finish(r, &res);
}

static void on_conn_read(struct bufferevent *bev, void *arg)
{
    ec_conn *k = arg;
    ec_req *r = k->req;
    struct evbuffer *in = bufferevent_get_input(bev);
    if (!r) { /* data on an idle connection: not HTTP we expect */
        conn_free(k);
        return;
    }
    http_limits lim = {.max_header_bytes = 65536, .max_body_bytes = k->c->cfg.max_body};
    int status = 0;
    const char *why = NULL;
    http_rc hr = http_parse(&k->resp, in, &lim, &status, &why);
    if (hr == HTTP_MORE)
        return;
    if (hr == HTTP_ERROR) {
        retry_or_fail(r, SM_EPROTO, 0, why);
        return;
    }
    complete(r, k);
}

static void on_conn_event(struct bufferevent *bev, short what, void *arg)
{
    (void)bev;
    (void)what;
    ec_conn *k = arg;
    ec_req *r = k->req;
    if (!r) {
        conn_free(k);
        return;
    }
    bool stale = k->reused && !k->resp.started;
    r->conn = NULL;
    k->req = NULL;
    conn_free(k);
    if (stale) {
        /* the peer had closed the pooled connection: not the peer's failure, try a fresh one */
        r->attempt--;
        evtimer_del(r->timer);
        attempt(r);
        return;
    }
    retry_or_fail(r, SM_EIO, 0, "connection closed before the answer");
}

static void write_request(ec_req *r, ec_conn *k)
{
    r->conn = k;
    k->req = r;
    http_msg_reset(&k->resp);
    bufferevent_set_timeouts(k->bev, NULL, NULL);
    bufferevent_setcb(k->bev, on_conn_read, NULL, on_conn_event, k);
    bufferevent_enable(k->bev, EV_READ | EV_WRITE);
    struct evbuffer *out = bufferevent_get_output(k->bev);
    bool ip6 = strchr(r->host, ':') != NULL;
    if (r->b == ES_BIND_SOAP)
        evbuffer_add_printf(out,
                            "POST %s HTTP/1.1\r\nHost: %s%s%s:%s\r\nContent-Type: application/soap+xml; charset=utf-8; "
                            "action=\"%s\"\r\nContent-Length: %zu\r\nConnection: keep-alive\r\n\r\n",
                            r->path, ip6 ? "[" : "", r->host, ip6 ? "]" : "", r->port, r->action, r->payload.len);
    else
        evbuffer_add_printf(out,
                            "POST %s HTTP/1.1\r\nHost: %s%s%s:%s\r\nContent-Type: application/json\r\nAccept: "
                            "application/json\r\nContent-Length: %zu\r\nConnection: keep-alive\r\n\r\n",
                            r->path, ip6 ? "[" : "", r->host, ip6 ? "]" : "", r->port, r->payload.len);
    evbuffer_add(out, r->payload.data, r->payload.len);
}

static void on_handshake(void *arg, SSL *ssl, evutil_socket_t fd, const char *why)
{
    ec_req *r = arg;
    if (r->cancelled) {
        if (ssl) {
            SSL_free(ssl);
            close(fd);
        }
        sm_buf_free(&r->payload);
        free(r);
        return;
    }
    r->handshaking = false;
    es_client *c = r->c;
    if (!ssl) {
        retry_or_fail(r, SM_EIO, 0, why);
        return;
    }
    if (r->peer_id[0]) {
        /* the server must be one of the certificates configured for that peer id (a peer may list
         * several: client and server certificates differ); an id listed without criteria: trust list only */
        X509 *x = SSL_get0_peer_certificate(ssl);
        net_cert_info ci;
        bool match = false, any = false, listed = false;
        if (x)
            net_cert_info_from(x, &ci);
        for (size_t i = 0; x && c->cfg.peers && i < c->cfg.peers->n && !match; i++) {
            const es_peer_entry *e = &c->cfg.peers->v[i];
            if (!e->id || strcmp(e->id, r->peer_id))
                continue;
            listed = true;
            bool has = (e->fingerprint && *e->fingerprint) || (e->subject && *e->subject) || (e->san && *e->san);
            any = any || has;
            match = has && es_peer_entry_matches(e, &ci);
        }
        if (!x || !listed || (any && !match)) {
            SSL_free(ssl);
            close(fd);
            evtimer_del(r->timer);
            fail_final(r, SM_EPERM, 0, "the server certificate is not the expected peer's");
            return;
        }
    }
    ec_conn *k = calloc(1, sizeof *k);
    struct bufferevent *bev =
        k ? bufferevent_openssl_socket_new(c->cfg.base, fd, ssl, BUFFEREVENT_SSL_OPEN, BEV_OPT_CLOSE_ON_FREE) : NULL;
    if (!bev) {
        free(k);
        SSL_free(ssl);
        close(fd);
        retry_or_fail(r, SM_ENOMEM, 0, "out of memory");
        return;
    }
    bufferevent_openssl_set_allow_dirty_shutdown(bev, 1);
    k->c = c;
    k->bev = bev;
    snprintf(k->key, sizeof k->key, "%s", r->key);
    snprintf(k->peer_id, sizeof k->peer_id, "%s", r->peer_id);
    http_msg_init(&k->resp, false);
    c->st.connects++;
    write_request(r, k);
}

static void attempt(ec_req *r)
{
    es_client *c = r->c;
    r->attempt++;
    struct timeval tv = {c->cfg.timeout_s, 0};
    evtimer_add(r->timer, &tv);
    ec_conn *k = pool_take(c, r->key, r->peer_id);
    if (k) {
        c->st.reused++;
        k->reused = true;
        write_request(r, k);
        return;
    }
    SSL *ssl = SSL_new(c->cfg.ssl_ctx);
    if (!ssl) {
        retry_or_fail(r, SM_ECRYPTO, 0, "SSL_new failed");
        return;
    }
    struct in6_addr a6;
    struct in_addr a4;
    if (inet_pton(AF_INET, r->host, &a4) == 1 || inet_pton(AF_INET6, r->host, &a6) == 1) {
        X509_VERIFY_PARAM_set1_ip_asc(SSL_get0_param(ssl), r->host);
    } else {
        SSL_set_tlsext_host_name(ssl, r->host);
        SSL_set1_host(ssl, r->host);
    }
    r->handshaking = true;
    net_hs_connect(c->cfg.hs, r->host, r->port, ssl, c->cfg.timeout_s * 1000, on_handshake, r);
}

/* ---- public ----------------------------------------------------------------------------------- */

static ec_req *req_new(es_client *c, const char *url, const char *peer_id, es_binding b, es_client_cb cb, void *arg,
                       bool *ok)
{
    ec_req *r = calloc(1, sizeof *r);
    *ok = false;
    if (!r) {
        es_client_result res;
        memset(&res, 0, sizeof res);
        res.rc = SM_ENOMEM;
        snprintf(res.error, sizeof res.error, "out of memory");
        if (cb)
            cb(&res, arg);
        return NULL;
    }
    r->c = c;
    r->b = b;
    r->cb = cb;
    r->arg = arg;
    sm_buf_init(&r->payload);
    r->next = c->reqs;
    c->reqs = r;
    r->timer = evtimer_new(c->cfg.base, on_retry_timer, r);
    c->st.sent++;
    snprintf(r->peer_id, sizeof r->peer_id, "%s", peer_id ? peer_id : "");
    if (!r->timer) {
        fail_final(r, SM_ENOMEM, 0, "no timer");
        return NULL;
    }
    if (!parse_url(url, r->host, sizeof r->host, r->port, sizeof r->port, r->path, sizeof r->path)) {
        fail_final(r, SM_EINVAL, 0, "not an https URL");
        return NULL;
    }
    snprintf(r->key, sizeof r->key, "%s|%s", r->host, r->port);
    *ok = true;
    return r;
}

void es_client_send(es_client *c, const char *url, const char *peer_id, es_binding b, const es_msg *m,
                    es_client_cb cb, void *arg)
{
    bool ok;
    ec_req *r = req_new(c, url, peer_id, b, cb, arg, &ok);
    if (!ok)
        return;
    r->fn = m->fn;
    r->kind = m->kind;
    if (!m->fn) {
        fail_final(r, SM_EINVAL, 0, "no function");
        return;
    }
    snprintf(r->action, sizeof r->action, "%s",
             m->hdr.action[0] ? m->hdr.action : m->kind == ES_KIND_RESPONSE ? m->fn->resp_action : m->fn->req_action);
    sm_err e = {0};
    sm_rc rc = b == ES_BIND_SOAP ? soap_encode(m, &r->payload, &e) : rest_encode(m, &r->payload, &e);
    if (rc != SM_OK) {
        fail_final(r, rc, 0, e.msg);
        return;
    }
    attempt(r);
}

void es_client_send_raw(es_client *c, const char *url, const char *peer_id, es_binding b, const char *action,
                        const void *payload, size_t len, es_client_cb cb, void *arg)
{
    bool ok;
    ec_req *r = req_new(c, url, peer_id, b, cb, arg, &ok);
    if (!ok)
        return;
    r->kind = ES_KIND_NOTIFICATION; /* nothing to decode in the answer */
    snprintf(r->action, sizeof r->action, "%s", action ? action : "");
    if (sm_buf_append(&r->payload, payload, len) != 0 || r->payload.failed) {
        fail_final(r, SM_ENOMEM, 0, "out of memory");
        return;
    }
    attempt(r);
}

static void on_post(evutil_socket_t fd, short what, void *arg)
{
    (void)what;
    es_client *c = arg;
    uint64_t v;
    ssize_t n = read(fd, &v, sizeof v);
    (void)n;
    pthread_mutex_lock(&c->lock);
    ec_post *q = c->posts;
    c->posts = NULL;
    pthread_mutex_unlock(&c->lock);
    /* keep submission order */
    ec_post *rev = NULL;
    while (q) {
        ec_post *nx = q->next;
        q->next = rev;
        rev = q;
        q = nx;
    }
    while (rev) {
        ec_post *nx = rev->next;
        if (rev->raw)
            es_client_send_raw(c, rev->url, rev->peer_id[0] ? rev->peer_id : NULL, rev->b, rev->action,
                               rev->payload.data, rev->payload.len, rev->cb, rev->arg);
        else
            es_client_send(c, rev->url, rev->peer_id[0] ? rev->peer_id : NULL, rev->b, &rev->m, rev->cb, rev->arg);
        es_msg_clear(&rev->m);
        sm_buf_free(&rev->payload);
        free(rev);
        rev = nx;
    }
}

static void post_push(es_client *c, ec_post *p);

sm_rc es_client_post(es_client *c, const char *url, const char *peer_id, es_binding b, const es_msg *m,
                     es_client_cb cb, void *arg, sm_err *err)
{
    ec_post *p = calloc(1, sizeof *p);
    if (!p)
        return sm_errf(err, SM_ENOMEM, "es client: out of memory");
    snprintf(p->url, sizeof p->url, "%s", url);
    snprintf(p->peer_id, sizeof p->peer_id, "%s", peer_id ? peer_id : "");
    p->b = b;
    sm_buf_init(&p->payload);
    p->m = *m;
    p->m.body = m->body ? es_value_dup(m->body) : NULL;
    if (m->body && !p->m.body) {
        free(p);
        return sm_errf(err, SM_ENOMEM, "es client: out of memory");
    }
    p->cb = cb;
    p->arg = arg;
    post_push(c, p);
    return SM_OK;
}

static void post_push(es_client *c, ec_post *p)
{
    pthread_mutex_lock(&c->lock);
    p->next = c->posts;
    c->posts = p;
    pthread_mutex_unlock(&c->lock);
    uint64_t one = 1;
    ssize_t n = write(c->efd, &one, sizeof one);
    (void)n;
}

sm_rc es_client_post_raw(es_client *c, const char *url, const char *peer_id, es_binding b, const char *action,
                         const void *payload, size_t len, es_client_cb cb, void *arg, sm_err *err)
{
    ec_post *p = calloc(1, sizeof *p);
    if (!p)
        return sm_errf(err, SM_ENOMEM, "es client: out of memory");
    sm_buf_init(&p->payload);
    if (sm_buf_append(&p->payload, payload, len) != 0 || p->payload.failed) {
        sm_buf_free(&p->payload);
        free(p);
        return sm_errf(err, SM_ENOMEM, "es client: out of memory");
    }
    snprintf(p->url, sizeof p->url, "%s", url);
    snprintf(p->peer_id, sizeof p->peer_id, "%s", peer_id ? peer_id : "");
    snprintf(p->action, sizeof p->action, "%s", action ? action : "");
    p->raw = true;
    p->b = b;
    p->cb = cb;
    p->arg = arg;
    post_push(c, p);
    return SM_OK;
}

typedef struct ec_sync {
    pthread_mutex_t mu;
    pthread_cond_t cv;
    bool done, abandoned;
    sm_rc rc;
    int http;
    es_msg answer;
    char error[256];
} ec_sync;

static void sync_done(const es_client_result *r, void *arg)
{
    ec_sync *s = arg;
    pthread_mutex_lock(&s->mu);
    if (s->abandoned) {
        pthread_mutex_unlock(&s->mu);
        pthread_mutex_destroy(&s->mu);
        pthread_cond_destroy(&s->cv);
        free(s);
        return;
    }
    s->rc = r->rc;
    s->http = r->http_status;
    snprintf(s->error, sizeof s->error, "%s", r->error);
    if (r->msg.fn) {
        s->answer = r->msg;
        s->answer.body = es_value_dup(r->msg.body);
    }
    s->done = true;
    pthread_cond_signal(&s->cv);
    pthread_mutex_unlock(&s->mu);
}

static sm_rc call_wait(es_client *c, const char *url, const char *peer_id, es_binding b, const es_msg *m,
                       const char *action, const void *payload, size_t len, es_msg *answer, int *http_status,
                       sm_err *err)
{
    if (answer)
        memset(answer, 0, sizeof *answer);
    ec_sync *s = calloc(1, sizeof *s);
    if (!s)
        return sm_errf(err, SM_ENOMEM, "es client: out of memory");
    pthread_mutex_init(&s->mu, NULL);
    pthread_cond_init(&s->cv, NULL);
    sm_rc rc = m ? es_client_post(c, url, peer_id, b, m, sync_done, s, err)
                 : es_client_post_raw(c, url, peer_id, b, action, payload, len, sync_done, s, err);
    if (rc != SM_OK) {
        pthread_mutex_destroy(&s->mu);
        pthread_cond_destroy(&s->cv);
        free(s);
        return rc;
    }
    long wait_ms = (long)c->cfg.timeout_s * 1000 * (c->cfg.retries + 1) + ((long)c->cfg.backoff_ms << (c->cfg.retries + 1)) + 5000;
    struct timespec dl;
    clock_gettime(CLOCK_REALTIME, &dl);
    dl.tv_sec += wait_ms / 1000;
    dl.tv_nsec += (wait_ms % 1000) * 1000000L;
    if (dl.tv_nsec >= 1000000000L) {
        dl.tv_sec++;
        dl.tv_nsec -= 1000000000L;
    }
    pthread_mutex_lock(&s->mu);
    while (!s->done)
        if (pthread_cond_timedwait(&s->cv, &s->mu, &dl) == ETIMEDOUT)
            break;
    if (!s->done) {
        s->abandoned = true; /* the loop frees it when the call ends */
        pthread_mutex_unlock(&s->mu);
        return sm_errf(err, SM_ETIMEOUT, "es client: no outcome for %s in time", url);
    }
    pthread_mutex_unlock(&s->mu);
    rc = s->rc;
    if (http_status)
        *http_status = s->http;
    if (answer)
        *answer = s->answer;
    else
        es_msg_clear(&s->answer);
    if (rc != SM_OK)
        sm_errf(err, rc, "es client: %s: %s", url, s->error);
    pthread_mutex_destroy(&s->mu);
    pthread_cond_destroy(&s->cv);
    free(s);
    return rc;
}

sm_rc es_client_call(es_client *c, const char *url, const char *peer_id, es_binding b, const es_msg *m,
                     es_msg *answer, int *http_status, sm_err *err)
{
    return call_wait(c, url, peer_id, b, m, NULL, NULL, 0, answer, http_status, err);
}

sm_rc es_client_call_raw(es_client *c, const char *url, const char *peer_id, es_binding b, const char *action,
                         const void *payload, size_t len, int *http_status, sm_err *err)
{
    return call_wait(c, url, peer_id, b, NULL, action, payload, len, NULL, http_status, err);
}

sm_rc es_client_new(const es_client_config *cfg, es_client **out, sm_err *err)
{
    *out = NULL;
    es_client *c = calloc(1, sizeof *c);
    if (!c)
        return sm_errf(err, SM_ENOMEM, "es client: out of memory");
    c->cfg = *cfg;
    if (c->cfg.timeout_s <= 0)
        c->cfg.timeout_s = 30;
    if (c->cfg.retries < 0)
        c->cfg.retries = 0;
    if (c->cfg.backoff_ms <= 0)
        c->cfg.backoff_ms = 500;
    if (!c->cfg.max_idle_per_host)
        c->cfg.max_idle_per_host = 8;
    if (c->cfg.idle_s <= 0)
        c->cfg.idle_s = 60;
    if (!c->cfg.max_body)
        c->cfg.max_body = 4u << 20;
    if (!c->cfg.xlim.max_bytes)
        c->cfg.xlim = (xml_limits){.max_bytes = c->cfg.max_body, .max_depth = 64, .max_nodes = 200000};
    if (!c->cfg.jlim.max_bytes)
        c->cfg.jlim = (json_limits){.max_bytes = c->cfg.max_body, .max_depth = 64, .max_nodes = 200000};
    pthread_mutex_init(&c->lock, NULL);
    c->efd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
    if (c->efd < 0 || !(c->post_ev = event_new(cfg->base, c->efd, EV_READ | EV_PERSIST, on_post, c)) ||
        event_add(c->post_ev, NULL) != 0) {
        es_client_free(c);
        return sm_errf(err, SM_EIO, "es client: cannot set up the post queue");
    }
    *out = c;
    return SM_OK;
}

void es_client_free(es_client *c)
{
    if (!c)
        return;
    if (c->post_ev) {
        on_post(c->efd, EV_READ, c); /* turn posted calls into requests, failed just below */
        event_free(c->post_ev);
    }
    while (c->reqs) {
        ec_req *r = c->reqs;
        c->reqs = r->next;
        r->cancelled = true; /* unlinked already */
        if (r->conn) {
            r->conn->req = NULL;
            conn_free(r->conn);
            r->conn = NULL;
        }
        es_client_result res;
        result_init(&res, r);
        res.rc = SM_ESTATE;
        snprintf(res.error, sizeof res.error, "stopping");
        if (r->cb)
            r->cb(&res, r->arg);
        if (r->handshaking) {
            /* on_handshake frees it when the pool hands it back */
            if (r->timer) {
                event_free(r->timer);
                r->timer = NULL;
            }
            continue;
        }
        if (r->timer)
            event_free(r->timer);
        sm_buf_free(&r->payload);
        free(r);
    }
    while (c->idle)
        conn_free(c->idle);
    if (c->efd >= 0)
        close(c->efd);
    pthread_mutex_destroy(&c->lock);
    free(c);
}

void es_client_get_stats(es_client *c, es_client_stats *out) { *out = c->st; }
