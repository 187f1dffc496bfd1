-- name: create_job
-- Starts an import; committed at once so its progress is visible while it runs.
INSERT INTO import_jobs (sender_id) VALUES (:sender_id)
RETURNING id, state, total_rows, imported_rows, error_rows, errors, created_at, finished_at;

-- name: create_staging!
-- Per-connection staging table that COPY fills; dropped at commit so a pooled connection
-- never keeps it.
CREATE TEMP TABLE IF NOT EXISTS import_rows (
    line integer NOT NULL, address text NOT NULL, locale text NOT NULL, properties jsonb NOT NULL,
    property_bits bigint NOT NULL
) ON COMMIT DELETE ROWS;

-- name: copy_staging!
-- COPY target for a parsed batch (text format; psycopg escapes each row).
COPY import_rows (line, address, locale, properties, property_bits) FROM STDIN;

-- name: merge_staged_fast
-- Moves a staged batch into subscribers in one statement. The rows passed the Python checks,
-- which accept a subset of what the email_address domain accepts, so the domain's regex runs
-- once per row (the database's own check); if a row still fails it, the caller rolls back to a
-- savepoint and uses merge_staged. Within a batch the last line of an address wins; a row whose
-- locale and properties are unchanged is not rewritten. New subscribers get their consent record
-- (source import, source_ref the job id) in the same statement.
WITH up AS (
    INSERT INTO subscribers (sender_id, address, locale, properties, property_bits)
    SELECT DISTINCT ON (address) :sender_id, address, locale, properties, property_bits
    FROM import_rows
    ORDER BY address, line DESC
    ON CONFLICT (sender_id, address) DO UPDATE
        SET locale = EXCLUDED.locale, properties = EXCLUDED.properties,
            property_bits = EXCLUDED.property_bits
        WHERE (subscribers.locale, subscribers.properties)
              IS DISTINCT FROM (EXCLUDED.locale, EXCLUDED.properties)
    RETURNING id, (xmax = 0) AS inserted
), consent AS (
    -- each subscriber this import created gets its 'subscribe' consent record (shared/consent)
    INSERT INTO consent_records (sender_id, subscriber_id, action, source, source_ref)
    SELECT :sender_id, id, 'subscribe', 'import', :job_id::text FROM up WHERE inserted
)
SELECT (SELECT count(DISTINCT address) FROM import_rows) AS merged,
       (SELECT count(*) FROM up) AS written;

-- name: merge_staged
-- The careful merge, after merge_staged_fast hit a row the email_address domain refuses (the
-- Python and PostgreSQL regex engines could differ on exotic characters): reports those rows
-- instead of letting one of them fail the batch. Within a batch the last line of an
-- address wins; a row whose locale and properties are unchanged is not rewritten.
WITH staged AS (
    SELECT line, address, locale, properties, property_bits,
           length(address) <= 254 AND address ~ '^[^@\s<>(),;:"\[\]\\]{1,64}@[A-Za-z0-9]([A-Za-z0-9-]*[A-Za-z0-9])?(\.[A-Za-z0-9]([A-Za-z0-9-]*[A-Za-z0-9])?)+$' AS ok
    FROM import_rows
), up AS (
    INSERT INTO subscribers (sender_id, address, locale, properties, property_bits)
    SELECT DISTINCT ON (address) :sender_id, address, locale, properties, property_bits
    FROM staged WHERE ok
    ORDER BY address, line DESC
    ON CONFLICT (sender_id, address) DO UPDATE
        SET locale = EXCLUDED.locale, properties = EXCLUDED.properties,
            property_bits = EXCLUDED.property_bits
        WHERE (subscribers.locale, subscribers.properties)
              IS DISTINCT FROM (EXCLUDED.locale, EXCLUDED.properties)
    RETURNING id, (xmax = 0) AS inserted
), consent AS (
    -- each subscriber this import created gets its 'subscribe' consent record (shared/consent)
    INSERT INTO consent_records (sender_id, subscriber_id, action, source, source_ref)
    SELECT :sender_id, id, 'subscribe', 'import', :job_id::text FROM up WHERE inserted
)
SELECT (SELECT count(DISTINCT address) FROM staged WHERE ok) AS merged,
       (SELECT coalesce(array_agg(line ORDER BY line), '{}') FROM staged WHERE NOT ok) AS bad_lines,
       (SELECT count(*) FROM up) AS written;

-- name: vacuum_subscribers!
-- After a large import: fresh statistics, so filtered lists plan on the real distribution, and
-- the new pages marked all-visible, so the filtered list's index-only walk (db/0070) skips the
-- heap. Autovacuum would do both, but minutes later, or never where it is off.
VACUUM (ANALYZE) subscribers;

-- name: record_progress
-- Adds a batch's counts to the job and keeps the first :max_errors error rows.
UPDATE import_jobs SET
    total_rows = total_rows + :total,
    imported_rows = imported_rows + :imported,
    error_rows = error_rows + :errors,
    errors = CASE WHEN jsonb_array_length(errors) >= :max_errors THEN errors
                  ELSE errors || (SELECT coalesce(jsonb_agg(e), '[]'::jsonb)
                                  FROM (SELECT e FROM jsonb_array_elements(:new_errors::jsonb) e
                                        LIMIT :max_errors - jsonb_array_length(errors)) x)
             END
WHERE id = :id;

-- name: finish_job
-- Marks the import finished or failed (a broken stream, a fatal format error).
UPDATE import_jobs SET state = :state, finished_at = now(),
    errors = CASE WHEN :fatal::text IS NULL THEN errors
                  ELSE errors || jsonb_build_array(jsonb_build_object('line', NULL, 'error', :fatal::text))
             END
WHERE id = :id
RETURNING id, state, total_rows, imported_rows, error_rows, errors, created_at, finished_at;

-- name: get_job
-- One import of a sender.
SELECT id, state, total_rows, imported_rows, error_rows, errors, created_at, finished_at
FROM import_jobs WHERE id = :id AND sender_id = :sender_id;

-- name: list_jobs
-- A sender's imports, newest first, keyset on id.
SELECT id, state, total_rows, imported_rows, error_rows, errors, created_at, finished_at
FROM import_jobs
WHERE sender_id = :sender_id AND (:before_id::bigint IS NULL OR id < :before_id::bigint)
ORDER BY id DESC LIMIT :limit;
