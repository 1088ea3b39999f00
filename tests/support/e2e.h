/* e2e: the end-to-end harness. One development world per test program, in a temporary directory:
 * mk/devworld.sh makes the token and key ceremony, the test PKI (GP and TLS certificates for the HSM
 * keys), the fleet and its batch file, the MNO's key and order, smbox.yaml, and registers them in the
 * embedded PostgreSQL; then the real smboxd and `sim run` run as child processes (their own
 * sessions, killed by pid only). The development MNO / M2M SP / EUM are played here: an ES client
 * (REST over mutual TLS with their PKI certificates) and HTTPS endpoints that receive the
 * asynchronous answers and notifications smboxd sends them. Checks read the simulator's control
 * socket and the database (psql). Everything is stopped and removed at teardown. */
#ifndef SM_E2E_H
#define SM_E2E_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "tests/support/json.h"

typedef struct e2e_opts {
    unsigned fleet;          /* cards (default 50) */
    unsigned sms_only;       /* the last N cards declare no HTTPS support */
    unsigned order_qty;      /* profiles in the demo order (default 50) */
    unsigned workers;        /* smboxd worker threads (default 2) */
    const char *extra_yaml;  /* text appended to smbox.yaml (timers of the tests) */
    bool first_attach;       /* cards send their first-attach notification at start */
    const char *sim_args;    /* extra `sim run` arguments, space separated */
} e2e_opts;

/* A message an endpoint of a development stakeholder received from smboxd. */
typedef struct e2e_msg {
    char path[256];
    char *body;
    size_t len;
    char relates_to[160];    /* header.relatesTo (REST) */
    char status[40];         /* header.functionExecutionStatus.status */
    char subject[16], reason[16];
    char iccid[24];          /* body.Iccid when present */
    char eid[40];            /* body.Eid when present */
    char message_id[160];    /* header.messageId (REST) or wsa:MessageID (SOAP) */
    char function[80];       /* SOAP: the body element's name ("ES4-HandleProfileDisabledNotification"); REST: the
                                last path element */
    int64_t at_us;
    int answered;            /* HTTP status we answered with */
} e2e_msg;

typedef struct e2e_peer e2e_peer;

typedef struct e2e_world {
    char dir[256];           /* the temporary directory: node.var_dir of smboxd */
    char cfg[320], bin[320], sim[320], src[320], pki[320], ctl[320], batch[320], log[320];
    int es_port, smpp_port, admin_port, mno_port, m2msp_port;
    pid_t smboxd, simpid;
    int smboxd_starts, sim_starts;
    e2e_peer *mno, *m2msp;
    char (*eids)[33];        /* the fleet in batch order */
    bool *sms_only;          /* per card: declared without HTTPS */
    size_t neids;
    e2e_opts o;
    bool asan;               /* the binaries are the ASan build */
} e2e_world;

/* Builds the world and starts the MNO / M2M SP endpoints, the simulator and smboxd. 0 on success
 * (else the reason is printed; call e2e_teardown anyway). */
int e2e_setup(e2e_world *w, const e2e_opts *o);
void e2e_teardown(e2e_world *w);

/* Rewrites smbox.yaml with other test settings (mk/devworld.sh prepare; the world itself is kept) and
 * restarts smboxd on it. 0 on success. */
int e2e_reconfigure(e2e_world *w, const char *extra_yaml);

/* smboxd: start and wait for its ready line; stop with SIGTERM (clean); SIGKILL (a crash). */
int e2e_smboxd_start(e2e_world *w);
int e2e_smboxd_stop(e2e_world *w);
void e2e_smboxd_kill9(e2e_world *w);
bool e2e_smboxd_alive(e2e_world *w);
/* counts lines of every smboxd log of this world containing needle */
long e2e_smboxd_log_count(e2e_world *w, const char *needle);
/* waits until at least min_count such lines were written */
bool e2e_smboxd_log_wait(e2e_world *w, const char *needle, long min_count, int timeout_ms);

/* the simulator */
int e2e_sim_start(e2e_world *w);
int e2e_sim_stop(e2e_world *w);
/* One control command; the answer's data lines and final line (malloc'd), NULL when the simulator
 * answered ERR or could not be reached (printed). */
