/* The HTTPS channel's admin sessions: the PSK of a connecting card (looked up on a worker while a
 * handshake thread waits), and each POST of the card — its answer to the script it holds ends that
 * request; the next script queued for the card goes back in the same HTTP exchange; with nothing to
 * do the POST is held until a script is queued for the card on this node or es5.admin_hold_ms passes
 * (long polling), then answered 204 + X-Admin-Next-URI while the session may idle, and 204 at its end. */
#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <event2/event.h>

#include "appliance/es5/internal.h"
#include "crypto/scp81.h"
#include "lib/log.h"
#include "net/ramhttp_server.h"

#define PSK_WAIT_S 5

static struct {
    const es5_ctx *x;
    ram_server *srv;
    struct event_base *base;
    _Atomic unsigned long seq;
} A;

static int64_t mono_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static void eid_hex(const uint8_t eid[16], char out[33])
{
    static const char d[] = "0123456789ABCDEF";
    for (int i = 0; i < 16; i++) {
        out[2 * i] = d[eid[i] >> 4];
        out[2 * i + 1] = d[eid[i] & 15];
    }
    out[32] = 0;
}

/* ---- PSK lookup: a handshake thread waits for a worker ----------------------------------------- */

typedef struct psk_job {
    pthread_mutex_t mu;
    pthread_cond_t cv;
    int refs;
    bool done;
    scp81_psk_id id;
    scp81_psk psk;
    sm_rc rc;
    char error[SM_ERR_MSG];
} psk_job;

static void psk_unref(psk_job *j)
{
    pthread_mutex_lock(&j->mu);
    int left = --j->refs;
    pthread_mutex_unlock(&j->mu);
    if (left)
        return;
    scp81_psk_wipe(&j->psk);
    pthread_mutex_destroy(&j->mu);
    pthread_cond_destroy(&j->cv);
    free(j);
}

static void psk_run(sm_worker *w, void *arg)
{
    psk_job *j = arg;
    sm_err err = {0};
    char eid[33];
    eid_hex(j->id.eid, eid);
    es5_card card;
    sm_rc rc = w->db ? es5q_card(w->db, eid, &card, &err) : sm_errf(&err, SM_ESTATE, "es5: no database connection");
    if (rc == SM_OK && (j->id.aid_len != card.isdr_aid_len || memcmp(j->id.aid, card.isdr_aid, card.isdr_aid_len)))
        rc = sm_errf(&err, SM_EPERM, "es5: the PSK identity names another ISD-R AID than the EIS of %s", eid);
    if (rc == SM_OK)
        rc = es5_keys_psk(w->db, w->hsm, &A.x->kek, eid, j->id.kvn, j->id.key_id, &j->psk, &err);
    pthread_mutex_lock(&j->mu);
    j->rc = rc;
    snprintf(j->error, sizeof j->error, "%s", err.msg);
    j->done = true;
    pthread_cond_signal(&j->cv);
    pthread_mutex_unlock(&j->mu);
    psk_unref(j);
}

static sm_rc psk_lookup(void *arg, const scp81_psk_id *id, scp81_psk *psk, sm_err *err)
{
    (void)arg;
    psk_job *j = calloc(1, sizeof *j);
    if (!j)
        return sm_errf(err, SM_ENOMEM, "es5: out of memory");
    pthread_mutex_init(&j->mu, NULL);
    pthread_condattr_t ca;
    pthread_condattr_init(&ca);
    pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
    pthread_cond_init(&j->cv, &ca);
    pthread_condattr_destroy(&ca);
    j->refs = 2;
    j->id = *id;
    if (es5_stopping() || es5_job(psk_run, NULL, j) != SM_OK) {
        j->refs = 1;
        psk_unref(j);
        return sm_errf(err, SM_ELIMIT, "es5: no worker free for the PSK lookup");
    }
    struct timespec until;
    clock_gettime(CLOCK_MONOTONIC, &until);
    until.tv_sec += PSK_WAIT_S;
    pthread_mutex_lock(&j->mu);
    int e = 0;
    while (!j->done && e != ETIMEDOUT)
        e = pthread_cond_timedwait(&j->cv, &j->mu, &until);
    sm_rc rc = j->done ? j->rc : sm_errf(err, SM_ETIMEOUT, "es5: the PSK lookup took over %d s", PSK_WAIT_S);
    if (j->done && rc == SM_OK) {
        *psk = j->psk; /* moved: the caller wipes it */
        j->psk.key = NULL;
        j->psk.len = 0;
    } else if (j->done) {
        sm_errf(err, rc, "%s", j->error);
    }
    pthread_mutex_unlock(&j->mu);
    psk_unref(j);
    return rc;
}

