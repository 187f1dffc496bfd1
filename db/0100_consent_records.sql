-- Consent records (issue 15.3): an append-only history of what each subscriber agreed to or
-- withdrew, with where it came from, so a list owner can prove consent and a subscriber can see it.
-- depends: 0095_api_key_rights
--
-- One row per act: subscribe, confirm (double opt-in), unsubscribe, resubscribe,
-- preference_change (locale or topics in the preference center), erase_request (GDPR erasure).
-- source says through what: a form, the API, the admin, a CSV import, the one-click
-- unsubscribe (RFC 8058 POST), the unsubscribe page an email links to (email_link), a mailto
-- unsubscribe, or the preference center. source_ref names the thing as text, since the kinds
-- differ: form id, API key id, admin user id, import id, or the send id whose link was used.
--
-- Append-only, enforced here so no service bug can rewrite history: the trigger below refuses
-- UPDATE, DELETE and TRUNCATE with two exceptions.
--
--  1. Erasure may only FORGET, never rewrite. When a subscriber is erased (or deleted any other
--     way) the link to them is cut (subscriber_id -> NULL, by the erase statement or by the detach
--     trigger below) and the trigger then also drops the personal columns: ip, user_agent and
--     detail (detail is meant for non-identifying facts, but nothing stops a caller putting a
--     name there, so it goes too). The erase statement sets address_hash, a keyed HMAC of the
--     address (the key is a deployment secret, never in the database), so if the person later
--     says "I never agreed", or a later import brings the address back, the owner can hash the
--     address and find the proof. What erasure KEEPS as proof: sender, action, source,
--     source_ref, time, text_hash (what the person was shown), address_hash and erased_at.
--     Nothing in it is the address or can be read back into it without the key.
--     Every other change (a different action, time, source, a NULL column filled in, a link
--     re-pointed to another subscriber) is refused.
--  2. DELETE only when the sender itself is gone (ON DELETE CASCADE from senders): a tenant
--     that is deleted takes its history with it.

CREATE TABLE consent_records (
    id            bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    sender_id     bigint NOT NULL REFERENCES senders ON DELETE CASCADE,
    -- NULL once the subscriber is erased; the record stays as proof (see above). Checked by
    -- triggers below rather than a foreign key.
    subscriber_id bigint,
    action        text NOT NULL CHECK (action IN ('subscribe', 'confirm', 'unsubscribe',
                                                  'resubscribe', 'preference_change',
                                                  'erase_request')),
    source        text NOT NULL CHECK (source IN ('form', 'api', 'admin', 'import', 'one_click',
                                                  'email_link', 'mailto', 'preferences')),
    source_ref    text CHECK (length(source_ref) BETWEEN 1 AND 200 AND source_ref !~ '[\r\n]'),
    at            timestamptz NOT NULL DEFAULT now(),
    ip            inet,
    user_agent    text CHECK (length(user_agent) <= 1000),
    -- SHA-256 (hex) of the text the person saw when they acted (form text, consent wording).
    text_hash     text CHECK (text_hash ~ '^[0-9a-f]{64}$'),
    detail        jsonb CHECK (jsonb_typeof(detail) = 'object' AND length(detail::text) <= 4000),
    -- Set by erasure: HMAC-SHA256 of the sender id and lower-cased address with a deployment key.
    address_hash  bytea CHECK (length(address_hash) = 32),
    erased_at     timestamptz
);
-- A subscriber's history in order (API, admin, export), and the detach on erase.
CREATE INDEX consent_records_subscriber ON consent_records (sender_id, subscriber_id, at, id);
-- Proof for an erased address: look it up by its keyed hash.
CREATE INDEX consent_records_address_hash ON consent_records (sender_id, address_hash)
    WHERE address_hash IS NOT NULL;

-- The subscriber reference, enforced per statement as db/0010 does for sends (a CSV import
-- writes a record per row; per-row foreign-key triggers would cost about 1.4 s a million):
-- every new record names a subscriber of its own sender, and a deleted subscriber's records are
-- detached (SET NULL), which the guard below turns into forgetting.
CREATE FUNCTION consent_records_check_subscriber() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
    bad record;
