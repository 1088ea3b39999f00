/* libpq connections, the pool, prepared statements, transactions and COPY. */
#include "db/pg.h"

#include <poll.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <libpq-fe.h>

#include "lib/hex.h"
#include "lib/log.h"
#include "lib/secmem.h"

struct db_pool {
    pthread_mutex_t mu;
    bool configured;
    char *conninfo;
    char *target;
    char *password; /* secmem */
    size_t pwlen;
    char *node;
    char *app_name;
    unsigned size;
    unsigned connect_timeout_s;
    unsigned out;        /* connections handed out */
    db_conn *idle;       /* given back, kept connected */
    unsigned char *slot_used;
    unsigned nslots;
};

#define DB_PEND_MAX 32

struct db_conn {
    db_pool *pool;
    PGconn *pg;
    int slot;            /* -1 for named lanes */
    char lane[128];
    bool lane_head;      /* db_conn_lane_head */
    bool in_tx;
    bool tx_failed;
    bool begin_pending;  /* BEGIN not sent yet: it goes out with the transaction's first statement */
    bool async_commit;   /* db_tx_async_commit: the COMMIT carries SET LOCAL synchronous_commit = off */
    bool lost;           /* last error was a lost connection */
    char sqlstate[6];
    unsigned char *prepared;
    size_t nprepared;
    struct {
        void (*fn)(void *);
        void *arg;
    } oncommit[8];       /* db_on_commit: run after the open transaction commits */
    int noncommit;
    const char *pend[DB_PEND_MAX + 1]; /* db_exec_later: the SQL of what was sent in pipeline mode, results
                                        * not read yet (+ a SET with the COMMIT), for their errors */
    int npend;
    db_conn *next;
};

static int g_next_stmt_id;

/* ---- helpers ---------------------------------------------------------------------------------- */

static char *xstrdup(const char *s) { return s ? strdup(s) : NULL; }

/* libpq messages end with newlines and may contain tabs: one line. */
static void oneline(const char *in, char *out, size_t cap)
{
    size_t o = 0;
    for (const char *p = in ? in : ""; *p && o + 1 < cap; p++) {
        char ch = *p;
        if (ch == '\n' || ch == '\t' || ch == '\r')
            ch = ' ';
        if (ch == ' ' && (o == 0 || out[o - 1] == ' '))
            continue;
        out[o++] = ch;
    }
    while (o > 0 && out[o - 1] == ' ')
        o--;
    out[o] = 0;
}

/* First words of a statement, for messages ("SELECT seq, hash FROM audit_chain ..."). */
static void sql_head(const char *sql, char *out, size_t cap)
{
    char tmp[80];
    size_t n = strlen(sql);
    if (n > sizeof tmp - 1)
        n = sizeof tmp - 1;
    memcpy(tmp, sql, n);
    tmp[n] = 0;
    oneline(tmp, out, cap);
    if (strlen(sql) > n && strlen(out) + 4 < cap)
        strcat(out, " ...");
}

static void notice_sink(void *arg, const char *msg)
{
    (void)arg;
    char line[400], q[420];
    oneline(msg, line, sizeof line);
    sm_log(SM_LOG_DEBUG, "db", "notice", "msg=%s", SM_LOGQ(q, line));
}

void db_redact_conninfo(const char *in, char *out, size_t cap)
{
    if (!in) {
        snprintf(out, cap, "%s", "");
        return;
    }
    char buf[2048];
    snprintf(buf, sizeof buf, "%s", in);
    const char *scheme = strstr(buf, "://");
    if (scheme && (!strncmp(buf, "postgresql://", 13) || !strncmp(buf, "postgres://", 11))) {
        char *auth = (char *)scheme + 3;
        char *end = auth + strcspn(auth, "/?");
        char *at = NULL;
        for (char *p = auth; p < end; p++)
            if (*p == '@')
                at = p;
        if (at) {
            char *colon = memchr(auth, ':', (size_t)(at - auth));
            if (colon)
                memmove(colon, at, strlen(at) + 1);
        }
        /* query parameter password=... */
        char *q = strchr(buf, '?');
        while (q) {
            char *p = q + 1;
            if (!strncmp(p, "password=", 9)) {
                char *e = p + strcspn(p, "&");
                memmove(p + 9 + 3, e, strlen(e) + 1);
                memcpy(p + 9, "***", 3);
            }
            q = strchr(p, '&');
        }
        snprintf(out, cap, "%s", buf);
        return;
    }
    /* key=value form */
    size_t o = 0;
    const char *p = in;
    while (*p && o + 1 < cap) {
        if (!strncmp(p, "password", 8) && (p == in || p[-1] == ' ')) {
            const char *e = p + 8;
            while (*e == ' ')
                e++;
            if (*e == '=') {
                e++;
                while (*e == ' ')
                    e++;
                if (*e == '\'') {
                    e++;
                    while (*e && *e != '\'') {
                        if (*e == '\\' && e[1])
                            e++;
                        e++;
                    }
                    if (*e)
                        e++;
                } else {
                    while (*e && *e != ' ')
                        e++;
                }
                o += (size_t)snprintf(out + o, cap - o, "password=***");
                if (o >= cap)
                    o = cap - 1;
                p = e;
                continue;
            }
        }
        out[o++] = *p++;
    }
    out[o < cap ? o : cap - 1] = 0;
}

bool db_conninfo_has_password(const char *conninfo)
{
    if (!conninfo)
        return false;
    char *errmsg = NULL;
    PQconninfoOption *opts = PQconninfoParse(conninfo, &errmsg);
    if (errmsg)
        PQfreemem(errmsg);
    if (!opts)
        return false;
    bool has = false;
    for (PQconninfoOption *o = opts; o->keyword; o++)
        if (!strcmp(o->keyword, "password") && o->val && *o->val)
            has = true;
    PQconninfoFree(opts);
    return has;
}

bool db_ping(const char *conninfo)
{
    const char *kw[] = {"dbname", "connect_timeout", NULL};
    const char *val[] = {conninfo, "3", NULL};
    return PQpingParams(kw, val, 1) == PQPING_OK;
}

/* ---- pool ------------------------------------------------------------------------------------- */

db_pool *db_pool_new(void)
{
    db_pool *p = calloc(1, sizeof *p);
    if (!p)
        return NULL;
    pthread_mutex_init(&p->mu, NULL);
    p->size = 256; /* until configured: hooks may take connections first */
    return p;
}

