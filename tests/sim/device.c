/* device: SMS and HTTPS behaviour of a simulated device. */
#include "tests/sim/device.h"

#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/bufferevent_ssl.h>
#include <openssl/crypto.h>
#include <openssl/err.h>

#include "tests/sim/http.h"
#include "tests/sim/script.h"
#include "tests/sim/smsc.h"
#include "tests/sim/tlv.h"

#define MAX_PARTS 16

typedef struct sim_dev {
    sim_world *w;
    sim_euicc *e;
    /* concatenated MT */
    uint16_t cref;
    uint8_t ctotal, cgot;
    sim_buf part[MAX_PARTS];
    uint8_t have[MAX_PARTS];
    /* HTTPS admin session */
    struct bufferevent *bev;
    sim_buf in;
    sim_http_resp resp;
    char host[256], next_uri[512];
    int connected;
    sim_buf post;          /* next request, sent when http_ev fires */
    struct event *http_ev, *notif_ev, *refresh_ev;
} sim_dev;

static sim_dev *dev_of(sim_world *w, sim_euicc *e)
{
    if (e->dev)
        return e->dev;
    sim_dev *d = calloc(1, sizeof *d);
    if (!d)
        return NULL;
    d->w = w;
    d->e = e;
    sim_buf_init(&d->in);
    sim_buf_init(&d->post);
    sim_buf_init(&d->resp.body);
    e->dev = d;
    return d;
}

static void close_session(sim_dev *d)
{
    if (d->bev) {
        bufferevent_free(d->bev);
        d->bev = NULL;
    }
    d->connected = 0;
    sim_buf_reset(&d->in);
    sim_buf_reset(&d->post);
    if (d->http_ev)
        evtimer_del(d->http_ev);
}

void sim_dev_free(sim_euicc *e)
{
    sim_dev *d = e->dev;
    if (!d)
        return;
    close_session(d);
    for (int i = 0; i < MAX_PARTS; i++)
        sim_buf_free(&d->part[i]);
    sim_buf_free_secure(&d->in);
    sim_buf_free_secure(&d->post);
    sim_buf_free_secure(&d->resp.body);
    if (d->http_ev) event_free(d->http_ev);
    if (d->notif_ev) event_free(d->notif_ev);
    if (d->refresh_ev) event_free(d->refresh_ev);
    free(d);
    e->dev = NULL;
}

int sim_dev_session_active(const sim_euicc *e)
{
    const sim_dev *d = e->dev;
    return d && d->bev != NULL;
}

static void arm(struct event *ev, uint32_t ms)
{
    struct timeval tv = {(time_t)(ms / 1000), (suseconds_t)(ms % 1000) * 1000};
    evtimer_add(ev, &tv);
}

/* ---- notifications and REFRESH ---- */

static void notif_cb(evutil_socket_t fd, short what, void *arg);

void sim_dev_kick(sim_world *w, sim_euicc *e)
{
    sim_dev *d = dev_of(w, e);
    if (!d)
        return;
    if (!d->notif_ev && !(d->notif_ev = evtimer_new(w->base, notif_cb, d)))
        return;
    arm(d->notif_ev, e->fault.slow_ms);
}

static void notif_cb(evutil_socket_t fd, short what, void *arg)
{
    (void)fd; (void)what;
    sim_dev *d = arg;
    sim_euicc *e = d->e;
    int any = 0;
    for (uint8_t i = 0; i < e->npend;) {
        sim_notif *n = &e->pend[i];
        if (n->type == 0) {
            i++;
            continue;
        }
        if (n->tries >= SIM_NOTIF_MAX_TRIES) {
            sim_world_log(d->w, "notification seq=%u type=%02x unconfirmed after %u tries", n->seq, n->type, n->tries);
            sim_euicc_notif_expired(e, n); /* may roll back and queue a type 03 */
            d->w->dirty = 1;
            any = 1;
            continue;
        }
        n->tries++;
        any = 1;
        if (!e->fault.unreachable) {
            sim_buf ud;
            sim_buf_init(&ud);
            if (sim_isdr_mo_notification(e, n, &ud, NULL) == SIM_OK) {
                sim_smsc_mo(d->w, sim_euicc_msisdn(e), e->sr_sms, ud.p, ud.len);
                d->w->stats.notifications++;
            }
            sim_buf_free(&ud);
        }
        i++;
    }
    if (any)
        arm(d->notif_ev, d->w->notif_retry_ms);
}

