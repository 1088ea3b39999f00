/* ctl: control socket and command interpreter. */
#include "tests/sim/ctl.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/listener.h>

#include "tests/sim/device.h"
#include "tests/sim/smsc.h"
#include "tests/sim/state.h"

#define MAX_ARGS 8

#define MAX_CONN 32

typedef struct sim_ctl {
    struct evconnlistener *lis;
    char path[108];
    struct bufferevent *conn[MAX_CONN];
} sim_ctl;

static void conn_close(sim_world *w, struct bufferevent *b)
{
    for (int i = 0; w->ctl && i < MAX_CONN; i++)
        if (w->ctl->conn[i] == b)
            w->ctl->conn[i] = NULL;
    bufferevent_free(b);
}

static void err_line(sim_buf *out, const char *msg) { sim_buf_printf(out, "ERR %s\n", msg); }

static sim_euicc *card(sim_world *w, const char *eid, sim_buf *out)
{
    sim_euicc *e = eid ? sim_fleet_by_eid(&w->fleet, eid) : NULL;
    if (!e)
        err_line(out, "no such EID (32 hex digits expected)");
    return e;
}

static int num(const char *s, unsigned long *v)
{
    char *end;
    errno = 0;
    *v = strtoul(s, &end, 0);
    return (!*s || *end || errno) ? -1 : 0;
}

static void cmd_list(sim_world *w, char **a, int n, sim_buf *out)
{
    unsigned long max = 100, start = 0;
    if (n > 1 && num(a[1], &max)) {
        err_line(out, "usage: list [COUNT [FROM]]");
        return;
    }
    if (n > 2 && num(a[2], &start)) {
        err_line(out, "usage: list [COUNT [FROM]]");
        return;
    }
    for (size_t i = start; i < w->fleet.n && i < start + max; i++) {
        sim_euicc *e = w->fleet.cards[i];
        char eid[33];
        sim_eid_hex(e, eid);
        sim_profile *p = sim_euicc_enabled(e);
        sim_buf_printf(out, "card eid=%s msisdn=%s enabled=%s profiles=%u pending=%u\n", eid,
                       p && p->msisdn[0] ? p->msisdn : "-", p && p->iccid[0] ? p->iccid : "-", e->nprof, e->npend);
    }
    sim_buf_printf(out, "OK %zu cards\n", w->fleet.n);
}

static void cmd_fault(sim_world *w, char **a, int n, sim_buf *out)
{
    if (n < 4) {
        err_line(out, "usage: fault EID NAME VALUE | fault EID attach-fail ICCID 0|1");
        return;
    }
    sim_euicc *e = card(w, a[1], out);
    if (!e)
        return;
    unsigned long v = 0;
    const char *f = a[2];
    if (!strcmp(f, "attach-fail")) {
        sim_profile *p = sim_euicc_find_iccid(e, a[3]);
        if (!p || n < 5 || num(a[4], &v)) {
            err_line(out, "usage: fault EID attach-fail ICCID 0|1 (ICCID must be on the card)");
            return;
        }
        p->attach_fail = (uint8_t)(v != 0);
    } else if (num(a[3], &v)) {
        err_line(out, "VALUE must be a number");
        return;
    } else if (!strcmp(f, "unreachable")) {
        e->fault.unreachable = (uint8_t)(v != 0);
    } else if (!strcmp(f, "tamper")) {
        e->fault.tamper = (uint8_t)(v != 0);
    } else if (!strcmp(f, "power-loss-after")) {
        e->fault.power_loss_after = (uint16_t)(v > 65535 ? 65535 : v);
    } else if (!strcmp(f, "slow-ms")) {
        e->fault.slow_ms = (uint32_t)v;
    } else if (!strcmp(f, "counter-ahead")) {
        for (uint8_t i = 0; i < e->n_scp80; i++)
            e->scp80[i].cntr += v;
    } else {
        err_line(out, "unknown fault (unreachable, tamper, power-loss-after, slow-ms, counter-ahead, attach-fail)");
        return;
    }
    w->dirty = 1;
    sim_buf_str(out, "OK\n");
}