sm_rc db_pool_configure(db_pool *p, const db_config *cfg, sm_err *err)
{
    if (!p || !cfg || !cfg->conninfo)
        return sm_errf(err, SM_EINVAL, "database: no connection string");
    pthread_mutex_lock(&p->mu);
    if (p->configured) {
        pthread_mutex_unlock(&p->mu);
        return sm_errf(err, SM_ESTATE, "database: pool configured twice");
    }
    char red[2048];
    db_redact_conninfo(cfg->conninfo, red, sizeof red);
    p->conninfo = xstrdup(cfg->conninfo);
    p->target = xstrdup(red);
    p->node = xstrdup(cfg->node && *cfg->node ? cfg->node : "smbox");
    p->app_name = xstrdup(cfg->app_name && *cfg->app_name ? cfg->app_name : "smbox");
    p->size = cfg->size ? cfg->size : 8;
    p->connect_timeout_s = cfg->connect_timeout_s ? cfg->connect_timeout_s : 5;
    sm_rc rc = SM_OK;
    if (cfg->password && *cfg->password) {
        p->pwlen = strlen(cfg->password);
        p->password = sm_secmem_alloc(p->pwlen + 1);
        if (!p->password)
            rc = sm_errf(err, SM_ENOMEM, "database: no locked memory for the password");
        else
            memcpy(p->password, cfg->password, p->pwlen + 1);
    }
    if (!p->conninfo || !p->target || !p->node || !p->app_name)
        rc = sm_errf(err, SM_ENOMEM, "database: out of memory");
    p->configured = rc == SM_OK;
    pthread_mutex_unlock(&p->mu);
    return rc;
}

sm_rc db_pool_open(const db_config *cfg, db_pool **out, sm_err *err)
{
    db_pool *p = db_pool_new();
    if (!p)
        return sm_errf(err, SM_ENOMEM, "database: out of memory");
    sm_rc rc = db_pool_configure(p, cfg, err);
    if (rc != SM_OK) {
        db_pool_close(p);
        return rc;
    }
    *out = p;
    return SM_OK;
}

static void conn_free(db_conn *c)
{
    if (!c)
        return;
    if (c->pg)
        PQfinish(c->pg);
    free(c->prepared);
    free(c);
}

void db_pool_close(db_pool *p)
{
    if (!p)
        return;
    pthread_mutex_lock(&p->mu);
    if (p->out)
        sm_log(SM_LOG_WARN, "db", "pool_close_busy", "connections_out=%u", p->out);
    db_conn *c = p->idle;
    p->idle = NULL;
    pthread_mutex_unlock(&p->mu);
    while (c) {
        db_conn *n = c->next;
        conn_free(c);
        c = n;
    }
    free(p->conninfo);
    free(p->target);
    free(p->node);
    free(p->app_name);
    free(p->slot_used);
    sm_secmem_free(p->password, p->pwlen + 1);
    pthread_mutex_destroy(&p->mu);
    free(p);
}

const char *db_pool_node(const db_pool *p) { return p && p->node ? p->node : "smbox"; }
const char *db_pool_target(const db_pool *p) { return p && p->target ? p->target : "(unconfigured)"; }

static sm_rc take(db_pool *p, const char *lane, db_conn **out, sm_err *err)
{
    pthread_mutex_lock(&p->mu);
    if (p->out >= p->size) {
        unsigned sz = p->size;
        pthread_mutex_unlock(&p->mu);
        return sm_errf(err, SM_ELIMIT, "database: all %u pool connections are in use", sz);
    }
    db_conn *c = NULL;
    /* reuse an idle connection of the same kind (numbered slot, or the same named lane) */
    for (db_conn **pp = &p->idle; *pp; pp = &(*pp)->next) {
        if ((lane && (*pp)->slot < 0 && !strcmp((*pp)->lane, lane)) || (!lane && (*pp)->slot >= 0)) {
            c = *pp;
            *pp = c->next;
            c->next = NULL;
            break;
        }
    }
    if (!c) {
        c = calloc(1, sizeof *c);
        if (!c) {
            pthread_mutex_unlock(&p->mu);
            return sm_errf(err, SM_ENOMEM, "database: out of memory");
        }
        c->pool = p;
        c->slot = -1;
        if (lane) {
            snprintf(c->lane, sizeof c->lane, "%s", lane);
        } else {
            unsigned s = 0;
            while (s < p->nslots && p->slot_used[s])
                s++;
            if (s >= p->nslots) {
                unsigned char *n = realloc(p->slot_used, s + 8);
                if (!n) {
                    free(c);
                    pthread_mutex_unlock(&p->mu);
                    return sm_errf(err, SM_ENOMEM, "database: out of memory");
                }
                memset(n + p->nslots, 0, s + 8 - p->nslots);
                p->slot_used = n;
                p->nslots = s + 8;
            }
            p->slot_used[s] = 1;
            c->slot = (int)s;
            c->lane[0] = 0; /* named from the node at first use (the node may not be known yet) */
        }
    }
    p->out++;
    pthread_mutex_unlock(&p->mu);
    *out = c;
    return SM_OK;
}

sm_rc db_pool_take(db_pool *p, db_conn **out, sm_err *err) { return take(p, NULL, out, err); }

sm_rc db_pool_take_lane(db_pool *p, const char *lane, db_conn **out, sm_err *err)
{
    if (!lane || !*lane || strlen(lane) >= sizeof((db_conn *)0)->lane)
        return sm_errf(err, SM_EINVAL, "database: bad lane name");
    return take(p, lane, out, err);
}

void db_pool_give(db_conn *c)
{
    if (!c)
        return;
    db_rollback(c);
    db_pool *p = c->pool;
    pthread_mutex_lock(&p->mu);
    p->out--;
    c->next = p->idle;
    p->idle = c;
    pthread_mutex_unlock(&p->mu);
}

/* ---- connection -------------------------------------------------------------------------------- */

const char *db_conn_lane(const db_conn *c)
{
    if (c->lane[0] == 0 && c->slot >= 0)
        snprintf(((db_conn *)c)->lane, sizeof c->lane, "%s/w%d", db_pool_node(c->pool), c->slot);
    return c->lane;
}

db_pool *db_conn_pool(const db_conn *c) { return c->pool; }

bool db_conn_lane_head(const db_conn *c) { return c->lane_head; }
void db_conn_set_lane_head(db_conn *c) { c->lane_head = true; }

