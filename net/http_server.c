/* The HTTPS server of the ES interfaces. */
#include "net/http_server.h"

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <unistd.h>

#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/bufferevent_ssl.h>
#include <event2/listener.h>

#include "lib/log.h"

#define LINGER_MS 2000
#define LINGER_BYTES (1u << 20)

typedef enum { C_READING = 0, C_BUSY, C_WRITING, C_LINGER } cstate;

struct http_conn {
    http_server *s;
    struct bufferevent *bev;
    SSL *ssl;
    http_msg req;
    cstate st;
    int refs;
    bool dead, close_after, continued;
    struct event *deadline;
    size_t lingered;
    void *data;
    void (*data_free)(void *);
    char addr[64];
    struct http_conn *prev, *next;
};

struct http_server {
    struct event_base *base;
    http_server_config cfg;
    struct evconnlistener *lst;
    int port;
    unsigned nconns, handshaking, inflight;
    bool shutting;
    http_conn *conns;
};

static void conn_process(http_conn *c);
static void conn_close(http_conn *c);

static void conn_unref(http_conn *c)
{
    if (--c->refs > 0)
        return;
    if (c->deadline)
        event_free(c->deadline);
    http_msg_free(&c->req);
    if (c->data_free)
        c->data_free(c->data);
    free(c);
}

/* closes the socket now; the object lives until the last reference goes */
static void conn_close(http_conn *c)
{
    if (c->dead)
        return;
    c->dead = true;
    http_server *s = c->s;
    if (c->st == C_BUSY && s->inflight)
        s->inflight--;
    if (c->bev) {
        bufferevent_free(c->bev); /* closes the fd and frees the SSL */
        c->bev = NULL;
        c->ssl = NULL;
    }
    if (c->deadline)
        evtimer_del(c->deadline);
    if (c->prev)
        c->prev->next = c->next;
    else
        s->conns = c->next;
    if (c->next)
        c->next->prev = c->prev;
    s->nconns--;
    conn_unref(c);
}

static void send_answer(http_conn *c, int status, const char *ctype, const void *body, size_t len, const char *extra,
                        bool close)
{
    struct evbuffer *out = bufferevent_get_output(c->bev);
    evbuffer_add_printf(out, "HTTP/1.1 %d %s\r\nContent-Length: %zu\r\n%s%s%s%sConnection: %s\r\n\r\n", status,
                        http_reason(status), len, ctype ? "Content-Type: " : "", ctype ? ctype : "", ctype ? "\r\n" : "",
                        extra ? extra : "", close ? "close" : "keep-alive");
    if (len)
        evbuffer_add(out, body, len);
    c->close_after = close;
    c->st = C_WRITING;
}

static void server_error(http_conn *c, int status, const char *why)
{
    http_server *s = c->s;
    sm_buf b;
    sm_buf_init(&b);
    const char *ctype = "text/plain";
    if (s->cfg.on_error)
        s->cfg.on_error(status, why, c->req.target, &b, &ctype, s->cfg.arg);
    else
        sm_buf_printf(&b, "%s\n", why);
    char q[200];
    sm_log(SM_LOG_INFO, "net", "http_refused", "peer=%s status=%d why=%s", c->addr, status, SM_LOGQ(q, why));
    bufferevent_disable(c->bev, EV_READ);
    send_answer(c, status, ctype, b.data, b.len, NULL, true);
    sm_buf_free(&b);
}

static void on_deadline(evutil_socket_t fd, short what, void *arg)
{
    (void)fd;
    (void)what;
    http_conn *c = arg;
    if (c->st == C_LINGER) {
        conn_close(c);
        return;
    }
    if (c->st == C_READING)
        server_error(c, 408, "request not complete within the request timeout");
}

static void arm(http_conn *c, int ms)
{
    struct timeval tv = {ms / 1000, (ms % 1000) * 1000};
    evtimer_add(c->deadline, &tv);
}