void sim_ctl_exec(sim_world *w, const char *line, sim_buf *out)
{
    char tmp[1024], *a[MAX_ARGS];
    int n = 0;
    snprintf(tmp, sizeof tmp, "%s", line);
    for (char *s = strtok(tmp, " \t\r\n"); s && n < MAX_ARGS; s = strtok(NULL, " \t\r\n"))
        a[n++] = s;
    if (n == 0) {
        err_line(out, "empty command");
        return;
    }
    const char *c = a[0];
    if (!strcmp(c, "help")) {
        sim_buf_str(out, "list [COUNT [FROM]]\nshow EID\nprofiles EID\nfault EID NAME VALUE\nsmsc lose|duplicate|delay|reset N\n"
                         "notify EID TYPE\npush EID\nattach EID\nmsisdn EID ICCID MSISDN\nstats\nsave\nshutdown\nOK\n");
    } else if (!strcmp(c, "list")) {
        cmd_list(w, a, n, out);
    } else if (!strcmp(c, "show") || !strcmp(c, "profiles")) {
        sim_euicc *e = card(w, n > 1 ? a[1] : NULL, out);
        if (!e)
            return;
        sim_buf tmpb;
        sim_buf_init(&tmpb);
        sim_state_show(e, &tmpb, NULL);
        if (!strcmp(c, "profiles")) { /* only the profile lines */
            sim_buf_u8(&tmpb, 0);
            for (char *l = strtok((char *)tmpb.p, "\n"); l; l = strtok(NULL, "\n"))
                if (!strncmp(l, "profile ", 8))
                    sim_buf_printf(out, "%s\n", l);
        } else {
            sim_buf_put(out, tmpb.p, tmpb.len);
        }
        sim_buf_free(&tmpb);
        sim_buf_printf(out, "session=%s\nOK\n", sim_dev_session_active(e) ? "open" : "none");
    } else if (!strcmp(c, "fault")) {
        cmd_fault(w, a, n, out);
    } else if (!strcmp(c, "smsc")) {
        unsigned long v = 0;
        if (n < 2 || (n > 2 && num(a[2], &v)) || sim_smsc_fault(w, a[1], v))
            err_line(out, "usage: smsc lose|duplicate|delay|reset N");
        else
            sim_buf_str(out, "OK\n");
    } else if (!strcmp(c, "notify")) {
        unsigned long t;
        sim_euicc *e = card(w, n > 1 ? a[1] : NULL, out);
        if (!e)
            return;
        if (n < 3 || num(a[2], &t) || t == 0 || t > 255) {
            err_line(out, "usage: notify EID TYPE (1..255)");
            return;
        }
        sim_profile *p = sim_euicc_enabled(e);
        sim_notif *nt = sim_euicc_notify(e, (uint8_t)t, p ? &p->aid : NULL, NULL);
        w->dirty = 1;
        sim_dev_kick(w, e);
        sim_buf_printf(out, "seq=%u\nOK\n", nt->seq);
    } else if (!strcmp(c, "push")) {
        sim_euicc *e = card(w, n > 1 ? a[1] : NULL, out);
        if (!e)
            return;
        sim_err err = {0};
        if (sim_dev_push(w, e, NULL, &err))
            err_line(out, err.msg);
        else
            sim_buf_str(out, "OK\n");
    } else if (!strcmp(c, "attach")) {
        sim_euicc *e = card(w, n > 1 ? a[1] : NULL, out);
        if (!e)
            return;
        const char *why = NULL;
        sim_profile *p = sim_euicc_enabled(e);
        if (sim_euicc_attach(e, &why))
            err_line(out, why);
        else
            sim_buf_printf(out, "attach=ok iccid=%s imsi=%s msisdn=%s\nOK\n", p->iccid, p->imsi,
                           p->msisdn[0] ? p->msisdn : "-");
    } else if (!strcmp(c, "msisdn")) {
        sim_euicc *e = card(w, n > 1 ? a[1] : NULL, out);
        if (!e)
            return;
        sim_profile *p = n > 3 ? sim_euicc_find_iccid(e, a[2]) : NULL;
        size_t ml = n > 3 ? strlen(a[3]) : 0;
        if (!p || ml < 3 || ml > 15 || strspn(a[3], "0123456789") != ml) {
            err_line(out, "usage: msisdn EID ICCID MSISDN (3..15 digits, ICCID on the card)");
            return;
        }
        memcpy(p->msisdn, a[3], ml + 1);
        sim_fleet_index(&w->fleet, NULL);
        w->dirty = 1;
        sim_buf_str(out, "OK\n");
    } else if (!strcmp(c, "stats")) {
        size_t binds, queued;
        sim_smsc_status(w, &binds, &queued);
        const sim_stats *s = &w->stats;
        sim_buf_printf(out,
                       "cards=%zu\nsmpp.binds=%zu\nsmpp.mo_queued=%zu\nmt=%llu\nmt_lost=%llu\nmt_duplicated=%llu\n"
                       "mt_unroutable=%llu\nmo=%llu\npor=%llu\npush=%llu\nhttps_sessions=%llu\nhttps_posts=%llu\n"
                       "https_errors=%llu\n"
                       "notifications=%llu\npower_losses=%llu\nOK\n",
                       w->fleet.n, binds, queued, (unsigned long long)s->mt, (unsigned long long)s->mt_lost,
                       (unsigned long long)s->mt_dup, (unsigned long long)s->mt_unroutable, (unsigned long long)s->mo,
                       (unsigned long long)s->por, (unsigned long long)s->push, (unsigned long long)s->https_sessions,
                       (unsigned long long)s->https_posts, (unsigned long long)s->https_errors, (unsigned long long)s->notifications,
                       (unsigned long long)s->power_losses);
    } else if (!strcmp(c, "save")) {
        sim_err err = {0};
        if (sim_world_save(w, &err))
            err_line(out, err.msg);
        else
            sim_buf_str(out, "OK\n");
    } else if (!strcmp(c, "shutdown")) {
        w->stopping = 1;
        struct timeval tv = {0, 200000}; /* let the answers already queued reach their clients */
        event_base_loopexit(w->base, &tv);
        sim_buf_str(out, "OK\n");
    } else {
        err_line(out, "unknown command (try help)");
    }
}