static void refresh_cb(evutil_socket_t fd, short what, void *arg)
{
    (void)fd; (void)what;
    sim_dev *d = arg;
    if (d->bev)
        return; /* REFRESH waits for the end of the admin session */
    int t = sim_euicc_refresh(d->e);
    d->w->dirty = 1;
    if (t)
        sim_world_log(d->w, "refresh: notification type %02x queued", t);
    sim_dev_kick(d->w, d->e);
}

static void maybe_refresh(sim_dev *d)
{
    if (!d->e->refresh)
        return;
    if (!d->refresh_ev && !(d->refresh_ev = evtimer_new(d->w->base, refresh_cb, d)))
        return;
    arm(d->refresh_ev, d->w->refresh_ms);
}

/* ---- SMS ---- */

/* a PoR held back by the slow-ms fault switch */
typedef struct late_mo {
    sim_world *w;
    char from[40], to[40];
    size_t n;
    uint8_t p[];
} late_mo;

static void late_mo_cb(evutil_socket_t fd, short what, void *arg)
{
    (void)fd;
    (void)what;
    late_mo *m = arg;
    sim_smsc_mo(m->w, m->from, m->to, m->p, m->n);
    free(m);
}

static void send_por(sim_dev *d, const char *to, sim_buf *por)
{
    if (!por->len)
        return;
    if (d->e->fault.tamper)
        por->p[por->len - 1] ^= 0x5A;
    d->w->stats.por++;
    const char *dst = to && *to ? to : d->e->sr_sms;
    uint32_t ms = d->e->fault.slow_ms;
    if (ms) {
        late_mo *m = malloc(sizeof *m + por->len);
        if (m) {
            *m = (late_mo){.w = d->w, .n = por->len};
            snprintf(m->from, sizeof m->from, "%s", sim_euicc_msisdn(d->e));
            snprintf(m->to, sizeof m->to, "%s", dst);
            memcpy(m->p, por->p, por->len);
            struct timeval tv = {(time_t)(ms / 1000), (suseconds_t)(ms % 1000) * 1000};
            if (event_base_once(d->w->base, -1, EV_TIMEOUT, late_mo_cb, m, &tv) == 0)
                return;
            free(m);
        }
    }
    sim_smsc_mo(d->w, sim_euicc_msisdn(d->e), dst, por->p, por->len);
}

static void process_sms(sim_dev *d, const char *from, const uint8_t *ud, size_t n)
{
    sim_buf por;
    sim_buf_init(&por);
    sim_push push;
    sim_err err = {0};
    int lost = 0;
    sim_rc rc = sim_isdr_sms(d->e, ud, n, &por, &push, &lost, &err);
    d->w->dirty = 1;
    if (rc)
        sim_world_log(d->w, "sms: %s", err.msg);
    if (lost) {
        d->w->stats.power_losses++;
        sim_world_log(d->w, "sms: power lost during the download (fault switch): no PoR");
    }
    send_por(d, from, &por);
    sim_buf_free(&por);
    if (rc == SIM_OK && push.present) {
        d->w->stats.push++;
        sim_err e2 = {0};
        if (sim_dev_push(d->w, d->e, &push, &e2))
            sim_world_log(d->w, "push: %s", e2.msg);
    }
    maybe_refresh(d);
    /* a confirmation may have arrived: stop resending confirmed notifications */
    if (d->notif_ev && d->e->npend == 0)
        evtimer_del(d->notif_ev);
}

