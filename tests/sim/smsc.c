/* smsc: SMPP server + MT routing with loss/delay/duplication faults. */
#include "tests/sim/smsc.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdlib.h>
#include <string.h>

#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/listener.h>

#include "tests/sim/device.h"
#include "tests/sim/smpp.h"

#define MAX_SESS 64
#define MAX_QUEUE 100000

typedef struct sess {
    struct sim_smsc *sc;
    struct bufferevent *bev;
    int bound;     /* 0 none, else the bind command id */
    uint32_t seq;
} sess;

typedef struct mo {
    struct mo *next;
    char src[21], dst[21];
    size_t n;
    int receipt;
    uint8_t ud[];
} mo;

typedef struct mt {
    struct mt *next, *prev;
    struct sim_smsc *sc;
    sim_world *w;
    struct event *ev;
    char src[21], dst[21];
    size_t n;
    uint8_t ud[];
} mt;

typedef struct sim_smsc {
    sim_world *w;
    struct evconnlistener *lis;
    uint16_t port;
    sess *s[MAX_SESS];
    size_t rr;
    mo *qh, *qt;
    size_t qn;
    mt *delayed;
    unsigned long lose, dup, delay_ms;
    uint64_t next_id;
} sim_smsc;

static void send_pdu(sess *s, const sim_smpp_pdu *p)
{
    sim_buf b;
    sim_buf_init(&b);
    if (sim_smpp_encode(p, &b, NULL) == SIM_OK)
        bufferevent_write(s->bev, b.p, b.len);
    sim_buf_free(&b);
}

static void sess_free(sess *s)
{
    sim_smsc *sc = s->sc;
    for (size_t i = 0; i < MAX_SESS; i++)
        if (sc->s[i] == s)
            sc->s[i] = NULL;
    bufferevent_free(s->bev);
    free(s);
}

static sess *receiver(sim_smsc *sc)
{
    for (size_t k = 0; k < MAX_SESS; k++) {
        sess *s = sc->s[(sc->rr + k) % MAX_SESS];
        if (s && (s->bound == SMPP_BIND_TRANSCEIVER || s->bound == SMPP_BIND_RECEIVER)) {
            sc->rr = (sc->rr + k + 1) % MAX_SESS;
            return s;
        }
    }
    return NULL;
}

static void deliver(sess *s, const mo *m)
{
    sim_smpp_pdu p;
    memset(&p, 0, sizeof p);
    p.id = SMPP_DELIVER_SM;
    p.seq = ++s->seq;
    snprintf(p.src, sizeof p.src, "%s", m->src);
    snprintf(p.dst, sizeof p.dst, "%s", m->dst);
    p.src_ton = p.dst_ton = 1;
    p.src_npi = p.dst_npi = 1;
    if (m->receipt) {
        p.esm_class = 0x04;
    } else {
        p.esm_class = 0x40; /* UDHI */
        p.protocol_id = 0x7F;
        p.data_coding = 0xF6;
    }
    p.payload_tlv = m->n > 254;
    memcpy(p.sm, m->ud, m->n);
    p.sm_len = (uint16_t)m->n;
    send_pdu(s, &p);
}

static void flush_queue(sim_smsc *sc)
{
    sess *s;
    while (sc->qh && (s = receiver(sc))) {
        mo *m = sc->qh;
        sc->qh = m->next;
        if (!sc->qh)
            sc->qt = NULL;
        sc->qn--;
        deliver(s, m);
        free(m);
    }
}

static void enqueue(sim_smsc *sc, const char *src, const char *dst, const uint8_t *ud, size_t n, int receipt)
{
    if (n > SMPP_MAX_SM || sc->qn >= MAX_QUEUE)
        return;
    mo *m = calloc(1, sizeof *m + n);
    if (!m)
        return;
    snprintf(m->src, sizeof m->src, "%s", src);
    snprintf(m->dst, sizeof m->dst, "%s", dst);
    memcpy(m->ud, ud, n);
    m->n = n;
    m->receipt = receipt;
    if (sc->qt)
        sc->qt->next = m;
    else
        sc->qh = m;
    sc->qt = m;
    sc->qn++;
    flush_queue(sc);
}