/* ---- sessions ----------------------------------------------------------------------------------- */

typedef struct adm_sess {
    char id[96];
    char eid[33];
    int64_t req;        /* the request whose script the card holds */
    int64_t idle_since; /* monotonic ms; 0 = had work at the last POST */
    unsigned posts;
    uint8_t isdr_aid[16]; /* the ISD-R the PSK identity named (checked against the EIS at the handshake) */
    size_t isdr_aid_len;
    int64_t touched;    /* monotonic ms of the last es5_session write that committed (a worker's, one at a time) */
    /* a POST without work, held (loop thread only): its connection, until when, the list of them */
    ram_conn *held;
    int64_t hold_until; /* monotonic ms; 0 = the current POST has not been held yet */
    struct event *hold_ev;
    struct adm_sess *hprev, *hnext;
} adm_sess;

/* Held POSTs (loop thread), and the eUICCs that got a script queued, handed over by the worker that
 * committed it (any thread, under mu) to the loop (wake_ev). */
static adm_sess *g_held;
static struct {
    pthread_mutex_t mu;
    struct event *ev;
    char (*eid)[33];
    size_t n, cap;
    bool overflow;      /* more than cap woken at once: every held POST checks */
} W = {.mu = PTHREAD_MUTEX_INITIALIZER};
#define WAKE_MAX 4096

/* the eUICCs queued in this thread's open transaction (a rollback leaves them: a needless check) */
static _Thread_local struct {
    char eid[8][33];
    int n;
    bool overflow;
} t_wake;

typedef struct post_job {
    ram_conn *conn;
    adm_sess *sess;
    int64_t started;    /* monotonic ms: a wake after this may have been missed by this check */
    int64_t answered;
    bool missing;       /* the card posted again without answering the script it holds */
    scp81_status status;
    uint8_t *body;
    size_t body_len;
    /* out */
    sm_rc rc;
    char error[SM_ERR_MSG];
    int64_t next;
    uint8_t *script;
    size_t script_len;
    uint8_t aid[16];
    size_t aid_len;
    bool target;        /* the script is for an ISD-P: X-Admin-Targeted-Application */
    bool kick;
} post_job;

static sm_rc answer(db_conn *c, post_job *j, sm_err *err)
{
    es5_row r;
    bool found = false;
    sm_rc rc = es5q_lock_id(c, j->answered, &r, &found, err);
    if (rc != SM_OK)
        return rc;
    if (!found || strcmp(r.phase, "in-session") != 0 || strcmp(r.session, j->sess->id) != 0) {
        sm_log(SM_LOG_NOTICE, "es5", "answer_dropped", "req=%lld eid=%s why=\"the request is not held by this session\"",
               (long long)j->answered, j->sess->eid);
        es5_row_clear(&r);
        return SM_OK;
    }
    es5_status st = ES5_OK;
    char detail[200];
    const uint8_t *content = NULL;
    size_t clen = 0;
    switch (j->missing ? SCP81_ST_NONE : j->status) {
    case SCP81_ST_NONE:
        st = ES5_CARD_ERROR;
        snprintf(detail, sizeof detail, "the card posted again without answering the script (outcome unknown)");
        break;
    case SCP81_ST_OK: {
        sm_err oerr = {0};
        if (es5_outcome_script(j->body, j->body_len, &st, detail, sizeof detail, &content, &clen, &oerr) != SM_OK) {
            st = ES5_CARD_ERROR;
            snprintf(detail, sizeof detail, "the card's answer is not a response script");
            content = j->body;
            clen = j->body_len;
        }
        break;
    }
    case SCP81_ST_SECURITY_ERROR:
        st = ES5_SECURITY;
        snprintf(detail, sizeof detail, "X-Admin-Script-Status: security-error");
        break;
    default:
        st = ES5_CARD_ERROR;
        snprintf(detail, sizeof detail, "X-Admin-Script-Status: %s", scp81_status_name(j->status));
        break;
    }
    rc = es5q_finish(c, &r, st, detail, content, clen, err);
    j->kick = true;
    es5_row_clear(&r);
    return rc;
}

