/* The SMPP 3.4 ESME: one transceiver session, keep-alive, reconnects, submit window, MO hand-off. */
#include "net/smpp_client.h"

#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/dns.h>

#include "lib/buf.h"
#include "lib/log.h"
#include "lib/secmem.h"
#include "net/smpp.h"

#define TICK_MS 200
#define UD_MAX 140

typedef struct sub {
    struct sub *next;
    uint32_t seq;
    int64_t deadline_ms;
    smpp_sent_cb cb;
    void *arg;
    char dst[21];
    size_t len;
    uint8_t ud[UD_MAX];
} sub;

struct smpp_client {
    struct event_base *base;
    smpp_client_config cfg;
    char server[256], system_id[16], system_type[13], source_addr[21];
    char *password; /* sm_secmem, 9 bytes */
    smpp_mo_cb mo;
    void *arg;
    struct evdns_base *dns;
    struct bufferevent *bev;
    struct event *tick, *retry;
    smpp_link link;
    uint32_t next_seq, gen, bind_seq;
    int64_t bind_deadline, enquire_sent, last_enquire;
    int backoff_ms;
    sub *qh, *qt;
    sub *inflight;
    unsigned nq, ninf;
    smpp_client_stats st;
    bool stopping;
};

static int64_t now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

const char *smpp_link_name(smpp_link l)
{
    switch (l) {
    case SMPP_LINK_DOWN:
        return "down";
    case SMPP_LINK_CONNECTING:
        return "connecting";
    case SMPP_LINK_BINDING:
        return "binding";
    case SMPP_LINK_BOUND:
        return "bound";
    }
    return "?";
}

static uint32_t seq_next(smpp_client *c)
{
    c->next_seq = c->next_seq >= 0x7FFFFFFFu ? 1 : c->next_seq + 1;
    return c->next_seq;
}

static void complete(smpp_client *c, sub *s, sm_rc rc, uint32_t status, const char *msgid)
{
    if (rc == SM_OK)
        c->st.submit_ok++;
    else
        c->st.submit_failed++;
    if (s->cb)
        s->cb(s->arg, rc, status, msgid);
    free(s);
}

static void send_pdu(smpp_client *c, const smpp_pdu *p)
{
    if (!c->bev)
        return;
    sm_buf b;
    sm_buf_init(&b);
    sm_err err = {0};
    if (smpp_encode(p, &b, &err) == SM_OK)
        bufferevent_write(c->bev, b.data, b.len);
    else {
        char q[SM_ERR_MSG + 8];
        sm_log(SM_LOG_ERR, "smpp", "encode_failed", "pdu=%s error=%s", smpp_name(p->id), SM_LOGQ(q, err.msg));
    }
    sm_buf_free_wipe(&b); /* a bind carries the password */
}

static void schedule_reconnect(smpp_client *c);

/* Drops the TCP session; outstanding submits fail (the SMSC may or may not have taken them). */
static void link_down(smpp_client *c, const char *why)
{
    if (c->bev) {
        bufferevent_free(c->bev);
        c->bev = NULL;
    }
    bool was_bound = c->link == SMPP_LINK_BOUND;
    c->link = SMPP_LINK_DOWN;
    c->gen++;
    c->enquire_sent = 0;
    sub *s = c->inflight;
    c->inflight = NULL;
    c->ninf = 0;
    while (s) {
        sub *n = s->next;
        complete(c, s, SM_EIO, 0, NULL);
        s = n;
    }
    if (!c->stopping) {
        char q[200];
        sm_log(was_bound ? SM_LOG_WARN : SM_LOG_INFO, "smpp", "link_down", "server=%s why=%s retry_ms=%d", c->server,
               SM_LOGQ(q, why), c->backoff_ms);
        schedule_reconnect(c);
    }
}

