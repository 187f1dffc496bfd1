-- GDPR erasure that leaves the address nowhere (issue 15.6), and what it keeps.
-- depends: 0100_consent_records
--
-- shared/privacy/erasure.py runs the erase; this migration gives it:
--   erased_addresses   one keyed hash per erased (sender, address): HMAC-SHA256 with
--                      TART_ERASURE_KEY of "<sender id>\x1f<address>", computed in Python (the
--                      key never reaches the database). A later import or API create of the
--                      same address can be told "this address was erased on ..." without the
--                      database holding the address. Salted by sender, so two tenants' hashes
--                      of one address differ.
--   redact_address()   replaces every occurrence of an address in a text, whatever its case,
--                      by "[erased]": SMTP replies, webhook payloads and errors, DMARC failure
--                      report fields, import errors. The address is escaped before it becomes
--                      a pattern (it may hold . + and other regex characters).

CREATE TABLE erased_addresses (
    sender_id     bigint NOT NULL REFERENCES senders ON DELETE CASCADE,
    address_hash  bytea NOT NULL CHECK (length(address_hash) = 32),
    erased_at     timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (sender_id, address_hash)
);

CREATE FUNCTION redact_address(value text, address text) RETURNS text
LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $$
    SELECT CASE WHEN value IS NULL OR address IS NULL OR address = '' THEN value
                ELSE regexp_replace(
                    value,
                    regexp_replace(address, '([.^$*+?()\[\]{}|\\/-])', '\\\1', 'g'),
                    '[erased]', 'gi')
           END
$$;