bool db_connected(const db_conn *c) { return c->pg && PQstatus(c->pg) == CONNECTION_OK; }

int db_conn_backend_pid(const db_conn *c) { return db_connected(c) ? PQbackendPID(c->pg) : 0; }

int db_server_version(const db_conn *c) { return db_connected(c) ? PQserverVersion(c->pg) : 0; }

/* A session to the pool's server (its conninfo, password, connect timeout) under application name app,
 * notices silenced; what names the connection in an error (e.g. "listener "). */
static sm_rc open_session(const db_pool *p, const char *app, const char *what, PGconn **out, sm_err *err)
{
    *out = NULL;
    char timeout[16];
    snprintf(timeout, sizeof timeout, "%u", p->connect_timeout_s);
    const char *kw[6], *val[6];
    int n = 0;
    kw[n] = "dbname", val[n++] = p->conninfo;
    kw[n] = "fallback_application_name", val[n++] = app;
    kw[n] = "connect_timeout", val[n++] = timeout;
    if (p->password)
        kw[n] = "password", val[n++] = p->password;
    kw[n] = NULL, val[n] = NULL;
    PGconn *pg = PQconnectdbParams(kw, val, 1);
    if (!pg)
        return sm_errf(err, SM_ENOMEM, "database: out of memory connecting");
    if (PQstatus(pg) != CONNECTION_OK) {
        char m[400];
        oneline(PQerrorMessage(pg), m, sizeof m);
        PQfinish(pg);
        return sm_errf(err, SM_EDB, "database: %scannot connect to %s: %s", what, p->target, m);
    }
    PQsetNoticeProcessor(pg, notice_sink, NULL);
    *out = pg;
    return SM_OK;
}

void db_disconnect(db_conn *c)
{
    if (c->pg)
        PQfinish(c->pg);
    c->pg = NULL;
    c->in_tx = c->tx_failed = c->begin_pending = c->async_commit = false;
    c->noncommit = 0;
    c->npend = 0;
    c->lane_head = false; /* a new session may be to a restored database */
    if (c->prepared)
        memset(c->prepared, 0, c->nprepared);
}

sm_rc db_connect(db_conn *c, sm_err *err)
{
    if (db_connected(c))
        return SM_OK;
    db_pool *p = c->pool;
    if (!p->configured)
        return sm_errf(err, SM_ESTATE, "database: not configured yet");
    db_disconnect(c);
    PGconn *pg = NULL;
    sm_rc rc = open_session(p, p->app_name, "", &pg, err);
    if (rc != SM_OK) {
        c->lost = true;
        return rc;
    }
    /* a transaction left open by a stuck client must not hold locks (chain heads, procedures) forever */
    PGresult *r = PQexec(pg, "SET idle_in_transaction_session_timeout = '120s'");
    ExecStatusType st = PQresultStatus(r);
    PQclear(r);
    if (st != PGRES_COMMAND_OK) {
        char m[400];
        oneline(PQerrorMessage(pg), m, sizeof m);
        PQfinish(pg);
        return sm_errf(err, SM_EDB, "database: setting up the session on %s: %s", p->target, m);
    }
    c->pg = pg;
    c->lost = false;
    c->in_tx = c->tx_failed = false;
    if (c->prepared)
        memset(c->prepared, 0, c->nprepared);
    return SM_OK;
}

/* Notices a connection the server closed while it sat idle (restart, admin kill) before anything is
 * sent on it: nothing is in flight, so reconnecting is safe. */
static void drop_if_dead(db_conn *c)
{
    if (!c->pg)
        return;
    if (PQstatus(c->pg) != CONNECTION_OK) {
        db_disconnect(c);
        return;
    }
    /* a server-side close arrives as an error message then EOF: read until quiet (a few rounds) */
    for (int round = 0; round < 4; round++) {
        struct pollfd pfd = {.fd = PQsocket(c->pg), .events = POLLIN};
        if (pfd.fd < 0) {
            db_disconnect(c);
            return;
        }
        if (poll(&pfd, 1, 0) <= 0)
            return;
        if (!PQconsumeInput(c->pg) || PQstatus(c->pg) != CONNECTION_OK) {
            db_disconnect(c);
            return;
        }
        PGnotify *nf;
        while ((nf = PQnotifies(c->pg)))
            PQfreemem(nf);
    }
}

static bool state_transient(const char *s)
{
    return !strcmp(s, "40001") || !strcmp(s, "40P01") || !strcmp(s, "55P03") || !strncmp(s, "08", 2) ||
           !strcmp(s, "57P01") || !strcmp(s, "57P02") || !strcmp(s, "57P03");
}

const char *db_last_sqlstate(const db_conn *c) { return c->sqlstate; }
bool db_last_conn_lost(const db_conn *c) { return c->lost; }
bool db_refused_with(const db_conn *c, const char *errmsg, const char *marker)
{
    return !strcmp(c->sqlstate, "22P02") && errmsg && marker && strstr(errmsg, marker);
}

bool db_last_transient(const db_conn *c) { return c->lost || state_transient(c->sqlstate); }

/* Turns a failed result into an error; marks a lost connection and a failed transaction. */
static sm_rc result_error(db_conn *c, PGresult *r, const char *what, sm_err *err)
{
    const char *ss = r ? PQresultErrorField(r, PG_DIAG_SQLSTATE) : NULL;
    snprintf(c->sqlstate, sizeof c->sqlstate, "%s", ss ? ss : "");
    char m[400];
    const char *pm = r ? PQresultErrorField(r, PG_DIAG_MESSAGE_PRIMARY) : NULL;
    oneline(pm ? pm : PQerrorMessage(c->pg), m, sizeof m);
    bool lost = PQstatus(c->pg) != CONNECTION_OK;
    bool was_tx = c->in_tx;
    if (c->in_tx)
        c->tx_failed = true;
    if (lost) {
        c->lost = true;
        PQfinish(c->pg);
        c->pg = NULL;
        c->npend = 0;
        if (c->prepared)
            memset(c->prepared, 0, c->nprepared);
        return sm_errf(err, SM_EDB, "database: connection lost during %s (%s); %s", what, m,
                       was_tx ? "the transaction was not committed" : "the statement's outcome is unknown (not retried)");
    }
    c->lost = false;
    if (ss && !strcmp(ss, "23505"))
        return sm_errf(err, SM_EEXIST, "database: %s: %s [%s]", what, m, ss);
    return sm_errf(err, SM_EDB, "database: %s: %s [%s]", what, m, ss ? ss : "-");
}