static void flush_queue(smpp_client *c)
{
    unsigned window = c->cfg.window ? c->cfg.window : 10;
    int tmo = c->cfg.response_timeout_s > 0 ? c->cfg.response_timeout_s : 10;
    while (c->link == SMPP_LINK_BOUND && c->qh && c->ninf < window) {
        sub *s = c->qh;
        c->qh = s->next;
        if (!c->qh)
            c->qt = NULL;
        c->nq--;
        smpp_pdu p;
        memset(&p, 0, sizeof p);
        p.id = SMPP_SUBMIT_SM;
        p.seq = s->seq = seq_next(c);
        p.src_ton = c->cfg.source_ton;
        p.src_npi = c->cfg.source_npi;
        snprintf(p.src, sizeof p.src, "%s", c->source_addr);
        p.dst_ton = c->cfg.dest_ton;
        p.dst_npi = c->cfg.dest_npi;
        snprintf(p.dst, sizeof p.dst, "%s", s->dst);
        p.esm_class = SMPP_ESM_UDHI;
        p.protocol_id = 0x7F; /* SMS-PP data download to the UICC */
        p.data_coding = 0xF6; /* 8-bit data, class 2 (SIM specific) */
        p.registered_delivery = c->cfg.delivery_receipts ? 1 : 0;
        p.sm = s->ud;
        p.sm_len = s->len;
        send_pdu(c, &p);
        s->deadline_ms = now_ms() + tmo * 1000L;
        s->next = c->inflight;
        c->inflight = s;
        c->ninf++;
        c->st.submitted++;
    }
}

static void send_bind(smpp_client *c)
{
    smpp_pdu p;
    memset(&p, 0, sizeof p);
    p.id = SMPP_BIND_TRANSCEIVER;
    p.seq = c->bind_seq = seq_next(c);
    snprintf(p.system_id, sizeof p.system_id, "%s", c->system_id);
    snprintf(p.password, sizeof p.password, "%s", c->password ? c->password : "");
    snprintf(p.system_type, sizeof p.system_type, "%s", c->system_type);
    p.interface_version = SMPP_INTERFACE_VERSION;
    send_pdu(c, &p);
    explicit_bzero(p.password, sizeof p.password);
    c->link = SMPP_LINK_BINDING;
    c->bind_deadline = now_ms() + (c->cfg.response_timeout_s > 0 ? c->cfg.response_timeout_s : 10) * 1000L;
}

static sub *take_inflight(smpp_client *c, uint32_t seq)
{
    for (sub **pp = &c->inflight; *pp; pp = &(*pp)->next)
        if ((*pp)->seq == seq) {
            sub *s = *pp;
            *pp = s->next;
            c->ninf--;
            return s;
        }
    return NULL;
}

static void reply(smpp_client *c, uint32_t id, uint32_t status, uint32_t seq)
{
    smpp_pdu r;
    memset(&r, 0, sizeof r);
    r.id = id;
    r.status = status;
    r.seq = seq;
    send_pdu(c, &r);
}

