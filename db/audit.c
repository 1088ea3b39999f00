/* The audit trail: hash-chained entries, signed checkpoints, verification and bundles. */
#include "db/audit.h"

#include <stdarg.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/core_names.h>
#include <openssl/evp.h>
#include <openssl/params.h>
#include <openssl/sha.h>

#include "lib/buf.h"
#include "lib/hex.h"
#include "lib/log.h"

#define CKPT_CHAIN "#checkpoint"
#define HL DB_AUDIT_HASHLEN

static const uint8_t ZERO[HL];

/* ---- canonical encodings (shared by writer and verifiers: they cannot drift apart) ---------------- */

static void put_u64(sm_buf *b, uint64_t v)
{
    uint8_t x[8];
    for (int i = 7; i >= 0; i--, v >>= 8)
        x[i] = (uint8_t)v;
    sm_buf_append(b, x, 8);
}

static void put_str(sm_buf *b, const char *s)
{
    size_t n = s ? strlen(s) : 0;
    uint8_t x[4] = {(uint8_t)(n >> 24), (uint8_t)(n >> 16), (uint8_t)(n >> 8), (uint8_t)n};
    sm_buf_append(b, x, 4);
    sm_buf_append(b, s ? s : "", n);
}

typedef struct entry {
    int64_t id;
    const char *chain;
    int64_t seq;
    int64_t at_us;
    const char *node, *actor, *action, *object, *outcome, *details;
    uint8_t prev[HL];
    uint8_t hash[HL];
} entry;

/* The entry's encoding is cut around the two values only the database knows when it is written (seq
 * and at_us) and the predecessor's hash: head = tag || str(chain), fields = str(node) .. str(details).
 * The writer sends head and fields and lets the statement hash head || u64(seq) || u64(at_us) ||
 * fields || prev_hash (int8send is u64 big-endian); the verifiers hash the same pieces here. */
static void entry_head(sm_buf *b, const entry *e)
{
    sm_buf_append(b, "smbox-audit-entry-v1", 21); /* with its NUL */
    put_str(b, e->chain);
}

static void entry_fields(sm_buf *b, const entry *e)
{
    put_str(b, e->node);
    put_str(b, e->actor);
    put_str(b, e->action);
    put_str(b, e->object);
    put_str(b, e->outcome);
    put_str(b, e->details);
}

static int entry_hash_at(const entry *e, int64_t seq, uint8_t out[HL])
{
    sm_buf b;
    sm_buf_init(&b);
    entry_head(&b, e);
    put_u64(&b, (uint64_t)seq);
    put_u64(&b, (uint64_t)e->at_us);
    entry_fields(&b, e);
    sm_buf_append(&b, e->prev, HL);
    int ok = !b.failed;
    if (ok)
        SHA256(b.data, b.len, out);
    sm_buf_free(&b);
    return ok ? 0 : -1;
}

typedef struct ckpt {
    int64_t seq;
    int64_t at_us;
    const char *node;
    int64_t total;
    const char *heads;
    uint8_t prev[HL];
    uint8_t hash[HL];
    uint8_t key_id[HL];
    uint8_t sig[72];
    size_t siglen;
} ckpt;

static int ckpt_hash(const ckpt *k, uint8_t out[HL])
{
    sm_buf b;
    sm_buf_init(&b);
    sm_buf_append(&b, "smbox-audit-checkpoint-v1", 26);
    put_u64(&b, (uint64_t)k->seq);
    put_u64(&b, (uint64_t)k->at_us);
    put_str(&b, k->node);
    put_u64(&b, (uint64_t)k->total);
    put_str(&b, k->heads);
    sm_buf_append(&b, k->prev, HL);
    sm_buf_append(&b, k->key_id, HL);
    int ok = !b.failed;
    if (ok)
        SHA256(b.data, b.len, out);
    sm_buf_free(&b);
    return ok ? 0 : -1;
}

/* ---- append -------------------------------------------------------------------------------------- */

DB_STMT(q_head, 1,
        "SELECT seq, hash, (extract(epoch FROM clock_timestamp()) * 1000000)::bigint "
        "FROM audit_chain WHERE chain = $1 FOR UPDATE");
DB_STMT(q_head_new, 2, "INSERT INTO audit_chain (chain, seq, hash) VALUES ($1, 0, $2) ON CONFLICT DO NOTHING");
/* One round trip: lock the head, read the database clock, hash, insert the entry, move the head. The
 * head CTE's FOR UPDATE waits for a concurrent appender to the same chain and then reads the head as
 * it left it (READ COMMITTED re-check); the final UPDATE finds that version locked by this statement.
 * No row back: the chain has no head yet (or a malformed one). */
#define APPEND_CTES                                                                                          \
    "WITH o AS (SELECT seq + 1 AS seq, hash AS prev, "                                                   \
    "(extract(epoch FROM clock_timestamp()) * 1000000)::bigint AS at_us "                                \
    "FROM audit_chain WHERE chain = $1 AND octet_length(hash) = 32 FOR UPDATE), "                        \
    "n AS (SELECT seq, prev, at_us, sha256($2::bytea || int8send(seq) || int8send(at_us) || $3::bytea || prev) " \
    "AS hash FROM o), "                                                                                  \
    "e AS (INSERT INTO audit_log (chain, seq, at_us, node, actor, action, object, outcome, details, "     \
    "prev_hash, hash) SELECT $1, seq, at_us, $4, $5, $6, $7, $8, $9, prev, hash FROM n RETURNING chain, seq, hash) "
#define APPEND_HEAD "UPDATE audit_chain h SET seq = e.seq, hash = e.hash, updated_at = now() FROM e WHERE h.chain = e.chain " \
                    "RETURNING h.seq"
DB_STMT(q_append, 9, APPEND_CTES APPEND_HEAD);
/* The same, sent ahead (db_exec_later) once the chain's head is known to exist: it then has to fail, not
 * do nothing, if the head is missing after all. Without a row the message itself is cast to bigint,
 * which fails naming it (no function of ours: migrations append before any would exist). */
DB_STMT(q_append_later, 9,
        APPEND_CTES ", u AS (" APPEND_HEAD ") SELECT coalesce((SELECT seq::text FROM u), 'audit: the head of chain ' "
                    "|| $1 || ' is missing or malformed')::bigint");

static void head_known(void *arg) { db_conn_set_lane_head(arg); }

static bool clean_name(const char *s)
{
    if (!s || !*s || s[0] == '#')
        return false;
    for (; *s; s++)
        if ((unsigned char)*s < 0x20)
            return false;
    return true;
}

/* Appends e to its chain, which is always c's lane (db_audit_append). */
static sm_rc append_in_tx(db_conn *c, const entry *e, sm_err *err)
{
    sm_buf head, fields;
    sm_buf_init(&head);
    sm_buf_init(&fields);
    entry_head(&head, e);
    entry_fields(&fields, e);
    if (head.failed || fields.failed) {
        sm_buf_free(&head);
        sm_buf_free(&fields);
        return sm_errf(err, SM_ENOMEM, "audit: out of memory");
    }
    sm_rc rc = SM_OK;
    /* the chain is the connection's lane (db_audit_append): once a committed append has shown its head,
     * no round trip of its own */
    bool later = db_conn_lane_head(c);
    for (int attempt = 0; rc == SM_OK; attempt++) {
        db_params p;
        db_params_init(&p);
        db_p_text(&p, e->chain);
        db_p_bytea(&p, head.data, head.len);
        db_p_bytea(&p, fields.data, fields.len);
        db_p_text(&p, e->node);
        db_p_text(&p, e->actor);
        db_p_text(&p, e->action);
        db_p_text(&p, e->object);
        db_p_text(&p, e->outcome);
        db_p_text(&p, e->details);
        if (later) {
            rc = db_exec_later(c, &q_append_later, &p, err);
            break;
        }
        db_res *r = NULL;
        rc = db_exec(c, &q_append, &p, &r, err);
        int rows = rc == SM_OK ? db_res_rows(r) : 0;
        db_res_free(r);
        if (rc == SM_OK && rows == 1)
            db_on_commit(c, head_known, c);
        if (rc != SM_OK || rows == 1)
            break;
        if (attempt > 0) {
            rc = sm_errf(err, SM_EDB, "audit: chain head %s is missing or malformed after creating it", e->chain);
            break;
        }
        /* first entry of this chain: create its head, then append again */
        db_params_init(&p);
        db_p_text(&p, e->chain);
        db_p_bytea(&p, ZERO, HL);
        rc = db_exec(c, &q_head_new, &p, NULL, err);
    }
    sm_buf_free(&head);
    sm_buf_free(&fields);
    return rc;
}