static sm_rc take_next(db_conn *c, post_job *j, sm_err *err)
{
    es5_row r;
    bool found = false;
    sm_rc rc = es5q_lock_head_https(c, j->sess->eid, &r, &found, err);
    if (rc != SM_OK || !found)
        return rc;
    if (r.overdue) { /* the driver ends it */
        es5_row_clear(&r);
        return SM_OK;
    }
    sm_buf b;
    sm_buf_init(&b);
    scp81_script sc;
    rc = es5q_script(c, &r, err);
    if (rc == SM_OK)
        rc = scp81_script_open(&sc, &b, true, err);
    if (rc == SM_OK)
        rc = scp81_script_raw(&sc, r.script, r.script_len, err);
    if (rc == SM_OK)
        rc = scp81_script_close(&sc, err);
    if (rc == SM_OK)
        rc = es5q_set_phase(c, r.id, "in-session", j->sess->id, A.x->set.script_timeout_ms, ES5_CH_HTTPS, err);
    if (rc == SM_OK) {
        j->next = r.id;
        j->script = sm_buf_steal(&b, &j->script_len);
        memcpy(j->aid, r.aid, r.aid_len);
        j->aid_len = r.aid_len;
        j->target = r.aid_len != j->sess->isdr_aid_len || memcmp(r.aid, j->sess->isdr_aid, r.aid_len) != 0;
        sm_log(SM_LOG_INFO, "es5", "script_handed", "req=%lld eid=%s label=%s session=%s bytes=%zu", (long long)r.id,
               r.eid, r.label, j->sess->id, j->script_len);
    }
    sm_buf_free(&b);
    es5_row_clear(&r);
    return rc;
}

static void post_run(sm_worker *w, void *arg)
{
    post_job *j = arg;
    sm_err err = {0};
    db_conn *c = w->db;
    sm_rc rc = c ? db_begin(c, &err) : sm_errf(&err, SM_ESTATE, "es5: no database connection");
    if (rc == SM_OK && j->answered)
        rc = answer(c, j, &err);
    /* last_seen moves at most once a second (es5q_session_touch): no statement in between */
    int64_t now = mono_ms();
    bool touch = !j->sess->touched || now - j->sess->touched >= 1000;
    if (rc == SM_OK && touch)
        rc = es5q_session_touch(c, j->sess->id, j->sess->eid, A.x->set.node, &err);
    if (rc == SM_OK)
        rc = take_next(c, j, &err);
    if (rc == SM_OK)
        rc = db_commit(c, &err);
    else if (c)
        db_rollback(c);
    if (rc == SM_OK && touch)
        j->sess->touched = now;
    if (rc != SM_OK) {
        free(j->script);
        j->script = NULL;
        j->next = 0;
        j->kick = false;
        snprintf(j->error, sizeof j->error, "%s", err.msg);
    }
    j->rc = rc;
}

/* ---- held POSTs (long polling), on the loop thread ------------------------------------------------ */

static void post_done(void *arg);

/* Takes the session off the held list: its held POST's connection (NULL when none was held). */
static ram_conn *unhold(adm_sess *s)
{
    ram_conn *c = s->held;
    if (!c)
        return NULL;
    evtimer_del(s->hold_ev);
    if (s->hprev)
        s->hprev->hnext = s->hnext;
    else
        g_held = s->hnext;
    if (s->hnext)
        s->hnext->hprev = s->hprev;
    s->hprev = s->hnext = NULL;
    s->held = NULL;
    return c;
}

/* Whether the session stays open after a POST without work (the card posts again), or ends. */
static bool keep_open(const adm_sess *s, int64_t now)
{
    return !es5_stopping() && s->req == 0 && now - s->idle_since < A.x->set.admin_idle_ms;
}

static void on_hold_end(evutil_socket_t fd, short what, void *arg)
{
    (void)fd;
    (void)what;
    adm_sess *s = arg;
    ram_conn *c = unhold(s);
    if (!c)
        return;
    s->hold_until = 0;
    ram_reply_none(c, keep_open(s, mono_ms()) ? A.x->set.admin_path : NULL);
}

/* Holds the card's POST until its hold ends (es5.admin_hold_ms after it came, within the session's idle
 * time) or a script is queued for the card. False: answer it now. */
