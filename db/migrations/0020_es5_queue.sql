-- 0020_es5_queue: the ES5 delivery queue, received notifications and open admin sessions
-- (appliance/es5, docs/es5.md). Runs in one transaction under the migration advisory lock.

CREATE SEQUENCE es5_lease_token;

-- One row per command script for one eUICC. Requests of one eUICC are delivered one at a time
-- ('active' = the one in flight), in (prio, id) order; any node may deliver any request.
CREATE TABLE es5_request (
    id            bigserial PRIMARY KEY,
    eid           text NOT NULL REFERENCES euicc ON DELETE CASCADE,
    prio          smallint NOT NULL DEFAULT 1,           -- 0: notification confirmations, ahead of queued ones
    aid           bytea NOT NULL CHECK (length(aid) BETWEEN 5 AND 16),   -- target security domain
    script        bytea NOT NULL CHECK (length(script) > 0),            -- expanded-format content, opaque
    channel_req   smallint NOT NULL CHECK (channel_req BETWEEN 0 AND 2), -- as asked: 0 auto, 1 SMS, 2 HTTPS
    channel       smallint NOT NULL DEFAULT 0 CHECK (channel BETWEEN 0 AND 2), -- chosen at first delivery
    label         text NOT NULL DEFAULT '' CHECK (length(label) <= 64),
    state         text NOT NULL DEFAULT 'queued' CHECK (state IN ('queued', 'active', 'done')),
    phase         text NOT NULL DEFAULT 'new'
                  CHECK (phase IN ('new', 'sent', 'pushed', 'in-session', 'replayed')),
    deadline      timestamptz NOT NULL,                  -- validity: undelivered then = Expired
    next_at       timestamptz NOT NULL DEFAULT now(),    -- when a delivery pass looks at it next
    sends         integer NOT NULL DEFAULT 0,            -- transmissions (SMS packets / pushes) so far
    lease_owner   text,
    lease_token   bigint,
    lease_expires timestamptz,
    kvn           integer,                               -- SCP80 key set of the packet in flight
    spi           bytea,
    kic           smallint,
    kid           smallint,
    tar           bytea,
    counter       bigint,                                -- its counter (each value used once, ever)
    packet        bytea,                                 -- its SMS user data (ciphered): parts as len || ud
    msisdn        text,                                  -- where it was last sent
    session       text,                                  -- HTTPS admin session holding the script
    wake_proc     bigint,
    wake_step     text,
    status        smallint,                              -- es5_status when done
    detail        text,
    response      bytea,
    created_at    timestamptz NOT NULL DEFAULT now(),
    updated_at    timestamptz NOT NULL DEFAULT now(),
    first_sent_at timestamptz,                           -- first transmission (or hand-off in a session)
    done_at       timestamptz
);
CREATE INDEX es5_request_eid ON es5_request (eid, prio, id) WHERE state <> 'done';
CREATE INDEX es5_request_due ON es5_request (next_at) WHERE state <> 'done';
CREATE INDEX es5_request_done ON es5_request (done_at) WHERE state = 'done';
-- the invariant behind "never interleave": at most one request in flight per eUICC
CREATE UNIQUE INDEX es5_request_one_active ON es5_request (eid) WHERE state = 'active';

-- Default notifications received (deduplication by sequence number within a window).
CREATE TABLE es5_notification (
    eid         text NOT NULL REFERENCES euicc ON DELETE CASCADE,
    seq         integer NOT NULL CHECK (seq BETWEEN 0 AND 65535),
    type        smallint NOT NULL,
    aid         bytea,
    channel     smallint NOT NULL,
    received_at timestamptz NOT NULL DEFAULT now(),
    last_at     timestamptz NOT NULL DEFAULT now(),
    times       integer NOT NULL DEFAULT 1,
    PRIMARY KEY (eid, seq)
);

-- SCP81 admin sessions open now (one row per TLS session, kept fresh by the card's polls): a
-- request queued for an eUICC with an open session needs no push.
CREATE TABLE es5_session (
    id        text PRIMARY KEY,
    eid       text NOT NULL,
    node      text NOT NULL,
    opened_at timestamptz NOT NULL DEFAULT now(),
    last_seen timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX es5_session_eid ON es5_session (eid);

-- Each node's ES5 transports as it last reported them (smctl es5 status).
CREATE TABLE es5_node (
    node        text PRIMARY KEY,
    smpp_link   text NOT NULL,
    smpp_server text NOT NULL DEFAULT '',
    admin_conns integer NOT NULL DEFAULT 0,
    stats       text NOT NULL DEFAULT '',
    updated_at  timestamptz NOT NULL DEFAULT now()
);