sm_rc db_audit_append(db_conn *c, const char *actor, const char *action, const char *object, const char *outcome,
                      const char *details, sm_err *err)
{
    entry e = {0};
    e.chain = db_conn_lane(c);
    e.node = db_pool_node(db_conn_pool(c));
    e.actor = actor && *actor ? actor : "-";
    e.action = action && *action ? action : "-";
    e.object = object ? object : "";
    e.outcome = outcome && *outcome ? outcome : "-";
    e.details = details ? details : "";
    if (!clean_name(e.chain))
        return sm_errf(err, SM_EINVAL, "audit: invalid chain name");
    sm_rc rc;
    if (db_in_tx(c)) {
        rc = append_in_tx(c, &e, err);
    } else {
        rc = db_begin(c, err);
        if (rc == SM_OK)
            rc = append_in_tx(c, &e, err);
        if (rc == SM_OK)
            rc = db_commit(c, err);
        else
            db_rollback(c);
    }
    if (rc != SM_OK)
        sm_err_prefix(err, "audit: appending %s", e.action);
    return rc;
}

sm_rc db_audit_appendf(db_conn *c, sm_err *err, const char *actor, const char *action, const char *object,
                       const char *outcome, const char *fmt, ...)
{
    char details[2048];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(details, sizeof details, fmt ? fmt : "", ap);
    va_end(ap);
    return db_audit_append(c, actor, action, object, outcome, details, err);
}

/* ---- checkpoints ------------------------------------------------------------------------------- */

DB_STMT(q_heads, 0,
        "SELECT chain, seq, hash FROM audit_chain WHERE chain NOT LIKE '#%' AND seq > 0 ORDER BY chain COLLATE \"C\"");
DB_STMT(q_last_ckpt, 0,
        "SELECT total, at_us, (extract(epoch FROM clock_timestamp()) * 1000000)::bigint "
        "FROM audit_checkpoint ORDER BY seq DESC LIMIT 1");
DB_STMT(q_now_us, 0, "SELECT (extract(epoch FROM clock_timestamp()) * 1000000)::bigint");
DB_STMT(q_key_put, 3, "INSERT INTO audit_key (key_id, label, pubkey) VALUES ($1, $2, $3) ON CONFLICT DO NOTHING");
DB_STMT(q_ckpt_put, 9,
        "INSERT INTO audit_checkpoint (seq, at_us, node, total, heads, prev_hash, hash, key_id, signature) "
        "VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)");
DB_STMT(q_ckpt_head_set, 3, "UPDATE audit_chain SET seq = $2, hash = $3, updated_at = now() WHERE chain = $1");

sm_rc db_audit_signer_init(db_audit_signer *s, hsm_sess *sess, const hsm_key *priv, const hsm_key *pub,
                           const char *label, sm_err *err)
{
    memset(s, 0, sizeof *s);
    s->sess = sess;
    s->priv = *priv;
    s->label = label ? label : "audit";
    hsm_curve curve;
    sm_rc rc = hsm_ec_public(sess, pub, s->pub, sizeof s->pub, &s->publen, &curve, err);
    if (rc != SM_OK)
        return rc;
    if (curve != HSM_CURVE_P256 || s->publen != 65)
        return sm_errf(err, SM_EINVAL, "audit: the audit key must be a P-256 key");
    return SM_OK;
}

sm_rc db_audit_checkpoint(db_conn *c, const db_audit_signer *s, const db_audit_policy *pol, bool *written,
                          sm_err *err)
{
    if (written)
        *written = false;
    if (db_in_tx(c))
        return sm_errf(err, SM_ESTATE, "audit: checkpoint inside a transaction");
    long every = pol && pol->every > 0 ? pol->every : 1000;
    long max_age = pol && pol->max_age_s > 0 ? pol->max_age_s : 60;
    sm_buf heads;
    sm_buf_init(&heads);
    db_res *r = NULL;
    db_params p;
    sm_rc rc = db_begin(c, err);
    if (rc != SM_OK)
        return rc;
    /* the checkpoint chain's head serialises checkpoint writers (several nodes tick) */
    db_params_init(&p);
    db_p_text(&p, CKPT_CHAIN);
    rc = db_exec(c, &q_head, &p, &r, err);
    if (rc == SM_OK && db_res_rows(r) == 0) {
        db_res_free(r);
        r = NULL;
        db_params_init(&p);
        db_p_text(&p, CKPT_CHAIN);
        db_p_bytea(&p, ZERO, HL);
        rc = db_exec(c, &q_head_new, &p, NULL, err);
        db_params_init(&p);
        db_p_text(&p, CKPT_CHAIN);
        if (rc == SM_OK)
            rc = db_exec(c, &q_head, &p, &r, err);
    }
    ckpt k = {0};
    size_t hl = 0;
    if (rc == SM_OK) {
        k.seq = db_res_int(r, 0, 0) + 1;
        rc = db_res_bytea_into(r, 0, 1, k.prev, HL, &hl, err);
    }
    db_res_free(r);
    r = NULL;
    int64_t last_total = 0, last_at = 0, now_us = 0;
    bool have_last = false;
    if (rc == SM_OK)
        rc = db_exec(c, &q_last_ckpt, NULL, &r, err);
    if (rc == SM_OK && db_res_rows(r) == 1) {
        have_last = true;
        last_total = db_res_int(r, 0, 0);
        last_at = db_res_int(r, 0, 1);
    }
    db_res_free(r);
    r = NULL;
    if (rc == SM_OK)
        rc = db_exec(c, &q_now_us, NULL, &r, err);
    if (rc == SM_OK)
        now_us = db_res_int(r, 0, 0);
    db_res_free(r);
    r = NULL;
    if (rc == SM_OK)
        rc = db_exec(c, &q_heads, NULL, &r, err);
    int64_t total = 0;
    for (int i = 0; rc == SM_OK && i < db_res_rows(r); i++) {
        uint8_t h[HL];
        size_t l = 0;
        rc = db_res_bytea_into(r, i, 2, h, HL, &l, err);
        char hex[2 * HL + 1];
        sm_hex_encode(h, HL, hex);
        total += db_res_int(r, i, 1);
        sm_buf_printf(&heads, "%s\t%lld\t%s\n", db_res_text(r, i, 0), (long long)db_res_int(r, i, 1), hex);
    }
    db_res_free(r);
    r = NULL;
    bool due = total > last_total &&
               (!pol || !have_last || total - last_total >= every || now_us - last_at >= max_age * 1000000LL);
    if (rc != SM_OK || !due || heads.failed) {
        db_rollback(c);
        sm_buf_free(&heads);
        if (rc == SM_OK && heads.failed)
            rc = sm_errf(err, SM_ENOMEM, "audit: out of memory");
        return rc;
    }
    k.at_us = now_us;
    k.node = db_pool_node(db_conn_pool(c));
    k.total = total;
    k.heads = (const char *)heads.data;
    SHA256(s->pub, s->publen, k.key_id);
    ckpt_hash(&k, k.hash);
    rc = hsm_ecdsa_sign(s->sess, &s->priv, k.hash, HL, k.sig, sizeof k.sig, &k.siglen, err);
    if (rc == SM_OK) {
        db_params_init(&p);
        db_p_bytea(&p, k.key_id, HL);
        db_p_text(&p, s->label);
        db_p_bytea(&p, s->pub, s->publen);
        rc = db_exec(c, &q_key_put, &p, NULL, err);
    }
    if (rc == SM_OK) {
        db_params_init(&p);
        db_p_int(&p, k.seq);
        db_p_int(&p, k.at_us);
        db_p_text(&p, k.node);
        db_p_int(&p, k.total);
        db_p_text(&p, k.heads);
        db_p_bytea(&p, k.prev, HL);
        db_p_bytea(&p, k.hash, HL);
        db_p_bytea(&p, k.key_id, HL);
        db_p_bytea(&p, k.sig, k.siglen);
        rc = db_exec(c, &q_ckpt_put, &p, NULL, err);
    }
    if (rc == SM_OK) {
        db_params_init(&p);
        db_p_text(&p, CKPT_CHAIN);
        db_p_int(&p, k.seq);
        db_p_bytea(&p, k.hash, HL);
        rc = db_exec(c, &q_ckpt_head_set, &p, NULL, err);
    }
    sm_buf_free(&heads);
    if (rc == SM_OK)
        rc = db_commit(c, err);
    else
        db_rollback(c);
    if (rc != SM_OK) {
        sm_err_prefix(err, "audit: writing checkpoint");
        return rc;
    }
    if (written)
        *written = true;
    sm_log(SM_LOG_INFO, "audit", "checkpoint", "seq=%lld total=%lld", (long long)k.seq, (long long)total);
    return SM_OK;
}

