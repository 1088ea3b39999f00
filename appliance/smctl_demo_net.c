/* The development MNO's HTTPS client and endpoint for `smctl demo download`. */
#include "appliance/smctl_demo_net.h"

#include <arpa/inet.h>
#include <errno.h>
#include <netdb.h>
#include <poll.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include <openssl/err.h>
#include <openssl/ssl.h>
#include <openssl/x509v3.h>

#define DEMO_MAX_BODY (1u << 20)
#define DEMO_MAX_MSGS 16

static sm_rc split(const char *hostport, char *host, size_t hcap, char *port, size_t pcap, sm_err *err)
{
    const char *c = strrchr(hostport, ':');
    if (!c || c == hostport || (size_t)(c - hostport) >= hcap || strlen(c + 1) >= pcap || !c[1])
        return sm_errf(err, SM_EINVAL, "demo: %s is not host:port", hostport);
    snprintf(host, hcap, "%.*s", (int)(c - hostport), hostport);
    snprintf(port, pcap, "%s", c + 1);
    return SM_OK;
}

static SSL_CTX *ctx_new(const demo_tls *t, bool server, sm_err *err)
{
    SSL_CTX *x = SSL_CTX_new(server ? TLS_server_method() : TLS_client_method());
    if (!x) {
        sm_errf(err, SM_ECRYPTO, "demo: no TLS context");
        return NULL;
    }
    SSL_CTX_set_min_proto_version(x, TLS1_2_VERSION);
    if (SSL_CTX_use_certificate_chain_file(x, t->cert) != 1 ||
        SSL_CTX_use_PrivateKey_file(x, t->key, SSL_FILETYPE_PEM) != 1 || SSL_CTX_load_verify_locations(x, t->ca, NULL) != 1) {
        sm_errf(err, SM_ECONFIG, "demo: loading %s, %s or %s failed", t->cert, t->key, t->ca);
        SSL_CTX_free(x);
        return NULL;
    }
    SSL_CTX_set_verify(x, SSL_VERIFY_PEER | (server ? SSL_VERIFY_FAIL_IF_NO_PEER_CERT : 0), NULL);
    return x;
}

static int tcp_connect(const char *host, const char *port)
{
    struct addrinfo hints = {.ai_socktype = SOCK_STREAM}, *ai = NULL;
    if (getaddrinfo(host, port, &hints, &ai) != 0)
        return -1;
    int fd = -1;
    for (struct addrinfo *a = ai; a && fd < 0; a = a->ai_next) {
        fd = socket(a->ai_family, a->ai_socktype | SOCK_CLOEXEC, 0);
        if (fd >= 0 && connect(fd, a->ai_addr, a->ai_addrlen) != 0) {
            close(fd);
            fd = -1;
        }
    }
    freeaddrinfo(ai);
    return fd;
}

sm_rc demo_post(const demo_tls *t, const char *hostport, const char *path, const char *body, int *status,
                char *answer, size_t cap, sm_err *err)
{
    *status = 0;
    if (answer && cap)
        answer[0] = 0;
    char host[256], port[16];
    sm_rc rc = split(hostport, host, sizeof host, port, sizeof port, err);
    if (rc != SM_OK)
        return rc;
    SSL_CTX *x = ctx_new(t, false, err);
    if (!x)
        return SM_ECONFIG;
    int fd = tcp_connect(host, port);
    SSL *ssl = fd >= 0 ? SSL_new(x) : NULL;
    if (!ssl) {
        if (fd >= 0)
            close(fd);
        SSL_CTX_free(x);
        return sm_errf(err, SM_EIO, "demo: cannot connect to %s (is smboxd running?)", hostport);
    }
    X509_VERIFY_PARAM *vp = SSL_get0_param(ssl);
    if (X509_VERIFY_PARAM_set1_ip_asc(vp, host) != 1)
        X509_VERIFY_PARAM_set1_host(vp, host, 0);
    SSL_set_fd(ssl, fd);
    if (SSL_connect(ssl) != 1) {
        unsigned long e = ERR_get_error();
        const char *why = e ? ERR_reason_error_string(e) : NULL;
        rc = sm_errf(err, SM_ECRYPTO, "demo: TLS with %s refused (%s)", hostport, why ? why : "?");
    } else {
        char hdr[512];
        int hl = snprintf(hdr, sizeof hdr,
                          "POST %s HTTP/1.1\r\nHost: %s\r\nContent-Type: application/json\r\nContent-Length: %zu\r\n"
                          "Connection: close\r\n\r\n",
                          path, hostport, strlen(body));
        if (SSL_write(ssl, hdr, hl) != hl || SSL_write(ssl, body, (int)strlen(body)) != (int)strlen(body)) {
            rc = sm_errf(err, SM_EIO, "demo: sending to %s failed", hostport);
        } else {
            char buf[8192];
            size_t n = 0;
            int r;
            while (n < sizeof buf - 1 && (r = SSL_read(ssl, buf + n, (int)(sizeof buf - 1 - n))) > 0)
                n += (size_t)r;
            buf[n] = 0;
            if (sscanf(buf, "HTTP/1.%*d %d", status) != 1)
                rc = sm_errf(err, SM_EPROTO, "demo: no HTTP answer from %s", hostport);
            char *b = strstr(buf, "\r\n\r\n");
            if (answer && cap && b)
                snprintf(answer, cap, "%s", b + 4);
        }
    }
    SSL_shutdown(ssl);
    SSL_free(ssl);
    close(fd);
    SSL_CTX_free(x);
    return rc;
}