/* ---- statements sent ahead (db_exec_later) ------------------------------------------------------ */

/* Ends the pipeline the queued statements went out in: a sync point, then their results in order (the
 * first failure is the error; what follows it was skipped by the server), then, when own is not NULL,
 * the result of the statement sent after them (PGRES_PIPELINE_ABORTED after a failure). Leaves
 * pipeline mode. A failure fails the transaction. */
static sm_rc pend_sync(db_conn *c, PGresult **own, sm_err *err)
{
    int n = c->npend;
    c->npend = 0;
    if (own)
        *own = NULL;
    PGconn *pg = c->pg;
    sm_rc rc = SM_OK;
    bool sent = PQpipelineSync(pg) == 1;
    PGresult *x;
    for (int i = 0; sent && c->pg && i < n; i++) {
        x = PQgetResult(pg);
        ExecStatusType s = PQresultStatus(x);
        if (rc == SM_OK && s != PGRES_COMMAND_OK && s != PGRES_TUPLES_OK) {
            char head[100];
            sql_head(c->pend[i], head, sizeof head);
            rc = result_error(c, x, head, err); /* may close the session (c->pg NULL) */
        }
        PQclear(x);
        if (!c->pg)
            break;
        while ((x = PQgetResult(pg)))
            PQclear(x);
    }
    if (c->pg && sent && own) {
        *own = PQgetResult(pg);
        while ((x = PQgetResult(pg)))
            PQclear(x);
    }
    if (c->pg) {
        while (sent && (x = PQgetResult(pg))) {
            bool sync = PQresultStatus(x) == PGRES_PIPELINE_SYNC;
            PQclear(x);
            if (sync)
                break;
        }
        if (!sent || !PQexitPipelineMode(pg) || PQstatus(pg) != CONNECTION_OK) {
            char m[300];
            oneline(PQerrorMessage(pg), m, sizeof m);
            if (own) {
                PQclear(*own);
                *own = NULL;
            }
            db_disconnect(c); /* the pipeline's state is unknown: nothing of this transaction was committed */
            c->lost = true;
            c->in_tx = c->tx_failed = true;
            if (rc == SM_OK)
                rc = sm_errf(err, SM_EDB, "database: connection lost with statements in flight (%s); the "
                                          "transaction was not committed", m);
        }
    }
    if (rc != SM_OK) {
        c->tx_failed = true;
        c->lane_head = false; /* what failed may have been an append finding no head: look again */
    }
    return rc;
}

/* Reads what is still in flight, before a statement that cannot go into the pipeline. */
static sm_rc pend_flush(db_conn *c, sm_err *err) { return c->npend && c->pg ? pend_sync(c, NULL, err) : SM_OK; }

static sm_rc simple(db_conn *c, const char *sql, sm_err *err)
{
    PGresult *r = PQexec(c->pg, sql);
    ExecStatusType st = PQresultStatus(r);
    sm_rc rc = SM_OK;
    if (st != PGRES_COMMAND_OK && st != PGRES_TUPLES_OK)
        rc = result_error(c, r, sql, err);
    PQclear(r);
    return rc;
}

sm_rc db_begin(db_conn *c, sm_err *err)
{
    if (c->in_tx)
        return sm_errf(err, SM_ESTATE, "database: a transaction is already open on this connection");
    drop_if_dead(c);
    sm_rc rc = db_connect(c, err);
    if (rc != SM_OK)
        return rc;
    /* BEGIN is sent with the first statement, in one round trip (pipeline_begin) */
    c->in_tx = true;
    c->tx_failed = false;
    c->begin_pending = true;
    c->async_commit = false;
    c->noncommit = 0;
    return SM_OK;
}

/* Sends a pending BEGIN on its own (before statements that cannot ride with it: scripts, COPY). */
static sm_rc flush_begin(db_conn *c, sm_err *err)
{
    if (!c->begin_pending)
        return SM_OK;
    c->begin_pending = false;
    sm_err e1 = {0};
    sm_rc rc = c->pg ? simple(c, "BEGIN", &e1) : (c->lost = true, sm_errf(&e1, SM_EDB, "database: no session"));
    if (rc != SM_OK && c->lost) {
        /* the session died while idle; nothing was started: reconnect once */
        c->tx_failed = false;
        rc = db_connect(c, err);
        c->in_tx = true;
        if (rc == SM_OK)
            rc = simple(c, "BEGIN", err);
    } else if (rc != SM_OK) {
        *err = e1;
    }
    return rc;
}

/* A COMMIT that did not run (a failure before it, in its pipeline or in the SET sent with it) leaves the
 * server's transaction open: end it. */
static void end_open_tx(db_conn *c)
{
    if (c->pg && PQtransactionStatus(c->pg) != PQTRANS_IDLE) {
        PGresult *r = PQexec(c->pg, "ROLLBACK");
        PQclear(r);
    }
}

