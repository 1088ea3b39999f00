/* Answers to procedure requests as procedure step data. */
#include "net/es_answer.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "db/proc.h"
#include "net/rest.h"

#define MAGIC "smbox-es-answer/1\n"
#define MID_PREFIX "urn:smbox:proc:"

sm_rc es_answer_encode(const es_answer *a, sm_buf *out, sm_err *err)
{
    if (!a->fn)
        return sm_errf(err, SM_EINVAL, "es answer: no function");
    if (strchr(a->relates_to, '\n'))
        return sm_errf(err, SM_EINVAL, "es answer: MessageID with a line break");
    es_msg m = {.fn = a->fn, .kind = ES_KIND_RESPONSE, .status = a->status, .body = a->body};
    snprintf(m.hdr.relates_to, sizeof m.hdr.relates_to, "%s", a->relates_to);
    sm_buf_printf(out, MAGIC "%s.%s\n%s\n%d\n\n", es_iface_name(a->fn->iface), a->fn->name, a->relates_to, a->http);
    sm_rc rc = rest_encode(&m, out, err);
    if (rc == SM_OK && out->failed)
        rc = sm_errf(err, SM_ENOMEM, "es answer: out of memory");
    return rc;
}

/* one header line into out (cap bytes with its NUL); advances *off past the LF */
static bool line(const uint8_t *p, size_t len, size_t *off, char *out, size_t cap)
{
    const uint8_t *nl = memchr(p + *off, '\n', len - *off);
    if (!nl)
        return false;
    size_t n = (size_t)(nl - (p + *off));
    if (n >= cap)
        return false;
    for (size_t i = 0; i < n; i++)
        if (p[*off + i] < 0x20 || p[*off + i] > 0x7E)
            return false;
    memcpy(out, p + *off, n);
    out[n] = 0;
    *off += n + 1;
    return true;
}

sm_rc es_answer_decode(const uint8_t *p, size_t len, es_answer *out, sm_err *err)
{
    memset(out, 0, sizeof *out);
    size_t ml = strlen(MAGIC), off = ml;
    if (len > ES_ANSWER_MAX)
        return sm_errf(err, SM_ELIMIT, "es answer: record of %zu bytes over %u", len, ES_ANSWER_MAX);
    if (len < ml || memcmp(p, MAGIC, ml))
        return sm_errf(err, SM_EPARSE, "es answer: not an answer record");
    char qname[96], http[16], empty[4];
    if (!line(p, len, &off, qname, sizeof qname) || !line(p, len, &off, out->relates_to, sizeof out->relates_to) ||
        !line(p, len, &off, http, sizeof http) || !line(p, len, &off, empty, sizeof empty) || empty[0])
        return sm_errf(err, SM_EPARSE, "es answer: malformed header");
    out->fn = es_function_by_qname(qname);
    if (!out->fn)
        return sm_errf(err, SM_EPARSE, "es answer: unknown function %s", qname);
    char *end = NULL;
    long h = strtol(http, &end, 10);
    if (!http[0] || *end || h < 0 || h > 999)
        return sm_errf(err, SM_EPARSE, "es answer: bad HTTP status");
    out->http = (int)h;
    json_limits lim = {.max_bytes = ES_ANSWER_MAX, .max_depth = 64, .max_nodes = 200000};
    es_msg m;
    es_status fst;
    sm_rc rc = rest_decode((const char *)p + off, len - off, &lim, out->fn, ES_KIND_RESPONSE, &m, &fst, err);
    if (rc != SM_OK) {
        sm_err_prefix(err, "es answer");
        return rc;
    }
    if (fst.exec != ES_EXEC_SUCCESS) {
        /* the peer's fields did not validate: keep what the status says, drop the fields */
        out->status = fst;
        es_value_free(m.body);
        m.body = NULL;
    } else {
        out->status = m.status;
    }
    out->body = m.body;
    m.body = NULL;
    es_msg_clear(&m);
    return SM_OK;
}

void es_answer_clear(es_answer *a)
{
    es_value_free(a->body);
    memset(a, 0, sizeof *a);
}

