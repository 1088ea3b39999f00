/* bench_net_bare: the baseline of `make bench-net` — a plain libevent evhttp HTTPS server (OpenSSL
 * bufferevents, TCP_NODELAY, client certificate required like the ES server) answering 200 with a
 * 1 KiB body. Prints "ready port=N"; runs until SIGTERM/SIGINT. */
#include <getopt.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <event2/buffer.h>
#include <event2/bufferevent_ssl.h>
#include <event2/event.h>
#include <event2/http.h>
#include <event2/listener.h>
#include <openssl/ssl.h>

static char g_body[1024];

static struct bufferevent *bevcb(struct event_base *base, void *arg)
{
    return bufferevent_openssl_socket_new(base, -1, SSL_new(arg), BUFFEREVENT_SSL_ACCEPTING, BEV_OPT_CLOSE_ON_FREE);
}

static void on_req(struct evhttp_request *req, void *arg)
{
    (void)arg;
    struct evbuffer *b = evhttp_request_get_output_buffer(req);
    evbuffer_add(b, g_body, sizeof g_body);
    evhttp_add_header(evhttp_request_get_output_headers(req), "Content-Type", "application/soap+xml");
    evhttp_send_reply(req, 200, "OK", NULL);
}

static void on_sig(evutil_socket_t s, short w, void *arg)
{
    (void)s;
    (void)w;
    event_base_loopexit(arg, NULL);
}

int main(int argc, char **argv)
{
    const char *cert = NULL, *key = NULL, *ca = NULL;
    int port = 0, c;
    static const struct option o[] = {{"cert", 1, 0, 'c'}, {"key", 1, 0, 'k'}, {"ca", 1, 0, 'a'}, {"port", 1, 0, 'p'},
                                      {0, 0, 0, 0}};
    while ((c = getopt_long(argc, argv, "", o, NULL)) != -1) {
        if (c == 'c') cert = optarg;
        else if (c == 'k') key = optarg;
        else if (c == 'a') ca = optarg;
        else if (c == 'p') port = atoi(optarg);
        else return 2;
    }
    if (!cert || !key || !ca) {
        fprintf(stderr, "usage: bench_net_bare --cert C --key K --ca CA [--port P]\n");
        return 2;
    }
    signal(SIGPIPE, SIG_IGN);
    memset(g_body, 'x', sizeof g_body);
    SSL_CTX *ctx = SSL_CTX_new(TLS_server_method());
    SSL_CTX_set_min_proto_version(ctx, TLS1_2_VERSION);
    if (SSL_CTX_use_certificate_chain_file(ctx, cert) != 1 || SSL_CTX_use_PrivateKey_file(ctx, key, SSL_FILETYPE_PEM) != 1 ||
        SSL_CTX_load_verify_locations(ctx, ca, NULL) != 1) {
        fprintf(stderr, "bench_net_bare: cannot load TLS files\n");
        return 1;
    }
    SSL_CTX_set_verify(ctx, SSL_VERIFY_PEER | SSL_VERIFY_FAIL_IF_NO_PEER_CERT, NULL);
    struct event_base *base = event_base_new();
    struct evhttp *http = evhttp_new(base);
    evhttp_set_bevcb(http, bevcb, ctx);
    evhttp_set_gencb(http, on_req, NULL);
    struct evhttp_bound_socket *bs = evhttp_bind_socket_with_handle(http, "127.0.0.1", (ev_uint16_t)port);
    if (!bs) {
        fprintf(stderr, "bench_net_bare: cannot listen\n");
        return 1;
    }
    evutil_socket_t fd = evhttp_bound_socket_get_fd(bs);
    int one = 1;
    setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    struct sockaddr_in a;
    socklen_t al = sizeof a;
    getsockname(fd, (struct sockaddr *)&a, &al);
    struct event *s1 = evsignal_new(base, SIGTERM, on_sig, base), *s2 = evsignal_new(base, SIGINT, on_sig, base);
    event_add(s1, NULL);
    event_add(s2, NULL);
    printf("ready port=%d\n", ntohs(a.sin_port));
    fflush(stdout);
    event_base_dispatch(base);
    event_free(s1);
    event_free(s2);
    evhttp_free(http);
    event_base_free(base);
    SSL_CTX_free(ctx);
    return 0;
}
