/* bench_net_load: the load generator of `make bench-net` — N keep-alive mutual-TLS connections on one
 * libevent loop, each sending its next POST as soon as the previous answer is complete, for a bounded
 * time and count, to 127.0.0.1 only. "%ID%" in the body becomes a fresh number per request (fresh
 * FunctionCallIdentifier). Prints requests/s and latency percentiles measured after all connections
 * are up. */
#include <getopt.h>
#include <pthread.h>
#include <stdatomic.h>
#include <unistd.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <arpa/inet.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/bufferevent_ssl.h>
#include <event2/event.h>
#include <openssl/ssl.h>

typedef struct lthread lthread;

typedef struct lconn {
    lthread *t;
    struct bufferevent *bev;
    uint64_t sent_ns;
    int up;
} lconn;

/* one loop per thread, its own connections and counters; merged at the end */
struct lthread {
    pthread_t tid;
    struct event_base *base;
    lconn *cs;
    int n, alive;
    uint64_t seq, done, errors, max;
    uint32_t *lat; /* microseconds */
};

static SSL_CTX *g_ctx;
static const char *g_path, *g_ctype;
static char *g_body;
static int g_port, g_seconds;
static atomic_int g_up, g_total_conns, g_measuring, g_stop;
static uint64_t g_t0;

static uint64_t now_ns(void)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (uint64_t)t.tv_sec * 1000000000ULL + (uint64_t)t.tv_nsec;
}

static void send_req(lconn *c)
{
    char id[48];
    int il = snprintf(id, sizeof id, "%p-%llu", (void *)c->t, (unsigned long long)++c->t->seq);
    const char *mark = strstr(g_body, "%ID%");
    size_t bl = strlen(g_body) - (mark ? 4 - (size_t)il : 0);
    struct evbuffer *out = bufferevent_get_output(c->bev);
    evbuffer_add_printf(out, "POST %s HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: %s\r\nContent-Length: %zu\r\n\r\n",
                        g_path, g_ctype, bl);
    if (mark) {
        evbuffer_add(out, g_body, (size_t)(mark - g_body));
        evbuffer_add(out, id, (size_t)il);
        evbuffer_add(out, mark + 4, strlen(mark + 4));
    } else {
        evbuffer_add(out, g_body, strlen(g_body));
    }
    c->sent_ns = now_ns();
}

static void on_read(struct bufferevent *bev, void *arg)
{
    lconn *c = arg;
    struct evbuffer *in = bufferevent_get_input(bev);
    while (1) {
        struct evbuffer_ptr e = evbuffer_search(in, "\r\n\r\n", 4, NULL);
        if (e.pos < 0)
            return;
        size_t hl = (size_t)e.pos + 4;
        char *h = malloc(hl + 1);
        evbuffer_copyout(in, h, hl);
        h[hl] = 0;
        const char *cl = strcasestr(h, "\r\nContent-Length:");
        size_t blen = cl ? (size_t)strtoul(cl + 17, NULL, 10) : 0;
        int status = atoi(h + 9);
        free(h);
        if (evbuffer_get_length(in) < hl + blen)
            return;
        evbuffer_drain(in, hl + blen);
        uint64_t t = now_ns();
        lthread *th = c->t;
        if (status != 200)
            th->errors++;
        if (atomic_load(&g_measuring) && th->done < th->max)
            th->lat[th->done++] = (uint32_t)((t - c->sent_ns) / 1000);
        if (th->done >= th->max || atomic_load(&g_stop)) {
            event_base_loopbreak(th->base);
            return;
        }
        send_req(c);
    }
}

static void on_event(struct bufferevent *bev, short what, void *arg)
{
    lconn *c = arg;
    lthread *th = c->t;
    if (what & BEV_EVENT_CONNECTED) {
        c->up = 1;
        atomic_fetch_add(&g_up, 1);
        send_req(c);
        return;
    }
    fprintf(stderr, "bench_net_load: connection lost (%s)\n", what & BEV_EVENT_ERROR ? "error" : "eof");
    th->errors++;
    bufferevent_free(bev);
    c->bev = NULL;
    if (--th->alive <= 0)
        event_base_loopbreak(th->base);
}

static void on_tick(evutil_socket_t s, short w, void *arg)
{
    (void)s;
    (void)w;
    lthread *th = arg;
    if (atomic_load(&g_stop))
        event_base_loopbreak(th->base);
}

static void *thread_main(void *arg)
{
    lthread *th = arg;
    struct timeval tv = {0, 100000};
    struct event *tick = event_new(th->base, -1, EV_PERSIST, on_tick, th);
    evtimer_add(tick, &tv);
    event_base_dispatch(th->base);
    event_free(tick);
    return NULL;
}

static int cmp32(const void *a, const void *b);

/* --handshakes N: N sequential new connections (full handshake, no resumption), each carrying one
 * request; the time to the first answer measures the handshake with the server's key operation */