static bool hold(adm_sess *s, ram_conn *c, int64_t now)
{
    if (A.x->set.admin_hold_ms <= 0 || !A.base)
        return false;
    if (!s->hold_until) {
        int64_t until = now + A.x->set.admin_hold_ms, idle_end = s->idle_since + A.x->set.admin_idle_ms;
        s->hold_until = until < idle_end ? until : idle_end;
    }
    if (now >= s->hold_until)
        return false;
    if (!s->hold_ev && !(s->hold_ev = evtimer_new(A.base, on_hold_end, s)))
        return false;
    int64_t left = s->hold_until - now;
    struct timeval tv = {(time_t)(left / 1000), (suseconds_t)(left % 1000) * 1000};
    if (evtimer_add(s->hold_ev, &tv) != 0)
        return false;
    s->held = c;
    s->hprev = NULL;
    s->hnext = g_held;
    if (g_held)
        g_held->hprev = s;
    g_held = s;
    return true;
}

/* The card's held (or just checked) POST looks at its queue again. */
static void check_again(adm_sess *s, ram_conn *c)
{
    post_job *j = calloc(1, sizeof *j);
    if (j) {
        j->conn = c;
        j->sess = s;
        j->started = mono_ms();
    }
    if (!j || es5_stopping() || es5_job(post_run, post_done, j) != SM_OK) {
        free(j);
        s->hold_until = 0;
        ram_reply_none(c, es5_stopping() ? NULL : A.x->set.admin_path); /* the card polls again */
    }
}

/* eUICCs woken lately (loop thread): a wake that came while a check was running is not missed */
#define RECENT 256
static struct {
    char eid[RECENT][33];
    int64_t at[RECENT];
    unsigned next;
    int64_t all_at;     /* an overflow woke everyone */
} R;

static bool woken_since(const char *eid, int64_t t)
{
    if (R.all_at >= t)
        return true;
    for (unsigned i = 0; i < RECENT; i++)
        if (R.at[i] >= t && !strcmp(R.eid[i], eid))
            return true;
    return false;
}

static void wake_one(const char *eid)
{
    int64_t now = mono_ms();
    snprintf(R.eid[R.next], sizeof R.eid[0], "%s", eid);
    R.at[R.next] = now;
    R.next = (R.next + 1) % RECENT;
    for (adm_sess *s = g_held; s; s = s->hnext)
        if (!strcmp(s->eid, eid)) {
            check_again(s, unhold(s));
            return;
        }
}

static void on_wake(evutil_socket_t fd, short what, void *arg)
{
    (void)fd;
    (void)what;
    (void)arg;
    pthread_mutex_lock(&W.mu);
    char (*eids)[33] = W.eid;
    size_t n = W.n;
    bool all = W.overflow;
    W.eid = NULL;
    W.n = W.cap = 0;
    W.overflow = false;
    pthread_mutex_unlock(&W.mu);
    if (all) {
        R.all_at = mono_ms();
        while (g_held) {
            adm_sess *s = g_held;
            check_again(s, unhold(s));
        }
    } else {
        for (size_t i = 0; i < n; i++)
            wake_one(eids[i]);
    }
    free(eids);
}

/* after the commit of the transaction that queued them, on its worker thread */
static void wake_hook(void *arg)
{
    (void)arg;
    pthread_mutex_lock(&W.mu);
    if (W.ev) {
        for (int i = 0; i < t_wake.n && !W.overflow; i++) {
            if (W.n == W.cap) {
                size_t cap = W.cap ? W.cap * 2 : 16;
                char (*e)[33] = cap <= WAKE_MAX ? realloc(W.eid, cap * sizeof *e) : NULL;
                if (!e) {
                    W.overflow = true;
                    break;
                }
                W.eid = e;
                W.cap = cap;
            }
            memcpy(W.eid[W.n++], t_wake.eid[i], 33);
        }
        if (t_wake.overflow)
            W.overflow = true;
        event_active(W.ev, EV_TIMEOUT, 0);
    }
    pthread_mutex_unlock(&W.mu);
    t_wake.n = 0;
    t_wake.overflow = false;
}

void es5_admin_note_queued(db_conn *c, const char *eid)
{
    if (!A.x || A.x->set.admin_hold_ms <= 0 || !eid)
        return;
    int i = 0;
    while (i < t_wake.n && strcmp(t_wake.eid[i], eid))
        i++;
    if (i == t_wake.n) {
        if (t_wake.n < (int)(sizeof t_wake.eid / sizeof t_wake.eid[0]))
            snprintf(t_wake.eid[t_wake.n++], sizeof t_wake.eid[0], "%s", eid);
        else
            t_wake.overflow = true;
    }
    db_on_commit(c, wake_hook, NULL);
}

