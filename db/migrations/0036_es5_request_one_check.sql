-- 0036_es5_request_one_check: es5_request's twelve CHECK constraints become one with the same conditions.
-- PostgreSQL parses and plans every CHECK expression of a table again for each statement that writes a
-- row (ExecConstraints): a download writes es5_request about 17 times, and the twelve separate
-- expressions showed in the database's profile (bench-e2e). Runs in one transaction under the migration
-- advisory lock; never BEGIN/COMMIT here.
ALTER TABLE es5_request
    DROP CONSTRAINT es5_request_sms_off_check,
    DROP CONSTRAINT es5_request_aid_check,
    DROP CONSTRAINT es5_request_script_check,
    DROP CONSTRAINT es5_request_channel_req_check,
    DROP CONSTRAINT es5_request_channel_check,
    DROP CONSTRAINT es5_request_label_check,
    DROP CONSTRAINT es5_request_state_check,
    DROP CONSTRAINT es5_request_phase_check,
    DROP CONSTRAINT es5_request_sms_len_check,
    DROP CONSTRAINT es5_request_sms_done_check,
    DROP CONSTRAINT es5_request_sms_count_check,
    DROP CONSTRAINT es5_request_psends_check,
    ADD CONSTRAINT es5_request_valid CHECK (
        length(aid) BETWEEN 5 AND 16 AND length(script) > 0 AND length(label) <= 64
        AND channel_req BETWEEN 0 AND 2 AND channel BETWEEN 0 AND 2
        AND state IN ('queued', 'active', 'done')
        AND phase IN ('new', 'sent', 'pushed', 'in-session', 'replayed')
        AND sms_off >= 0 AND sms_len >= 0 AND sms_done >= 0 AND sms_count >= 0 AND psends >= 0);