static void start_linger(http_conn *c)
{
    /* the final answer is out: stop writing (close_notify + FIN), keep reading and discarding for a
     * moment so the peer sees the answer instead of a reset caused by its unread upload */
    c->st = C_LINGER;
    c->lingered = 0;
    if (c->ssl)
        SSL_shutdown(c->ssl);
    shutdown(bufferevent_getfd(c->bev), SHUT_WR);
    evbuffer_drain(bufferevent_get_input(c->bev), evbuffer_get_length(bufferevent_get_input(c->bev)));
    bufferevent_enable(c->bev, EV_READ);
    arm(c, LINGER_MS);
}

static void on_read(struct bufferevent *bev, void *arg)
{
    http_conn *c = arg;
    if (c->st == C_LINGER) {
        struct evbuffer *in = bufferevent_get_input(bev);
        c->lingered += evbuffer_get_length(in);
        evbuffer_drain(in, evbuffer_get_length(in));
        if (c->lingered > LINGER_BYTES)
            conn_close(c);
        return;
    }
    if (c->st == C_READING)
        conn_process(c);
}

static void conn_process(http_conn *c)
{
    http_server *s = c->s;
    struct evbuffer *in = bufferevent_get_input(c->bev);
    bool was_started = c->req.started;
    int status = 0;
    const char *why = NULL;
    http_rc r = http_parse(&c->req, in, &s->cfg.lim, &status, &why);
    if (!was_started && c->req.started && r == HTTP_MORE)
        arm(c, s->cfg.request_timeout_s * 1000);
    if (r == HTTP_MORE) {
        /* the headers are in and accepted (size within the limits): tell a waiting client to send the body */
        const char *expect;
        if (!c->continued && c->req.st >= HTTP_ST_BODY && c->req.st <= HTTP_ST_CHUNK_CRLF &&
            (expect = http_header(&c->req, "Expect")) && !strcasecmp(expect, "100-continue") && c->req.minor >= 1) {
            c->continued = true;
            evbuffer_add_printf(bufferevent_get_output(c->bev), "HTTP/1.1 100 Continue\r\n\r\n");
        }
        return;
    }
    evtimer_del(c->deadline);
    if (r == HTTP_ERROR) {
        server_error(c, status, why);
        return;
    }
    if (s->shutting)
        c->req.keep_alive = false;
    c->st = C_BUSY;
    s->inflight++;
    bufferevent_disable(c->bev, EV_READ);
    c->refs++;
    s->cfg.on_request(c, &c->req, s->cfg.arg);
    conn_unref(c);
}

static void on_write(struct bufferevent *bev, void *arg)
{
    http_conn *c = arg;
    if (c->st != C_WRITING || evbuffer_get_length(bufferevent_get_output(bev)))
        return;
    if (c->close_after) {
        start_linger(c);
        return;
    }
    http_msg_reset(&c->req);
    c->continued = false;
    c->st = C_READING;
    bufferevent_enable(bev, EV_READ);
    if (evbuffer_get_length(bufferevent_get_input(bev)))
        conn_process(c);
}

static void on_event(struct bufferevent *bev, short what, void *arg)
{
    (void)bev;
    http_conn *c = arg;
    if ((what & BEV_EVENT_TIMEOUT) && c->st == C_READING && c->req.started) {
        server_error(c, 408, "connection idle in the middle of a request");
        return;
    }
    if (c->st == C_BUSY) {
        /* the answer is being prepared: drop the socket, keep the object until it is answered */
        c->s->inflight--;
        c->st = C_READING;
    }
    conn_close(c);
}