/* ---- verification core -------------------------------------------------------------------------- */

typedef struct vkey {
    uint8_t id[HL];
    uint8_t pub[65];
    EVP_PKEY *pk;
} vkey;

typedef struct expect {
    char *chain;
    int64_t seq;
    uint8_t hash[HL];
    int64_t ckpt;
} expect;

typedef struct anchor_s {
    char *chain;
    int64_t seq;
    uint8_t hash[HL];
} anchor_t;

/* finds the sequence number of the entry of a chain with a given hash (for reorder diagnostics) */
typedef int (*find_fn)(void *ctx, const char *chain, const uint8_t hash[HL], int64_t *seq);

typedef struct verifier {
    bool bundle;
    db_audit_report *rep;
    sm_err *err;
    bool failed;
    vkey *keys;
    size_t nkeys;
    /* checkpoints */
    bool have_ck;
    int64_t ck_seq;
    uint8_t ck_hash[HL];
    uint8_t last_key[HL];
    expect *exp;
    size_t nexp, capexp;
    int64_t anchor_seq; /* bundle mode: the checkpoint whose heads the entries continue (0 = none) */
    anchor_t *anc;   /* bundle mode: heads of the first checkpoint */
    size_t nanc;
    /* the chain being walked */
    char cur[256];
    bool in_chain;
    int64_t start_seq;  /* first seq expected for the chain */
    int64_t next_seq;
    uint8_t next_prev[HL];
    size_t ei, eend;    /* its expectations [ei, eend) */
    int64_t last_exp_seq; /* highest checkpointed seq of the chain */
    int64_t last_exp_ck;
    char **seen;        /* chains walked */
    size_t nseen, capseen;
    find_fn find;
    void *fctx;
} verifier;

static sm_rc vfail(verifier *v, const char *chain, int64_t seq, int64_t id, int64_t ck, const char *fmt, ...)
    __attribute__((format(printf, 6, 7)));

static sm_rc vfail(verifier *v, const char *chain, int64_t seq, int64_t id, int64_t ck, const char *fmt, ...)
{
    if (v->failed)
        return SM_EVERIFY;
    v->failed = true;
    db_audit_report *r = v->rep;
    snprintf(r->bad_chain, sizeof r->bad_chain, "%s", chain ? chain : "");
    r->bad_seq = seq;
    r->bad_id = id;
    r->bad_checkpoint = ck;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(r->problem, sizeof r->problem, fmt, ap);
    va_end(ap);
    return sm_errf(v->err, SM_EVERIFY, "audit trail broken: %s", r->problem);
}

static void verifier_free(verifier *v)
{
    for (size_t i = 0; i < v->nkeys; i++)
        EVP_PKEY_free(v->keys[i].pk);
    free(v->keys);
    for (size_t i = 0; i < v->nexp; i++)
        free(v->exp[i].chain);
    free(v->exp);
    for (size_t i = 0; i < v->nanc; i++)
        free(v->anc[i].chain);
    free(v->anc);
    for (size_t i = 0; i < v->nseen; i++)
        free(v->seen[i]);
    free(v->seen);
}

static EVP_PKEY *p256_public(const uint8_t *pt, size_t len)
{
    EVP_PKEY *pk = NULL;
    EVP_PKEY_CTX *ctx = EVP_PKEY_CTX_new_from_name(NULL, "EC", NULL);
    if (!ctx)
        return NULL;
    char group[] = "prime256v1";
    OSSL_PARAM params[3];
    params[0] = OSSL_PARAM_construct_utf8_string(OSSL_PKEY_PARAM_GROUP_NAME, group, 0);
    params[1] = OSSL_PARAM_construct_octet_string(OSSL_PKEY_PARAM_PUB_KEY, (void *)pt, len);
    params[2] = OSSL_PARAM_construct_end();
    if (EVP_PKEY_fromdata_init(ctx) != 1 || EVP_PKEY_fromdata(ctx, &pk, EVP_PKEY_PUBLIC_KEY, params) != 1)
        pk = NULL;
    EVP_PKEY_CTX_free(ctx);
    return pk;
}

static sm_rc add_key(verifier *v, const uint8_t id[HL], const uint8_t *pub, size_t publen, sm_err *err)
{
    uint8_t chk[HL];
    SHA256(pub, publen, chk);
    if (publen != 65 || memcmp(chk, id, HL) != 0)
        return vfail(v, NULL, -1, 0, 0, "audit key table: a public key does not match its key id");
    vkey *n = realloc(v->keys, (v->nkeys + 1) * sizeof *n);
    if (!n)
        return sm_errf(err, SM_ENOMEM, "audit: out of memory");
    v->keys = n;
    vkey *k = &v->keys[v->nkeys];
    memcpy(k->id, id, HL);
    memcpy(k->pub, pub, 65);
    k->pk = p256_public(pub, publen);
    if (!k->pk)
        return vfail(v, NULL, -1, 0, 0, "audit key table: a public key is not a valid P-256 point");
    v->nkeys++;
    return SM_OK;
}

static bool sig_ok(const vkey *k, const uint8_t hash[HL], const uint8_t *sig, size_t siglen)
{
    uint8_t der[80];
    size_t dl = 0;
    if (hsm_sig_raw_to_der(sig, siglen, der, sizeof der, &dl, NULL) != SM_OK)
        return false;
    EVP_PKEY_CTX *ctx = EVP_PKEY_CTX_new(k->pk, NULL);
    bool ok = ctx && EVP_PKEY_verify_init(ctx) == 1 && EVP_PKEY_verify(ctx, der, dl, hash, HL) == 1;
    EVP_PKEY_CTX_free(ctx);
    return ok;
}

static sm_rc push_expect(verifier *v, const char *chain, int64_t seq, const uint8_t h[HL], int64_t ck, sm_err *err)
{
    if (v->nexp == v->capexp) {
        size_t nc = v->capexp ? 2 * v->capexp : 64;
        expect *n = realloc(v->exp, nc * sizeof *n);
        if (!n)
            return sm_errf(err, SM_ENOMEM, "audit: out of memory");
        v->exp = n;
        v->capexp = nc;
    }
    expect *e = &v->exp[v->nexp];
    e->chain = strdup(chain);
    if (!e->chain)
        return sm_errf(err, SM_ENOMEM, "audit: out of memory");
    e->seq = seq;
    memcpy(e->hash, h, HL);
    e->ckpt = ck;
    v->nexp++;
    return SM_OK;
}

/* Parses "chain\tseq\thash\n" lines; each becomes an expectation (and, for the first checkpoint of a
 * bundle, an anchor). */