sm_rc db_commit(db_conn *c, sm_err *err)
{
    if (!c->in_tx)
        return sm_errf(err, SM_ESTATE, "database: commit without a transaction");
    int nhooks = c->noncommit;
    c->noncommit = 0;
    bool async = c->async_commit;
    c->async_commit = false;
    if (c->begin_pending) {
        /* nothing was sent: nothing to commit */
        c->in_tx = c->tx_failed = c->begin_pending = false;
        for (int i = 0; i < nhooks; i++)
            c->oncommit[i].fn(c->oncommit[i].arg);
        return SM_OK;
    }
    if (!c->pg) {
        c->in_tx = c->tx_failed = false;
        return sm_errf(err, SM_EDB, "database: connection lost earlier in this transaction; it was not committed");
    }
    if (c->tx_failed) {
        db_rollback(c);
        return sm_errf(err, SM_EDB, "database: the transaction failed earlier and was rolled back");
    }
    PGresult *r = NULL;
    if (c->npend) {
        /* the statements sent ahead, then the COMMIT, in one round trip; a failure among them rolls back */
        if (async && PQsendQueryParams(c->pg, "SET LOCAL synchronous_commit = off", 0, NULL, NULL, NULL, NULL, 0))
            c->pend[c->npend++] = "SET LOCAL synchronous_commit = off";
        bool sent = PQsendQueryParams(c->pg, "COMMIT", 0, NULL, NULL, NULL, NULL, 0) == 1;
        sm_rc rc = pend_sync(c, sent ? &r : NULL, err);
        if (rc != SM_OK || !r) {
            PQclear(r);
            end_open_tx(c);
            c->in_tx = c->tx_failed = false;
            return rc != SM_OK ? rc : sm_errf(err, SM_EDB, "database: sending COMMIT failed; the transaction was "
                                                           "rolled back");
        }
    } else {
        /* one round trip for both when the commit may be asynchronous (the last result is COMMIT's) */
        r = PQexec(c->pg, async ? "SET LOCAL synchronous_commit = off; COMMIT" : "COMMIT");
    }
    ExecStatusType st = PQresultStatus(r);
    sm_rc rc = SM_OK;
    if (st != PGRES_COMMAND_OK && PQstatus(c->pg) == CONNECTION_OK)
        end_open_tx(c); /* the SET failed and COMMIT never ran */
    if (st != PGRES_COMMAND_OK) {
        const char *ss = PQresultErrorField(r, PG_DIAG_SQLSTATE);
        snprintf(c->sqlstate, sizeof c->sqlstate, "%s", ss ? ss : "");
        char m[400];
        oneline(PQerrorMessage(c->pg), m, sizeof m);
        if (PQstatus(c->pg) != CONNECTION_OK) {
            c->lost = true;
            PQfinish(c->pg);
            c->pg = NULL;
            if (c->prepared)
                memset(c->prepared, 0, c->nprepared);
            rc = sm_errf(err, SM_EDB,
                         "database: connection lost during COMMIT (%s); the outcome is unknown and it is not retried", m);
        } else {
            rc = sm_errf(err, SM_EDB, "database: COMMIT failed: %s [%s]", m, ss ? ss : "-");
        }
    } else if (strcmp(PQcmdStatus(r), "COMMIT") != 0) {
        rc = sm_errf(err, SM_EDB, "database: the transaction was rolled back by the server (%s)", PQcmdStatus(r));
    }
    PQclear(r);
    c->in_tx = c->tx_failed = false;
    for (int i = 0; rc == SM_OK && i < nhooks; i++)
        c->oncommit[i].fn(c->oncommit[i].arg);
    return rc;
}

void db_on_commit(db_conn *c, void (*fn)(void *), void *arg)
{
    if (!fn)
        return;
    if (!c->in_tx) {
        fn(arg);
        return;
    }
    for (int i = 0; i < c->noncommit; i++)
        if (c->oncommit[i].fn == fn && c->oncommit[i].arg == arg)
            return;
    if (c->noncommit < (int)(sizeof c->oncommit / sizeof c->oncommit[0])) {
        c->oncommit[c->noncommit].fn = fn;
        c->oncommit[c->noncommit].arg = arg;
        c->noncommit++;
    }
}

void db_rollback(db_conn *c)
{
    c->noncommit = 0;
    c->async_commit = false;
    if (!c->in_tx)
        return;
    if (c->begin_pending) {
        c->in_tx = c->tx_failed = c->begin_pending = false;
        return;
    }
    if (c->pg && c->npend) {
        sm_err e2 = {0};
        pend_sync(c, NULL, &e2); /* their results no longer matter */
    }
    if (c->pg) {
        PGresult *r = PQexec(c->pg, "ROLLBACK");
        if (PQresultStatus(r) != PGRES_COMMAND_OK && PQstatus(c->pg) != CONNECTION_OK)
            db_disconnect(c);
        PQclear(r);
    }
    c->in_tx = c->tx_failed = false;
}

bool db_in_tx(const db_conn *c) { return c->in_tx; }

sm_rc db_tx(db_conn *c, sm_rc (*fn)(db_conn *c, void *arg, sm_err *err), void *arg, sm_err *err)
{
    if (c->in_tx)
        return fn(c, arg, err);
    sm_rc rc = db_begin(c, err);
    if (rc != SM_OK)
        return rc;
    rc = fn(c, arg, err);
    if (rc == SM_OK)
        return db_commit(c, err);
    db_rollback(c);
    return rc;
}

sm_rc db_tx_async_commit(db_conn *c, sm_err *err)
{
    if (!c->in_tx || !c->pg)
        return sm_errf(err, SM_ESTATE, "database: no transaction");
    c->async_commit = true; /* sent with the COMMIT */
    return SM_OK;
}

/* ---- statements -------------------------------------------------------------------------------- */

void db_params_init(db_params *p)
{
    p->n = 0;
    p->overflow = false;
}

static int slot(db_params *p)
{
    if (p->n >= DB_MAXPARAMS) {
        p->overflow = true;
        return -1;
    }
    return p->n++;
}

void db_p_text(db_params *p, const char *s)
{
    int i = slot(p);
    if (i < 0)
        return;
    p->v[i] = s;
    p->len[i] = 0;
    p->fmt[i] = 0;
}

void db_p_int(db_params *p, int64_t v)
{
    int i = slot(p);
    if (i < 0)
        return;
    snprintf(p->num[i], sizeof p->num[i], "%lld", (long long)v);
    p->v[i] = p->num[i];
    p->len[i] = 0;
    p->fmt[i] = 0;
}

void db_p_bool(db_params *p, bool v) { db_p_text(p, v ? "t" : "f"); }

void db_p_bytea(db_params *p, const uint8_t *b, size_t len)
{
    int i = slot(p);
    if (i < 0)
        return;
    p->v[i] = b ? (const char *)b : NULL;
    p->len[i] = (int)len;
    p->fmt[i] = 1;
    if (b && len == 0)
        p->v[i] = ""; /* empty, not NULL */
}

void db_p_null(db_params *p) { db_p_text(p, NULL); }

static int stmt_id(db_stmt *st)
{
    int id = __atomic_load_n(&st->id, __ATOMIC_ACQUIRE);
    if (id)
        return id;
    int fresh = __atomic_add_fetch(&g_next_stmt_id, 1, __ATOMIC_SEQ_CST);
    int expected = 0;
    if (!__atomic_compare_exchange_n(&st->id, &expected, fresh, false, __ATOMIC_SEQ_CST, __ATOMIC_SEQ_CST))
        return expected;
    return fresh;
}

/* Queues (pipeline mode) the prepared statement name with p's values; 1 when libpq took it. */
static int send_prepared(PGconn *pg, const char *name, const db_params *p)
{
    return PQsendQueryPrepared(pg, name, p ? p->n : 0, p ? p->v : NULL, p ? p->len : NULL, p ? p->fmt : NULL, 0);
}

