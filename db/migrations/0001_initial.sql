-- 0001_initial: the first schema of smbox (docs/database.md explains every table).
-- Runs in one transaction under the migration advisory lock; never BEGIN/COMMIT here.

-- ===== SM-SR: eUICCs and their EIS ==============================================================

CREATE TABLE eum (
    eum_id        text PRIMARY KEY,
    certificate   bytea,                 -- EUM certificate (DER), to verify EIS signatures
    transport_key bytea,                 -- EUM<->SM-SR transport key, wrapped under the HSM KEK
    kek_label     text,
    created_at    timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE euicc (
    eid               text PRIMARY KEY CHECK (eid ~ '^[0-9A-F]{32}$'),
    eum_id            text NOT NULL,
    production_date   timestamptz,
    platform_type     text NOT NULL DEFAULT '' CHECK (length(platform_type) <= 100),
    platform_version  text NOT NULL DEFAULT '',
    rsp_version       text NOT NULL DEFAULT '',        -- RemoteProvisioningVersion
    isdp_loadfile_aid bytea,
    isdp_module_aid   bytea,
    ecasd_aid         bytea,
    ecasd_cert        bytea,                           -- CERT.ECASD.ECKA (GP 7F21 TLV)
    caps              integer NOT NULL DEFAULT 0,      -- bit 0 CAT_TP, bit 1 HTTPS
    cattp_version     text,
    http_version      text,
    secure_packet_version text,
    remaining_memory  bigint NOT NULL DEFAULT 0,
    available_memory  bigint NOT NULL DEFAULT 0,
    last_audit        timestamptz,
    smsr_id           text NOT NULL,
    isdr_aid          bytea,
    isdr_tar          bytea,
    isdr_sin          bytea,
    isdr_sdin         bytea,
    eum_signed        bytea,                           -- EumSignedInfo + EumSignature, verbatim as received
    state             text NOT NULL DEFAULT 'active'
                      CHECK (state IN ('active', 'change-prepared', 'changing', 'handed-over')),
    notif_seq         integer NOT NULL DEFAULT -1,     -- last default-notification sequence number processed
    version           bigint NOT NULL DEFAULT 1,
    created_at        timestamptz NOT NULL DEFAULT now(),
    updated_at        timestamptz NOT NULL DEFAULT now()
);

-- Key sets of the eUICC's security domains (ISD-R SCP80/SCP81, ...). Key values only wrapped.
CREATE TABLE euicc_keyset (
    eid      text NOT NULL REFERENCES euicc ON DELETE CASCADE,
    kvn      integer NOT NULL CHECK (kvn BETWEEN 1 AND 127),
    sd       text NOT NULL DEFAULT 'ISD-R',
    type     text NOT NULL CHECK (type IN ('SCP03', 'SCP80', 'SCP81', 'TokenGeneration', 'ReceiptVerification', 'CA')),
    counter  bigint NOT NULL DEFAULT 0 CHECK (counter >= 0),  -- SCP80 outgoing counter (strictly increasing)
    PRIMARY KEY (eid, kvn)
);

CREATE TABLE euicc_key (
    eid       text NOT NULL,
    kvn       integer NOT NULL,
    key_index integer NOT NULL CHECK (key_index BETWEEN 0 AND 127),
    key_type  integer NOT NULL,           -- GP key type (0x88 AES, ...)
    wrapped   bytea NOT NULL,             -- hsm_wrap under the KEK named by kek_label; never the clear key
    kcv       bytea,
    kek_label text NOT NULL,
    PRIMARY KEY (eid, kvn, key_index),
    FOREIGN KEY (eid, kvn) REFERENCES euicc_keyset ON DELETE CASCADE
);

-- ISD-Ps / profiles on each eUICC (EIS ProfileInfo).
CREATE TABLE profile (
    iccid            text PRIMARY KEY CHECK (iccid ~ '^89[0-9Ff]{4,18}$'),
    eid              text NOT NULL REFERENCES euicc ON DELETE CASCADE,
    isdp_aid         bytea NOT NULL,
    mno_id           text NOT NULL,
    state            text NOT NULL CHECK (state IN ('creating', 'Created', 'Disabled', 'Enabled')),
    fallback         boolean NOT NULL DEFAULT false,
    emergency        boolean NOT NULL DEFAULT false,
    imsi             text CHECK (imsi ~ '^[0-9]{0,15}$'),
    msisdn           text CHECK (msisdn ~ '^[0-9]{3,15}$'),
    pol2             integer NOT NULL DEFAULT 0,      -- POL2 rule bits (db/eis_repo.h DB_POL2_*)
    smdp_id          text,
    profile_type     text CHECK (length(profile_type) <= 100),
    allocated_memory bigint NOT NULL DEFAULT 0,
    free_memory      bigint,
    version          bigint NOT NULL DEFAULT 1,
    created_at       timestamptz NOT NULL DEFAULT now(),
    updated_at       timestamptz NOT NULL DEFAULT now(),
    UNIQUE (eid, isdp_aid)
);
CREATE UNIQUE INDEX profile_one_enabled ON profile (eid) WHERE state = 'Enabled';
CREATE UNIQUE INDEX profile_one_fallback ON profile (eid) WHERE fallback;
CREATE INDEX profile_msisdn ON profile (msisdn) WHERE msisdn IS NOT NULL;

-- Every change of an EIS: what, who asked, when (and the EIS AuditTrail operation code).
CREATE TABLE eis_history (
    id      bigserial PRIMARY KEY,
    eid     text NOT NULL,
    iccid   text,
    at      timestamptz NOT NULL DEFAULT now(),
    actor   text NOT NULL,
    action  text NOT NULL,
    op_type text CHECK (op_type ~ '^[0-9A-F]{4}$'),
    detail  text NOT NULL DEFAULT '',
    proc_id bigint
);
CREATE INDEX eis_history_eid ON eis_history (eid, id);

-- ===== SM-DP: profile types, stock, orders, MNO keys ============================================

CREATE TABLE profile_type (
    name            text PRIMARY KEY CHECK (length(name) <= 100),
    mno_id          text NOT NULL,
    description     text NOT NULL DEFAULT '',
    required_memory bigint NOT NULL DEFAULT 0,
    template        bytea,                -- unpersonalised package (no subscriber secrets)
    created_at      timestamptz NOT NULL DEFAULT now()
);

-- Personalised profiles, protected at rest: AES-GCM under the HSM profile key (ciphertext || tag).
CREATE TABLE profile_stock (
    iccid        text PRIMARY KEY CHECK (iccid ~ '^89[0-9Ff]{4,18}$'),
    profile_type text NOT NULL REFERENCES profile_type,
    imsi         text,
    msisdn       text,
    state        text NOT NULL DEFAULT 'available'
                 CHECK (state IN ('available', 'reserved', 'installed', 'retired')),
    order_id     bigint,
    iv           bytea NOT NULL CHECK (length(iv) = 12),
    ciphertext   bytea NOT NULL,
    key_label    text NOT NULL,
    created_at   timestamptz NOT NULL DEFAULT now(),
    updated_at   timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX profile_stock_available ON profile_stock (profile_type, iccid) WHERE state = 'available';

CREATE TABLE dp_order (
    id           bigserial PRIMARY KEY,
    requester    text NOT NULL,
    call_id      text,
    mno_id       text NOT NULL,
    eid          text,
    iccid        text,
    profile_type text,
    smsr_id      text,
    enable       boolean NOT NULL DEFAULT false,
    state        text NOT NULL DEFAULT 'new' CHECK (state IN ('new', 'in-progress', 'done', 'failed', 'expired')),
    proc_id      bigint,
    result       bytea,
    created_at   timestamptz NOT NULL DEFAULT now(),
    updated_at   timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX dp_order_iccid ON dp_order (iccid);

CREATE TABLE mno_key (
    mno_id     text NOT NULL,
    key_id     text NOT NULL,
    purpose    text NOT NULL,
    wrapped    bytea NOT NULL,            -- under the HSM KEK
    kcv        bytea,
    kek_label  text NOT NULL,
    created_at timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (mno_id, key_id)
);

-- ===== Procedures (durable GSMA procedures, db/proc.h) ==========================================

CREATE SEQUENCE proc_lease_token;

CREATE TABLE proc (
    id            bigserial PRIMARY KEY,
    kind          text NOT NULL,
    eid           text,
    iccid         text,
    requester     text,
    call_id       text,
    step          text NOT NULL,
    state         text NOT NULL DEFAULT 'ready'
                  CHECK (state IN ('ready', 'running', 'waiting', 'done', 'failed', 'expired')),
    attempts      integer NOT NULL DEFAULT 0,     -- failed attempts of the current step
    transitions   integer NOT NULL DEFAULT 0,
    next_run_at   timestamptz NOT NULL DEFAULT now(),  -- ready: when due; running: lease expiry;
                                                       -- waiting: the deadline (then it expires)
    deadline      timestamptz,                         -- validity period end
    lease_owner   text,
    lease_token   bigint,
    lease_expires timestamptz,
    data          bytea,
    result        bytea,
    last_error    text,
    created_at    timestamptz NOT NULL DEFAULT now(),
    updated_at    timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX proc_due ON proc (next_run_at) WHERE state IN ('ready', 'running', 'waiting');
CREATE INDEX proc_eid ON proc (eid) WHERE state IN ('ready', 'running', 'waiting');

-- ===== Idempotency (db/idem.h) ==================================================================

CREATE TABLE idem (
    requester    text NOT NULL,
    call_id      text NOT NULL,
    state        text NOT NULL DEFAULT 'pending' CHECK (state IN ('pending', 'done')),
    response     bytea,
    proc_id      bigint,
    created_at   timestamptz NOT NULL DEFAULT now(),
    completed_at timestamptz,
    PRIMARY KEY (requester, call_id)
);
CREATE INDEX idem_created ON idem (created_at);

-- ===== Outbox (db/outbox.h) =====================================================================

CREATE TABLE outbox (
    id              bigserial PRIMARY KEY,
    dest_role       text NOT NULL CHECK (dest_role IN ('mno', 'm2msp', 'eum', 'smdp', 'smsr')),
    dest_id         text NOT NULL,
    kind            text NOT NULL,
    relates_to      text,
    payload         bytea NOT NULL,
    proc_id         bigint,
    state           text NOT NULL DEFAULT 'pending' CHECK (state IN ('pending', 'sending', 'delivered', 'dead')),
    attempts        integer NOT NULL DEFAULT 0,
    max_attempts    integer NOT NULL DEFAULT 20,
    next_attempt_at timestamptz NOT NULL DEFAULT now(),
    lease_owner     text,
    lease_token     bigint,
    last_error      text,
    created_at      timestamptz NOT NULL DEFAULT now(),
    delivered_at    timestamptz
);
CREATE INDEX outbox_due ON outbox (next_attempt_at) WHERE state IN ('pending', 'sending');

-- ===== Audit trail (db/audit.h, docs/audit.md) ==================================================

-- One row per hash chain: its last sequence number and hash. Locked FOR UPDATE by each append.
CREATE TABLE audit_chain (
    chain      text PRIMARY KEY,
    seq        bigint NOT NULL,
    hash       bytea NOT NULL,
    updated_at timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE audit_log (
    id        bigserial PRIMARY KEY,
    chain     text NOT NULL,
    seq       bigint NOT NULL,
    at_us     bigint NOT NULL,           -- microseconds since 1970 (database clock); hashed
    node      text NOT NULL,
    actor     text NOT NULL,
    action    text NOT NULL,
    object    text NOT NULL,
    outcome   text NOT NULL,
    details   text NOT NULL,
    prev_hash bytea NOT NULL,
    hash      bytea NOT NULL,
    UNIQUE (chain, seq)
);
CREATE INDEX audit_log_at ON audit_log (at_us);

CREATE TABLE audit_key (
    key_id     bytea PRIMARY KEY,        -- SHA-256 of the public point
    label      text NOT NULL,
    pubkey     bytea NOT NULL,           -- 04 || X || Y (P-256)
    first_used timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE audit_checkpoint (
    seq       bigint PRIMARY KEY,
    at_us     bigint NOT NULL,
    node      text NOT NULL,
    total     bigint NOT NULL,           -- sum of the chain heads' sequence numbers
    heads     text NOT NULL,             -- "chain<TAB>seq<TAB>hash-hex\n" per chain, sorted
    prev_hash bytea NOT NULL,
    hash      bytea NOT NULL,
    key_id    bytea NOT NULL REFERENCES audit_key,
    signature bytea NOT NULL             -- ECDSA P-256 r || s over hash
);

-- Append-only: ordinary roles cannot change history. (A superuser can disable this; the hash
-- chain and the signed checkpoints are what detect that.)
CREATE FUNCTION audit_append_only() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION 'the audit trail is append-only (% on %)', TG_OP, TG_TABLE_NAME
        USING ERRCODE = 'insufficient_privilege';
END $$;
CREATE TRIGGER audit_log_append_only BEFORE UPDATE OR DELETE ON audit_log
    FOR EACH ROW EXECUTE FUNCTION audit_append_only();
CREATE TRIGGER audit_log_no_truncate BEFORE TRUNCATE ON audit_log
    FOR EACH STATEMENT EXECUTE FUNCTION audit_append_only();
CREATE TRIGGER audit_checkpoint_append_only BEFORE UPDATE OR DELETE ON audit_checkpoint
    FOR EACH ROW EXECUTE FUNCTION audit_append_only();
CREATE TRIGGER audit_checkpoint_no_truncate BEFORE TRUNCATE ON audit_checkpoint
    FOR EACH STATEMENT EXECUTE FUNCTION audit_append_only();