static void on_handshake(void *arg, SSL *ssl, evutil_socket_t fd, const char *why)
{
    http_server *s = arg;
    s->handshaking--;
    if (!ssl) {
        char q[300];
        sm_log(SM_LOG_INFO, "net", "tls_refused", "why=%s", SM_LOGQ(q, why));
        return;
    }
    if (s->shutting) {
        SSL_free(ssl);
        close(fd);
        return;
    }
    http_conn *c = calloc(1, sizeof *c);
    struct bufferevent *bev = c ? bufferevent_openssl_socket_new(s->base, fd, ssl, BUFFEREVENT_SSL_OPEN,
                                                                 BEV_OPT_CLOSE_ON_FREE)
                                : NULL;
    if (!bev || !(c->deadline = evtimer_new(s->base, on_deadline, c))) {
        if (bev)
            bufferevent_free(bev);
        else {
            SSL_free(ssl);
            close(fd);
        }
        free(c);
        return;
    }
    bufferevent_openssl_set_allow_dirty_shutdown(bev, 1);
    c->s = s;
    c->bev = bev;
    c->ssl = ssl;
    c->refs = 1;
    http_msg_init(&c->req, true);
    struct sockaddr_storage ss;
    socklen_t sl = sizeof ss;
    if (getpeername(fd, (struct sockaddr *)&ss, &sl) == 0) {
        char h[INET6_ADDRSTRLEN] = "?";
        int port = 0;
        if (ss.ss_family == AF_INET) {
            inet_ntop(AF_INET, &((struct sockaddr_in *)&ss)->sin_addr, h, sizeof h);
            port = ntohs(((struct sockaddr_in *)&ss)->sin_port);
        } else if (ss.ss_family == AF_INET6) {
            inet_ntop(AF_INET6, &((struct sockaddr_in6 *)&ss)->sin6_addr, h, sizeof h);
            port = ntohs(((struct sockaddr_in6 *)&ss)->sin6_port);
        }
        snprintf(c->addr, sizeof c->addr, "%s:%d", h, port);
    }
    c->next = s->conns;
    if (s->conns)
        s->conns->prev = c;
    s->conns = c;
    s->nconns++;
    struct timeval idle = {s->cfg.idle_timeout_s, 0};
    bufferevent_set_timeouts(bev, &idle, &idle);
    bufferevent_setcb(bev, on_read, on_write, on_event, c);
    bufferevent_enable(bev, EV_READ | EV_WRITE);
    if (evbuffer_get_length(bufferevent_get_input(bev)))
        conn_process(c);
}

static void on_accept(struct evconnlistener *l, evutil_socket_t fd, struct sockaddr *sa, int salen, void *arg)
{
    (void)l;
    (void)sa;
    (void)salen;
    http_server *s = arg;
    if (s->shutting || s->nconns + s->handshaking >= s->cfg.max_conns) {
        sm_log(SM_LOG_WARN, "net", "conn_refused", "why=%s conns=%u", s->shutting ? "shutting down" : "max_conns",
               s->nconns + s->handshaking);
        close(fd);
        return;
    }
    int one = 1;
    setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    SSL *ssl = SSL_new(s->cfg.ssl_ctx);
    if (!ssl) {
        close(fd);
        return;
    }
    s->handshaking++;
    net_hs_accept(s->cfg.hs, fd, ssl, s->cfg.handshake_timeout_s * 1000, on_handshake, s);
}

static sm_rc parse_listen(const char *listen, struct sockaddr_storage *ss, socklen_t *sl, sm_err *err)
{
    char host[256];
    const char *colon = strrchr(listen, ':');
    if (!colon || (size_t)(colon - listen) >= sizeof host)
        return sm_errf(err, SM_ECONFIG, "es.listen %s: expected host:port", listen);
    memcpy(host, listen, (size_t)(colon - listen));
    host[colon - listen] = 0;
    char *end = NULL;
    long port = strtol(colon + 1, &end, 10);
    if (!end || *end || port < 0 || port > 65535)
        return sm_errf(err, SM_ECONFIG, "es.listen %s: bad port", listen);
    char *h = host;
    if (h[0] == '[') {
        h++;
        h[strlen(h) - 1] = 0;
    }
    memset(ss, 0, sizeof *ss);
    struct sockaddr_in *a4 = (struct sockaddr_in *)ss;
    struct sockaddr_in6 *a6 = (struct sockaddr_in6 *)ss;
    if (inet_pton(AF_INET, *h ? h : "0.0.0.0", &a4->sin_addr) == 1) {
        a4->sin_family = AF_INET;
        a4->sin_port = htons((uint16_t)port);
        *sl = sizeof *a4;
    } else if (inet_pton(AF_INET6, h, &a6->sin6_addr) == 1) {
        a6->sin6_family = AF_INET6;
        a6->sin6_port = htons((uint16_t)port);
        *sl = sizeof *a6;
    } else {
        return sm_errf(err, SM_ECONFIG, "es.listen %s: host must be a numeric address", listen);
    }
    return SM_OK;
}