static void handle(smpp_client *c, const smpp_pdu *p)
{
    switch (p->id) {
    case SMPP_BIND_TRANSCEIVER | SMPP_RESP:
        if (c->link != SMPP_LINK_BINDING || p->seq != c->bind_seq)
            return;
        if (p->status != SMPP_ROK) {
            c->st.bind_failures++;
            char why[80];
            snprintf(why, sizeof why, "bind_transceiver refused with command_status %08X", p->status);
            c->backoff_ms = c->cfg.reconnect_max_ms; /* a refused bind will not heal at once */
            link_down(c, why);
            return;
        }
        c->link = SMPP_LINK_BOUND;
        c->st.binds++;
        c->backoff_ms = c->cfg.reconnect_min_ms;
        c->last_enquire = now_ms();
        {
            char q[40];
            sm_log(SM_LOG_INFO, "smpp", "bound", "server=%s smsc=%s", c->server, SM_LOGQ(q, p->system_id));
        }
        flush_queue(c);
        return;
    case SMPP_SUBMIT_SM | SMPP_RESP: {
        sub *s = take_inflight(c, p->seq);
        if (s)
            complete(c, s, p->status == SMPP_ROK ? SM_OK : SM_EPROTO, p->status, p->message_id);
        flush_queue(c);
        return;
    }
    case SMPP_GENERIC_NACK: {
        sub *s = take_inflight(c, p->seq);
        if (s)
            complete(c, s, SM_EPROTO, p->status, NULL);
        sm_log(SM_LOG_WARN, "smpp", "generic_nack", "seq=%u status=%08X", p->seq, p->status);
        flush_queue(c);
        return;
    }
    case SMPP_DELIVER_SM: {
        if (c->link != SMPP_LINK_BOUND) {
            reply(c, SMPP_DELIVER_SM | SMPP_RESP, SMPP_RINVBNDSTS, p->seq);
            return;
        }
        smpp_mo m = {p->src, p->dst, p->esm_class, p->protocol_id, p->data_coding,
                     (p->esm_class & SMPP_ESM_TYPE_MASK) == SMPP_ESM_DELIVERY_RECEIPT, p->sm, p->sm_len};
        if (m.receipt)
            c->st.receipts++;
        else
            c->st.mo++;
        c->mo(c->arg, &m, (uint64_t)c->gen << 32 | p->seq);
        return;
    }
    case SMPP_ENQUIRE_LINK:
        reply(c, SMPP_ENQUIRE_LINK | SMPP_RESP, SMPP_ROK, p->seq);
        return;
    case SMPP_ENQUIRE_LINK | SMPP_RESP:
        c->enquire_sent = 0;
        return;
    case SMPP_UNBIND:
        reply(c, SMPP_UNBIND | SMPP_RESP, SMPP_ROK, p->seq);
        link_down(c, "the SMSC unbound");
        return;
    default:
        return; /* unbind_resp, deliver_sm_resp to nothing we sent: ignore */
    }
}

static void on_read(struct bufferevent *bev, void *arg)
{
    smpp_client *c = arg;
    struct evbuffer *in = bufferevent_get_input(bev);
    uint32_t gen = c->gen;
    while (c->bev == bev && gen == c->gen) {
        size_t avail = evbuffer_get_length(in), len = 0;
        uint8_t hdr[SMPP_HEADER_LEN];
        if (avail < SMPP_HEADER_LEN)
            return;
        evbuffer_copyout(in, hdr, sizeof hdr);
        sm_err err = {0};
        if (smpp_frame_len(hdr, sizeof hdr, &len, &err) != SM_OK) {
            c->st.bad_pdus++;
            link_down(c, err.msg);
            return;
        }
        if (avail < len)
            return;
        uint8_t *p = evbuffer_pullup(in, (ssize_t)len);
        smpp_pdu pdu;
        sm_rc rc = p ? smpp_decode(p, len, &pdu, &err) : SM_ENOMEM;
        if (rc != SM_OK) {
            c->st.bad_pdus++;
            uint32_t id = (uint32_t)p[4] << 24 | (uint32_t)p[5] << 16 | (uint32_t)p[6] << 8 | p[7];
            uint32_t seq = (uint32_t)p[12] << 24 | (uint32_t)p[13] << 16 | (uint32_t)p[14] << 8 | p[15];
            char q[SM_ERR_MSG + 8];
            sm_log(SM_LOG_WARN, "smpp", "bad_pdu", "command_id=%08X error=%s", id, SM_LOGQ(q, err.msg));
            evbuffer_drain(in, len);
            /* requests get an answer; a malformed response is dropped (its submit times out) */
            if (!(id & SMPP_RESP))
                reply(c, id == SMPP_DELIVER_SM ? (SMPP_DELIVER_SM | SMPP_RESP) : SMPP_GENERIC_NACK,
                      rc == SM_EPROTO ? SMPP_RINVCMDID : SMPP_RINVCMDLEN, seq);
            continue;
        }
        handle(c, &pdu);
        if (c->bev == bev)
            evbuffer_drain(in, len);
    }
}

