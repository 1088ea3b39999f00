/* The TLS handshake pool. */
#include "net/handshake.h"

#include <errno.h>
#include <fcntl.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include <openssl/err.h>
#include <openssl/x509.h>

typedef struct hs_job {
    struct hs_job *next;
    net_hs_pool *pool;
    struct hs_thread *th;
    SSL *ssl;
    evutil_socket_t fd;
    bool client, connecting;
    char host[256], port[16];
    int timeout_ms;
    net_hs_done cb;
    void *arg;
    struct event *ev, *timer;
    char why[256];
    bool ok;
    uint64_t busy_us; /* time inside SSL_do_handshake for this job */
} hs_job;

typedef struct hs_thread {
    net_hs_pool *pool;
    pthread_t tid;
    struct event_base *base;
    int efd;
    struct event *wake;
    pthread_mutex_t lock;
    hs_job *in;       /* queued for this thread */
    hs_job *active;   /* running on this thread (owned by the thread) */
    bool stop;
} hs_thread;

struct net_hs_pool {
    struct event_base *loop;
    hs_thread *th;
    unsigned n, rr;
    int done_efd;
    struct event *done_ev;
    pthread_mutex_t lock;
    hs_job *done;     /* finished, waiting for the loop */
    atomic_uint pending;
    /* time spent inside SSL_do_handshake (where the HSM signature happens), per completed handshake */
    atomic_ulong hs_done, hs_busy_us, hs_max_us;
};

static void push(hs_job **head, hs_job *j)
{
    j->next = NULL;
    hs_job **p = head;
    while (*p)
        p = &(*p)->next;
    *p = j;
}

static void unlink_job(hs_job **head, hs_job *j)
{
    for (hs_job **p = head; *p; p = &(*p)->next)
        if (*p == j) {
            *p = j->next;
            return;
        }
}

static void kick(int efd)
{
    uint64_t one = 1;
    ssize_t r = write(efd, &one, sizeof one);
    (void)r;
}

/* finish a job on its thread: hand it to the loop */
static void finish(hs_job *j, const char *why)
{
    hs_thread *t = j->th;
    if (j->ev) {
        event_free(j->ev);
        j->ev = NULL;
    }
    if (j->timer) {
        event_free(j->timer);
        j->timer = NULL;
    }
    unlink_job(&t->active, j);
    j->ok = why == NULL;
    if (why)
        snprintf(j->why, sizeof j->why, "%s", why);
    net_hs_pool *p = j->pool;
    pthread_mutex_lock(&p->lock);
    push(&p->done, j);
    pthread_mutex_unlock(&p->lock);
    kick(p->done_efd);
}

static void step(hs_job *j);

static void on_io(evutil_socket_t fd, short what, void *arg)
{
    (void)fd;
    (void)what;
    step(arg);
}

static void on_timeout(evutil_socket_t fd, short what, void *arg)
{
    (void)fd;
    (void)what;
    hs_job *j = arg;
    finish(j, j->connecting ? "TCP connect timed out" : "TLS handshake timed out");
}

static void wait_for(hs_job *j, short what)
{
    if (j->ev)
        event_free(j->ev);
    j->ev = event_new(j->th->base, j->fd, what, on_io, j);
    if (!j->ev || event_add(j->ev, NULL) != 0)
        finish(j, "cannot watch the socket");
}

static void tls_error(hs_job *j, int sslerr)
{
    char why[256];
    long vr = SSL_get_verify_result(j->ssl);
    unsigned long e = ERR_peek_error();
    if (vr != X509_V_OK)
        snprintf(why, sizeof why, "certificate verification failed: %s", X509_verify_cert_error_string(vr));
    else if (e) {
        char eb[200];
        ERR_error_string_n(e, eb, sizeof eb);
        snprintf(why, sizeof why, "TLS handshake failed: %s", eb);
    } else if (sslerr == SSL_ERROR_SYSCALL || sslerr == SSL_ERROR_ZERO_RETURN)
        snprintf(why, sizeof why, "TLS handshake failed: connection closed by the peer");
    else
        snprintf(why, sizeof why, "TLS handshake failed (SSL error %d)", sslerr);
    ERR_clear_error();
    finish(j, why);
}