static sm_rc parse_heads(verifier *v, const ckpt *k, bool as_anchor, sm_err *err)
{
    const char *p = k->heads;
    while (*p) {
        const char *nl = strchr(p, '\n');
        if (!nl)
            nl = p + strlen(p);
        char line[512];
        size_t n = (size_t)(nl - p);
        if (n >= sizeof line)
            return vfail(v, NULL, -1, 0, k->seq, "checkpoint %lld: malformed heads", (long long)k->seq);
        memcpy(line, p, n);
        line[n] = 0;
        char *t1 = strchr(line, '\t');
        char *t2 = t1 ? strchr(t1 + 1, '\t') : NULL;
        if (!t1 || !t2)
            return vfail(v, NULL, -1, 0, k->seq, "checkpoint %lld: malformed heads", (long long)k->seq);
        *t1 = *t2 = 0;
        uint8_t h[HL];
        size_t hl = 0;
        if (sm_hex_decode(t2 + 1, h, HL, &hl, NULL) != SM_OK || hl != HL)
            return vfail(v, NULL, -1, 0, k->seq, "checkpoint %lld: malformed head hash", (long long)k->seq);
        int64_t seq = strtoll(t1 + 1, NULL, 10);
        sm_rc rc = push_expect(v, line, seq, h, k->seq, err);
        if (rc != SM_OK)
            return rc;
        if (as_anchor) {
            anchor_t *a = realloc(v->anc, (v->nanc + 1) * sizeof *a);
            if (!a)
                return sm_errf(err, SM_ENOMEM, "audit: out of memory");
            v->anc = a;
            a[v->nanc].chain = strdup(line);
            if (!a[v->nanc].chain)
                return sm_errf(err, SM_ENOMEM, "audit: out of memory");
            a[v->nanc].seq = seq;
            memcpy(a[v->nanc].hash, h, HL);
            v->nanc++;
        }
        p = *nl ? nl + 1 : nl;
    }
    return SM_OK;
}

/* Checkpoints arrive in sequence order. */
static sm_rc v_checkpoint(verifier *v, const ckpt *k, sm_err *err)
{
    if (v->failed)
        return SM_EVERIFY;
    bool first = !v->have_ck;
    if (!first) {
        if (k->seq != v->ck_seq + 1)
            return vfail(v, NULL, -1, 0, v->ck_seq + 1, "checkpoint %lld is missing (deleted): checkpoint %lld follows %lld",
                         (long long)(v->ck_seq + 1), (long long)k->seq, (long long)v->ck_seq);
        if (memcmp(k->prev, v->ck_hash, HL) != 0)
            return vfail(v, NULL, -1, 0, k->seq, "checkpoint %lld does not link to checkpoint %lld (changed or reordered)",
                         (long long)k->seq, (long long)v->ck_seq);
    } else if (!v->bundle) {
        if (k->seq != 1)
            return vfail(v, NULL, -1, 0, 1, "checkpoints 1..%lld are missing (deleted)", (long long)(k->seq - 1));
        if (memcmp(k->prev, ZERO, HL) != 0)
            return vfail(v, NULL, -1, 0, 1, "checkpoint 1 does not start the checkpoint chain (changed)");
    }
    uint8_t h[HL];
    ckpt_hash(k, h);
    if (memcmp(h, k->hash, HL) != 0)
        return vfail(v, NULL, -1, 0, k->seq, "checkpoint %lld was changed (its content does not match its hash)",
                     (long long)k->seq);
    const vkey *key = NULL;
    for (size_t i = 0; i < v->nkeys; i++)
        if (!memcmp(v->keys[i].id, k->key_id, HL))
            key = &v->keys[i];
    if (!key)
        return vfail(v, NULL, -1, 0, k->seq, "checkpoint %lld is signed by an unknown key", (long long)k->seq);
    if (!sig_ok(key, k->hash, k->sig, k->siglen))
        return vfail(v, NULL, -1, 0, k->seq, "checkpoint %lld: the signature does not verify", (long long)k->seq);
    memcpy(v->last_key, k->key_id, HL);
    v->have_ck = true;
    v->ck_seq = k->seq;
    memcpy(v->ck_hash, k->hash, HL);
    v->rep->checkpoints++;
    return parse_heads(v, k, v->bundle && first && k->seq == v->anchor_seq, err);
}

static int exp_cmp(const void *a, const void *b)
{
    const expect *x = a, *y = b;
    int c = strcmp(x->chain, y->chain);
    if (c)
        return c;
    return x->seq < y->seq ? -1 : x->seq > y->seq ? 1 : (x->ckpt < y->ckpt ? -1 : x->ckpt > y->ckpt);
}

static void v_checkpoints_done(verifier *v)
{
    if (v->nexp)
        qsort(v->exp, v->nexp, sizeof *v->exp, exp_cmp);
}

static bool seen(const verifier *v, const char *chain)
{
    for (size_t i = 0; i < v->nseen; i++)
        if (!strcmp(v->seen[i], chain))
            return true;
    return false;
}

static sm_rc finish_chain(verifier *v)
{
    if (!v->in_chain || v->failed)
        return v->failed ? SM_EVERIFY : SM_OK;
    v->in_chain = false;
    int64_t last = v->next_seq - 1;
    for (size_t i = v->ei; i < v->eend; i++)
        if (v->exp[i].seq > last)
            return vfail(v, v->cur, last + 1, 0, v->exp[i].ckpt,
                         "chain %s: entries %lld..%lld are missing (deleted): checkpoint %lld recorded seq %lld", v->cur,
                         (long long)(last + 1), (long long)v->exp[i].seq, (long long)v->exp[i].ckpt,
                         (long long)v->exp[i].seq);
    int64_t covered = v->last_exp_seq > v->start_seq - 1 ? v->last_exp_seq : v->start_seq - 1;
    if (last > covered)
        v->rep->uncovered += last - covered;
    return SM_OK;
}

static sm_rc start_chain(verifier *v, const char *chain, sm_err *err)
{
    snprintf(v->cur, sizeof v->cur, "%s", chain);
    v->in_chain = true;
    v->rep->chains++;
    char **n = v->nseen == v->capseen ? realloc(v->seen, (v->capseen ? 2 * v->capseen : 16) * sizeof *n) : v->seen;
    if (!n)
        return sm_errf(err, SM_ENOMEM, "audit: out of memory");
    if (v->nseen == v->capseen)
        v->capseen = v->capseen ? 2 * v->capseen : 16;
    v->seen = n;
    v->seen[v->nseen] = strdup(chain);
    if (!v->seen[v->nseen])
        return sm_errf(err, SM_ENOMEM, "audit: out of memory");
    v->nseen++;
    v->start_seq = 1;
    memset(v->next_prev, 0, HL);
    for (size_t i = 0; i < v->nanc; i++)
        if (!strcmp(v->anc[i].chain, chain)) {
            v->start_seq = v->anc[i].seq + 1;
            memcpy(v->next_prev, v->anc[i].hash, HL);
        }
    v->next_seq = v->start_seq;
    /* its expectations */
    size_t i = 0;
    while (i < v->nexp && strcmp(v->exp[i].chain, chain) < 0)
        i++;
    v->ei = i;
    while (i < v->nexp && !strcmp(v->exp[i].chain, chain))
        i++;
    v->eend = i;
    /* those before the chain's start (the anchor itself) are not checked */
    while (v->ei < v->eend && v->exp[v->ei].seq < v->start_seq)
        v->ei++;
    v->last_exp_seq = 0;
    v->last_exp_ck = 0;
    for (size_t j = v->ei; j < v->eend; j++)
        if (v->exp[j].seq > v->last_exp_seq)
            v->last_exp_seq = v->exp[j].seq;
    return SM_OK;
}