static void on_event(struct bufferevent *bev, short what, void *arg)
{
    smpp_client *c = arg;
    if (bev != c->bev)
        return;
    if (what & BEV_EVENT_CONNECTED) {
        int one = 1;
        evutil_socket_t fd = bufferevent_getfd(bev);
        setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
        send_bind(c);
        return;
    }
    if (what & (BEV_EVENT_EOF | BEV_EVENT_ERROR)) {
        char why[160];
        int e = EVUTIL_SOCKET_ERROR();
        if (what & BEV_EVENT_EOF)
            snprintf(why, sizeof why, "the SMSC closed the connection");
        else if (bufferevent_socket_get_dns_error(bev))
            snprintf(why, sizeof why, "cannot resolve the SMSC: %s",
                     evutil_gai_strerror(bufferevent_socket_get_dns_error(bev)));
        else
            snprintf(why, sizeof why, "socket error: %s", evutil_socket_error_to_string(e));
        link_down(c, why);
    }
}

static void do_connect(smpp_client *c)
{
    if (c->stopping || c->bev)
        return;
    char host[256];
    const char *colon = strrchr(c->server, ':');
    size_t hl = colon ? (size_t)(colon - c->server) : 0;
    if (!colon || hl == 0 || hl >= sizeof host) {
        link_down(c, "bad server address");
        return;
    }
    memcpy(host, c->server, hl);
    host[hl] = 0;
    int port = atoi(colon + 1);
    if (host[0] == '[' && hl > 2) {
        memmove(host, host + 1, hl - 2);
        host[hl - 2] = 0;
    }
    c->bev = bufferevent_socket_new(c->base, -1, BEV_OPT_CLOSE_ON_FREE);
    if (!c->bev) {
        link_down(c, "out of memory");
        return;
    }
    bufferevent_setcb(c->bev, on_read, NULL, on_event, c);
    bufferevent_enable(c->bev, EV_READ | EV_WRITE);
    c->link = SMPP_LINK_CONNECTING;
    c->bind_deadline = now_ms() + (c->cfg.response_timeout_s > 0 ? c->cfg.response_timeout_s : 10) * 1000L;
    struct sockaddr_storage ss;
    int sl = sizeof ss;
    char hp[300];
    snprintf(hp, sizeof hp, "%s%s%s:%d", strchr(host, ':') ? "[" : "", host, strchr(host, ':') ? "]" : "", port);
    int rc;
    if (evutil_parse_sockaddr_port(hp, (struct sockaddr *)&ss, &sl) == 0) {
        rc = bufferevent_socket_connect(c->bev, (struct sockaddr *)&ss, sl);
    } else {
        if (!c->dns)
            c->dns = evdns_base_new(c->base, EVDNS_BASE_INITIALIZE_NAMESERVERS);
        rc = c->dns ? bufferevent_socket_connect_hostname(c->bev, c->dns, AF_UNSPEC, host, port) : -1;
    }
    if (rc != 0 && c->bev)
        link_down(c, "connect failed");
}

static void on_retry(evutil_socket_t fd, short what, void *arg)
{
    (void)fd;
    (void)what;
    do_connect(arg);
}

static void schedule_reconnect(smpp_client *c)
{
    int ms = c->backoff_ms > 0 ? c->backoff_ms : 500;
    struct timeval tv = {ms / 1000, (ms % 1000) * 1000};
    evtimer_add(c->retry, &tv);
    int max = c->cfg.reconnect_max_ms > 0 ? c->cfg.reconnect_max_ms : 30000;
    c->backoff_ms = ms * 2 > max ? max : ms * 2;
}