static int run_handshakes(int n)
{
    uint32_t *t = calloc((size_t)n, sizeof *t);
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons((uint16_t)g_port)};
    inet_pton(AF_INET, "127.0.0.1", &a.sin_addr);
    int ok = 0;
    uint64_t start = now_ns();
    for (int i = 0; i < n; i++) {
        uint64_t t0 = now_ns();
        int fd = socket(AF_INET, SOCK_STREAM, 0), one = 1;
        setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
        struct timeval tv = {10, 0};
        setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
        SSL *ssl = SSL_new(g_ctx);
        char req[4096], id[32], buf[8192];
        snprintf(id, sizeof id, "hs-%d-%llu", i, (unsigned long long)t0);
        const char *mark = strstr(g_body, "%ID%");
        int bl = snprintf(req, sizeof req, "%.*s%s%s", mark ? (int)(mark - g_body) : (int)strlen(g_body), g_body,
                          mark ? id : "", mark ? mark + 4 : "");
        char head[512];
        int hl = snprintf(head, sizeof head, "POST %s HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: %s\r\n"
                                              "Content-Length: %d\r\nConnection: close\r\n\r\n", g_path, g_ctype, bl);
        if (connect(fd, (struct sockaddr *)&a, sizeof a) == 0 && SSL_set_fd(ssl, fd) == 1 && SSL_connect(ssl) == 1 &&
            SSL_write(ssl, head, hl) == hl && SSL_write(ssl, req, bl) == bl && SSL_read(ssl, buf, sizeof buf) > 12 &&
            !strncmp(buf, "HTTP/1.1 200", 12)) {
            t[ok++] = (uint32_t)((now_ns() - t0) / 1000);
        }
        SSL_free(ssl);
        close(fd);
    }
    double secs = (double)(now_ns() - start) / 1e9;
    qsort(t, (size_t)ok, sizeof *t, cmp32);
    double sum = 0;
    for (int i = 0; i < ok; i++)
        sum += t[i];
    printf("handshakes=%d ok=%d per_s=%.0f mean_ms=%.2f p99_ms=%.2f\n", n, ok, ok / secs, ok ? sum / ok / 1000.0 : 0,
           ok ? t[(ok * 99) / 100] / 1000.0 : 0);
    free(t);
    return ok == n ? 0 : 3;
}

static int cmp32(const void *a, const void *b)
{
    uint32_t x = *(const uint32_t *)a, y = *(const uint32_t *)b;
    return x < y ? -1 : x > y;
}