/* A transaction's first statement, already prepared, goes out with its BEGIN in one round trip (libpq
 * pipeline mode). Returns the statement's result (success or error), or NULL when BEGIN did not run (a
 * session that died while idle, a libpq refusal): the caller then sends BEGIN alone, which reconnects
 * once. */
static PGresult *pipeline_begin(db_conn *c, const char *name, const db_params *p)
{
    PGconn *pg = c->pg;
    if (!PQenterPipelineMode(pg))
        return NULL;
    bool sent = PQsendQueryParams(pg, "BEGIN", 0, NULL, NULL, NULL, NULL, 0) && send_prepared(pg, name, p) &&
                PQpipelineSync(pg);
    PGresult *rb = NULL, *rs = NULL, *x;
    if (sent) {
        rb = PQgetResult(pg);
        while (rb && (x = PQgetResult(pg)))
            PQclear(x);
        rs = PQgetResult(pg);
        while (rs && (x = PQgetResult(pg)))
            PQclear(x);
        /* the sync point */
        while ((x = PQgetResult(pg))) {
            bool sync = PQresultStatus(x) == PGRES_PIPELINE_SYNC;
            PQclear(x);
            if (sync)
                break;
        }
    }
    bool begun = rb && PQresultStatus(rb) == PGRES_COMMAND_OK;
    PQclear(rb);
    bool exited = PQexitPipelineMode(pg);
    if (!exited || PQstatus(pg) != CONNECTION_OK) {
        if (begun && rs && PQstatus(pg) != CONNECTION_OK)
            return rs; /* lost after BEGIN: the statement's error reports it */
        /* still in pipeline mode on a live session (every later call would fail), or lost before BEGIN
         * ran: drop the session; the caller sends BEGIN alone on a new one and runs its first statement
         * there (nothing of this transaction was committed, nothing of it reached the caller) */
        PQclear(rs);
        db_disconnect(c); /* the pipeline's state is unknown: start over (nothing was committed) */
        c->in_tx = c->begin_pending = true;
        return NULL;
    }
    c->begin_pending = !begun;
    if (!begun) {
        PQclear(rs);
        return NULL;
    }
    return rs;
}

sm_rc db_exec(db_conn *c, db_stmt *st, const db_params *p, db_res **out, sm_err *err)
{
    if (out)
        *out = NULL;
    char head[100]; /* the statement's first words, for messages: made only when one is needed */
#define HEAD() (sql_head(st->sql, head, sizeof head), head)
    if (p && p->overflow)
        return sm_errf(err, SM_EINTERNAL, "database: too many parameters for %s", HEAD());
    if ((p ? p->n : 0) != st->nparams)
        return sm_errf(err, SM_EINTERNAL, "database: %s takes %d parameters, got %d", HEAD(), st->nparams, p ? p->n : 0);
    if (c->in_tx) {
        if (!c->pg)
            return sm_errf(err, SM_EDB, "database: connection lost earlier in this transaction");
        if (c->tx_failed)
            return sm_errf(err, SM_EDB, "database: the transaction already failed (%s)", HEAD());
    } else {
        drop_if_dead(c);
        sm_rc rc = db_connect(c, err);
        if (rc != SM_OK)
            return rc;
    }
    int id = stmt_id(st);
    if ((size_t)id >= c->nprepared) {
        size_t n = (size_t)id + 64;
        unsigned char *np = realloc(c->prepared, n);
        if (!np)
            return sm_errf(err, SM_ENOMEM, "database: out of memory");
        memset(np + c->nprepared, 0, n - c->nprepared);
        c->prepared = np;
        c->nprepared = n;
    }
    char name[24];
    snprintf(name, sizeof name, "s%d", id);
    PGresult *r = NULL;
    if (c->in_tx && c->npend && c->pg) {
        /* statements sent ahead: this one goes in their pipeline (a new one is prepared first, alone) */
        sm_rc rc = SM_OK;
        if (!c->prepared[id])
            rc = pend_sync(c, NULL, err);
        else if (send_prepared(c->pg, name, p))
            rc = pend_sync(c, &r, err);
        else if ((rc = pend_sync(c, NULL, err)) == SM_OK)
            rc = result_error(c, NULL, HEAD(), err);
        if (rc != SM_OK) {
            PQclear(r);
            return rc;
        }
        if (!c->pg)
            return sm_errf(err, SM_EDB, "database: connection lost earlier in this transaction");
    }
    if (c->in_tx && c->begin_pending && c->prepared[id])
        r = pipeline_begin(c, name, p);
    if (!r && c->in_tx && c->begin_pending) {
        sm_rc rc = flush_begin(c, err);
        if (rc != SM_OK)
            return rc;
    }
    if (!r && !c->prepared[id]) {
        PGresult *pr = PQprepare(c->pg, name, st->sql, st->nparams, NULL);
        if (PQresultStatus(pr) != PGRES_COMMAND_OK) {
            sm_rc rc = result_error(c, pr, HEAD(), err);
            PQclear(pr);
            return rc;
        }
        PQclear(pr);
        c->prepared[id] = 1;
    }
    if (!r)
        r = PQexecPrepared(c->pg, name, p ? p->n : 0, p ? p->v : NULL, p ? p->len : NULL, p ? p->fmt : NULL, 0);
    ExecStatusType s = PQresultStatus(r);
    if (s != PGRES_COMMAND_OK && s != PGRES_TUPLES_OK) {
        sm_rc rc = result_error(c, r, HEAD(), err);
        PQclear(r);
        return rc;
    }
    c->sqlstate[0] = 0;
    c->lost = false;
    if (out)
        *out = (db_res *)r;
    else
        PQclear(r);
    return SM_OK;
#undef HEAD
}