char *e2e_sim(e2e_world *w, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* a number from the `stats` line ("mt_lost" ...), -1 when missing */
long e2e_sim_stat(e2e_world *w, const char *name);

/* psql -At (fields separated by '|', rows by '\n') against the world's database; NULL on error. */
char *e2e_sql(e2e_world *w, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* A single integer from e2e_sql; -1 on error. */
long e2e_sql_long(e2e_world *w, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* smctl -c <cfg> ARGS: its stdout+stderr (malloc'd), *status its exit status. */
char *e2e_smctl(e2e_world *w, int *status, const char *fmt, ...) __attribute__((format(printf, 3, 4)));

/* ---- the ES client ------------------------------------------------------------------------------ */

typedef struct e2e_resp {
    int http;                /* HTTP status; -1 TLS refused, -2 connection failure */
    char *body;
    size_t len;
    tj *json;                /* parsed body or NULL */
    char status[40], subject[16], reason[16], message[256];
} e2e_resp;
void e2e_resp_free(e2e_resp *r);

/* POST /gsma/rest/<iface>/<function> as `who` (a role of the test PKI: "mno1", "m2msp1", "eum1",
 * "smdp", "smsr2", ...; its tls-<who>.crt/.key) with the header {functionCallIdentifier = fcid,
 * validityPeriod, messageId = fcid} and `body` (a JSON object text). Returns the HTTP status. */
int e2e_call(e2e_world *w, const char *who, const char *iface, const char *function, const char *fcid,
             long validity_s, const char *body, e2e_resp *out);
/* The same with a certificate/key pair given by path (a foreign PKI). */
int e2e_call_cert(e2e_world *w, const char *cert, const char *key, const char *iface, const char *function,
                  const char *fcid, long validity_s, const char *body, e2e_resp *out);

/* A raw POST of a JSON text to path (asynchronous responses, notifications, malformed headers). */
int e2e_post(e2e_world *w, const char *who, const char *path, const char *json, e2e_resp *out);
int e2e_post_cert(e2e_world *w, const char *cert, const char *key, const char *path, const char *json,
                  e2e_resp *out);

/* A kept-alive client connection of one stakeholder (reconnects when the server closed it). */
typedef struct e2e_client e2e_client;
e2e_client *e2e_client_open(e2e_world *w, const char *who);
int e2e_client_call(e2e_client *c, const char *iface, const char *function, const char *fcid, long validity_s,
                    const char *body, e2e_resp *out);
void e2e_client_close(e2e_client *c);

/* ES2.DownloadProfile as the development MNO (REST); ProfileType is the demo order's when iccid is
 * NULL. Returns the HTTP status (202 when accepted). */
int e2e_download(e2e_world *w, const char *fcid, const char *eid, const char *iccid, bool enable, e2e_resp *out);

/* ---- the stakeholders' endpoints ------------------------------------------------------------------ */

/* Waits up to timeout_ms for a message whose relatesTo is relates_to; copies it (body freed by
 * e2e_msg_free). 0 when found, -1 on timeout. */
int e2e_peer_wait(e2e_peer *p, const char *relates_to, int timeout_ms, e2e_msg *out);
/* How many messages with that relatesTo arrived (duplicates included); relates_to NULL = all. */
int e2e_peer_count(e2e_peer *p, const char *relates_to);
/* Messages whose path contains path_part (NULL = all): a snapshot, free with e2e_msgs_free. */
size_t e2e_peer_msgs(e2e_peer *p, const char *path_part, e2e_msg **out);
void e2e_msgs_free(e2e_msg *v, size_t n);
void e2e_msg_free(e2e_msg *m);
/* Waits until the endpoint has received at least n messages in all; returns how many it has. */
size_t e2e_peer_wait_total(e2e_peer *p, size_t n, int timeout_ms);
/* Copies of the messages received from index `from` on (in arrival order); *count set. */
e2e_msg *e2e_peer_since(e2e_peer *p, size_t from, size_t *count);
/* Answer the next n requests with this HTTP status (e.g. 503) instead of 202. */
void e2e_peer_fail_next(e2e_peer *p, int n, int http);

/* ---- checks -------------------------------------------------------------------------------------- */

/* Every card of eids: its profiles on the card (simulator) and in the EIS (database) are the same
 * ISD-Ps with matching states, and no ISD-P exists on one side only. 0 when they match; otherwise
 * the first differences are written to why. */
int e2e_check_cards(e2e_world *w, char (*eids)[33], size_t n, char *why, size_t cap);

/* An EID with valid check digits (ISO 7064 mod 97-10) from its first 30 digits. */
void e2e_eid_make(const char *first30, char out[33]);

/* A further order of the development MNO for profile type `type` (the TS.48 template imported under
 * that name): qty profiles from iccid_start (18-19 digits, the Luhn digit is added). 0 on success. */
int e2e_order(e2e_world *w, const char *type, unsigned qty, const char *iccid_start);

/* Polls fn(arg) every 100 ms until it returns true or timeout_ms passes. */
bool e2e_until(bool (*fn)(void *arg), void *arg, int timeout_ms);
int64_t e2e_now_us(void);

#endif