void sim_dev_mt(sim_world *w, sim_euicc *e, const char *from, const uint8_t *ud, size_t n)
{
    if (e->fault.unreachable || n < 1 || (size_t)ud[0] + 1 > n)
        return;
    sim_dev *d = dev_of(w, e);
    if (!d)
        return;
    /* look for a concatenation IE (00: 8-bit ref, 08: 16-bit ref) */
    size_t udhl = ud[0], o = 1;
    int cat = 0, has70 = 0;
    uint16_t ref = 0;
    uint8_t total = 0, seq = 0;
    while (o + 2 <= 1 + udhl) {
        uint8_t iei = ud[o], l = ud[o + 1];
        if (o + 2 + l > 1 + udhl)
            return;
        if (iei == 0x00 && l == 3) {
            cat = 1; ref = ud[o + 2]; total = ud[o + 3]; seq = ud[o + 4];
        } else if (iei == 0x08 && l == 4) {
            cat = 1; ref = sim_be16(ud + o + 2); total = ud[o + 4]; seq = ud[o + 5];
        } else if (iei == 0x70) {
            has70 = 1;
        }
        o += 2u + l;
    }
    if (!cat) {
        process_sms(d, from, ud, n);
        return;
    }
    if (total == 0 || total > MAX_PARTS || seq == 0 || seq > total)
        return;
    if (d->ctotal && (d->cref != ref || d->ctotal != total)) {
        for (int i = 0; i < MAX_PARTS; i++) {
            sim_buf_reset(&d->part[i]);
            d->have[i] = 0;
        }
        d->cgot = 0;
    }
    d->cref = ref;
    d->ctotal = total;
    if (d->have[seq - 1])
        return; /* duplicate part */
    (void)has70;
    sim_buf_reset(&d->part[seq - 1]);
    sim_buf_put(&d->part[seq - 1], ud + 1 + udhl, n - 1 - udhl);
    d->have[seq - 1] = 1;
    if (++d->cgot < total)
        return;
    sim_buf all;
    sim_buf_init(&all);
    const uint8_t udh[3] = {0x02, 0x70, 0x00};
    sim_buf_put(&all, udh, 3);
    for (int i = 0; i < total; i++) {
        sim_buf_put(&all, d->part[i].p, d->part[i].len);
        sim_buf_reset(&d->part[i]);
        d->have[i] = 0;
    }
    d->cgot = d->ctotal = 0;
    if (!all.oom)
        process_sms(d, from, all.p, all.len);
    sim_buf_free(&all);
}

/* ---- HTTPS admin session ---- */

void sim_dev_psk_identity(const sim_euicc *e, char out[91])
{
    uint8_t t[48];
    size_t k = 0;
    t[k++] = 0x80; t[k++] = 0x01; t[k++] = 0x02;
    t[k++] = 0x81; t[k++] = 0x10;
    memcpy(t + k, e->eid, 16); k += 16;
    t[k++] = 0x4F; t[k++] = 0x10;
    memcpy(t + k, SIM_AID_ISDR.b, 16); k += 16;
    t[k++] = 0x82; t[k++] = 0x01; t[k++] = e->n_scp81 ? e->scp81[0].id : 1;
    t[k++] = 0x83; t[k++] = 0x01; t[k++] = e->n_scp81 ? e->scp81[0].kvn : 0x40;
    sim_hex(out, t, k);
}

static unsigned int psk_cb(SSL *ssl, const char *hint, char *identity, unsigned int max_id, unsigned char *psk,
                           unsigned int max_psk)
{
    (void)hint;
    sim_dev *d = SSL_get_app_data(ssl);
    if (!d || !d->e->n_scp81 || max_psk < 16 || max_id < 91)
        return 0;
    sim_dev_psk_identity(d->e, identity);
    memcpy(psk, d->e->scp81[0].psk, 16);
    return 16;
}

sim_rc sim_dev_tls_ctx(SSL_CTX **out, sim_err *err)
{
    SSL_CTX *c = SSL_CTX_new(TLS_client_method());
    if (!c || !SSL_CTX_set_min_proto_version(c, TLS1_2_VERSION) || !SSL_CTX_set_max_proto_version(c, TLS1_2_VERSION) ||
        !SSL_CTX_set_cipher_list(c, "PSK-AES128-GCM-SHA256:PSK-AES128-CBC-SHA256")) {
        SSL_CTX_free(c);
        return sim_errf(err, SIM_ECRYPTO, "tls: cannot set up the PSK client context");
    }
    SSL_CTX_set_psk_client_callback(c, psk_cb);
    SSL_CTX_set_session_cache_mode(c, SSL_SESS_CACHE_OFF);
    *out = c;
    return SIM_OK;
}

