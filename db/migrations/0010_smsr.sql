-- 0010_smsr: what the SM-SR logic (appliance/smsr, docs/sm-sr.md) keeps beside the EIS.
-- Runs in one transaction under the migration advisory lock; never BEGIN/COMMIT here.

-- The SM-SR SMS address the EUM configured in the ISD-R (destination of MO notifications, batch
-- field smsr-sms), and the eUICC owner (an M2M SP's GSMA id) told about profile state changes on ES4.
ALTER TABLE euicc ADD COLUMN smsr_sms text CHECK (smsr_sms ~ '^[0-9]{1,20}$');
ALTER TABLE euicc ADD COLUMN owner_id text CHECK (owner_id ~ '^[0-9]+(\.[0-9]+)*$');

-- The transport-key id an EUM uses when an ES1 EIS names none (AdditionalProperties transport-key-id).
ALTER TABLE eum ADD COLUMN tk_id text CHECK (tk_id ~ '^[A-Za-z0-9._-]{1,40}$');

-- Every import of an eUICC batch file (smctl euicc import, ES1.ImportEISBatch): which file (SHA-256
-- of its bytes), who, and what became of its records.
CREATE TABLE euicc_batch (
    id          bigserial PRIMARY KEY,
    sha256      bytea NOT NULL CHECK (length(sha256) = 32),
    eum_id      text NOT NULL,
    tk_id       text NOT NULL,
    records     integer NOT NULL,
    imported    integer NOT NULL,
    unchanged   integer NOT NULL,
    rejected    integer NOT NULL,
    actor       text NOT NULL,
    imported_at timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX euicc_batch_sha256 ON euicc_batch (sha256);

-- The running SM-SR procedures' context (one row per procedure, removed when it ends): where the
-- asynchronous answer goes, what was asked, the ES5 request in flight and the eUICC notification
-- that completed a profile switch. The procedure's own step data is replaced by each ES5 result.
CREATE TABLE smsr_op (
    proc_id    bigint PRIMARY KEY,
    eid        text NOT NULL,
    op         text NOT NULL CHECK (op IN ('CreateISDP', 'SendData', 'Enable', 'Disable', 'Delete', 'Audit')),
    iccid      text,
    ctx        bytea NOT NULL,                 -- reply-to and request fields (never a secret)
    es5_req    bigint,                         -- ES5 request in flight
    notif_type integer,                        -- eUICC notification received for this operation
    notif_aid  bytea,
    created_at timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX smsr_op_eid ON smsr_op (eid, proc_id);
