-- 0035_toast_compression: large values are stored without the CPU they used to cost. Ciphertext (SCP03t-
-- and SCP80-protected scripts, sealed profiles) does not compress: it is kept out of line uncompressed
-- (STORAGE EXTERNAL) instead of being tried by pglz at every insert. Messages and answers (XML with hex
-- payloads) compress with lz4, several times cheaper than pglz (bench-e2e: pglz_compress was 2.5% of the
-- database's CPU per download); on a server built without lz4 they keep pglz. New values only: existing
-- ones stay as they are stored. Runs in one transaction under the migration advisory lock; never
-- BEGIN/COMMIT here.
ALTER TABLE es5_request ALTER COLUMN script SET STORAGE EXTERNAL;
ALTER TABLE es5_request ALTER COLUMN packet SET STORAGE EXTERNAL;
ALTER TABLE dp_download ALTER COLUMN script SET STORAGE EXTERNAL;
ALTER TABLE profile_stock ALTER COLUMN ciphertext SET STORAGE EXTERNAL;
DO $$
BEGIN
    ALTER TABLE outbox ALTER COLUMN payload SET COMPRESSION lz4;
    ALTER TABLE proc_answer ALTER COLUMN answer SET COMPRESSION lz4;
    ALTER TABLE idem ALTER COLUMN response SET COMPRESSION lz4;
    ALTER TABLE proc ALTER COLUMN data SET COMPRESSION lz4;
    ALTER TABLE dp_download ALTER COLUMN reply SET COMPRESSION lz4;
    ALTER TABLE es5_request ALTER COLUMN response SET COMPRESSION lz4;
    ALTER TABLE es5_request ALTER COLUMN sms_resp SET COMPRESSION lz4;
    ALTER TABLE audit_log ALTER COLUMN details SET COMPRESSION lz4;
EXCEPTION WHEN feature_not_supported THEN
    RAISE NOTICE 'lz4 is not supported by this server: pglz stays';
END
$$;