static void step(hs_job *j)
{
    if (j->connecting) {
        int soerr = 0;
        socklen_t sl = sizeof soerr;
        if (getsockopt(j->fd, SOL_SOCKET, SO_ERROR, &soerr, &sl) != 0 || soerr) {
            char why[400];
            snprintf(why, sizeof why, "TCP connect to %s:%s failed: %s", j->host, j->port, strerror(soerr ? soerr : errno));
            finish(j, why);
            return;
        }
        j->connecting = false;
        if (SSL_set_fd(j->ssl, (int)j->fd) != 1) {
            finish(j, "SSL_set_fd failed");
            return;
        }
    }
    ERR_clear_error();
    struct timespec t0, t1;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    int r = SSL_do_handshake(j->ssl);
    clock_gettime(CLOCK_MONOTONIC, &t1);
    j->busy_us += (uint64_t)((t1.tv_sec - t0.tv_sec) * 1000000L + (t1.tv_nsec - t0.tv_nsec) / 1000);
    if (r == 1) {
        net_hs_pool *p = j->pool;
        atomic_fetch_add(&p->hs_done, 1);
        atomic_fetch_add(&p->hs_busy_us, j->busy_us);
        unsigned long m = atomic_load(&p->hs_max_us);
        while (j->busy_us > m && !atomic_compare_exchange_weak(&p->hs_max_us, &m, j->busy_us))
            ;
        finish(j, NULL);
        return;
    }
    int e = SSL_get_error(j->ssl, r);
    if (e == SSL_ERROR_WANT_READ)
        wait_for(j, EV_READ);
    else if (e == SSL_ERROR_WANT_WRITE)
        wait_for(j, EV_WRITE);
    else
        tls_error(j, e);
}