static sm_rc exec_later(db_conn *c, db_stmt *st, const db_params *p, bool with_begin, sm_err *err)
{
    int id = __atomic_load_n(&st->id, __ATOMIC_ACQUIRE);
    /* outside a transaction, before its first statement (unless with_begin: then it takes the BEGIN
     * along), without a session, after a failure, or a statement not prepared on this session yet: run
     * it now */
    if (!c->in_tx || (c->begin_pending && !with_begin) || !c->pg || c->tx_failed || id <= 0 ||
        (size_t)id >= c->nprepared || !c->prepared[id] || (p && p->overflow) || (p ? p->n : 0) != st->nparams)
        return db_exec(c, st, p, NULL, err);
    if (!c->npend && !PQenterPipelineMode(c->pg))
        return db_exec(c, st, p, NULL, err);
    char name[24];
    snprintf(name, sizeof name, "s%d", id);
    bool begin = c->begin_pending;
    if (begin) {
        /* db_exec_ahead as the transaction's first statement: its BEGIN goes ahead with it (db_begin
         * found the session alive; one lost since fails this transaction, which was not committed) */
        c->begin_pending = false;
        if (PQsendQueryParams(c->pg, "BEGIN", 0, NULL, NULL, NULL, NULL, 0))
            c->pend[c->npend++] = "BEGIN";
    }
    if ((begin && !c->npend) || !send_prepared(c->pg, name, p)) {
        char head[100];
        sql_head(st->sql, head, sizeof head);
        sm_rc rc = c->npend ? pend_sync(c, NULL, err) : (PQexitPipelineMode(c->pg), SM_OK);
        if (rc == SM_OK && c->pg)
            rc = result_error(c, NULL, head, err);
        c->tx_failed = true;
        return rc != SM_OK ? rc : sm_errf(err, SM_EDB, "database: sending %s failed", head);
    }
    c->pend[c->npend++] = st->sql;
    if (c->npend >= DB_PEND_MAX)
        return pend_sync(c, NULL, err);
    return SM_OK;
}

sm_rc db_exec_later(db_conn *c, db_stmt *st, const db_params *p, sm_err *err)
{
    return exec_later(c, st, p, false, err);
}

sm_rc db_exec_ahead(db_conn *c, db_stmt *st, const db_params *p, sm_err *err)
{
    return exec_later(c, st, p, true, err);
}

/* Readies the session for a statement sent outside the pipeline and its BEGIN (a script, COPY): connected
 * outside a transaction; inside one, its BEGIN sent and the statements sent ahead read. */
static sm_rc direct_ready(db_conn *c, sm_err *err)
{
    if (!c->in_tx) {
        drop_if_dead(c);
        return db_connect(c, err);
    }
    if (!c->pg || c->tx_failed)
        return sm_errf(err, SM_EDB, "database: the transaction already failed");
    sm_rc rc = pend_flush(c, err);
    return rc == SM_OK ? flush_begin(c, err) : rc;
}

sm_rc db_exec_script(db_conn *c, const char *sql, sm_err *err)
{
    sm_rc ready = direct_ready(c, err);
    if (ready != SM_OK)
        return ready;
    PGresult *r = PQexec(c->pg, sql);
    ExecStatusType s = PQresultStatus(r);
    sm_rc rc = SM_OK;
    if (s != PGRES_COMMAND_OK && s != PGRES_TUPLES_OK) {
        char head[100];
        sql_head(sql, head, sizeof head);
        rc = result_error(c, r, head, err);
    }
    PQclear(r);
    return rc;
}

/* ---- results ------------------------------------------------------------------------------------ */

#define PGR(r) ((const PGresult *)(r))

int db_res_rows(const db_res *r) { return r ? PQntuples(PGR(r)) : 0; }

long db_res_affected(const db_res *r)
{
    const char *s = r ? PQcmdTuples((PGresult *)PGR(r)) : "";
    return *s ? strtol(s, NULL, 10) : 0;
}

bool db_res_null(const db_res *r, int row, int col) { return PQgetisnull(PGR(r), row, col) != 0; }

const char *db_res_text(const db_res *r, int row, int col)
{
    if (!r || row >= PQntuples(PGR(r)) || col >= PQnfields(PGR(r)))
        return "";
    return PQgetvalue(PGR(r), row, col);
}

int64_t db_res_int(const db_res *r, int row, int col) { return strtoll(db_res_text(r, row, col), NULL, 10); }

bool db_res_bool(const db_res *r, int row, int col) { return db_res_text(r, row, col)[0] == 't'; }

sm_rc db_res_copy(const db_res *r, int row, int col, char *out, size_t cap, sm_err *err)
{
    const char *s = db_res_text(r, row, col);
    size_t n = strlen(s);
    if (n >= cap)
        return sm_errf(err, SM_ELIMIT, "database: value of column %d longer than %zu", col, cap - 1);
    memcpy(out, s, n + 1);
    return SM_OK;
}

sm_rc db_bytea_by_id(db_conn *c, db_stmt *st, int64_t id, size_t want, const char *what, uint8_t **out,
                     sm_err *err)
{
    *out = NULL;
    db_params p;
    db_params_init(&p);
    db_p_int(&p, id);
    db_res *r = NULL;
    size_t len = 0;
    sm_rc rc = db_exec(c, st, &p, &r, err);
    if (rc == SM_OK && db_res_rows(r) != 1)
        rc = sm_errf(err, SM_ENOTFOUND, "database: no %s for %lld", what, (long long)id);
    if (rc == SM_OK)
        rc = db_res_bytea(r, 0, 0, out, &len, err);
    if (rc == SM_OK && len != want) {
        rc = sm_errf(err, SM_EINTERNAL, "database: the %s of %lld is %zu bytes, not %zu", what, (long long)id, len,
                     want);
        free(*out);
        *out = NULL;
    }
    db_res_free(r);
    return rc;
}

sm_rc db_res_bytea(const db_res *r, int row, int col, uint8_t **out, size_t *len, sm_err *err)
{
    *out = NULL;
    *len = 0;
    if (db_res_null(r, row, col))
        return SM_OK;
    const char *s = db_res_text(r, row, col);
    if (strncmp(s, "\\x", 2) != 0)
        return sm_errf(err, SM_EDB, "database: bytea column %d not in hex output format", col);
    size_t n = strlen(s + 2) / 2;
    uint8_t *b = malloc(n ? n : 1);
    if (!b)
        return sm_errf(err, SM_ENOMEM, "database: out of memory");
    size_t got = 0;
    if (n && sm_hex_decode(s + 2, b, n, &got, err) != SM_OK) {
        free(b);
        return SM_EDB;
    }
    *out = b;
    *len = got;
    return SM_OK;
}

sm_rc db_res_bytea_into(const db_res *r, int row, int col, uint8_t *out, size_t cap, size_t *len, sm_err *err)
{
    *len = 0;
    if (db_res_null(r, row, col))
        return SM_OK;
    const char *s = db_res_text(r, row, col);
    if (strncmp(s, "\\x", 2) != 0)
        return sm_errf(err, SM_EDB, "database: bytea column %d not in hex output format", col);
    if (strlen(s + 2) / 2 > cap)
        return sm_errf(err, SM_ELIMIT, "database: bytea column %d longer than %zu bytes", col, cap);
    if (!s[2])
        return SM_OK;
    return sm_hex_decode(s + 2, out, cap, len, err);
}