BEGIN
    SELECT n.sender_id, n.subscriber_id INTO bad
    FROM new_records n
    LEFT JOIN subscribers s ON s.id = n.subscriber_id AND s.sender_id = n.sender_id
    WHERE n.subscriber_id IS NOT NULL AND s.id IS NULL
    LIMIT 1;
    IF FOUND THEN
        RAISE EXCEPTION 'insert on table "consent_records" violates foreign key check: '
                        'subscriber % is not a subscriber of sender %',
                        bad.subscriber_id, bad.sender_id
            USING ERRCODE = 'foreign_key_violation';
    END IF;
    RETURN NULL;
END $$;
CREATE TRIGGER consent_records_subscriber_check AFTER INSERT ON consent_records
    REFERENCING NEW TABLE AS new_records
    FOR EACH STATEMENT EXECUTE FUNCTION consent_records_check_subscriber();

CREATE FUNCTION subscribers_detach_consent() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    UPDATE consent_records c SET subscriber_id = NULL
    FROM gone_subscribers g WHERE c.sender_id = g.sender_id AND c.subscriber_id = g.id;
    RETURN NULL;
END $$;
CREATE TRIGGER subscribers_consent_set_null AFTER DELETE ON subscribers
    REFERENCING OLD TABLE AS gone_subscribers
    FOR EACH STATEMENT EXECUTE FUNCTION subscribers_detach_consent();

CREATE FUNCTION consent_records_guard() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP = 'TRUNCATE' THEN
        RAISE EXCEPTION 'consent_records is append-only: TRUNCATE refused'
            USING ERRCODE = 'restrict_violation';
    END IF;
    IF TG_OP = 'DELETE' THEN
        -- Only the cascade from a deleted sender: by then the sender row is gone.
        IF NOT EXISTS (SELECT 1 FROM senders WHERE id = OLD.sender_id) THEN
            RETURN OLD;
        END IF;
        RAISE EXCEPTION 'consent record % is append-only: DELETE refused', OLD.id
            USING ERRCODE = 'restrict_violation';
    END IF;
    -- UPDATE: erasure may forget; nothing may be rewritten.
    IF (NEW.id, NEW.sender_id, NEW.action, NEW.source, NEW.at)
           IS DISTINCT FROM (OLD.id, OLD.sender_id, OLD.action, OLD.source, OLD.at)
       OR NEW.source_ref IS DISTINCT FROM OLD.source_ref
       OR NEW.text_hash IS DISTINCT FROM OLD.text_hash
       OR (NEW.subscriber_id IS NOT NULL AND NEW.subscriber_id IS DISTINCT FROM OLD.subscriber_id)
       OR (NEW.ip IS NOT NULL AND NEW.ip IS DISTINCT FROM OLD.ip)
       OR (NEW.user_agent IS NOT NULL AND NEW.user_agent IS DISTINCT FROM OLD.user_agent)
       OR (NEW.detail IS NOT NULL AND NEW.detail IS DISTINCT FROM OLD.detail)
       OR (OLD.address_hash IS NOT NULL AND NEW.address_hash IS DISTINCT FROM OLD.address_hash)
       OR (OLD.erased_at IS NOT NULL AND NEW.erased_at IS DISTINCT FROM OLD.erased_at)
       OR (NEW.address_hash IS NOT NULL AND NEW.subscriber_id IS NOT NULL)
    THEN
        RAISE EXCEPTION 'consent record % is append-only: only erasure may forget its personal '
                        'columns', OLD.id
            USING ERRCODE = 'restrict_violation';
    END IF;
    IF NEW.subscriber_id IS NULL THEN
        -- The link is cut (erasure, or a subscriber deleted by the sender's cascade): what
        -- identifies the person goes with it, whoever cut it.
        NEW.ip := NULL;
        NEW.user_agent := NULL;
        NEW.detail := NULL;
        NEW.erased_at := coalesce(OLD.erased_at, NEW.erased_at, now());
    END IF;
    RETURN NEW;
END $$;

CREATE TRIGGER consent_records_append_only BEFORE UPDATE OR DELETE ON consent_records
    FOR EACH ROW EXECUTE FUNCTION consent_records_guard();
CREATE TRIGGER consent_records_no_truncate BEFORE TRUNCATE ON consent_records
    FOR EACH STATEMENT EXECUTE FUNCTION consent_records_guard();