static void on_read(struct bufferevent *bev, void *arg)
{
    sim_world *w = arg;
    struct evbuffer *in = bufferevent_get_input(bev);
    char *line;
    size_t len;
    while ((line = evbuffer_readln(in, &len, EVBUFFER_EOL_CRLF))) {
        sim_buf out;
        sim_buf_init(&out);
        if (len > 1000)
            sim_buf_str(&out, "ERR line too long\n");
        else
            sim_ctl_exec(w, line, &out);
        free(line);
        bufferevent_write(bev, out.p, out.len);
        sim_buf_free(&out);
    }
    if (evbuffer_get_length(in) > 4096)
        conn_close(w, bev);
}

static void on_event(struct bufferevent *bev, short what, void *arg)
{
    if (what & (BEV_EVENT_EOF | BEV_EVENT_ERROR))
        conn_close(arg, bev);
}

static void on_accept(struct evconnlistener *l, evutil_socket_t fd, struct sockaddr *sa, int sl, void *arg)
{
    (void)l; (void)sa; (void)sl;
    sim_world *w = arg;
    int slot = -1;
    for (int i = 0; i < MAX_CONN && slot < 0; i++)
        if (!w->ctl->conn[i])
            slot = i;
    struct bufferevent *b = slot < 0 ? NULL : bufferevent_socket_new(w->base, fd, BEV_OPT_CLOSE_ON_FREE);
    if (!b) {
        evutil_closesocket(fd);
        return;
    }
    w->ctl->conn[slot] = b;
    bufferevent_setcb(b, on_read, NULL, on_event, w);
    bufferevent_enable(b, EV_READ | EV_WRITE);
}

sim_rc sim_ctl_listen(sim_world *w, const char *path, sim_err *err)
{
    struct sockaddr_un un;
    memset(&un, 0, sizeof un);
    un.sun_family = AF_UNIX;
    if (strlen(path) >= sizeof un.sun_path)
        return sim_errf(err, SIM_EINVAL, "ctl: socket path too long: %s", path);
    strcpy(un.sun_path, path);
    unlink(path);
    sim_ctl *c = calloc(1, sizeof *c);
    if (!c)
        return sim_errf(err, SIM_ENOMEM, "ctl: out of memory");
    c->lis = evconnlistener_new_bind(w->base, on_accept, w, LEV_OPT_CLOSE_ON_FREE, 16, (struct sockaddr *)&un,
                                     sizeof un);
    if (!c->lis) {
        free(c);
        return sim_errf(err, SIM_EIO, "ctl: cannot listen on %s: %s", path, strerror(errno));
    }
    snprintf(c->path, sizeof c->path, "%s", path);
    w->ctl = c;
    return SIM_OK;
}

void sim_ctl_free(sim_world *w)
{
    sim_ctl *c = w->ctl;
    if (!c)
        return;
    for (int i = 0; i < MAX_CONN; i++)
        if (c->conn[i])
            bufferevent_free(c->conn[i]);
    evconnlistener_free(c->lis);
    unlink(c->path);
    free(c);
    w->ctl = NULL;
}