int main(int argc, char **argv)
{
    const char *cert = NULL, *key = NULL, *ca = NULL, *body_file = NULL;
    int c, conns = 64, threads = 1, handshakes = 0;
    uint64_t max = 5000000;
    g_seconds = 10;
    g_path = "/";
    g_ctype = "application/soap+xml; charset=utf-8";
    static const struct option o[] = {{"port", 1, 0, 'p'}, {"conns", 1, 0, 'n'}, {"seconds", 1, 0, 's'},
                                      {"cert", 1, 0, 'c'}, {"key", 1, 0, 'k'},   {"ca", 1, 0, 'a'},
                                      {"path", 1, 0, 'P'}, {"body", 1, 0, 'b'},  {"ctype", 1, 0, 't'},
                                      {"max", 1, 0, 'm'},  {"threads", 1, 0, 'T'}, {"handshakes", 1, 0, 'H'},
                                      {0, 0, 0, 0}};
    while ((c = getopt_long(argc, argv, "", o, NULL)) != -1) {
        switch (c) {
        case 'p': g_port = atoi(optarg); break;
        case 'n': conns = atoi(optarg); break;
        case 's': g_seconds = atoi(optarg); break;
        case 'c': cert = optarg; break;
        case 'k': key = optarg; break;
        case 'a': ca = optarg; break;
        case 'P': g_path = optarg; break;
        case 'b': body_file = optarg; break;
        case 't': g_ctype = optarg; break;
        case 'm': max = strtoull(optarg, NULL, 10); break;
        case 'T': threads = atoi(optarg); break;
        case 'H': handshakes = atoi(optarg); break;
        default: return 2;
        }
    }
    if (!g_port || !cert || !key || !ca || !body_file || conns < 1 || conns > 1024 || g_seconds < 1 ||
        g_seconds > 120 || max < 1 || max > 20000000 || threads < 1 || threads > 8 || threads > conns) {
        fprintf(stderr, "usage: bench_net_load --port P --cert C --key K --ca CA --body FILE [--path /x] "
                        "[--conns 1..1024] [--threads 1..8] [--seconds 1..120] [--max N]\n");
        return 2;
    }
    FILE *f = fopen(body_file, "r");
    if (!f)
        return 1;
    g_body = calloc(1, 1 << 20);
    size_t bl = fread(g_body, 1, (1 << 20) - 1, f);
    fclose(f);
    while (bl && (g_body[bl - 1] == '\n'))
        g_body[--bl] = 0;
    signal(SIGPIPE, SIG_IGN);
    g_ctx = SSL_CTX_new(TLS_client_method());
    if (SSL_CTX_use_certificate_file(g_ctx, cert, SSL_FILETYPE_PEM) != 1 ||
        SSL_CTX_use_PrivateKey_file(g_ctx, key, SSL_FILETYPE_PEM) != 1 || SSL_CTX_load_verify_locations(g_ctx, ca, NULL) != 1)
        return 1;
    SSL_CTX_set_verify(g_ctx, SSL_VERIFY_PEER, NULL);
    if (handshakes > 0 && handshakes <= 100000) {
        int rc = run_handshakes(handshakes);
        SSL_CTX_free(g_ctx);
        free(g_body);
        return rc;
    }
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons((uint16_t)g_port)};
    inet_pton(AF_INET, "127.0.0.1", &a.sin_addr); /* loopback only */
    lthread *ts = calloc((size_t)threads, sizeof *ts);
    for (int t = 0; t < threads; t++) {
        lthread *th = &ts[t];
        th->base = event_base_new();
        th->n = conns / threads + (t < conns % threads);
        th->alive = th->n;
        th->max = max / (uint64_t)threads + 1;
        th->lat = malloc(th->max * sizeof *th->lat);
        th->cs = calloc((size_t)th->n, sizeof *th->cs);
        for (int i = 0; i < th->n; i++) {
            lconn *k = &th->cs[i];
            k->t = th;
            k->bev = bufferevent_openssl_socket_new(th->base, -1, SSL_new(g_ctx), BUFFEREVENT_SSL_CONNECTING,
                                                    BEV_OPT_CLOSE_ON_FREE);
            bufferevent_openssl_set_allow_dirty_shutdown(k->bev, 1);
            bufferevent_setcb(k->bev, on_read, NULL, on_event, k);
            bufferevent_enable(k->bev, EV_READ | EV_WRITE);
            if (bufferevent_socket_connect(k->bev, (struct sockaddr *)&a, sizeof a) != 0)
                return 1;
            int one = 1;
            setsockopt(bufferevent_getfd(k->bev), IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
        }
        g_total_conns += th->n;
        pthread_create(&th->tid, NULL, thread_main, th);
    }
    /* bounded in time: up to 10 s to connect, then the measurement */
    uint64_t t_start = now_ns();
    while (atomic_load(&g_up) < conns && now_ns() - t_start < 10000000000ULL)
        usleep(10000);
    if (atomic_load(&g_up) < conns) {
        fprintf(stderr, "bench_net_load: only %d of %d connections came up\n", atomic_load(&g_up), conns);
        atomic_store(&g_stop, 1);
        for (int t = 0; t < threads; t++)
            pthread_join(ts[t].tid, NULL);
        return 1;
    }
    g_t0 = now_ns();
    atomic_store(&g_measuring, 1);
    while (now_ns() - g_t0 < (uint64_t)g_seconds * 1000000000ULL) {
        usleep(20000);
        int running = 0;
        for (int t = 0; t < threads; t++)
            running += ts[t].done < ts[t].max && ts[t].alive > 0;
        if (!running)
            break;
    }
    atomic_store(&g_stop, 1);
    double secs = (double)(now_ns() - g_t0) / 1e9;
    for (int t = 0; t < threads; t++)
        pthread_join(ts[t].tid, NULL);
    uint64_t done = 0, errors = 0;
    for (int t = 0; t < threads; t++) {
        done += ts[t].done;
        errors += ts[t].errors;
    }
    uint32_t *all = malloc((done ? done : 1) * sizeof *all);
    uint64_t k = 0;
    for (int t = 0; t < threads; t++) {
        memcpy(all + k, ts[t].lat, ts[t].done * sizeof *all);
        k += ts[t].done;
    }
    qsort(all, done, sizeof *all, cmp32);
    double p50 = done ? all[done / 2] / 1000.0 : 0, p99 = done ? all[(done * 99) / 100] / 1000.0 : 0;
    printf("requests=%llu seconds=%.2f rps=%.0f p50_ms=%.2f p99_ms=%.2f errors=%llu conns=%d threads=%d\n",
           (unsigned long long)done, secs, done / secs, p50, p99, (unsigned long long)errors, conns, threads);
    for (int t = 0; t < threads; t++) {
        for (int i = 0; i < ts[t].n; i++)
            if (ts[t].cs[i].bev)
                bufferevent_free(ts[t].cs[i].bev);
        event_base_free(ts[t].base);
        free(ts[t].cs);
        free(ts[t].lat);
    }
    free(ts);
    free(all);
    SSL_CTX_free(g_ctx);
    free(g_body);
    return errors ? 3 : 0;
}