static void from_hdr(const sim_euicc *e, char out[160])
{
    char eid[33], pix[23];
    sim_hex(eid, e->eid, 16);
    sim_hex(pix, SIM_AID_ISDR.b + 5, 11);
    snprintf(out, 160, "//se-id/eid/%s;//aa-id/aid/a000000559/%s", eid, pix);
}

static void http_fire(evutil_socket_t fd, short what, void *arg)
{
    (void)fd; (void)what;
    sim_dev *d = arg;
    if (d->bev && d->connected && d->post.len) {
        bufferevent_write(d->bev, d->post.p, d->post.len);
        sim_buf_reset(&d->post);
        d->w->stats.https_posts++;
    }
}

static void queue_post(sim_dev *d, const char *uri, const char *status, const uint8_t *body, size_t n, uint32_t delay)
{
    char from[160];
    from_hdr(d->e, from);
    sim_buf_reset(&d->post);
    sim_http_post(&d->post, d->host, uri, from, status, 0, body, n);
    if (d->e->fault.tamper && n && d->post.len)
        d->post.p[d->post.len - 1] ^= 0x5A;
    if (!d->http_ev && !(d->http_ev = evtimer_new(d->w->base, http_fire, d)))
        return;
    arm(d->http_ev, delay + d->e->fault.slow_ms);
}

static void end_session(sim_dev *d, const char *why)
{
    if (why)
        sim_world_log(d->w, "https session ended: %s", why);
    close_session(d);
    d->w->dirty = 1;
    maybe_refresh(d);
}

static void on_response(sim_dev *d)
{
    sim_http_resp *r = &d->resp;
    if (r->status == 204) {
        if (!r->next_uri[0]) {
            end_session(d, NULL);
            return;
        }
        snprintf(d->next_uri, sizeof d->next_uri, "%s", r->next_uri);
        queue_post(d, d->next_uri, NULL, NULL, 0, d->w->poll_ms);
        return;
    }
    if (r->status != 200 || !r->next_uri[0]) {
        d->w->stats.https_errors++;
        end_session(d, r->status != 200 ? "SM-SR answered an error status" : "200 without X-Admin-Next-URI");
        return;
    }
    snprintf(d->next_uri, sizeof d->next_uri, "%s", r->next_uri);
    uint8_t aid[16];
    size_t al = 0;
    const char *status = "ok";
    sim_buf out;
    sim_buf_init(&out);
    if (r->target[0] && sim_http_target_aid(r->target, aid, &al)) {
        status = "unknown-application";
    } else {
        int lost = 0;
        sim_err err = {0};
        sim_rc rc = sim_script_run(d->e, al ? aid : NULL, al, r->body.p, r->body.len, &out, &lost, &err);
        if (lost) {
            d->w->stats.power_losses++;
            sim_buf_free(&out);
            end_session(d, "power lost during the download (fault switch)");
            return;
        }
        if (rc == SIM_ENOTFOUND) {
            status = "unknown-application";
            sim_buf_reset(&out);
        } else if (rc) {
            sim_world_log(d->w, "script: %s", err.msg);
            if (!out.len)
                status = "security-error";
        }
    }
    d->w->dirty = 1;
    queue_post(d, d->next_uri, status, out.p, out.len, 0);
    sim_buf_free(&out);
}

static void on_read(struct bufferevent *bev, void *arg)
{
    sim_dev *d = arg;
    struct evbuffer *in = bufferevent_get_input(bev);
    size_t n = evbuffer_get_length(in);
    if (n) {
        sim_buf_reserve(&d->in, n);
        if (d->in.oom) {
            end_session(d, "out of memory");
            return;
        }
        evbuffer_remove(in, d->in.p + d->in.len, n);
        d->in.len += n;
    }
    for (;;) {
        size_t used = 0;
        sim_err err = {0};
        int r = sim_http_parse(d->in.p, d->in.len, &d->resp, &used, &err);
        if (r == 0)
            return;
        if (r < 0) {
            d->w->stats.https_errors++;
            end_session(d, err.msg);
            return;
        }
        memmove(d->in.p, d->in.p + used, d->in.len - used);
        d->in.len -= used;
        on_response(d);
        if (!d->bev)
            return;
    }
}

