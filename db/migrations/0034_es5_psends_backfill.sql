-- 0034_es5_psends_backfill: requests already waiting for a PoR when 0032 added psends (transmissions of
-- the packet in flight) got 0 there; before 0032 a request was one packet, so its transmissions are its
-- sends. Without this, a replay refusal of such a request's retransmission reads as "the card's counter
-- is ahead" (a security error) instead of "outcome unknown" (appliance/es5/deliver.c). Runs in one
-- transaction under the migration advisory lock; never BEGIN/COMMIT here.
UPDATE es5_request SET psends = sends
 WHERE state = 'active' AND phase IN ('sent', 'replayed') AND psends = 0 AND sms_done = 0;