/* Entries arrive grouped by chain, in sequence order within a chain. */
static sm_rc v_entry(verifier *v, const entry *e, sm_err *err)
{
    if (v->failed)
        return SM_EVERIFY;
    if (!v->in_chain || strcmp(v->cur, e->chain) != 0) {
        sm_rc rc = finish_chain(v);
        if (rc != SM_OK)
            return rc;
        if (seen(v, e->chain))
            return vfail(v, e->chain, e->seq, e->id, 0, "chain %s: entries out of order", e->chain);
        rc = start_chain(v, e->chain, err);
        if (rc != SM_OK)
            return rc;
    }
    v->rep->entries++;
    const char *ch = e->chain;
    long long n = (long long)e->seq;
    if (e->seq < v->next_seq)
        return vfail(v, ch, e->seq, e->id, 0, "chain %s: entry seq %lld appears twice or before the chain's start", ch, n);
    if (e->seq > v->next_seq && e->seq - 1 > v->next_seq)
        return vfail(v, ch, v->next_seq, e->id, 0, "chain %s: entries seq %lld..%lld are missing (deleted)", ch,
                     (long long)v->next_seq, (long long)(e->seq - 1));
    if (e->seq > v->next_seq)
        return vfail(v, ch, v->next_seq, e->id, 0, "chain %s: entry seq %lld is missing (deleted)", ch,
                     (long long)v->next_seq);
    uint8_t own[HL];
    entry_hash_at(e, e->seq, own);
    bool self_ok = !memcmp(own, e->hash, HL);
    bool link_ok = !memcmp(e->prev, v->next_prev, HL);
    if (!self_ok) {
        /* written at another position? (rows renumbered: reordered, or renumbered after a deletion) */
        int64_t was = -1;
        uint8_t alt[HL];
        for (int64_t d = 1; d <= 1024 && was < 0; d++)
            for (int sg = -1; sg <= 1 && was < 0; sg += 2) {
                int64_t cand = e->seq + sg * d;
                if (cand >= 1 && entry_hash_at(e, cand, alt) == 0 && !memcmp(alt, e->hash, HL))
                    was = cand;
            }
        if (was > 0) {
            int64_t k = -1;
            bool pred = v->find && v->find(v->fctx, ch, e->prev, &k) == 0;
            if (pred || !memcmp(e->prev, v->next_prev, HL))
                return vfail(v, ch, e->seq, e->id, 0,
                             "chain %s: entry seq %lld (id %lld) was reordered: it was written as seq %lld", ch, n,
                             (long long)e->id, (long long)was);
            return vfail(v, ch, e->seq, e->id, 0,
                         "chain %s: entry seq %lld (id %lld) was renumbered from seq %lld: the entry before it was "
                         "deleted",
                         ch, n, (long long)e->id, (long long)was);
        }
        return vfail(v, ch, e->seq, e->id, 0,
                     "chain %s: entry seq %lld (id %lld) was changed: its content does not match its hash", ch, n,
                     (long long)e->id);
    }
    if (!link_ok) {
        int64_t k = -1;
        bool found = v->find && v->find(v->fctx, ch, e->prev, &k) == 0 && k >= 0;
        if (found && k != e->seq - 1)
            return vfail(v, ch, e->seq, e->id, 0,
                         "chain %s: entry seq %lld (id %lld) was reordered: it was written after seq %lld", ch, n,
                         (long long)e->id, (long long)k);
        if (e->seq == v->start_seq)
            return vfail(v, ch, e->seq, e->id, 0,
                         "chain %s: entry seq %lld (id %lld) does not continue the chain from its %s", ch, n,
                         (long long)e->id, v->bundle && e->seq > 1 ? "anchor checkpoint" : "start");
        return vfail(v, ch, e->seq - 1, 0, 0,
                     "chain %s: entry seq %lld was changed or replaced: entry seq %lld recorded a different "
                     "predecessor hash",
                     ch, (long long)(e->seq - 1), n);
    }
    while (v->ei < v->eend && v->exp[v->ei].seq < e->seq)
        v->ei++; /* cannot happen with consecutive seqs; defensive */
    while (v->ei < v->eend && v->exp[v->ei].seq == e->seq) {
        if (memcmp(v->exp[v->ei].hash, e->hash, HL) != 0)
            return vfail(v, ch, e->seq, e->id, v->exp[v->ei].ckpt,
                         "chain %s: entries up to seq %lld were rewritten: its hash differs from the one signed in "
                         "checkpoint %lld",
                         ch, n, (long long)v->exp[v->ei].ckpt);
        v->ei++;
    }
    memcpy(v->next_prev, e->hash, HL);
    v->next_seq = e->seq + 1;
    return SM_OK;
}

static sm_rc v_done(verifier *v)
{
    sm_rc rc = finish_chain(v);
    if (rc != SM_OK)
        return rc;
    /* chains the checkpoints know that have no entries at all */
    for (size_t i = 0; i < v->nexp; i++) {
        if (seen(v, v->exp[i].chain))
            continue;
        int64_t start = 1;
        for (size_t j = 0; j < v->nanc; j++)
            if (!strcmp(v->anc[j].chain, v->exp[i].chain))
                start = v->anc[j].seq + 1;
        if (v->exp[i].seq >= start)
            return vfail(v, v->exp[i].chain, start, 0, v->exp[i].ckpt,
                         "chain %s: entries %lld..%lld are missing (deleted): checkpoint %lld recorded seq %lld",
                         v->exp[i].chain, (long long)start, (long long)v->exp[i].seq, (long long)v->exp[i].ckpt,
                         (long long)v->exp[i].seq);
    }
    for (size_t i = 0; v->have_ck && i < v->nkeys; i++)
        if (!memcmp(v->keys[i].id, v->last_key, HL)) {
            sm_hex_encode(v->keys[i].id, HL, v->rep->key_fp);
            sm_hex_encode(v->keys[i].pub, 65, v->rep->key_pub);
        }
    return SM_OK;
}

/* ---- database verification ----------------------------------------------------------------------- */

DB_STMT(q_keys, 0, "SELECT key_id, pubkey FROM audit_key ORDER BY first_used");
DB_STMT(q_ckpts, 1,
        "SELECT seq, at_us, node, total, heads, prev_hash, hash, key_id, signature FROM audit_checkpoint "
        "WHERE seq > $1 ORDER BY seq LIMIT 1000");
DB_STMT(q_entries, 2,
        "SELECT id, chain, seq, at_us, node, actor, action, object, outcome, details, prev_hash, hash "
        "FROM audit_log WHERE (chain, seq) > ($1, $2) ORDER BY chain, seq LIMIT 2000");
DB_STMT(q_by_hash, 2, "SELECT seq FROM audit_log WHERE chain = $1 AND hash = $2 ORDER BY seq LIMIT 1");
DB_STMT(q_chain_heads, 0, "SELECT chain, seq, hash FROM audit_chain WHERE chain NOT LIKE '#%' AND seq > 0");
DB_STMT(q_chain_last, 1, "SELECT seq, hash FROM audit_log WHERE chain = $1 ORDER BY seq DESC LIMIT 1");

static int db_find(void *ctx, const char *chain, const uint8_t hash[HL], int64_t *seq)
{
    db_conn *c = ctx;
    db_params p;
    db_params_init(&p);
    db_p_text(&p, chain);
    db_p_bytea(&p, hash, HL);
    db_res *r = NULL;
    sm_err e = {0};
    if (db_exec(c, &q_by_hash, &p, &r, &e) != SM_OK)
        return -1;
    int rc = -1;
    if (db_res_rows(r) == 1) {
        *seq = db_res_int(r, 0, 0);
        rc = 0;
    }
    db_res_free(r);
    return rc;
}

static sm_rc row_ckpt(const db_res *r, int i, ckpt *k, sm_err *err)
{
    memset(k, 0, sizeof *k);
    k->seq = db_res_int(r, i, 0);
    k->at_us = db_res_int(r, i, 1);
    k->node = db_res_text(r, i, 2);
    k->total = db_res_int(r, i, 3);
    k->heads = db_res_text(r, i, 4);
    size_t l;
    sm_rc rc = db_res_bytea_into(r, i, 5, k->prev, HL, &l, err);
    if (rc == SM_OK)
        rc = db_res_bytea_into(r, i, 6, k->hash, HL, &l, err);
    if (rc == SM_OK)
        rc = db_res_bytea_into(r, i, 7, k->key_id, HL, &l, err);
    if (rc == SM_OK)
        rc = db_res_bytea_into(r, i, 8, k->sig, sizeof k->sig, &k->siglen, err);
    return rc;
}

static sm_rc row_entry(const db_res *r, int i, entry *e, sm_err *err)
{
    memset(e, 0, sizeof *e);
    e->id = db_res_int(r, i, 0);
    e->chain = db_res_text(r, i, 1);
    e->seq = db_res_int(r, i, 2);
    e->at_us = db_res_int(r, i, 3);
    e->node = db_res_text(r, i, 4);
    e->actor = db_res_text(r, i, 5);
    e->action = db_res_text(r, i, 6);
    e->object = db_res_text(r, i, 7);
    e->outcome = db_res_text(r, i, 8);
    e->details = db_res_text(r, i, 9);
    size_t l;
    sm_rc rc = db_res_bytea_into(r, i, 10, e->prev, HL, &l, err);
    if (rc == SM_OK)
        rc = db_res_bytea_into(r, i, 11, e->hash, HL, &l, err);
    return rc;
}

