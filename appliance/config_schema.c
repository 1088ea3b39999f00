/* The configuration schema. Adding a key: a field in sm_config (config.h) and a line here. */
#include "appliance/config_schema.h"

#include <limits.h>

#include "appliance/config.h"

#define S(k, f, d, doc) {k, CT_STR, offsetof(sm_config, f), d, doc, NULL, 0, 0, 0, NULL, 0, 0}
#define I(k, f, d, lo, hi, doc) {k, CT_INT, offsetof(sm_config, f), d, doc, NULL, lo, hi, 0, NULL, 0, 0}
#define E(k, f, d, ch, doc) {k, CT_ENUM, offsetof(sm_config, f), d, doc, ch, 0, 0, 0, NULL, 0, 0}
#define PS(k, f, req, doc) {k, CT_STR, offsetof(sm_cfg_peer, f), NULL, doc, NULL, 0, 0, req, NULL, 0, 0}

static const cfg_item peer_schema[] = {
    PS("id", id, CF_REQUIRED, "GSMA identifier of the stakeholder (FunctionRequesterIdentifier)."),
    {"role", CT_ENUM, offsetof(sm_cfg_peer, role), NULL, "Its role; decides which ES interfaces it may call.",
     "mno|m2msp|eum|smdp|smsr", 0, 0, CF_REQUIRED, NULL, 0, 0},
    PS("subject", subject, 0, "Client certificate subject to match (RFC 2253 string)."),
    PS("san", san, 0, "Client certificate subjectAltName (DNS or URI) to match."),
    PS("fingerprint", fingerprint, 0, "SHA-256 fingerprint of the client certificate (hex)."),
    PS("endpoint", endpoint, 0, "Base URL of the peer's ES endpoint (notifications, async responses, calls)."),
    {NULL, 0, 0, NULL, NULL, NULL, 0, 0, 0, NULL, 0, 0},
};