static void post_done(void *arg)
{
    post_job *j = arg;
    adm_sess *s = j->sess;
    if (j->kick)
        es5_kick_internal();
    if (j->rc != SM_OK) {
        char q[SM_ERR_MSG + 8];
        sm_log(SM_LOG_WARN, "es5", "session_step_failed", "eid=%s session=%s error=%s", s->eid, s->id,
               SM_LOGQ(q, j->error));
    }
    if (j->rc == SM_OK && j->answered)
        s->req = 0;
    if (j->next) {
        s->req = j->next;
        s->idle_since = 0;
        s->hold_until = 0;
        char next[320];
        snprintf(next, sizeof next, "%s/%lld", A.x->set.admin_path[1] ? A.x->set.admin_path : "", (long long)j->next);
        ram_reply_script(j->conn, next, j->target ? j->aid : NULL, j->aid_len, j->script, j->script_len);
    } else {
        int64_t now = mono_ms();
        if (!s->idle_since)
            s->idle_since = now;
        /* keep the session for a while in case more work comes (the card polls again), then end it */
        bool keep = keep_open(s, now);
        if (keep && j->rc == SM_OK && woken_since(s->eid, j->started)) {
            /* a script was queued for this card while this check ran: look again */
            free(j->script);
            free(j->body);
            ram_conn *c = j->conn;
            free(j);
            check_again(s, c);
            return;
        }
        if (!(keep && j->rc == SM_OK && hold(s, j->conn, now))) {
            s->hold_until = 0;
            ram_reply_none(j->conn, keep ? A.x->set.admin_path : NULL);
        }
    }
    free(j->script);
    free(j->body);
    free(j);
}

static bool path_is(const char *path, const char *base, int64_t *id)
{
    *id = 0;
    size_t bl = strlen(base);
    if (bl == 1) /* "/" */
        bl = 0;
    if (strncmp(path, base, bl) != 0)
        return false;
    const char *rest = path + bl;
    if (!*rest || !strcmp(rest, "/"))
        return true;
    if (rest[0] != '/' || !rest[1])
        return false;
    char *end = NULL;
    long long v = strtoll(rest + 1, &end, 10);
    if (!end || *end || v <= 0)
        return false;
    *id = v;
    return true;
}

static void on_post(ram_conn *c, const ram_post *p, void *arg)
{
    (void)arg;
    adm_sess *s = ram_conn_data(c);
    if (!s) {
        s = calloc(1, sizeof *s);
        if (!s) {
            ram_reply_error(c, 503, "out of memory");
            return;
        }
        snprintf(s->id, sizeof s->id, "%s/%ld/%lu", A.x->set.node, (long)getpid(), atomic_fetch_add(&A.seq, 1) + 1);
        snprintf(s->eid, sizeof s->eid, "%s", p->eid);
        s->isdr_aid_len = p->id->aid_len <= sizeof s->isdr_aid ? p->id->aid_len : 0;
        memcpy(s->isdr_aid, p->id->aid, s->isdr_aid_len);
        ram_conn_set_data(c, s);
        sm_log(SM_LOG_INFO, "es5", "session_open", "eid=%s session=%s peer=%s", s->eid, s->id, ram_conn_addr(c));
    }
    s->posts++;
    int64_t in_path = 0;
    if (!path_is(p->path, A.x->set.admin_path, &in_path)) {
        ram_reply_error(c, 404, "not an admin URI of this SM-SR");
        return;
    }
    if (es5_stopping()) {
        ram_reply_none(c, NULL);
        return;
    }
    if (s->req && p->hdr->status == SCP81_ST_NONE) {
        /* the card posts without the answer to the script it holds (a resumed session): that script's
         * outcome is unknown; the request ends as such rather than being run again */
        sm_log(SM_LOG_NOTICE, "es5", "answer_missing", "eid=%s req=%lld resume=%d", s->eid, (long long)s->req,
               p->hdr->resume);
    } else if (!s->req && p->hdr->status != SCP81_ST_NONE) {
        ram_reply_error(c, 400, "X-Admin-Script-Status without a script to answer");
        return;
    } else if (s->req && in_path && in_path != s->req) {
        ram_reply_error(c, 400, "the answer is posted to another request's URI");
        return;
    }
    post_job *j = calloc(1, sizeof *j);
    if (!j || (p->body_len && !(j->body = malloc(p->body_len)))) {
        free(j);
        ram_reply_error(c, 503, "out of memory");
        return;
    }
    j->conn = c;
    j->sess = s;
    j->started = mono_ms();
    s->hold_until = 0; /* a new POST: a new hold */
    j->answered = s->req;
    j->missing = s->req && p->hdr->status == SCP81_ST_NONE;
    j->status = p->hdr->status;
    if (p->body_len)
        memcpy(j->body, p->body, p->body_len);
    j->body_len = p->body_len;
    if (es5_job(post_run, post_done, j) != SM_OK) {
        free(j->body);
        free(j);
        ram_reply_none(c, A.x->set.admin_path); /* busy: the card polls again */
    }
}