void sim_smsc_mo(sim_world *w, const char *src, const char *dst, const uint8_t *ud, size_t n)
{
    if (!w->smsc)
        return;
    w->stats.mo++;
    enqueue(w->smsc, src, dst, ud, n, 0);
}

static void route_now(sim_world *w, const char *src, const char *dst, const uint8_t *ud, size_t n)
{
    sim_euicc *e = sim_fleet_by_msisdn(&w->fleet, dst);
    if (!e || strcmp(sim_euicc_msisdn(e), dst) != 0) {
        w->stats.mt_unroutable++; /* no device, or that profile is not the enabled one: not attached */
        return;
    }
    sim_dev_mt(w, e, src, ud, n);
}

static void mt_fire(evutil_socket_t fd, short what, void *arg)
{
    (void)fd; (void)what;
    mt *m = arg;
    if (m->prev)
        m->prev->next = m->next;
    else
        m->sc->delayed = m->next;
    if (m->next)
        m->next->prev = m->prev;
    route_now(m->w, m->src, m->dst, m->ud, m->n);
    event_free(m->ev);
    free(m);
}

static void route(sim_smsc *sc, const sim_smpp_pdu *p)
{
    sim_world *w = sc->w;
    w->stats.mt++;
    if (sc->lose) {
        sc->lose--;
        w->stats.mt_lost++;
        return;
    }
    int copies = 1;
    if (sc->dup) {
        sc->dup--;
        copies = 2;
        w->stats.mt_dup++;
    }
    for (int i = 0; i < copies; i++) {
        if (!sc->delay_ms) {
            route_now(w, p->src, p->dst, p->sm, p->sm_len);
            continue;
        }
        mt *m = calloc(1, sizeof *m + p->sm_len);
        if (!m)
            return;
        m->w = w;
        m->sc = sc;
        snprintf(m->src, sizeof m->src, "%s", p->src);
        snprintf(m->dst, sizeof m->dst, "%s", p->dst);
        memcpy(m->ud, p->sm, p->sm_len);
        m->n = p->sm_len;
        m->ev = evtimer_new(w->base, mt_fire, m);
        struct timeval tv = {(time_t)(sc->delay_ms / 1000), (suseconds_t)(sc->delay_ms % 1000) * 1000};
        if (!m->ev || evtimer_add(m->ev, &tv)) {
            if (m->ev)
                event_free(m->ev);
            free(m);
            continue;
        }
        m->next = sc->delayed;
        if (sc->delayed)
            sc->delayed->prev = m;
        sc->delayed = m;
    }
}

static void handle(sess *s, const sim_smpp_pdu *p)
{
    sim_smsc *sc = s->sc;
    sim_smpp_pdu r;
    memset(&r, 0, sizeof r);
    r.seq = p->seq;
    uint32_t base = p->id & ~SMPP_RESP;
    if (p->id & SMPP_RESP)
        return; /* deliver_sm_resp, enquire_link_resp */
    switch (base) {
    case SMPP_BIND_TRANSCEIVER:
    case SMPP_BIND_TRANSMITTER:
    case SMPP_BIND_RECEIVER:
        r.id = p->id | SMPP_RESP;
        snprintf(r.system_id, sizeof r.system_id, "simsmsc");
        if (s->bound)
            r.status = SMPP_ESME_RALYBND;
        else
            s->bound = (int)base;
        send_pdu(s, &r);
        flush_queue(sc);
        sim_world_log(sc->w, "smsc bind %s system_id=%s", sim_smpp_name(p->id), p->system_id);
        return;
    case SMPP_ENQUIRE_LINK:
        r.id = SMPP_ENQUIRE_LINK | SMPP_RESP;
        send_pdu(s, &r);
        return;
    case SMPP_UNBIND:
        r.id = SMPP_UNBIND | SMPP_RESP;
        send_pdu(s, &r);
        s->bound = 0;
        return;
    case SMPP_SUBMIT_SM: {
        r.id = SMPP_SUBMIT_SM | SMPP_RESP;
        if (s->bound != SMPP_BIND_TRANSCEIVER && s->bound != SMPP_BIND_TRANSMITTER) {
            r.status = SMPP_ESME_RINVBNDSTS;
            send_pdu(s, &r);
            return;
        }
        snprintf(r.message_id, sizeof r.message_id, "%llx", (unsigned long long)++sc->next_id);
        send_pdu(s, &r);
        route(sc, p);
        if (p->registered_delivery & 0x01) {
            char rcpt[200];
            int l = snprintf(rcpt, sizeof rcpt, "id:%s sub:001 dlvrd:001 submit date:0000000000 done date:0000000000 "
                             "stat:DELIVRD err:000 text:", r.message_id);
            enqueue(sc, p->dst, p->src, (const uint8_t *)rcpt, (size_t)l, 1);
        }
        return;
    }
    default:
        r.id = SMPP_GENERIC_NACK;
        r.status = SMPP_ESME_RINVCMDID;
        send_pdu(s, &r);
    }
}