/* ---- the MNO endpoint ---------------------------------------------------------------------------- */

struct demo_listener {
    SSL_CTX *ctx;
    int fd;
    pthread_t th;
    volatile int stop;
    pthread_mutex_t mu;
    char *msgs[DEMO_MAX_MSGS];
    size_t n;
};

/* reads one request (headers + Content-Length body) */
static char *read_request(SSL *ssl)
{
    size_t cap = 16384, n = 0;
    char *b = malloc(cap + 1);
    size_t need = 0;
    char *body = NULL;
    while (b) {
        int r = SSL_read(ssl, b + n, (int)(cap - n));
        if (r <= 0)
            break;
        n += (size_t)r;
        b[n] = 0;
        if (!body && (body = strstr(b, "\r\n\r\n"))) {
            body += 4;
            const char *cl = strcasestr(b, "\r\nContent-Length:");
            size_t len = cl ? strtoul(cl + 17, NULL, 10) : 0;
            if (len > DEMO_MAX_BODY)
                break;
            need = (size_t)(body - b) + len;
            if (need > cap) {
                size_t off = (size_t)(body - b);
                char *nb = realloc(b, need + 1);
                if (!nb)
                    break;
                b = nb;
                cap = need;
                body = b + off;
            }
        }
        if (body && n >= need) {
            char *out = strdup(body);
            free(b);
            return out;
        }
        if (n == cap)
            break;
    }
    free(b);
    return NULL;
}

static void *listener_main(void *arg)
{
    demo_listener *l = arg;
    while (!l->stop) {
        struct pollfd p = {.fd = l->fd, .events = POLLIN};
        if (poll(&p, 1, 200) <= 0)
            continue;
        int c = accept(l->fd, NULL, NULL);
        if (c < 0)
            continue;
        struct timeval tv = {5, 0};
        setsockopt(c, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
        SSL *ssl = SSL_new(l->ctx);
        if (ssl && SSL_set_fd(ssl, c) == 1 && SSL_accept(ssl) == 1) {
            char *body = read_request(ssl);
            static const char ok[] = "HTTP/1.1 202 Accepted\r\nContent-Length: 0\r\nConnection: close\r\n\r\n";
            SSL_write(ssl, ok, (int)sizeof ok - 1);
            pthread_mutex_lock(&l->mu);
            if (body && l->n < DEMO_MAX_MSGS)
                l->msgs[l->n++] = body;
            else
                free(body);
            pthread_mutex_unlock(&l->mu);
            SSL_shutdown(ssl);
        }
        SSL_free(ssl);
        close(c);
    }
    return NULL;
}

sm_rc demo_listen(const demo_tls *t, const char *hostport, demo_listener **out, sm_err *err)
{
    *out = NULL;
    char host[256], port[16];
    sm_rc rc = split(hostport, host, sizeof host, port, sizeof port, err);
    if (rc != SM_OK)
        return rc;
    demo_listener *l = calloc(1, sizeof *l);
    if (!l)
        return sm_errf(err, SM_ENOMEM, "demo: out of memory");
    pthread_mutex_init(&l->mu, NULL);
    l->ctx = ctx_new(t, true, err);
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons((uint16_t)atoi(port))};
    int one = 1;
    l->fd = l->ctx ? socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0) : -1;
    if (l->fd < 0 || inet_pton(AF_INET, host, &a.sin_addr) != 1 ||
        setsockopt(l->fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one) != 0 ||
        bind(l->fd, (struct sockaddr *)&a, sizeof a) != 0 || listen(l->fd, 8) != 0) {
        rc = l->ctx ? sm_errf(err, SM_EIO, "demo: cannot listen on %s: %s", hostport, strerror(errno)) : SM_ECONFIG;
        if (l->fd >= 0)
            close(l->fd);
        SSL_CTX_free(l->ctx);
        free(l);
        return rc;
    }
    pthread_create(&l->th, NULL, listener_main, l);
    *out = l;
    return SM_OK;
}

bool demo_listener_wait(demo_listener *l, const char *needle, int timeout_ms, char *out, size_t cap)
{
    for (int waited = 0; l && waited <= timeout_ms; waited += 100) {
        pthread_mutex_lock(&l->mu);
        for (size_t i = 0; i < l->n; i++)
            if (strstr(l->msgs[i], needle)) {
                snprintf(out, cap, "%s", l->msgs[i]);
                pthread_mutex_unlock(&l->mu);
                return true;
            }
        pthread_mutex_unlock(&l->mu);
        struct timespec ts = {0, 100 * 1000 * 1000};
        nanosleep(&ts, NULL);
    }
    return false;
}

void demo_listener_stop(demo_listener *l)
{
    if (!l)
        return;
    l->stop = 1;
    pthread_join(l->th, NULL);
    close(l->fd);
    SSL_CTX_free(l->ctx);
    for (size_t i = 0; i < l->n; i++)
        free(l->msgs[i]);
    pthread_mutex_destroy(&l->mu);
    free(l);
}