static sm_rc begin_snapshot(db_conn *c, sm_err *err)
{
    sm_rc rc = db_begin(c, err);
    if (rc == SM_OK)
        rc = db_exec_script(c, "SET TRANSACTION ISOLATION LEVEL REPEATABLE READ, READ ONLY", err);
    if (rc != SM_OK)
        db_rollback(c);
    return rc;
}

static sm_rc load_keys(verifier *v, db_conn *c, sm_err *err)
{
    db_res *r = NULL;
    sm_rc rc = db_exec(c, &q_keys, NULL, &r, err);
    for (int i = 0; rc == SM_OK && i < db_res_rows(r); i++) {
        uint8_t id[HL], pub[80];
        size_t il = 0, pl = 0;
        rc = db_res_bytea_into(r, i, 0, id, HL, &il, err);
        if (rc == SM_OK)
            rc = db_res_bytea_into(r, i, 1, pub, sizeof pub, &pl, err);
        if (rc == SM_OK)
            rc = add_key(v, id, pub, pl, err);
    }
    db_res_free(r);
    return rc;
}

sm_rc db_audit_verify(db_conn *c, db_audit_report *rep, sm_err *err)
{
    memset(rep, 0, sizeof *rep);
    verifier v = {0};
    v.rep = rep;
    v.err = err;
    v.find = db_find;
    v.fctx = c;
    sm_rc rc = begin_snapshot(c, err);
    if (rc != SM_OK)
        return rc;
    rc = load_keys(&v, c, err);
    int64_t after = 0;
    while (rc == SM_OK) {
        db_params p;
        db_params_init(&p);
        db_p_int(&p, after);
        db_res *r = NULL;
        rc = db_exec(c, &q_ckpts, &p, &r, err);
        int n = db_res_rows(r);
        for (int i = 0; rc == SM_OK && i < n; i++) {
            ckpt k;
            rc = row_ckpt(r, i, &k, err);
            if (rc == SM_OK)
                rc = v_checkpoint(&v, &k, err);
            after = k.seq;
        }
        db_res_free(r);
        if (n < 1000)
            break;
    }
    if (rc == SM_OK)
        v_checkpoints_done(&v);
    char last_chain[256] = "";
    int64_t last_seq = 0;
    while (rc == SM_OK) {
        db_params p;
        db_params_init(&p);
        db_p_text(&p, last_chain);
        db_p_int(&p, last_seq);
        db_res *r = NULL;
        rc = db_exec(c, &q_entries, &p, &r, err);
        int n = db_res_rows(r);
        for (int i = 0; rc == SM_OK && i < n; i++) {
            entry e;
            rc = row_entry(r, i, &e, err);
            if (rc == SM_OK)
                rc = v_entry(&v, &e, err);
            snprintf(last_chain, sizeof last_chain, "%s", e.chain);
            last_seq = e.seq;
        }
        db_res_free(r);
        if (n < 2000)
            break;
    }
    if (rc == SM_OK)
        rc = v_done(&v);
    /* the chain head rows must agree with the last entries (catches a truncated tail before it is
     * checkpointed, unless the head row was rewritten too) */
    db_res *h = NULL;
    if (rc == SM_OK)
        rc = db_exec(c, &q_chain_heads, NULL, &h, err);
    for (int i = 0; rc == SM_OK && i < db_res_rows(h); i++) {
        const char *chain = db_res_text(h, i, 0);
        int64_t hs = db_res_int(h, i, 1);
        uint8_t hh[HL], lh[HL];
        size_t l = 0;
        rc = db_res_bytea_into(h, i, 2, hh, HL, &l, err);
        db_params p;
        db_params_init(&p);
        db_p_text(&p, chain);
        db_res *r = NULL;
        if (rc == SM_OK)
            rc = db_exec(c, &q_chain_last, &p, &r, err);
        int64_t ls = db_res_rows(r) ? db_res_int(r, 0, 0) : 0;
        if (rc == SM_OK && db_res_rows(r))
            rc = db_res_bytea_into(r, 0, 1, lh, HL, &l, err);
        db_res_free(r);
        if (rc == SM_OK && ls < hs)
            rc = vfail(&v, chain, ls + 1, 0, 0, "chain %s: entries %lld..%lld are missing (deleted): the chain head "
                                               "records seq %lld",
                       chain, (long long)(ls + 1), (long long)hs, (long long)hs);
        else if (rc == SM_OK && ls == hs && memcmp(hh, lh, HL) != 0)
            rc = vfail(&v, chain, ls, 0, 0, "chain %s: entry seq %lld was changed: the chain head records another hash",
                       chain, (long long)ls);
    }
    db_res_free(h);
    db_rollback(c);
    verifier_free(&v);
    return rc;
}

/* ---- bundles --------------------------------------------------------------------------------------- */

/* Fields are tab-separated; \\, \t, \n, \r escaped. */
static void put_field(FILE *f, const char *s)
{
    fputc('\t', f);
    for (; *s; s++) {
        switch (*s) {
        case '\\': fputs("\\\\", f); break;
        case '\t': fputs("\\t", f); break;
        case '\n': fputs("\\n", f); break;
        case '\r': fputs("\\r", f); break;
        default: fputc(*s, f);
        }
    }
}

static void put_hex(FILE *f, const uint8_t *b, size_t n)
{
    char hex[2 * 80 + 1];
    sm_hex_encode(b, n, hex);
    fputc('\t', f);
    fputs(hex, f);
}

DB_STMT(q_anchor, 1,
        "SELECT coalesce(max(seq), 0) FROM audit_checkpoint "
        "WHERE at_us <= (extract(epoch FROM $1::timestamptz) * 1000000)::bigint");
DB_STMT(q_last_upto, 1,
        "SELECT chain, max(seq) FROM audit_log WHERE $1::text IS NULL OR "
        "at_us <= (extract(epoch FROM $1::timestamptz) * 1000000)::bigint GROUP BY chain");
DB_STMT(q_ckpts_from, 1,
        "SELECT seq, at_us, node, total, heads, prev_hash, hash, key_id, signature FROM audit_checkpoint "
        "WHERE seq >= $1 ORDER BY seq");
DB_STMT(q_chain_range, 4,
        "SELECT id, chain, seq, at_us, node, actor, action, object, outcome, details, prev_hash, hash "
        "FROM audit_log WHERE chain = $1 AND seq > $2 AND seq <= $3 AND seq > $4 ORDER BY seq LIMIT 2000");
DB_STMT(q_keys_all, 0, "SELECT key_id, label, pubkey FROM audit_key ORDER BY first_used");
DB_STMT(q_chain_names, 0, "SELECT DISTINCT chain FROM audit_log ORDER BY chain");

typedef struct hseq {
    char *chain;
    int64_t seq;
} hseq;

static int64_t heads_seq(const char *heads, const char *chain)
{
    size_t cl = strlen(chain);
    for (const char *p = heads; *p;) {
        if (!strncmp(p, chain, cl) && p[cl] == '\t')
            return strtoll(p + cl + 1, NULL, 10);
        const char *nl = strchr(p, '\n');
        if (!nl)
            break;
        p = nl + 1;
    }
    return 0;
}

static void write_entry(FILE *out, const entry *e)
{
    fprintf(out, "entry\t%lld", (long long)e->id);
    put_field(out, e->chain);
    fprintf(out, "\t%lld\t%lld", (long long)e->seq, (long long)e->at_us);
    put_field(out, e->node);
    put_field(out, e->actor);
    put_field(out, e->action);
    put_field(out, e->object);
    put_field(out, e->outcome);
    put_field(out, e->details);
    put_hex(out, e->prev, HL);
    put_hex(out, e->hash, HL);
    fputc('\n', out);
}