static void on_read(struct bufferevent *bev, void *arg)
{
    sess *s = arg;
    struct evbuffer *in = bufferevent_get_input(bev);
    for (;;) {
        size_t avail = evbuffer_get_length(in);
        if (avail < 16)
            return;
        uint8_t h[4];
        evbuffer_copyout(in, h, 4);
        uint32_t len = sim_be32(h);
        if (len < 16 || len > SMPP_MAX_PDU) {
            sim_world_log(s->sc->w, "smsc: command_length %u, closing", len);
            sess_free(s);
            return;
        }
        if (avail < len)
            return;
        uint8_t *p = evbuffer_pullup(in, len);
        sim_smpp_pdu pdu;
        sim_err err = {0};
        if (sim_smpp_decode(p, len, &pdu, &err) != SIM_OK) {
            sim_smpp_pdu nack;
            memset(&nack, 0, sizeof nack);
            nack.id = SMPP_GENERIC_NACK;
            nack.seq = sim_be32(p + 12);
            nack.status = err.code == SIM_EPROTO ? SMPP_ESME_RINVCMDID : SMPP_ESME_RINVCMDLEN;
            evbuffer_drain(in, len);
            send_pdu(s, &nack);
            sim_world_log(s->sc->w, "smsc: %s", err.msg);
            continue;
        }
        evbuffer_drain(in, len);
        handle(s, &pdu);
    }
}

static void on_event(struct bufferevent *bev, short what, void *arg)
{
    (void)bev;
    if (what & (BEV_EVENT_EOF | BEV_EVENT_ERROR))
        sess_free(arg);
}

static void on_accept(struct evconnlistener *l, evutil_socket_t fd, struct sockaddr *sa, int sl, void *arg)
{
    (void)l; (void)sa; (void)sl;
    sim_smsc *sc = arg;
    size_t i;
    for (i = 0; i < MAX_SESS && sc->s[i]; i++)
        ;
    if (i == MAX_SESS) {
        evutil_closesocket(fd);
        return;
    }
    int one = 1;
    setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    sess *s = calloc(1, sizeof *s);
    if (!s || !(s->bev = bufferevent_socket_new(sc->w->base, fd, BEV_OPT_CLOSE_ON_FREE))) {
        free(s);
        evutil_closesocket(fd);
        return;
    }
    s->sc = sc;
    sc->s[i] = s;
    bufferevent_setcb(s->bev, on_read, NULL, on_event, s);
    bufferevent_enable(s->bev, EV_READ | EV_WRITE);
}

