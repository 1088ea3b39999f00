/* The SCP81 admin server: PSK-TLS in the handshake pool, RAM over HTTP on the loop. */
#include "net/ramhttp_server.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/ssl.h>

#include "lib/hex.h"
#include "lib/log.h"
#include "net/handshake.h"
#include "net/http_server.h"

struct ram_server {
    ram_server_config cfg;
    SSL_CTX *ctx;
    net_hs_pool *hs;
    http_server *http;
};

struct ram_conn {
    ram_server *s;
    http_conn *hc;
    scp81_psk_id id;
    char eid[33];
    bool have_id;
    bool held;      /* a POST is waiting for the owner's answer */
    void *data;
};

static void conn_gone(void *p)
{
    ram_conn *rc = p;
    if (rc->s->cfg.on_close)
        rc->s->cfg.on_close(rc->data, rc->s->cfg.arg);
    free(rc);
}

static void answer_error(http_conn *hc, int status, const char *why)
{
    char body[300];
    int n = snprintf(body, sizeof body, "%s\n", why);
    http_conn_respond(hc, status, "text/plain", body, n > 0 ? (size_t)n : 0, NULL, true);
}

static bool path_ok(const char *t)
{
    if (t[0] != '/')
        return false;
    for (const char *p = t; *p; p++)
        if ((unsigned char)*p <= 0x20 || (unsigned char)*p >= 0x7F)
            return false;
    return true;
}

static void on_request(http_conn *hc, http_msg *req, void *arg)
{
    ram_server *s = arg;
    ram_conn *rc = http_conn_data(hc);
    if (!rc) {
        rc = calloc(1, sizeof *rc);
        if (!rc) {
            answer_error(hc, 503, "out of memory");
            return;
        }
        rc->s = s;
        rc->hc = hc;
        http_conn_set_data(hc, rc, conn_gone);
        SSL *ssl = http_conn_ssl(hc);
        const char *ident = ssl ? SSL_get_psk_identity(ssl) : NULL;
        sm_err err = {0};
        if (ident && scp81_psk_id_decode(ident, strlen(ident), &rc->id, &err) == SM_OK) {
            rc->have_id = true;
            sm_hex_encode(rc->id.eid, 16, rc->eid);
            for (char *p = rc->eid; *p; p++)
                if (*p >= 'a' && *p <= 'f')
                    *p = (char)(*p - 'a' + 'A');
        }
    }
    if (!rc->have_id) {
        answer_error(hc, 403, "no SCP81 PSK identity on this connection");
        return;
    }
    if (strcmp(req->method, "POST") != 0) {
        answer_error(hc, 405, "RAM over HTTP: POST only");
        return;
    }
    if (!path_ok(req->target)) {
        answer_error(hc, 400, "bad request target");
        return;
    }
    scp81_request h;
    scp81_request_init(&h);
    sm_err err = {0};
    sm_rc r = SM_OK;
    for (size_t i = 0; r == SM_OK && i < req->nhdr; i++)
        r = scp81_request_header(&h, req->hdr[i].name, req->hdr[i].value, &err);
    if (r == SM_OK)
        r = scp81_request_check(&h, req->body.len, &err);
    if (r == SM_OK && !h.has_from)
        r = sm_errf(&err, SM_EPROTO, "scp81: the POST has no X-Admin-From header");
    if (r == SM_OK && memcmp(h.eid, rc->id.eid, 16) != 0)
        r = sm_errf(&err, SM_EPERM, "scp81: X-Admin-From names another eUICC than the PSK identity");
    if (r != SM_OK) {
        char q[SM_ERR_MSG + 8];
        sm_log(SM_LOG_WARN, "ramhttp", "post_refused", "eid=%s peer=%s error=%s", rc->eid, http_conn_addr(hc),
               SM_LOGQ(q, err.msg));
        answer_error(hc, r == SM_EPERM ? 403 : 400, err.msg);
        return;
    }
    ram_post p = {.id = &rc->id,
                  .hdr = &h,
                  .path = req->target,
                  .body = req->body.len ? req->body.data : NULL,
                  .body_len = req->body.len};
    memcpy(p.eid, rc->eid, sizeof p.eid);
    http_conn_hold(hc);
    rc->held = true;
    s->cfg.on_post(rc, &p, s->cfg.arg);
}

