-- 0030_smdp: what the SM-DP (appliance/smdp, docs/sm-dp.md) keeps beside its profile types, stock
-- and orders: batch orders and where each stock profile came from, the state of running profile
-- downloads, and the ISD-P key sets established with eUICCs.
-- Runs in one transaction under the migration advisory lock; never BEGIN/COMMIT here.

-- A batch order (order file, docs/sm-dp-files.md) as imported: who, for which MNO, from which template,
-- and the MNO output file it produced (Ki/OPc only encrypted under the MNO transport key, plus a CMAC).
CREATE TABLE dp_batch (
    id           bigserial PRIMARY KEY,
    requester    text NOT NULL,
    mno_id       text NOT NULL,
    profile_type text NOT NULL REFERENCES profile_type,
    template_id  text NOT NULL,
    quantity     bigint NOT NULL CHECK (quantity > 0),
    first_iccid  text NOT NULL,
    last_iccid   text NOT NULL,
    sha256       bytea NOT NULL CHECK (length(sha256) = 32),  -- of the order file as received
    mno_file     bytea NOT NULL,
    created_at   timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX dp_batch_sha256 ON dp_batch (sha256);

-- Where a stock profile came from: its template (part of the AES-GCM AAD), batch and owner MNO.
ALTER TABLE profile_stock ADD COLUMN template_id text;
ALTER TABLE profile_stock ADD COLUMN batch_id bigint REFERENCES dp_batch;
ALTER TABLE profile_stock ADD COLUMN mno_id text;
CREATE INDEX profile_stock_mno_available ON profile_stock (profile_type, mno_id, iccid) WHERE state = 'available';

-- One row per running (or finished) profile download procedure: what was asked, where the final
-- answer goes, and the working state of each phase. Nothing secret: the ISD-P keys are stored only
-- wrapped under the HSM KEK, the protected SCP03t script is ciphertext under session keys.
CREATE TABLE dp_download (
    proc_id       bigint PRIMARY KEY,
    order_id      bigint NOT NULL,
    origin        text NOT NULL CHECK (origin IN ('es2', 'es4', 'local')),
    requester     text NOT NULL,
    call_id       text NOT NULL DEFAULT '',
    mno_id        text NOT NULL,
    eid           text NOT NULL,
    smsr_id       text NOT NULL,
    req_iccid     text,
    req_type      text,
    enable        boolean NOT NULL DEFAULT false,
    reply         bytea,                    -- where the final ES2/ES4 response goes (es_reply_to, encoded)
    iccid         text,                     -- the profile chosen
    template_id   text,
    profile_type  text,
    phase         text NOT NULL DEFAULT 'start',
    es3_seq       integer NOT NULL DEFAULT 0,   -- ES3 requests sent so far (MessageID suffix)
    expect_mid    text,                     -- MessageID of the ES3 request the procedure waits for
    expect_fn     text,                     -- its function ("ES3.SendData")
    isdp_aid      bytea,
    data_sent     boolean NOT NULL DEFAULT false, -- a protected profile segment left the SM-DP
    ke_attempts   integer NOT NULL DEFAULT 0,
    ke_state      bytea,                    -- key establishment in flight (CRT, RC, ePK; public values)
    kvn           integer,
    scp_seq       integer NOT NULL DEFAULT 0,   -- ISD-P SCP03 sequence counter used last
    script        bytea,                    -- SCP03t TLVs of the download session (ciphertext)
    script_state  bytea,                    -- host challenge, chunk offsets, per-TLV MCV/counter
    chunk         integer NOT NULL DEFAULT 0,   -- next SendData chunk of the script
    fail_status   text,                     -- the original failure (exec subject reason message)
    warning       text,
    outcome       text,                     -- success | warning | failed | expired
    created_at    timestamptz NOT NULL DEFAULT now(),
    updated_at    timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX dp_download_eid ON dp_download (eid, proc_id);

-- ISD-P key sets established by this SM-DP (ES8.EstablishISDPKeySet), for later ES8 management.
CREATE TABLE dp_isdp_keyset (
    eid        text NOT NULL,
    isdp_aid   bytea NOT NULL,
    iccid      text NOT NULL,
    kvn        integer NOT NULL CHECK (kvn BETWEEN 48 AND 63),
    enc        bytea NOT NULL,              -- hsm_wrap (RFC 5649) under the KEK named by kek_label
    mac        bytea NOT NULL,
    dek        bytea NOT NULL,
    kcv        bytea NOT NULL CHECK (length(kcv) = 9),
    kek_label  text NOT NULL,
    scp_seq    integer NOT NULL DEFAULT 0,  -- last SCP03 sequence counter used with the ISD-P
    proc_id    bigint,
    created_at timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (eid, isdp_aid)
);