sm_rc db_audit_export(db_conn *c, const char *from, const char *to, FILE *out, long *nentries, long *left_out,
                      sm_err *err)
{
    if (nentries)
        *nentries = 0;
    if (left_out)
        *left_out = 0;
    sm_rc rc = begin_snapshot(c, err);
    if (rc != SM_OK)
        return rc;
    db_params p;
    db_res *r = NULL;
    int64_t anchor = 0;
    if (from && *from) {
        db_params_init(&p);
        db_p_text(&p, from);
        rc = db_exec(c, &q_anchor, &p, &r, err);
        if (rc == SM_OK)
            anchor = db_res_int(r, 0, 0);
        db_res_free(r);
        r = NULL;
    }
    /* the last entry of each chain appended up to `to` */
    hseq *last = NULL;
    size_t nlast = 0;
    if (rc == SM_OK) {
        db_params_init(&p);
        db_p_text(&p, to && *to ? to : NULL);
        rc = db_exec(c, &q_last_upto, &p, &r, err);
    }
    if (rc == SM_OK && db_res_rows(r) > 0) {
        last = calloc((size_t)db_res_rows(r), sizeof *last);
        if (!last)
            rc = sm_errf(err, SM_ENOMEM, "audit: out of memory");
        for (int i = 0; rc == SM_OK && i < db_res_rows(r); i++) {
            last[i].chain = strdup(db_res_text(r, i, 0));
            last[i].seq = db_res_int(r, i, 1);
            nlast++;
            if (!last[i].chain)
                rc = sm_errf(err, SM_ENOMEM, "audit: out of memory");
        }
    }
    db_res_free(r);
    r = NULL;
    /* checkpoints from the anchor on; the covering one is the first whose heads reach every chain's
     * last entry */
    db_res *ck = NULL;
    int64_t cover = 0, first_ck = anchor > 0 ? anchor : 1;
    if (rc == SM_OK) {
        db_params_init(&p);
        db_p_int(&p, first_ck);
        rc = db_exec(c, &q_ckpts_from, &p, &ck, err);
    }
    int nck = db_res_rows(ck), ck_end = 0;
    for (int i = 0; rc == SM_OK && i < nck; i++) {
        const char *heads = db_res_text(ck, i, 4);
        bool covers = true;
        for (size_t j = 0; j < nlast && covers; j++)
            if (heads_seq(heads, last[j].chain) < last[j].seq)
                covers = false;
        ck_end = i + 1;
        if (covers && db_res_int(ck, i, 0) > anchor) {
            cover = db_res_int(ck, i, 0);
            break;
        }
    }
    const char *anchor_heads = anchor > 0 && nck > 0 && db_res_int(ck, 0, 0) == anchor ? db_res_text(ck, 0, 4) : "";
    /* nothing covers the end yet: the bundle stops at the last checkpoint (everything in it is signed);
     * the newer entries are left out and counted */
    if (cover == 0)
        ck_end = nck;
    const char *cover_heads = ck_end > 0 ? db_res_text(ck, ck_end - 1, 4) : anchor_heads;
    long left = 0;
    for (size_t j = 0; j < nlast; j++) {
        int64_t h = heads_seq(cover_heads, last[j].chain);
        if (last[j].seq > h)
            left += (long)(last[j].seq - h);
    }
    fprintf(out, "smbox-audit-bundle\t1\n");
    fprintf(out, "range");
    put_field(out, from && *from ? from : "-");
    put_field(out, to && *to ? to : "-");
    fputc('\n', out);
    fprintf(out, "anchor\t%lld\n", (long long)anchor);
    if (rc == SM_OK)
        rc = db_exec(c, &q_keys_all, NULL, &r, err);
    for (int i = 0; rc == SM_OK && i < db_res_rows(r); i++) {
        uint8_t id[HL], pub[80];
        size_t il = 0, pl = 0;
        rc = db_res_bytea_into(r, i, 0, id, HL, &il, err);
        if (rc == SM_OK)
            rc = db_res_bytea_into(r, i, 2, pub, sizeof pub, &pl, err);
        if (rc != SM_OK)
            break;
        fprintf(out, "key");
        put_hex(out, id, il);
        put_field(out, db_res_text(r, i, 1));
        put_hex(out, pub, pl);
        fputc('\n', out);
    }
    db_res_free(r);
    r = NULL;
    for (int i = 0; rc == SM_OK && i < ck_end; i++) {
        ckpt k;
        rc = row_ckpt(ck, i, &k, err);
        if (rc != SM_OK)
            break;
        fprintf(out, "checkpoint\t%lld\t%lld", (long long)k.seq, (long long)k.at_us);
        put_field(out, k.node);
        fprintf(out, "\t%lld", (long long)k.total);
        put_field(out, k.heads);
        put_hex(out, k.prev, HL);
        put_hex(out, k.hash, HL);
        put_hex(out, k.key_id, HL);
        put_hex(out, k.sig, k.siglen);
        fputc('\n', out);
    }
    /* entries: per chain, after the anchor's head up to the covering head (or the chain's end) */
    long count = 0;
    if (rc == SM_OK)
        rc = db_exec(c, &q_chain_names, NULL, &r, err);
    for (int i = 0; rc == SM_OK && i < db_res_rows(r); i++) {
        const char *chain = db_res_text(r, i, 0);
        int64_t lo = heads_seq(anchor_heads, chain);
        int64_t hi = heads_seq(cover_heads, chain);
        int64_t after = lo;
        for (;;) {
            db_params_init(&p);
            db_p_text(&p, chain);
            db_p_int(&p, lo);
            db_p_int(&p, hi);
            db_p_int(&p, after);
            db_res *er = NULL;
            rc = db_exec(c, &q_chain_range, &p, &er, err);
            int n = db_res_rows(er);
            for (int j = 0; rc == SM_OK && j < n; j++) {
                entry e;
                rc = row_entry(er, j, &e, err);
                if (rc == SM_OK) {
                    write_entry(out, &e);
                    count++;
                    after = e.seq;
                }
            }
            db_res_free(er);
            if (rc != SM_OK || n < 2000)
                break;
        }
    }
    db_res_free(r);
    db_res_free(ck);
    for (size_t j = 0; j < nlast; j++)
        free(last[j].chain);
    free(last);
    if (rc == SM_OK)
        fprintf(out, "end\t%ld\n", count);
    db_rollback(c);
    if (rc == SM_OK && ferror(out))
        rc = sm_errf(err, SM_EIO, "audit: writing the bundle failed");
    if (rc == SM_OK && nentries)
        *nentries = count;
    if (rc == SM_OK && left_out)
        *left_out = left;
    return rc;
}

/* ---- bundle verification ---------------------------------------------------------------------------- */

typedef struct bline {
    char **f;
    int n;
} bline;

static int unescape_split(char *line, char **fields, int max)
{
    int n = 0;
    char *w = line, *start = line;
    fields[n++] = start;
    for (char *p = line; *p; p++) {
        if (*p == '\t') {
            *w++ = 0;
            if (n >= max)
                return -1;
            fields[n++] = w;
            continue;
        }
        if (*p == '\\' && p[1]) {
            p++;
            *w++ = *p == 't' ? '\t' : *p == 'n' ? '\n' : *p == 'r' ? '\r' : *p;
            continue;
        }
        *w++ = *p;
    }
    *w = 0;
    return n;
}

typedef struct bentry {
    entry e;
    char *store; /* owns the strings */
} bentry;

static int bentry_cmp(const void *a, const void *b)
{
    const bentry *x = a, *y = b;
    int c = strcmp(x->e.chain, y->e.chain);
    if (c)
        return c;
    return x->e.seq < y->e.seq ? -1 : x->e.seq > y->e.seq;
}

typedef struct bfind {
    bentry *v;
    size_t n;
} bfind;

static int bundle_find(void *ctx, const char *chain, const uint8_t hash[HL], int64_t *seq)
{
    bfind *b = ctx;
    for (size_t i = 0; i < b->n; i++)
        if (!strcmp(b->v[i].e.chain, chain) && !memcmp(b->v[i].e.hash, hash, HL)) {
            *seq = b->v[i].e.seq;
            return 0;
        }
    return -1;
}

static bool hexf(const char *s, uint8_t *out, size_t want)
{
    size_t l = 0;
    return sm_hex_decode(s, out, want, &l, NULL) == SM_OK && l == want;
}

static char *read_line(FILE *in)
{
    size_t cap = 256, len = 0;
    char *b = malloc(cap);
    if (!b)
        return NULL;
    int ch;
    while ((ch = fgetc(in)) != EOF && ch != '\n') {
        if (len + 1 >= cap) {
            if (cap > (64u << 20)) {
                free(b);
                return NULL;
            }
            char *n = realloc(b, cap *= 2);
            if (!n) {
                free(b);
                return NULL;
            }
            b = n;
        }
        b[len++] = (char)ch;
    }
    if (ch == EOF && len == 0) {
        free(b);
        return NULL;
    }
    b[len] = 0;
    return b;
}