static void release(ram_conn *c)
{
    if (!c->held)
        return;
    c->held = false;
    http_conn_release(c->hc); /* may free c (the connection closed meanwhile) */
}

void ram_reply_script(ram_conn *c, const char *next_uri, const uint8_t *target_aid, size_t aid_len,
                      const uint8_t *script, size_t len)
{
    sm_buf h;
    sm_buf_init(&h);
    scp81_reply r = {200, next_uri, target_aid, aid_len};
    sm_err err = {0};
    if (scp81_reply_headers(&r, &h, &err) != SM_OK) {
        sm_buf_free(&h);
        answer_error(c->hc, 500, err.msg);
        release(c);
        return;
    }
    sm_buf_append_byte(&h, 0);
    http_conn_respond(c->hc, 200, NULL, script, len, h.failed ? NULL : (const char *)h.data, false);
    sm_buf_free(&h);
    release(c);
}

void ram_reply_none(ram_conn *c, const char *next_uri)
{
    sm_buf h;
    sm_buf_init(&h);
    scp81_reply r = {204, next_uri, NULL, 0};
    sm_err err = {0};
    if (scp81_reply_headers(&r, &h, &err) != SM_OK) {
        sm_buf_free(&h);
        answer_error(c->hc, 500, err.msg);
        release(c);
        return;
    }
    sm_buf_append_byte(&h, 0);
    /* the session ends with a 204 without Next-URI: close after it */
    http_conn_respond(c->hc, 204, NULL, NULL, 0, h.failed ? NULL : (const char *)h.data, next_uri == NULL);
    sm_buf_free(&h);
    release(c);
}

void ram_reply_error(ram_conn *c, int status, const char *why)
{
    answer_error(c->hc, status, why);
    release(c);
}

void ram_conn_set_data(ram_conn *c, void *data) { c->data = data; }
void *ram_conn_data(ram_conn *c) { return c->data; }
const char *ram_conn_addr(ram_conn *c) { return http_conn_addr(c->hc); }

sm_rc ram_server_start(struct event_base *base, const ram_server_config *cfg, ram_server **out, sm_err *err)
{
    *out = NULL;
    if (!cfg->lookup || !cfg->on_post)
        return sm_errf(err, SM_EINVAL, "ramhttp: a PSK lookup and a POST handler are needed");
    ram_server *s = calloc(1, sizeof *s);
    if (!s)
        return sm_errf(err, SM_ENOMEM, "ramhttp: out of memory");
    s->cfg = *cfg;
    s->ctx = SSL_CTX_new(TLS_server_method());
    sm_rc rc = s->ctx ? scp81_tls_server_setup(s->ctx, cfg->lookup, cfg->lookup_arg, err)
                      : sm_errf(err, SM_ECRYPTO, "ramhttp: SSL_CTX_new failed");
    if (rc == SM_OK)
        rc = net_hs_pool_start(base, cfg->handshake_threads ? cfg->handshake_threads : 2, &s->hs, err);
    if (rc == SM_OK) {
        http_server_config hc = {
            .listen = cfg->listen,
            .ssl_ctx = s->ctx,
            .hs = s->hs,
            .lim = {16384, cfg->max_body ? cfg->max_body : (1u << 20)},
            .idle_timeout_s = cfg->idle_timeout_s,
            .request_timeout_s = cfg->request_timeout_s,
            .handshake_timeout_s = cfg->handshake_timeout_s,
            .max_conns = cfg->max_conns,
            .on_request = on_request,
            .arg = s,
        };
        rc = http_server_start(base, &hc, &s->http, err);
    }
    if (rc != SM_OK) {
        sm_err_prefix(err, "SCP81 admin server on %s", cfg->listen);
        if (s->hs)
            net_hs_pool_stop(s->hs);
        if (s->ctx)
            SSL_CTX_free(s->ctx);
        free(s);
        return rc;
    }
    *out = s;
    return SM_OK;
}

void ram_server_stop(ram_server *s)
{
    if (!s)
        return;
    http_server_shutdown(s->http);
    /* handshakes still running fail with "stopping" and come back to the (still living) server */
    net_hs_pool_stop(s->hs);
    http_server_free(s->http);
    SSL_CTX_free(s->ctx);
    free(s);
}

int ram_server_port(const ram_server *s) { return http_server_port(s->http); }
unsigned ram_server_conns(const ram_server *s) { return http_server_conns(s->http); }