static void on_event(struct bufferevent *bev, short what, void *arg)
{
    sim_dev *d = arg;
    if (what & BEV_EVENT_CONNECTED) {
        int one = 1;
        setsockopt(bufferevent_getfd(bev), IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
        d->connected = 1;
        http_fire(-1, 0, d);
        return;
    }
    if (what & (BEV_EVENT_ERROR | BEV_EVENT_EOF)) {
        unsigned long e = bufferevent_get_openssl_error(bev);
        char buf[160] = "connection closed";
        if (e)
            ERR_error_string_n(e, buf, sizeof buf);
        if (what & BEV_EVENT_ERROR)
            d->w->stats.https_errors++;
        end_session(d, buf);
    }
}

sim_rc sim_dev_push(sim_world *w, sim_euicc *e, const sim_push *push, sim_err *err)
{
    if (e->fault.unreachable)
        return SIM_OK; /* the device never gets the bearer up */
    sim_dev *d = dev_of(w, e);
    if (!d)
        return sim_errf(err, SIM_ENOMEM, "device: out of memory");
    if (d->bev)
        return sim_errf(err, SIM_ESTATE, "device: an admin session is already open");
    if (!w->tls || !w->sr_host[0])
        return sim_errf(err, SIM_ESTATE, "device: no SM-SR URL configured");
    if (!e->n_scp81)
        return sim_errf(err, SIM_ESTATE, "device: no SCP81 key set");
    SSL *ssl = SSL_new(w->tls);
    if (!ssl)
        return sim_errf(err, SIM_ECRYPTO, "device: SSL_new failed");
    SSL_set_app_data(ssl, d);
    d->bev = bufferevent_openssl_socket_new(w->base, -1, ssl, BUFFEREVENT_SSL_CONNECTING,
                                            BEV_OPT_CLOSE_ON_FREE | BEV_OPT_DEFER_CALLBACKS);
    if (!d->bev) {
        SSL_free(ssl);
        return sim_errf(err, SIM_EIO, "device: cannot create the TLS connection");
    }
    bufferevent_openssl_set_allow_dirty_shutdown(d->bev, 1);
    bufferevent_setcb(d->bev, on_read, NULL, on_event, d);
    bufferevent_enable(d->bev, EV_READ | EV_WRITE);
    snprintf(d->host, sizeof d->host, "%s", push && push->host[0] ? push->host : w->sr_host);
    const char *uri = push && push->uri[0] ? push->uri : w->sr_path;
    queue_post(d, uri, NULL, NULL, 0, 0);
    evtimer_del(d->http_ev); /* sent on connect */
    if (bufferevent_socket_connect_hostname(d->bev, NULL, AF_UNSPEC, w->sr_host, w->sr_port) != 0) {
        close_session(d);
        return sim_errf(err, SIM_EIO, "device: cannot connect to %s:%u", w->sr_host, w->sr_port);
    }
    w->stats.https_sessions++;
    return SIM_OK;
}

static void start_cb(evutil_socket_t fd, short what, void *arg)
{
    (void)fd; (void)what;
    sim_dev *d = arg;
    sim_euicc *e = d->e;
    event_assign(d->notif_ev, d->w->base, -1, 0, notif_cb, d);
    if (d->w->first_attach && !e->first_attach_done && sim_euicc_enabled(e)) {
        sim_euicc_notify(e, SIM_NOTIF_FIRST_ATTACH, &sim_euicc_enabled(e)->aid, NULL);
        e->first_attach_done = 1;
        d->w->dirty = 1;
    }
    maybe_refresh(d);
    notif_cb(-1, 0, d);
}

void sim_dev_start_all(sim_world *w)
{
    size_t n = w->fleet.n;
    for (size_t i = 0; i < n; i++) {
        sim_euicc *e = w->fleet.cards[i];
        int need = (w->first_attach && !e->first_attach_done) || e->refresh;
        for (uint8_t k = 0; k < e->npend && !need; k++)
            need = e->pend[k].type != 0;
        if (!need)
            continue;
        sim_dev *d = dev_of(w, e);
        if (!d || (!d->notif_ev && !(d->notif_ev = evtimer_new(w->base, notif_cb, d))))
            continue;
        uint32_t at = n > 1 ? (uint32_t)((uint64_t)w->attach_spread_ms * i / n) : 0;
        event_assign(d->notif_ev, w->base, -1, 0, start_cb, d);
        arm(d->notif_ev, at);
    }
}