static void expire(smpp_client *c, sub **list, unsigned *count, int64_t now, const char *what)
{
    for (sub **pp = list; *pp;) {
        sub *s = *pp;
        if (s->deadline_ms > now) {
            pp = &s->next;
            continue;
        }
        *pp = s->next;
        (*count)--;
        if (list == &c->qh) {
            c->qt = NULL;
            for (sub *t = c->qh; t; t = t->next)
                c->qt = t;
        }
        sm_log(SM_LOG_INFO, "smpp", "submit_timeout", "dst=%s what=\"%s\"", s->dst, what);
        complete(c, s, SM_ETIMEOUT, 0, NULL);
    }
}

static void on_tick(evutil_socket_t fd, short what, void *arg)
{
    (void)fd;
    (void)what;
    smpp_client *c = arg;
    int64_t now = now_ms();
    int tmo = (c->cfg.response_timeout_s > 0 ? c->cfg.response_timeout_s : 10) * 1000;
    if ((c->link == SMPP_LINK_CONNECTING || c->link == SMPP_LINK_BINDING) && now > c->bind_deadline) {
        link_down(c, c->link == SMPP_LINK_CONNECTING ? "connect timed out" : "no bind_transceiver_resp in time");
        return;
    }
    if (c->link == SMPP_LINK_BOUND) {
        int period = (c->cfg.enquire_link_s > 0 ? c->cfg.enquire_link_s : 30) * 1000;
        if (c->enquire_sent && now - c->enquire_sent > tmo) {
            link_down(c, "no enquire_link_resp in time");
            return;
        }
        if (!c->enquire_sent && now - c->last_enquire >= period) {
            smpp_pdu p;
            memset(&p, 0, sizeof p);
            p.id = SMPP_ENQUIRE_LINK;
            p.seq = seq_next(c);
            send_pdu(c, &p);
            c->enquire_sent = c->last_enquire = now;
        }
        expire(c, &c->inflight, &c->ninf, now, "no submit_sm_resp in time");
    }
    expire(c, &c->qh, &c->nq, now, "not sent: the SMSC link is not bound");
    flush_queue(c);
}

sm_rc smpp_client_start(struct event_base *base, const smpp_client_config *cfg, smpp_mo_cb mo, void *arg,
                        smpp_client **out, sm_err *err)
{
    *out = NULL;
    if (!cfg->server || !strchr(cfg->server, ':'))
        return sm_errf(err, SM_ECONFIG, "smpp: the SMSC address must be host:port");
    if (strlen(cfg->server) >= 256 || (cfg->system_id && strlen(cfg->system_id) > 15) ||
        (cfg->password && strlen(cfg->password) > 8) || (cfg->system_type && strlen(cfg->system_type) > 12))
        return sm_errf(err, SM_ECONFIG, "smpp: system_id (15), password (8) or system_type (12) too long");
    if (!cfg->source_addr || !*cfg->source_addr || strlen(cfg->source_addr) > 20)
        return sm_errf(err, SM_ECONFIG, "smpp: a source address of 1..20 characters is needed");
    smpp_client *c = calloc(1, sizeof *c);
    if (!c)
        return sm_errf(err, SM_ENOMEM, "smpp: out of memory");
    c->base = base;
    c->cfg = *cfg;
    snprintf(c->server, sizeof c->server, "%s", cfg->server);
    snprintf(c->system_id, sizeof c->system_id, "%s", cfg->system_id ? cfg->system_id : "");
    snprintf(c->system_type, sizeof c->system_type, "%s", cfg->system_type ? cfg->system_type : "");
    snprintf(c->source_addr, sizeof c->source_addr, "%s", cfg->source_addr);
    c->cfg.server = c->cfg.system_id = c->cfg.password = c->cfg.system_type = c->cfg.source_addr = NULL;
    if (c->cfg.reconnect_min_ms <= 0)
        c->cfg.reconnect_min_ms = 500;
    if (c->cfg.reconnect_max_ms < c->cfg.reconnect_min_ms)
        c->cfg.reconnect_max_ms = c->cfg.reconnect_min_ms > 30000 ? c->cfg.reconnect_min_ms : 30000;
    c->backoff_ms = c->cfg.reconnect_min_ms;
    c->mo = mo;
    c->arg = arg;
    c->password = sm_secmem_alloc(9);
    c->tick = event_new(base, -1, EV_PERSIST, on_tick, c);
    c->retry = evtimer_new(base, on_retry, c);
    struct timeval tv = {0, TICK_MS * 1000};
    if (!c->password || !c->tick || !c->retry || event_add(c->tick, &tv) != 0) {
        smpp_client_stop(c);
        return sm_errf(err, SM_ENOMEM, "smpp: out of memory");
    }
    if (cfg->password)
        memcpy(c->password, cfg->password, strlen(cfg->password));
    do_connect(c);
    *out = c;
    return SM_OK;
}