/* ---- the end of a session ------------------------------------------------------------------------ */

static void lost_run(sm_worker *w, void *arg)
{
    adm_sess *s = arg;
    sm_err err = {0};
    db_conn *c = w->db;
    if (!c)
        return;
    sm_rc rc = db_begin(c, &err);
    if (rc == SM_OK && s->req) {
        es5_row r;
        bool found = false;
        rc = es5q_lock_id(c, s->req, &r, &found, &err);
        if (rc == SM_OK && found && !strcmp(r.phase, "in-session") && !strcmp(r.session, s->id))
            rc = es5q_finish(c, &r, ES5_CARD_ERROR,
                             "the admin session closed before the card answered the script (outcome unknown)", NULL, 0,
                             &err);
        es5_row_clear(&r);
    }
    if (rc == SM_OK)
        rc = es5q_session_end(c, s->id, &err);
    if (rc == SM_OK)
        rc = db_commit(c, &err);
    else
        db_rollback(c);
    if (rc != SM_OK) {
        char q[SM_ERR_MSG + 8];
        sm_log(SM_LOG_WARN, "es5", "session_end_failed", "session=%s error=%s", s->id, SM_LOGQ(q, err.msg));
    }
}

static void lost_done(void *arg)
{
    adm_sess *s = arg;
    if (s->req)
        es5_kick_internal();
    free(s);
}

static void on_close(void *data, void *arg)
{
    (void)arg;
    adm_sess *s = data;
    if (!s)
        return;
    sm_log(SM_LOG_INFO, "es5", "session_closed", "eid=%s session=%s posts=%u holding=%lld", s->eid, s->id, s->posts,
           (long long)s->req);
    unhold(s); /* not held: a held POST keeps its connection until it is answered */
    if (s->hold_ev) {
        event_free(s->hold_ev);
        s->hold_ev = NULL;
    }
    /* a script left unanswered ends its request now; otherwise the driver does at script_timeout */
    if (es5_job(lost_run, lost_done, s) != SM_OK)
        free(s);
}

sm_rc es5_admin_start(sm_app *app, const es5_ctx *x, sm_err *err)
{
    A.x = x;
    A.base = app->base;
    pthread_mutex_lock(&W.mu);
    W.ev = event_new(app->base, -1, 0, on_wake, NULL);
    pthread_mutex_unlock(&W.mu);
    if (!W.ev)
        return sm_errf(err, SM_ENOMEM, "es5: out of memory");
    const sm_config *cfg = app->cfg;
    ram_server_config rc = {
        .listen = cfg->es5.admin_listen,
        .handshake_threads = (unsigned)cfg->es5.admin_handshake_threads,
        .handshake_timeout_s = 10,
        .idle_timeout_s = (int)cfg->es5.script_timeout_s,
        .request_timeout_s = 30,
        .max_conns = (unsigned)cfg->es5.admin_max_connections,
        .max_body = 1u << 20,
        .lookup = psk_lookup,
        .on_post = on_post,
        .on_close = on_close,
    };
    return ram_server_start(app->base, &rc, &A.srv, err);
}

void es5_admin_stop(void)
{
    pthread_mutex_lock(&W.mu);
    if (W.ev)
        event_free(W.ev);
    W.ev = NULL;
    free(W.eid);
    W.eid = NULL;
    W.n = W.cap = 0;
    W.overflow = false;
    pthread_mutex_unlock(&W.mu);
    while (g_held) { /* answered now: the session ends */
        adm_sess *s = g_held;
        ram_conn *c = unhold(s);
        s->hold_until = 0;
        ram_reply_none(c, NULL);
    }
    ram_server_stop(A.srv);
    A.srv = NULL;
}

unsigned es5_admin_conns(void) { return A.srv ? ram_server_conns(A.srv) : 0; }

int es5_admin_port(void) { return A.srv ? ram_server_port(A.srv) : 0; }
