-- The accept in one statement (engine/store/src/postgres/accept.rs) plans a
-- batch as if none of its dedupe keys were stored and inserts them with
-- ON CONFLICT DO NOTHING. This check fails that statement, and so undoes all
-- of it, when fewer keys went in than planned (a key is stored, or another
-- transaction stored it meanwhile); the accept is then made again in a
-- transaction that reads the stored keys. The error names no key.
-- PostgreSQL only: SQLite's accept is one transaction on one writer thread.
CREATE FUNCTION reqflow_dedupe_keys_new(inserted BIGINT, planned BIGINT) RETURNS VOID
LANGUAGE plpgsql AS $$
BEGIN
    IF inserted <> planned THEN
        RAISE EXCEPTION 'reqflow: a dedupe key of this batch is already stored (accepted again in a transaction)'
            USING ERRCODE = 'RQ001';
    END IF;
END
$$;