const cfg_item cfg_schema[] = {
    S("node.name", node.name, "smbox-1", "Name of this node in logs and the audit trail; unique per node of a fleet."),
    S("node.var_dir", node.var_dir, "var",
      "Directory for state that is not in PostgreSQL (development token, embedded cluster, secrets). *restart*"),

    E("log.level", log.level, "info", "debug|info|notice|warn|error", "Lowest level written."),

    S("hsm.module", hsm.module, "/usr/lib/softhsm/libsofthsm2.so", "PKCS#11 module to load. *restart*"),
    S("hsm.token_label", hsm.token_label, "smbox-dev", "Label of the token holding the appliance keys. *restart*"),
    S("hsm.pin_file", hsm.pin_file, "secrets/hsm-pin",
      "File holding the user PIN (mode 0600). Exclusive with hsm.pin_env. *restart*"),
    S("hsm.pin_env", hsm.pin_env, NULL, "Environment variable holding the user PIN. *restart*"),
    S("hsm.softhsm2_conf", hsm.softhsm2_conf, "softhsm/softhsm2.conf",
      "SoftHSM2 configuration to use (exported as SOFTHSM2_CONF when the file exists and the variable is unset). "
      "*restart*"),
    I("hsm.sessions", hsm.sessions, "0", 0, 256,
      "HSM sessions in the pool; 0 = one per worker thread plus two. *restart*"),
    S("hsm.key_prefix", hsm.key_prefix, "smbox", "Prefix of the labels of the appliance keys (`<prefix>-kek`, ...). *restart*"),

    S("database.dsn", database.dsn, NULL,
      "postgresql:// URI of an external server (TLS and client certificates by its parameters). Empty: the "
      "embedded cluster under node.var_dir, on a unix socket only. *restart*"),
    S("database.password_file", database.password_file, NULL, "File holding the database password. *restart*"),
    S("database.password_env", database.password_env, NULL, "Environment variable holding the database password. *restart*"),
    I("database.pool_size", database.pool_size, "0", 0, 256, "Connections; 0 = one per worker thread plus two. *restart*"),
    S("database.embedded_dir", database.embedded_dir, "pg", "Data directory of the embedded cluster. *restart*"),
    S("database.pg_bindir", database.pg_bindir, NULL,
      "Directory of the PostgreSQL server programs for the embedded cluster; empty: `pg_config --bindir`, then "
      "the newest /usr/lib/postgresql/N/bin. *restart*"),
    I("database.audit_checkpoint_entries", database.audit_checkpoint_entries, "1000", 1, 1000000,
      "A checkpoint of the audit trail, signed by the HSM audit key, once this many entries were appended."),
    I("database.audit_checkpoint_seconds", database.audit_checkpoint_seconds, "60", 1, 3600,
      "And at least this often while entries arrive (seconds)."),

    I("workers.threads", workers.threads, "4", 1, 256,
      "Worker threads (each with its own HSM session and database connection). A worker spends much of "
      "its time waiting on the database: about twice the CPU cores keeps them busy. *restart*"),
    I("workers.lease_ms", workers.lease_ms, "30000", 1000, 3600000,
      "A node's claim on a procedure step or an outbox message while it works on it: if the node dies, "
      "another takes the work over after this. Longer than the slowest step (a step that overruns is "
      "fenced off, never applied twice). *restart*"),

    S("es.listen", es.listen, "127.0.0.1:8443", "Address and port of the ES interfaces (HTTPS, mutual TLS). *restart*"),
    S("es.tls_key_label", es.tls_key_label, NULL,
      "HSM label of the TLS private key; empty: the key ceremony's `<hsm.key_prefix>-tls-es` (smbox-tls-es). *restart*"),
    S("es.tls_cert_file", es.tls_cert_file, "pki/smbox-tls.crt", "TLS certificate chain (PEM). *restart*"),
    S("es.tls_ca_file", es.tls_ca_file, "pki/tls-ca.crt", "CA bundle that client certificates must chain to. *restart*"),
    S("es.tls_dev_key_file", es.tls_dev_key_file, NULL,
      "Development only: a PEM private key file instead of the HSM key. Logged loudly at start. *restart*"),
    I("es.max_body_bytes", es.max_body_bytes, "4194304", 1024, 268435456, "Largest request body accepted."),
    I("es.max_header_bytes", es.max_header_bytes, "16384", 1024, 1048576, "Largest request header block accepted."),
    I("es.max_xml_depth", es.max_xml_depth, "32", 4, 256, "Deepest XML nesting accepted in a SOAP request."),
    I("es.max_xml_nodes", es.max_xml_nodes, "20000", 16, 10000000, "Most XML nodes accepted in a SOAP request."),
    I("es.rate_per_second", es.rate_per_second, "200", 1, 1000000, "Requests per second allowed per client identity."),
    I("es.rate_burst", es.rate_burst, "400", 1, 1000000, "Burst allowance per client identity."),
    I("es.idle_timeout_s", es.idle_timeout_s, "30", 1, 3600, "Seconds a connection may stay idle or stall mid-request."),
    I("es.request_timeout_s", es.request_timeout_s, "20", 1, 3600,
      "Seconds a request may take from its first byte to its last (slow senders are answered 408 and closed). "
      "*restart*"),
    I("es.handshake_timeout_s", es.handshake_timeout_s, "10", 1, 300, "Seconds a TLS handshake may take. *restart*"),
    I("es.handshake_threads", es.handshake_threads, "2", 1, 64,
      "Threads that run TLS handshakes (and their HSM signature) off the event loop. *restart*"),
    I("es.max_connections", es.max_connections, "1024", 1, 1000000, "Concurrent ES connections accepted. *restart*"),
    I("es.client_timeout_s", es.client_timeout_s, "30", 1, 3600,
      "Outbound ES calls (async responses, notifications, ES3/ES7): seconds per attempt. *restart*"),
    I("es.client_retries", es.client_retries, "3", 0, 100,
      "Outbound ES calls: further attempts after a transport failure, 408, 429 or 5xx. *restart*"),
    I("es.client_backoff_ms", es.client_backoff_ms, "500", 10, 600000,
      "Outbound ES calls: first back-off, doubled per attempt. *restart*"),
    I("es.outbox_poll_ms", es.outbox_poll_ms, "500", 10, 3600000,
      "The outbox pump's poll (ms): for messages due after a retry back-off, messages of a node that died "
      "after its commit, and notifications missed while the listening session reconnected. New messages are "
      "sent at once: a commit on this node starts its pump, and smctl's by PostgreSQL NOTIFY. *restart*"),
    I("es.outbox_pumps", es.outbox_pumps, "0", 0, 256,
      "Outbox pump jobs delivering at once on the worker pool; 0 = worker threads - 1 (at least 1). *restart*"),
    S("es.public_url", es.public_url, "https://127.0.0.1:8443", "How peers reach this appliance."),
    {"es.peers", CT_TABLE, offsetof(sm_config, es.peers), NULL,
     "Stakeholders allowed to call, with their identity and endpoint.", NULL, 0, 0, 0, peer_schema,
     sizeof(sm_cfg_peer), offsetof(sm_config, es.npeers)},

    S("gsma.smdp_id", gsma.smdp_id, "1.3.6.1.4.1.99999.1.1", "GSMA identifier of this appliance's SM-DP role."),
    S("gsma.smsr_id", gsma.smsr_id, "1.3.6.1.4.1.99999.1.2", "GSMA identifier of this appliance's SM-SR role."),
    S("gsma.ci_cert_file", gsma.ci_cert_file, "pki/ci.crt", "Trusted GSMA CI certificate(s), PEM or DER."),

    S("smdp.cert_file", smdp.cert_file, "pki/smdp-gp.cert",
      "SM-DP: CERT.DP.ECDSA, the GP certificate (7F21, binary or hex) of the SM-DP signing key "
      "<hsm.key_prefix>-smdp-sign issued by the CI; sent to eUICCs in key establishment (docs/sm-dp.md)."),
    S("smdp.eum_cert_file", smdp.eum_cert_file, "pki/eum1.crt",
      "SM-DP: EUM certificates (PEM or DER) that eUICC certificates chain to, besides those of the eum table."),
    I("smdp.default_validity_s", smdp.default_validity_s, "86400", 60, 2592000,
      "SM-DP: validity of a download whose request named no ValidityPeriod (seconds)."),
    I("smdp.send_data_max_bytes", smdp.send_data_max_bytes, "65536", 1100, 4194304,
      "SM-DP: most bytes of ES8 data (SCP03t TLVs) per ES3.SendData; a longer profile goes in several calls."),
    I("smdp.isdp_kvn", smdp.isdp_kvn, "48", 48, 63,
      "SM-DP: version of the SCP03 key set established in ISD-Ps (0x30..0x3F)."),
    E("smdp.es3_binding", smdp.es3_binding, "soap", "soap|rest", "SM-DP: binding of the ES3 requests to SM-SRs."),
    S("smdp.demo_mno_id", smdp.demo_mno_id, "2.999.40.1",
      "smctl demo download: GSMA id of the development MNO (an es.peers entry of role mno, mk/devworld.sh's)."),
    S("smdp.demo_mno_cert_file", smdp.demo_mno_cert_file, "pki/tls-mno1.crt",
      "smctl demo download: the development MNO's TLS certificate (client, and server of its endpoint); when it or "
      "its key is missing the request enters in-process."),
    S("smdp.demo_mno_key_file", smdp.demo_mno_key_file, "pki/tls-mno1.key",
      "smctl demo download: its private key (PEM file: development only)."),

    E("smsr.platform_channel", smsr.platform_channel, "auto", "auto|sms|https",
      "SM-SR: bearer of ISD-R platform commands (enable, disable, delete profile); auto = HTTPS when the eUICC "
      "supports it, else SMS (docs/sm-sr.md)."),
    I("smsr.default_validity_s", smsr.default_validity_s, "86400", 60, 2592000,
      "SM-SR: validity of a procedure whose ES call named no ValidityPeriod (seconds)."),

    S("es5.smpp_server", es5.smpp_server, NULL,
      "ES5 SMS channel: the SMSC's SMPP 3.4 address host:port; empty = no SMS channel on this node. *restart*"),
    S("es5.smpp_system_id", es5.smpp_system_id, "smbox", "SMPP bind system_id (at most 15 characters). *restart*"),
    S("es5.smpp_password_file", es5.smpp_password_file, NULL,
      "File holding the SMPP bind password (at most 8 characters). Exclusive with es5.smpp_password_env; neither = "
      "empty password. *restart*"),
    S("es5.smpp_password_env", es5.smpp_password_env, NULL, "Environment variable holding the SMPP password. *restart*"),
    S("es5.smpp_system_type", es5.smpp_system_type, "", "SMPP bind system_type (at most 12 characters). *restart*"),
    S("es5.sms_source_addr", es5.sms_source_addr, NULL,
      "Our SMS address: source of MT SMS, where PoRs come back (the ISD-R's SM-SR address). Needed with "
      "es5.smpp_server. *restart*"),
    I("es5.smpp_enquire_link_s", es5.smpp_enquire_link_s, "30", 1, 3600, "enquire_link period while bound. *restart*"),
    I("es5.smpp_window", es5.smpp_window, "10", 1, 1000, "submit_sm awaiting their response at once. *restart*"),
    I("es5.smpp_response_timeout_s", es5.smpp_response_timeout_s, "10", 1, 600,
      "Seconds to wait for bind_resp, submit_sm_resp, enquire_link_resp. *restart*"),
    I("es5.smpp_reconnect_max_s", es5.smpp_reconnect_max_s, "30", 1, 3600,
      "Longest delay between reconnection attempts (from 0.5 s, doubled). *restart*"),
    {"es5.smpp_delivery_receipts", CT_BOOL, offsetof(sm_config, es5.smpp_delivery_receipts), "false",
     "Ask the SMSC for delivery receipts (logged; the PoR is what counts). *restart*", NULL, 0, 0, 0, NULL, 0, 0},
    I("es5.sms_max_parts", es5.sms_max_parts, "10", 1, 16,
      "Most SMS one SCP80 packet may take (concatenated). A longer script goes by HTTPS when the eUICC has it, "
      "else as several packets cut at TLV boundaries; one SCP03t segment of a profile download (1020 bytes) "
      "needs 8. *restart*"),
    S("es5.admin_listen", es5.admin_listen, NULL,
      "ES5 HTTPS channel: address:port of the SCP81 admin server (PSK-TLS) cards connect to after a push; empty = "
      "no HTTPS channel on this node. *restart*"),
    S("es5.admin_url", es5.admin_url, NULL,
      "https://host:port/path put in the push SMS: where cards open their admin session (needed with "
      "es5.admin_listen). *restart*"),
    I("es5.admin_handshake_threads", es5.admin_handshake_threads, "2", 1, 64,
      "Threads running PSK-TLS handshakes (their PSK lookup waits for a worker) off the loop. *restart*"),
    I("es5.admin_idle_ms", es5.admin_idle_ms, "2000", 0, 600000,
      "How long an admin session without work is kept open (204 with X-Admin-Next-URI) for the next script. "
      "*restart*"),
    I("es5.admin_hold_ms", es5.admin_hold_ms, "1000", 0, 60000,
      "A card's POST that finds no work is answered only when a script is queued for its eUICC on this node, "
      "or after this long (at most es5.admin_idle_ms in all): long polling instead of 204s the card repeats. "
      "0 answers at once. *restart*"),
    I("es5.admin_max_connections", es5.admin_max_connections, "1000", 1, 1000000,
      "Concurrent admin sessions accepted. *restart*"),
    E("es5.push_identity", es5.push_identity, "tlv", "tlv|text",
      "How the push SMS (tag 85) carries the PSK identity: its TLV bytes (45) or their hex text (90). *restart*"),
    E("es5.prefer_channel", es5.prefer_channel, "https", "https|sms",
      "Requests that leave the channel to es5: HTTPS when the eUICC supports it, or SMS when the script targets the "
      "ISD-R and fits es5.sms_max_parts. *restart*"),
    I("es5.validity_s", es5.validity_s, "3600", 10, 2592000,
      "Default validity of a request submitted without a deadline: undelivered after it, the request ends Expired. "
      "*restart*"),
    I("es5.por_timeout_ms", es5.por_timeout_ms, "30000", 100, 3600000,
      "First wait for a PoR before the same packet is sent again; doubled (with jitter) per retransmission. "
      "*restart*"),
    I("es5.retry_max_ms", es5.retry_max_ms, "600000", 100, 86400000, "Longest wait between two attempts. *restart*"),
    I("es5.session_wait_ms", es5.session_wait_ms, "60000", 100, 3600000,
      "Wait for the card's admin session after a push before pushing again. *restart*"),
    I("es5.script_timeout_s", es5.script_timeout_s, "120", 1, 3600,
      "A card in session must answer a script within this (its connection idles out then). *restart*"),
    I("es5.lease_ms", es5.lease_ms, "30000", 100, 3600000,
      "A node's claim on a request: if it dies, another node takes the request over after this. *restart*"),
    I("es5.poll_ms", es5.poll_ms, "100", 10, 60000,
      "How often a node looks for due requests (submitted elsewhere, timed out, expired). *restart*"),
    I("es5.notification_dedup_s", es5.notification_dedup_s, "86400", 1, 31536000,
      "A notification sequence number seen again within this is a duplicate (confirmed again, not processed). "
      "*restart*"),
    I("es5.retention_s", es5.retention_s, "604800", 60, 31536000, "Finished requests are kept this long. *restart*"),
    {NULL, 0, 0, NULL, NULL, NULL, 0, 0, 0, NULL, 0, 0},
};

const char *cfg_type_name(cfg_type t)
{
    switch (t) {
    case CT_STR:
        return "string";
    case CT_INT:
        return "integer";
    case CT_BOOL:
        return "boolean";
    case CT_ENUM:
        return "enum";
    case CT_STRLIST:
        return "list of strings";
    case CT_TABLE:
        return "list of mappings";
    }
    return "?";
}
