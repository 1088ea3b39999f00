/* config: the appliance configuration (one YAML file), driven by one schema table (config_schema.c)
 * that also produces docs/config.md and `smctl config check`. Owns parsing, defaults, validation. */
#ifndef SM_CONFIG_H
#define SM_CONFIG_H

#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>

#include "lib/err.h"

/* A list of strings (YAML sequence of scalars). */
typedef struct sm_strlist {
    char **v;
    size_t n;
} sm_strlist;

/* One ES peer (stakeholder) allowed to call or be called: see docs/config.md, `es.peers`. */
typedef struct sm_cfg_peer {
    char *id;          /* GSMA identifier of the stakeholder (e.g. an MNO's OID-like id) */
    char *role;        /* mno | m2msp | eum | smdp | smsr */
    char *subject;     /* TLS client certificate subject to match (RFC 2253), optional */
    char *san;         /* TLS client certificate subjectAltName DNS/URI to match, optional */
    char *fingerprint; /* SHA-256 of the client certificate, hex, optional */
    char *endpoint;    /* base URL of the peer's own ES endpoint, for notifications and calls */
} sm_cfg_peer;

typedef struct sm_config {
    char *path; /* file it was read from, NULL for embedded defaults */

    struct {
        char *name;
        char *var_dir;
    } node;

    struct {
        char *level;
    } log;

    struct {
        char *module;
        char *token_label;
        char *pin_file;
        char *pin_env;
        char *softhsm2_conf;
        long sessions;
        char *key_prefix;
    } hsm;

    struct {
        char *dsn;
        char *password_file;
        char *password_env;
        long pool_size;
        char *embedded_dir;
        char *pg_bindir;              /* embedded cluster: PostgreSQL server programs (empty = found) */
        long audit_checkpoint_entries; /* a signed audit checkpoint every this many entries... */
        long audit_checkpoint_seconds; /* ...and at least this often */
    } database;

    struct {
        long threads;
        long lease_ms;           /* claim on a procedure step or an outbox message (other nodes take over after it) */
    } workers;

    struct {
        char *listen;            /* address:port of the ES (HTTPS) listener */
        char *tls_key_label;     /* HSM label of the TLS private key */
        char *tls_cert_file;
        char *tls_ca_file;       /* trust list: CA bundle for client certificates */
        char *tls_dev_key_file;  /* development only: PEM key instead of the HSM (loud warning) */
        long max_body_bytes;
        long max_header_bytes;
        long max_xml_depth;
        long max_xml_nodes;
        long rate_per_second;
        long rate_burst;
        long idle_timeout_s;
        long request_timeout_s;  /* a request must be complete this long after its first byte */
        long handshake_timeout_s;
        long handshake_threads;  /* threads driving TLS handshakes (HSM signatures) off the loop */
        long max_connections;
        long client_timeout_s;   /* outbound ES calls: per attempt */
        long client_retries;
        long client_backoff_ms;
        long outbox_poll_ms;     /* outbox pump's safety-net poll (kicks and NOTIFY do the rest) */
        long outbox_pumps;       /* outbox pump jobs at once; 0 = workers - 1 (at least 1) */
        char *public_url;        /* how peers reach this appliance (WS-Addressing, notifications) */
        sm_cfg_peer *peers;
        size_t npeers;
    } es;

    struct {
        char *smdp_id;           /* our GSMA identifiers */
        char *smsr_id;
        char *ci_cert_file;      /* trusted GSMA CI certificate(s) for eUICC and peer checks */
    } gsma;

    struct {                     /* the SM-DP (appliance/smdp, docs/sm-dp.md) */
        char *cert_file;         /* CERT.DP.ECDSA (GP 7F21) of SK.DP.ECDSA, issued by the CI */
        char *eum_cert_file;     /* EUM certificates (PEM) for eUICC certificate chains */
        long default_validity_s; /* downloads whose request named no ValidityPeriod */
        long send_data_max_bytes; /* Data per ES3.SendData */
        long isdp_kvn;           /* SCP03 key set version established in ISD-Ps */
        char *es3_binding;       /* soap | rest */
        char *demo_mno_id;       /* smctl demo download: the development MNO */
        char *demo_mno_cert_file;
        char *demo_mno_key_file;
    } smdp;

    struct {
        char *platform_channel;  /* ISD-R platform commands (enable, disable, delete): auto | sms | https */
        long default_validity_s; /* SM-SR procedures whose call named no ValidityPeriod */
    } smsr;

    struct {                     /* ES5 delivery to eUICCs (appliance/es5, docs/es5.md) */
        char *smpp_server;       /* SMSC host:port; empty = no SMS channel on this node */
        char *smpp_system_id;
        char *smpp_password_file;
        char *smpp_password_env;
        char *smpp_system_type;
        char *sms_source_addr;   /* our SMS address (source of MT; PoRs come back to it) */
        long smpp_enquire_link_s;
        long smpp_window;
        long smpp_response_timeout_s;
        long smpp_reconnect_max_s;
        bool smpp_delivery_receipts;
        long sms_max_parts;
        char *admin_listen;      /* SCP81 admin server host:port; empty = no HTTPS channel on this node */
        char *admin_url;         /* https://host:port/path the push tells the card to open */
        long admin_handshake_threads;
        long admin_idle_ms;
        long admin_hold_ms;
        long admin_max_connections;
        char *push_identity;     /* tlv | text */
        char *prefer_channel;    /* https | sms, for requests that leave the choice to es5 */
        long validity_s;
        long por_timeout_ms;
        long retry_max_ms;
        long session_wait_ms;
        long script_timeout_s;
        long lease_ms;
        long poll_ms;
        long notification_dedup_s;
        long retention_s;
    } es5;
} sm_config;

/* Loads and validates a file (path NULL: embedded defaults only). On error the message names the
 * file, line and key. */
sm_rc sm_config_load(const char *path, sm_config **out, sm_err *err);
void sm_config_free(sm_config *cfg);

/* Reads a secret named by a *_file / *_env pair (exactly one must be set) into locked memory.
 * Caller frees with sm_secmem_free(*out, *len + 1). */
sm_rc sm_config_secret(const char *file, const char *env, const char *what, char **out, size_t *len, sm_err *err);

/* Resolves a path from the config relative to node.var_dir (absolute paths are kept). */
void sm_config_var_path(const sm_config *cfg, const char *rel, char *out, size_t cap);

/* Writes docs/config.md (the reference generated from the schema). */
void sm_config_write_docs(FILE *out);
/* Writes the effective configuration as YAML (secrets are never in it). */
void sm_config_dump(const sm_config *cfg, FILE *out);

#endif