int64_t es_answer_proc_of(const char *mid)
{
    size_t pl = strlen(MID_PREFIX);
    if (!mid || strncmp(mid, MID_PREFIX, pl))
        return 0;
    const char *p = mid + pl;
    int64_t v = 0;
    size_t n = 0;
    for (; p[n] >= '0' && p[n] <= '9'; n++) {
        if (n >= 18)
            return 0;
        v = v * 10 + (p[n] - '0');
    }
    if (n == 0 || p[n] != ':')
        return 0;
    return v;
}

void es_answer_message_id(int64_t proc_id, int n, char *out, size_t cap)
{
    snprintf(out, cap, MID_PREFIX "%" PRId64 ":%d", proc_id, n);
}

/* Keeps the answer and wakes the procedure in one statement. A step of the procedure running now holds
 * its row lock: the UPDATE waits for that step's outcome and then sees the row as the step left it
 * (READ COMMITTED re-checks its condition on the new version), so an answer arriving during the step
 * wakes the procedure the step parked, or stays kept when it did not park. */
DB_STMT(q_keep_wake, 3,
        "WITH k AS (INSERT INTO proc_answer (proc_id, relates_to, answer) VALUES ($1, $2, $3) ON CONFLICT DO NOTHING), "
        "w AS (UPDATE proc SET state = 'ready', next_run_at = now(), data = $3, updated_at = now() "
        "WHERE id = $1 AND state = 'waiting' RETURNING 1) "
        "SELECT (SELECT count(*) FROM w), EXISTS (SELECT 1 FROM proc WHERE id = $1)");
DB_STMT(q_take, 2, "DELETE FROM proc_answer WHERE proc_id = $1 AND relates_to = $2 RETURNING answer");
DB_STMT(q_forget, 1, "DELETE FROM proc_answer WHERE proc_id = $1");

struct wake_args {
    int64_t id;
    const char *relates_to;
    const uint8_t *d;
    size_t len;
    bool waiting;
};

static sm_rc do_wake(db_conn *c, void *arg, sm_err *err)
{
    struct wake_args *a = arg;
    db_params p;
    db_params_init(&p);
    db_p_int(&p, a->id);
    db_p_text(&p, a->relates_to);
    db_p_bytea(&p, a->d, a->len);
    db_res *r = NULL;
    sm_rc rc = db_exec(c, &q_keep_wake, &p, &r, err);
    if (rc == SM_OK && !db_res_bool(r, 0, 1))
        rc = sm_errf(err, SM_ENOTFOUND, "es answer: no procedure %lld", (long long)a->id);
    /* not waiting: the answer stays kept (the transaction must commit), the caller hears SM_ESTATE */
    a->waiting = rc == SM_OK && db_res_int(r, 0, 0) == 1;
    db_res_free(r);
    return rc;
}

sm_rc es_answer_wake(db_conn *c, int64_t proc_id, const es_answer *a, sm_err *err)
{
    sm_buf b;
    sm_buf_init(&b);
    sm_rc rc = es_answer_encode(a, &b, err);
    if (rc == SM_OK) {
        struct wake_args wa = {proc_id, a->relates_to, b.data, b.len, false};
        rc = db_tx(c, do_wake, &wa, err);
        if (rc == SM_OK && !wa.waiting)
            rc = sm_errf(err, SM_ESTATE, "procedure %lld is not waiting: the answer is kept for it",
                         (long long)proc_id);
    }
    sm_buf_free(&b);
    return rc;
}

sm_rc es_answer_take(db_conn *c, int64_t proc_id, const char *relates_to, es_answer *out, bool *found, sm_err *err)
{
    memset(out, 0, sizeof *out);
    *found = false;
    db_params p;
    db_params_init(&p);
    db_p_int(&p, proc_id);
    db_p_text(&p, relates_to);
    db_res *r = NULL;
    uint8_t *d = NULL;
    size_t len = 0;
    sm_rc rc = db_exec(c, &q_take, &p, &r, err);
    if (rc == SM_OK && db_res_rows(r) == 1 && (rc = db_res_bytea(r, 0, 0, &d, &len, err)) == SM_OK) {
        rc = es_answer_decode(d, len, out, err);
        *found = rc == SM_OK;
    }
    free(d);
    db_res_free(r);
    return rc;
}

sm_rc es_answer_forget(db_conn *c, int64_t proc_id, sm_err *err)
{
    db_params p;
    db_params_init(&p);
    db_p_int(&p, proc_id);
    return db_exec(c, &q_forget, &p, NULL, err);
}
