-- 0032_es5_sms_packets: a script sent by SMS that does not fit one SCP80 command packet goes as
-- several, cut at TLV boundaries and sent one after the other, each with its own counter and PoR; the
-- request stays in flight (one per eUICC) until the last packet's PoR, and its response is the packets'
-- responses in order (appliance/es5, docs/es5.md). Runs in one transaction under the migration
-- advisory lock; never BEGIN/COMMIT here.
ALTER TABLE es5_request
    ADD COLUMN sms_off   integer NOT NULL DEFAULT 0 CHECK (sms_off >= 0),  -- script offset of the packet in flight, or of the next
    ADD COLUMN sms_len   integer NOT NULL DEFAULT 0 CHECK (sms_len >= 0),  -- its script bytes (0: not built yet)
    ADD COLUMN sms_done  integer NOT NULL DEFAULT 0 CHECK (sms_done >= 0), -- packets answered by their PoR
    ADD COLUMN sms_count integer NOT NULL DEFAULT 0 CHECK (sms_count >= 0), -- commands they executed (their 80 01 n added up)
    ADD COLUMN sms_resp  bytea,                                              -- their response elements so far, without 80 01 n
    ADD COLUMN psends    integer NOT NULL DEFAULT 0 CHECK (psends >= 0);   -- transmissions of the packet in flight