static void start_job(hs_thread *t, hs_job *j)
{
    j->th = t;
    push(&t->active, j);
    struct timeval tv = {j->timeout_ms / 1000, (j->timeout_ms % 1000) * 1000};
    j->timer = evtimer_new(t->base, on_timeout, j);
    if (!j->timer || evtimer_add(j->timer, &tv) != 0) {
        finish(j, "cannot arm the handshake timer");
        return;
    }
    if (j->client) {
        struct addrinfo hints = {.ai_family = AF_UNSPEC, .ai_socktype = SOCK_STREAM}, *ai = NULL;
        int gr = getaddrinfo(j->host, j->port, &hints, &ai);
        if (gr != 0 || !ai) {
            char why[400];
            snprintf(why, sizeof why, "cannot resolve %s: %s", j->host, gai_strerror(gr));
            finish(j, why);
            return;
        }
        j->fd = socket(ai->ai_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
        if (j->fd < 0) {
            freeaddrinfo(ai);
            finish(j, "socket() failed");
            return;
        }
        int one = 1;
        setsockopt(j->fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
        int cr = connect(j->fd, ai->ai_addr, ai->ai_addrlen);
        freeaddrinfo(ai);
        if (cr != 0 && errno != EINPROGRESS) {
            char why[400];
            snprintf(why, sizeof why, "TCP connect to %s:%s failed: %s", j->host, j->port, strerror(errno));
            finish(j, why);
            return;
        }
        j->connecting = true;
        wait_for(j, EV_WRITE);
        return;
    }
    if (SSL_set_fd(j->ssl, (int)j->fd) != 1) {
        finish(j, "SSL_set_fd failed");
        return;
    }
    step(j);
}

static void on_wake(evutil_socket_t fd, short what, void *arg)
{
    (void)what;
    hs_thread *t = arg;
    uint64_t v;
    ssize_t r = read(fd, &v, sizeof v);
    (void)r;
    pthread_mutex_lock(&t->lock);
    hs_job *q = t->in;
    t->in = NULL;
    bool stop = t->stop;
    pthread_mutex_unlock(&t->lock);
    if (stop) {
        event_base_loopbreak(t->base);
        /* return queued jobs unstarted; the stopper delivers them */
        pthread_mutex_lock(&t->lock);
        t->in = q;
        pthread_mutex_unlock(&t->lock);
        return;
    }
    while (q) {
        hs_job *n = q->next;
        start_job(t, q);
        q = n;
    }
}

static void *thread_main(void *arg)
{
    hs_thread *t = arg;
    event_base_dispatch(t->base);
    return NULL;
}

static void deliver(evutil_socket_t fd, short what, void *arg)
{
    (void)what;
    net_hs_pool *p = arg;
    uint64_t v;
    ssize_t r = read(fd, &v, sizeof v);
    (void)r;
    pthread_mutex_lock(&p->lock);
    hs_job *q = p->done;
    p->done = NULL;
    pthread_mutex_unlock(&p->lock);
    while (q) {
        hs_job *n = q->next;
        atomic_fetch_sub(&p->pending, 1);
        if (q->ok) {
            q->cb(q->arg, q->ssl, q->fd, NULL);
        } else {
            SSL_free(q->ssl);
            if (q->fd >= 0)
                close(q->fd);
            q->cb(q->arg, NULL, -1, q->why);
        }
        free(q);
        q = n;
    }
}

sm_rc net_hs_pool_start(struct event_base *loop, unsigned threads, net_hs_pool **out, sm_err *err)
{
    *out = NULL;
    if (!threads)
        threads = 1;
    net_hs_pool *p = calloc(1, sizeof *p);
    if (!p)
        return sm_errf(err, SM_ENOMEM, "handshake pool: out of memory");
    p->loop = loop;
    pthread_mutex_init(&p->lock, NULL);
    p->done_efd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
    p->th = calloc(threads, sizeof *p->th);
    if (p->done_efd < 0 || !p->th) {
        net_hs_pool_stop(p);
        return sm_errf(err, SM_EIO, "handshake pool: eventfd or allocation failed");
    }
    p->done_ev = event_new(loop, p->done_efd, EV_READ | EV_PERSIST, deliver, p);
    if (!p->done_ev || event_add(p->done_ev, NULL) != 0) {
        net_hs_pool_stop(p);
        return sm_errf(err, SM_EIO, "handshake pool: cannot watch the completion queue");
    }
    for (unsigned i = 0; i < threads; i++) {
        hs_thread *t = &p->th[i];
        t->pool = p;
        pthread_mutex_init(&t->lock, NULL);
        t->base = event_base_new();
        t->efd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
        if (!t->base || t->efd < 0 || !(t->wake = event_new(t->base, t->efd, EV_READ | EV_PERSIST, on_wake, t)) ||
            event_add(t->wake, NULL) != 0 || pthread_create(&t->tid, NULL, thread_main, t) != 0) {
            if (t->wake)
                event_free(t->wake);
            if (t->base)
                event_base_free(t->base);
            if (t->efd >= 0)
                close(t->efd);
            t->base = NULL;
            net_hs_pool_stop(p);
            return sm_errf(err, SM_EIO, "handshake pool: cannot start thread %u", i);
        }
        p->n++;
    }
    *out = p;
    return SM_OK;
}

static void submit(net_hs_pool *p, hs_job *j)
{
    atomic_fetch_add(&p->pending, 1);
    hs_thread *t = &p->th[p->rr++ % p->n];
    pthread_mutex_lock(&t->lock);
    push(&t->in, j);
    pthread_mutex_unlock(&t->lock);
    kick(t->efd);
}

static hs_job *job_new(net_hs_pool *p, SSL *ssl, int timeout_ms, net_hs_done cb, void *arg)
{
    hs_job *j = calloc(1, sizeof *j);
    if (!j)
        return NULL;
    j->pool = p;
    j->ssl = ssl;
    j->fd = -1;
    j->timeout_ms = timeout_ms > 0 ? timeout_ms : 10000;
    j->cb = cb;
    j->arg = arg;
    return j;
}

void net_hs_accept(net_hs_pool *p, evutil_socket_t fd, SSL *ssl, int timeout_ms, net_hs_done cb, void *arg)
{
    hs_job *j = job_new(p, ssl, timeout_ms, cb, arg);
    if (!j) {
        SSL_free(ssl);
        close(fd);
        cb(arg, NULL, -1, "out of memory");
        return;
    }
    j->fd = fd;
    SSL_set_accept_state(ssl);
    submit(p, j);
}

void net_hs_connect(net_hs_pool *p, const char *host, const char *port, SSL *ssl, int timeout_ms, net_hs_done cb,
                    void *arg)
{
    hs_job *j = job_new(p, ssl, timeout_ms, cb, arg);
    if (!j) {
        SSL_free(ssl);
        cb(arg, NULL, -1, "out of memory");
        return;
    }
    j->client = true;
    snprintf(j->host, sizeof j->host, "%s", host);
    snprintf(j->port, sizeof j->port, "%s", port);
    SSL_set_connect_state(ssl);
    submit(p, j);
}

unsigned net_hs_pending(net_hs_pool *p) { return p ? atomic_load(&p->pending) : 0; }

void net_hs_get_stats(net_hs_pool *p, net_hs_stats *out)
{
    out->handshakes = atomic_load(&p->hs_done);
    out->busy_us_total = atomic_load(&p->hs_busy_us);
    out->busy_us_max = atomic_load(&p->hs_max_us);
}

void net_hs_pool_stop(net_hs_pool *p)
{
    if (!p)
        return;
    for (unsigned i = 0; i < p->n; i++) {
        hs_thread *t = &p->th[i];
        pthread_mutex_lock(&t->lock);
        t->stop = true;
        pthread_mutex_unlock(&t->lock);
        kick(t->efd);
        pthread_join(t->tid, NULL);
        /* the thread has stopped: fail what it was running and what was queued */
        while (t->active)
            finish(t->active, "stopping");
        hs_job *q = t->in;
        t->in = NULL;
        while (q) {
            hs_job *n = q->next;
            q->th = t;
            push(&t->active, q);
            finish(q, "stopping");
            q = n;
        }
        event_free(t->wake);
        event_base_free(t->base);
        close(t->efd);
        pthread_mutex_destroy(&t->lock);
    }
    if (p->done_ev) {
        deliver(p->done_efd, EV_READ, p);
        event_free(p->done_ev);
    }
    if (p->done_efd >= 0)
        close(p->done_efd);
    free(p->th);
    pthread_mutex_destroy(&p->lock);
    free(p);
}