sim_rc sim_smsc_listen(sim_world *w, const char *addr, sim_err *err)
{
    struct sockaddr_storage ss;
    int sl = sizeof ss;
    memset(&ss, 0, sizeof ss);
    const char *colon = strrchr(addr, ':');
    char host[64];
    char *end = NULL;
    unsigned long port = colon ? strtoul(colon + 1, &end, 10) : 0;
    size_t hl = colon ? (size_t)(colon - addr) : 0;
    if (!colon || !end || *end || port > 65535 || hl == 0 || hl >= sizeof host)
        return sim_errf(err, SIM_EINVAL, "smsc: cannot parse listen address %s (want ADDR:PORT)", addr);
    memcpy(host, addr, hl);
    host[hl] = 0;
    struct sockaddr_in *s4 = (struct sockaddr_in *)&ss;
    struct sockaddr_in6 *s6 = (struct sockaddr_in6 *)&ss;
    if (inet_pton(AF_INET, host, &s4->sin_addr) == 1) {
        s4->sin_family = AF_INET;
        s4->sin_port = htons((uint16_t)port);
        sl = sizeof *s4;
    } else if (hl > 2 && host[0] == '[' && host[hl - 1] == ']' && (host[hl - 1] = 0, inet_pton(AF_INET6, host + 1, &s6->sin6_addr) == 1)) {
        s6->sin6_family = AF_INET6;
        s6->sin6_port = htons((uint16_t)port);
        sl = sizeof *s6;
    } else {
        return sim_errf(err, SIM_EINVAL, "smsc: listen address %s is not a numeric IPv4 or [IPv6] address", addr);
    }
    sim_smsc *sc = calloc(1, sizeof *sc);
    if (!sc)
        return sim_errf(err, SIM_ENOMEM, "smsc: out of memory");
    sc->w = w;
    sc->lis = evconnlistener_new_bind(w->base, on_accept, sc, LEV_OPT_CLOSE_ON_FREE | LEV_OPT_REUSEABLE, 64,
                                      (struct sockaddr *)&ss, sl);
    if (!sc->lis) {
        free(sc);
        return sim_errf(err, SIM_EIO, "smsc: cannot listen on %s", addr);
    }
    struct sockaddr_storage b;
    socklen_t bl = sizeof b;
    getsockname(evconnlistener_get_fd(sc->lis), (struct sockaddr *)&b, &bl);
    sc->port = ntohs(b.ss_family == AF_INET6 ? ((struct sockaddr_in6 *)&b)->sin6_port : ((struct sockaddr_in *)&b)->sin_port);
    w->smsc = sc;
    return SIM_OK;
}

uint16_t sim_smsc_port(sim_world *w) { return w->smsc ? w->smsc->port : 0; }

void sim_smsc_free(sim_world *w)
{
    sim_smsc *sc = w->smsc;
    if (!sc)
        return;
    for (size_t i = 0; i < MAX_SESS; i++)
        if (sc->s[i])
            sess_free(sc->s[i]);
    while (sc->delayed) {
        mt *m = sc->delayed;
        sc->delayed = m->next;
        event_free(m->ev);
        free(m);
    }
    while (sc->qh) {
        mo *m = sc->qh;
        sc->qh = m->next;
        free(m);
    }
    evconnlistener_free(sc->lis);
    free(sc);
    w->smsc = NULL;
}

int sim_smsc_fault(sim_world *w, const char *name, unsigned long v)
{
    sim_smsc *sc = w->smsc;
    if (!sc)
        return -1;
    if (!strcmp(name, "lose"))
        sc->lose = v;
    else if (!strcmp(name, "duplicate"))
        sc->dup = v;
    else if (!strcmp(name, "delay"))
        sc->delay_ms = v;
    else if (!strcmp(name, "reset"))
        sc->lose = sc->dup = sc->delay_ms = 0;
    else
        return -1;
    return 0;
}

void sim_smsc_status(sim_world *w, size_t *binds, size_t *queued)
{
    *binds = *queued = 0;
    if (!w->smsc)
        return;
    for (size_t i = 0; i < MAX_SESS; i++)
        if (w->smsc->s[i] && w->smsc->s[i]->bound)
            (*binds)++;
    *queued = w->smsc->qn;
}