void smpp_client_stop(smpp_client *c)
{
    if (!c)
        return;
    c->stopping = true;
    if (c->bev && c->link == SMPP_LINK_BOUND) {
        smpp_pdu p;
        memset(&p, 0, sizeof p);
        p.id = SMPP_UNBIND;
        p.seq = seq_next(c);
        send_pdu(c, &p); /* best effort: the socket closes right after */
    }
    link_down(c, "stopping");
    for (sub *s = c->qh, *n; s; s = n) {
        n = s->next;
        complete(c, s, SM_ESTATE, 0, NULL);
    }
    c->qh = c->qt = NULL;
    c->nq = 0;
    if (c->tick)
        event_free(c->tick);
    if (c->retry)
        event_free(c->retry);
    if (c->dns)
        evdns_base_free(c->dns, 0);
    sm_secmem_free(c->password, 9);
    free(c);
}

sm_rc smpp_client_submit(smpp_client *c, const char *dst, const uint8_t *ud, size_t len, smpp_sent_cb cb, void *arg,
                         sm_err *err)
{
    if (c->stopping)
        return sm_errf(err, SM_ESTATE, "smpp: stopping");
    if (!dst || !*dst || strlen(dst) > 20)
        return sm_errf(err, SM_EINVAL, "smpp: destination address of 1..20 characters needed");
    if (len == 0 || len > UD_MAX)
        return sm_errf(err, SM_EINVAL, "smpp: %zu bytes of user data (1..%d)", len, UD_MAX);
    unsigned maxq = c->cfg.max_queue ? c->cfg.max_queue : 10000;
    if (c->nq >= maxq)
        return sm_errf(err, SM_ELIMIT, "smpp: %u messages already wait for the SMSC", c->nq);
    sub *s = calloc(1, sizeof *s);
    if (!s)
        return sm_errf(err, SM_ENOMEM, "smpp: out of memory");
    snprintf(s->dst, sizeof s->dst, "%s", dst);
    memcpy(s->ud, ud, len);
    s->len = len;
    s->cb = cb;
    s->arg = arg;
    /* waiting for the link may take two response timeouts, then the submit fails */
    s->deadline_ms = now_ms() + 2L * (c->cfg.response_timeout_s > 0 ? c->cfg.response_timeout_s : 10) * 1000L;
    if (c->qt)
        c->qt->next = s;
    else
        c->qh = s;
    c->qt = s;
    c->nq++;
    /* written at once when the window has room (callbacks only ever come from the loop's events) */
    flush_queue(c);
    return SM_OK;
}

void smpp_client_ack(smpp_client *c, uint64_t ack, uint32_t status)
{
    if (!c || (uint32_t)(ack >> 32) != c->gen || c->link != SMPP_LINK_BOUND)
        return;
    reply(c, SMPP_DELIVER_SM | SMPP_RESP, status, (uint32_t)ack);
}

void smpp_client_get_stats(const smpp_client *c, smpp_client_stats *out)
{
    *out = c->st;
    out->link = c->link;
    out->queued = c->nq;
    out->inflight = c->ninf;
}