sm_rc http_server_start(struct event_base *base, const http_server_config *cfg, http_server **out, sm_err *err)
{
    *out = NULL;
    struct sockaddr_storage ss;
    socklen_t sl = 0;
    sm_rc rc = parse_listen(cfg->listen, &ss, &sl, err);
    if (rc != SM_OK)
        return rc;
    http_server *s = calloc(1, sizeof *s);
    if (!s)
        return sm_errf(err, SM_ENOMEM, "http server: out of memory");
    s->base = base;
    s->cfg = *cfg;
    if (!s->cfg.max_conns)
        s->cfg.max_conns = 1024;
    if (s->cfg.idle_timeout_s <= 0)
        s->cfg.idle_timeout_s = 30;
    if (s->cfg.request_timeout_s <= 0)
        s->cfg.request_timeout_s = 30;
    if (s->cfg.handshake_timeout_s <= 0)
        s->cfg.handshake_timeout_s = 10;
    s->lst = evconnlistener_new_bind(base, on_accept, s, LEV_OPT_CLOSE_ON_FREE | LEV_OPT_REUSEABLE | LEV_OPT_CLOSE_ON_EXEC,
                                     512, (struct sockaddr *)&ss, (int)sl);
    if (!s->lst) {
        int e = errno;
        free(s);
        return sm_errf(err, SM_EIO, "http server: cannot listen on %s: %s", cfg->listen, strerror(e));
    }
    int fd = evconnlistener_get_fd(s->lst), one = 1;
    /* Nagle + delayed ACK stall TLS records of one answer (perf/limits.md §4); accepted sockets inherit */
    setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    struct sockaddr_storage bound;
    socklen_t bl = sizeof bound;
    if (getsockname(fd, (struct sockaddr *)&bound, &bl) == 0)
        s->port = ntohs(bound.ss_family == AF_INET6 ? ((struct sockaddr_in6 *)&bound)->sin6_port
                                                    : ((struct sockaddr_in *)&bound)->sin_port);
    *out = s;
    return SM_OK;
}

void http_server_shutdown(http_server *s)
{
    if (!s || s->shutting)
        return;
    s->shutting = true;
    if (s->lst) {
        evconnlistener_free(s->lst);
        s->lst = NULL;
    }
    for (http_conn *c = s->conns, *n; c; c = n) {
        n = c->next;
        if (c->st == C_READING && !c->req.started)
            conn_close(c);
        else
            c->req.keep_alive = false;
    }
}

void http_server_free(http_server *s)
{
    if (!s)
        return;
    http_server_shutdown(s);
    while (s->conns)
        conn_close(s->conns);
    free(s);
}

int http_server_port(const http_server *s) { return s->port; }
unsigned http_server_inflight(const http_server *s) { return s->inflight; }
unsigned http_server_conns(const http_server *s) { return s->nconns; }
SSL *http_conn_ssl(http_conn *c) { return c->ssl; }
void *http_conn_data(http_conn *c) { return c->data; }
const char *http_conn_addr(http_conn *c) { return c->addr; }

void http_conn_set_data(http_conn *c, void *data, void (*free_fn)(void *))
{
    if (c->data_free)
        c->data_free(c->data);
    c->data = data;
    c->data_free = free_fn;
}

void http_conn_hold(http_conn *c) { c->refs++; }
void http_conn_release(http_conn *c) { conn_unref(c); }

void http_conn_respond(http_conn *c, int status, const char *ctype, const void *body, size_t len,
                       const char *extra_headers, bool close)
{
    if (c->dead || c->st != C_BUSY)
        return; /* the peer went away meanwhile */
    c->s->inflight--;
    bool ka = c->req.keep_alive && !close && !c->s->shutting;
    send_answer(c, status, ctype, body, len, extra_headers, !ka);
}
