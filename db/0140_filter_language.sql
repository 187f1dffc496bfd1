-- The richer filter language (issue 17): dates stored in properties, and recent engagement.
--
-- jsonb_time reads a property value as a time when it is a string in ISO 8601 form
-- (YYYY-MM-DD, or YYYY-MM-DDTHH:MM[:SS[.ffffff]][Z|+HH:MM]; no offset means UTC), else NULL,
-- so a comparison such as `signup >= "2024-01-01"` (shared/filters/compiler.py) skips values that
-- are not dates instead of failing the whole query: PostgreSQL 15 has no "try cast", and an
-- exception block would cost a subtransaction per row. An impossible day (2023-02-30) is NULL too.
--
-- Its index on send_events is built online by 0143.
-- depends: 0095_api_key_rights 0102_retention 0112_form_labels_confirmation_source

CREATE FUNCTION jsonb_time(value jsonb) RETURNS timestamptz
LANGUAGE sql STABLE PARALLEL SAFE AS $$
    SELECT CASE
        WHEN m IS NULL THEN NULL
        WHEN m[3]::int > extract(day FROM make_date(m[1]::int, m[2]::int, 1)
                                          + interval '1 month - 1 day')::int THEN NULL
        ELSE make_timestamptz(m[1]::int, m[2]::int, m[3]::int, coalesce(m[4], '0')::int,
                              coalesce(m[5], '0')::int, coalesce(m[6], '0')::float8, 'UTC')
             - CASE WHEN m[7] IS NULL OR m[7] = 'Z' THEN interval '0'
                    ELSE (CASE WHEN left(m[7], 1) = '-' THEN -1 ELSE 1 END)
                         * make_interval(hours => substr(m[7], 2, 2)::int,
                                         mins => right(m[7], 2)::int) END
    END
    FROM (SELECT regexp_match(value #>> '{}',
            '^([1-9][0-9]{3})-(0[1-9]|1[0-2])-(0[1-9]|[12][0-9]|3[01])'
            '(?:[T ]([01][0-9]|2[0-3]):([0-5][0-9])(?::([0-5][0-9](?:\.[0-9]{1,6})?))?'
            '(Z|[+-](?:[01][0-9]|2[0-3]):?[0-5][0-9])?)?$') AS m
          WHERE jsonb_typeof(value) = 'string') AS parsed
$$;
