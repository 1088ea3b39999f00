-- 0033_smsr_cleanup: an SM-SR procedure of its own for removing an ISD-P a failed CreateISDP may have
-- left on the card (its INSTALL went out, no answer came back: appliance/smsr/procs.c). Runs in one
-- transaction under the migration advisory lock; never BEGIN/COMMIT here.
ALTER TABLE smsr_op DROP CONSTRAINT smsr_op_op_check;
ALTER TABLE smsr_op ADD CONSTRAINT smsr_op_op_check
    CHECK (op IN ('CreateISDP', 'SendData', 'Enable', 'Disable', 'Delete', 'Audit', 'Cleanup'));
