-- 0031_proc_answer: answers of peers to requests a procedure sent through the outbox (net/es_answer.h),
-- kept until the procedure takes them. Waking a procedure with an answer only works while it waits; an
-- answer that arrives while it runs (woken by a late duplicate, or in its step) waits here instead and
-- is never lost. Runs in one transaction under the migration advisory lock; never BEGIN/COMMIT here.
CREATE TABLE proc_answer (
    proc_id    bigint NOT NULL,
    relates_to text NOT NULL,             -- MessageID of the request it answers
    answer     bytea NOT NULL,            -- es_answer record (public: statuses and output fields)
    created_at timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (proc_id, relates_to)
);