sm_rc db_audit_verify_bundle(FILE *in, const char *pin, db_audit_report *rep, sm_err *err)
{
    memset(rep, 0, sizeof *rep);
    verifier v = {0};
    v.bundle = true;
    v.rep = rep;
    v.err = err;
    bentry *ents = NULL;
    size_t nent = 0, capent = 0;
    char **ckstore = NULL;
    ckpt *cks = NULL;
    size_t nck = 0;
    sm_rc rc = SM_OK;
    long lineno = 0;
    bool header = false, end = false;
    long end_count = -1;
    char *line;
    while (rc == SM_OK && (line = read_line(in))) {
        lineno++;
        char *f[16];
        if (end) {
            free(line);
            rc = sm_errf(err, SM_EPARSE, "audit bundle line %ld: data after the end line", lineno);
            break;
        }
        int n = unescape_split(line, f, 16);
        if (n < 1) {
            free(line);
            rc = sm_errf(err, SM_EPARSE, "audit bundle line %ld: too many fields", lineno);
            break;
        }
        bool keep = false;
        if (!header) {
            if (n != 2 || strcmp(f[0], "smbox-audit-bundle") || strcmp(f[1], "1"))
                rc = sm_errf(err, SM_EPARSE, "audit bundle: not an smbox audit bundle (version 1)");
            header = true;
        } else if (!strcmp(f[0], "range")) {
        } else if (!strcmp(f[0], "anchor") && n == 2) {
            v.anchor_seq = strtoll(f[1], NULL, 10);
        } else if (!strcmp(f[0], "key") && n == 4) {
            uint8_t id[HL], pub[65];
            if (!hexf(f[1], id, HL) || !hexf(f[3], pub, 65))
                rc = sm_errf(err, SM_EPARSE, "audit bundle line %ld: malformed key", lineno);
            else
                rc = add_key(&v, id, pub, 65, err);
        } else if (!strcmp(f[0], "checkpoint") && n == 10) {
            ckpt *nc = realloc(cks, (nck + 1) * sizeof *nc);
            char **ns = realloc(ckstore, (nck + 1) * sizeof *ns);
            if (nc)
                cks = nc;
            if (ns)
                ckstore = ns;
            if (!nc || !ns) {
                rc = sm_errf(err, SM_ENOMEM, "audit: out of memory");
                free(line);
                break;
            }
            ckpt *k = &cks[nck];
            memset(k, 0, sizeof *k);
            k->seq = strtoll(f[1], NULL, 10);
            k->at_us = strtoll(f[2], NULL, 10);
            k->node = f[3];
            k->total = strtoll(f[4], NULL, 10);
            k->heads = f[5];
            size_t sl = 0;
            if (!hexf(f[6], k->prev, HL) || !hexf(f[7], k->hash, HL) || !hexf(f[8], k->key_id, HL) ||
                sm_hex_decode(f[9], k->sig, sizeof k->sig, &sl, NULL) != SM_OK) {
                rc = sm_errf(err, SM_EPARSE, "audit bundle line %ld: malformed checkpoint", lineno);
            } else {
                k->siglen = sl;
                ckstore[nck++] = line;
                keep = true;
            }
        } else if (!strcmp(f[0], "entry") && n == 13) {
            if (nent == capent) {
                size_t nc = capent ? 2 * capent : 256;
                bentry *ne = realloc(ents, nc * sizeof *ne);
                if (!ne) {
                    rc = sm_errf(err, SM_ENOMEM, "audit: out of memory");
                    free(line);
                    break;
                }
                ents = ne;
                capent = nc;
            }
            bentry *b = &ents[nent];
            memset(b, 0, sizeof *b);
            b->e.id = strtoll(f[1], NULL, 10);
            b->e.chain = f[2];
            b->e.seq = strtoll(f[3], NULL, 10);
            b->e.at_us = strtoll(f[4], NULL, 10);
            b->e.node = f[5];
            b->e.actor = f[6];
            b->e.action = f[7];
            b->e.object = f[8];
            b->e.outcome = f[9];
            b->e.details = f[10];
            if (!hexf(f[11], b->e.prev, HL) || !hexf(f[12], b->e.hash, HL)) {
                rc = sm_errf(err, SM_EPARSE, "audit bundle line %ld: malformed entry", lineno);
            } else {
                b->store = line;
                nent++;
                keep = true;
            }
        } else if (!strcmp(f[0], "end") && n == 2) {
            end = true;
            end_count = strtol(f[1], NULL, 10);
        } else {
            rc = sm_errf(err, SM_EPARSE, "audit bundle line %ld: unknown record '%s'", lineno, f[0]);
        }
        if (!keep)
            free(line);
    }
    if (rc == SM_OK && !header)
        rc = sm_errf(err, SM_EPARSE, "audit bundle: empty file");
    if (rc == SM_OK && !end)
        rc = vfail(&v, NULL, -1, 0, 0, "the bundle is truncated (no end line)");
    if (rc == SM_OK && end_count != (long)nent)
        rc = vfail(&v, NULL, -1, 0, 0, "the bundle's end line counts %ld entries but it holds %zu (entries removed or added)",
                   end_count, nent);
    if (rc == SM_OK && pin && *pin) {
        bool match = false;
        for (size_t i = 0; i < v.nkeys; i++) {
            char fp[2 * HL + 1], pubhex[131];
            sm_hex_encode(v.keys[i].id, HL, fp);
            sm_hex_encode(v.keys[i].pub, 65, pubhex);
            size_t pl = strlen(pin);
            if ((pl >= 16 && pl <= 64 && !strncasecmp(fp, pin, pl)) || !strcasecmp(pubhex, pin))
                match = true;
        }
        if (!match)
            rc = vfail(&v, NULL, -1, 0, 0, "the bundle's public key is not the expected one (%s)", pin);
        else
            for (size_t i = 0; i < v.nkeys;) {
                /* keep only the pinned key: checkpoints signed by another key then fail */
                char fp[2 * HL + 1], pubhex[131];
                sm_hex_encode(v.keys[i].id, HL, fp);
                sm_hex_encode(v.keys[i].pub, 65, pubhex);
                size_t pl = strlen(pin);
                if ((pl >= 16 && pl <= 64 && !strncasecmp(fp, pin, pl)) || !strcasecmp(pubhex, pin)) {
                    i++;
                    continue;
                }
                EVP_PKEY_free(v.keys[i].pk);
                v.keys[i] = v.keys[--v.nkeys];
            }
    }
    if (rc == SM_OK && nck == 0 && nent > 0)
        rc = vfail(&v, NULL, -1, 0, 0, "the bundle holds no signed checkpoint: its %zu entries prove nothing", nent);
    /* checkpoints in sequence order */
    for (size_t i = 1; rc == SM_OK && i < nck; i++)
        if (cks[i].seq <= cks[i - 1].seq)
            rc = vfail(&v, NULL, -1, 0, cks[i].seq, "checkpoint %lld is out of order in the bundle (reordered)",
                       (long long)cks[i].seq);
    for (size_t i = 0; rc == SM_OK && i < nck; i++)
        rc = v_checkpoint(&v, &cks[i], err);
    if (rc == SM_OK)
        v_checkpoints_done(&v);
    if (rc == SM_OK && nent)
        qsort(ents, nent, sizeof *ents, bentry_cmp);
    bfind bf = {ents, nent};
    v.find = bundle_find;
    v.fctx = &bf;
    for (size_t i = 0; rc == SM_OK && i < nent; i++)
        rc = v_entry(&v, &ents[i].e, err);
    if (rc == SM_OK)
        rc = v_done(&v);
    if (rc == SM_OK && rep->uncovered > 0)
        rc = vfail(&v, NULL, -1, 0, 0,
                   "%ld entries of the bundle are not covered by a signed checkpoint (export again after the next "
                   "checkpoint)",
                   rep->uncovered);
    for (size_t i = 0; i < nent; i++)
        free(ents[i].store);
    free(ents);
    for (size_t i = 0; i < nck; i++)
        free(ckstore[i]);
    free(ckstore);
    free(cks);
    verifier_free(&v);
    return rc;
}