void db_res_free(db_res *r)
{
    if (r)
        PQclear((PGresult *)r);
}

/* ---- COPY ---------------------------------------------------------------------------------------- */

sm_rc db_copy_begin(db_conn *c, const char *copy_sql, sm_err *err)
{
    sm_rc ready = direct_ready(c, err);
    if (ready != SM_OK)
        return ready;
    PGresult *r = PQexec(c->pg, copy_sql);
    if (PQresultStatus(r) != PGRES_COPY_IN) {
        sm_rc rc = result_error(c, r, "COPY", err);
        PQclear(r);
        return rc;
    }
    PQclear(r);
    return SM_OK;
}

sm_rc db_copy_row(db_conn *c, const char *const *fields, int n, sm_err *err)
{
    char stackbuf[2048];
    char *buf = stackbuf;
    size_t cap = sizeof stackbuf, len = 0;
    for (int i = 0; i < n; i++) {
        const char *f = fields[i];
        size_t need = f ? 2 * strlen(f) + 2 : 3;
        if (len + need + 1 > cap) {
            size_t ncap = (len + need + 1) * 2;
            char *nb = buf == stackbuf ? malloc(ncap) : realloc(buf, ncap);
            if (!nb) {
                if (buf != stackbuf)
                    free(buf);
                return sm_errf(err, SM_ENOMEM, "database: out of memory in COPY");
            }
            if (buf == stackbuf)
                memcpy(nb, stackbuf, len);
            buf = nb;
            cap = ncap;
        }
        if (i)
            buf[len++] = '\t';
        if (!f) {
            buf[len++] = '\\';
            buf[len++] = 'N';
            continue;
        }
        for (const char *s = f; *s; s++) {
            switch (*s) {
            case '\\': buf[len++] = '\\'; buf[len++] = '\\'; break;
            case '\t': buf[len++] = '\\'; buf[len++] = 't'; break;
            case '\n': buf[len++] = '\\'; buf[len++] = 'n'; break;
            case '\r': buf[len++] = '\\'; buf[len++] = 'r'; break;
            default: buf[len++] = *s;
            }
        }
    }
    buf[len++] = '\n';
    int ok = PQputCopyData(c->pg, buf, (int)len);
    if (buf != stackbuf)
        free(buf);
    if (ok != 1) {
        char m[300];
        oneline(PQerrorMessage(c->pg), m, sizeof m);
        return sm_errf(err, SM_EDB, "database: COPY data: %s", m);
    }
    return SM_OK;
}

sm_rc db_copy_end(db_conn *c, long *rows, sm_err *err)
{
    if (PQputCopyEnd(c->pg, NULL) != 1) {
        char m[300];
        oneline(PQerrorMessage(c->pg), m, sizeof m);
        return sm_errf(err, SM_EDB, "database: ending COPY: %s", m);
    }
    PGresult *r = PQgetResult(c->pg);
    sm_rc rc = SM_OK;
    if (PQresultStatus(r) != PGRES_COMMAND_OK)
        rc = result_error(c, r, "COPY", err);
    else if (rows)
        *rows = db_res_affected((db_res *)r);
    PQclear(r);
    while ((r = PQgetResult(c->pg)))
        PQclear(r);
    return rc;
}

/* ---- notifications ---------------------------------------------------------------------------- */

struct db_listener {
    PGconn *pg;
    char channel[64];
};

sm_rc db_listener_open(db_pool *p, const char *channel, db_listener **out, sm_err *err)
{
    *out = NULL;
    size_t cl = channel ? strlen(channel) : 0;
    if (cl == 0 || cl > 63 || strspn(channel, "abcdefghijklmnopqrstuvwxyz0123456789_") != cl)
        return sm_errf(err, SM_EINVAL, "database: bad notification channel name");
    if (!p || !p->configured)
        return sm_errf(err, SM_ESTATE, "database: not configured yet");
    char app[160];
    snprintf(app, sizeof app, "%s-listen", p->app_name);
    PGconn *pg = NULL;
    sm_rc rc = open_session(p, app, "listener ", &pg, err);
    if (rc != SM_OK)
        return rc;
    char m[400];
    char sql[80];
    snprintf(sql, sizeof sql, "LISTEN %s", channel); /* an identifier checked above, never input */
    PGresult *r = PQexec(pg, sql);
    ExecStatusType st = PQresultStatus(r);
    PQclear(r);
    if (st != PGRES_COMMAND_OK) {
        oneline(PQerrorMessage(pg), m, sizeof m);
        PQfinish(pg);
        return sm_errf(err, SM_EDB, "database: LISTEN %s on %s: %s", channel, p->target, m);
    }
    db_listener *l = calloc(1, sizeof *l);
    if (!l) {
        PQfinish(pg);
        return sm_errf(err, SM_ENOMEM, "database: out of memory");
    }
    l->pg = pg;
    snprintf(l->channel, sizeof l->channel, "%s", channel);
    *out = l;
    return SM_OK;
}

int db_listener_fd(const db_listener *l) { return l && l->pg ? PQsocket(l->pg) : -1; }

int db_listener_backend_pid(const db_listener *l)
{
    return l && l->pg && PQstatus(l->pg) == CONNECTION_OK ? PQbackendPID(l->pg) : 0;
}

sm_rc db_listener_read(db_listener *l, const char *ignore, int *n, sm_err *err)
{
    *n = 0;
    if (!l || !l->pg)
        return sm_errf(err, SM_EDB, "database: the listener has no session");
    /* libpq keeps its socket non-blocking: this reads what has arrived and returns */
    if (!PQconsumeInput(l->pg) || PQstatus(l->pg) != CONNECTION_OK) {
        char m[400];
        oneline(PQerrorMessage(l->pg), m, sizeof m);
        return sm_errf(err, SM_EDB, "database: the listening session on %s was lost: %s", l->channel, m);
    }
    PGnotify *nf;
    while ((nf = PQnotifies(l->pg))) {
        if (!strcmp(nf->relname, l->channel) && !(ignore && nf->extra && !strcmp(nf->extra, ignore)))
            (*n)++;
        PQfreemem(nf);
    }
    return SM_OK;
}

void db_listener_close(db_listener *l)
{
    if (!l)
        return;
    if (l->pg)
        PQfinish(l->pg);
    free(l);
}
