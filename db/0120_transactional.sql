-- Transactional sends (issue 16): an email flagged transactional may reach the same subscriber any
-- number of times, or an address that is no subscriber, with per-send data, extra headers and
-- attachments; a sender keeps layouts. Erased addresses are refused through erased_addresses
-- (db/0101: keyed hashes computed in Python, shared/privacy/erasure.py).
--
-- What changes for bulk sending, and why it stays as fast:
--   * sends.transactional (NOT NULL DEFAULT false) and sends.address (NULL) are added without a
--     table rewrite (a constant default and a NULL column are catalogue-only changes in PG 11+).
--   * The unique (email_id, subscriber_id) constraint becomes a unique index restricted to bulk
--     rows (WHERE NOT transactional): campaign dedup and its ON CONFLICT arbiter keep working
--     (dispatch_chunk and insert_single_send name the predicate), transactional rows repeat.
--     Building it reads the sends table once under a SHARE lock (writes wait; reads go on): on a
--     large installation run this migration in a quiet hour. The index has the same columns, so
--     the dedup probes of count_audience and dispatch_chunk (which now say NOT x.transactional)
--     cost what they did.
--   * The per-send payload (data, headers, attachments) lives in send_payloads, one row per
--     transactional send, so the sends rows a campaign writes and claims stay as narrow as before.
-- depends: 0101_erasure

ALTER TABLE senders
    -- CAN-SPAM: the default layout shows it under every message.
    ADD COLUMN postal_address text CHECK (length(postal_address) <= 500),
    -- Whether transactional sends take from rate_per_second / rate_per_hour like bulk ones.
    ADD COLUMN transactional_rate_limited boolean NOT NULL DEFAULT true;

-- A reusable frame around an email's body: {{ content }} is where the body goes. A layout that is
-- not transactional must show the unsubscribe link (checked by the service, which knows the
-- template language); a transactional one may omit it.
CREATE TABLE layouts (
    id            bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    sender_id     bigint NOT NULL REFERENCES senders ON DELETE CASCADE,
    name          text NOT NULL CHECK (name <> '' AND length(name) <= 200 AND name !~ '[\r\n]'),
    html_body     text NOT NULL CHECK (length(html_body) <= 200000),
    plain_body    text NOT NULL CHECK (length(plain_body) <= 100000),
    transactional boolean NOT NULL DEFAULT false,
    created_at    timestamptz NOT NULL DEFAULT now(),
    updated_at    timestamptz NOT NULL DEFAULT now(),
    UNIQUE (sender_id, name),
    UNIQUE (sender_id, id)  -- target of the tenant-checked key from emails
);
CREATE TRIGGER layouts_touch BEFORE UPDATE ON layouts
    FOR EACH ROW EXECUTE FUNCTION touch_updated_at();

ALTER TABLE emails
    ADD COLUMN transactional boolean NOT NULL DEFAULT false,
    ADD COLUMN layout_id bigint,
    ADD CONSTRAINT emails_layout_fkey FOREIGN KEY (sender_id, layout_id)
        REFERENCES layouts (sender_id, id) ON DELETE SET NULL (layout_id),
    -- A transactional email is never marked Precedence: bulk. Every existing row is bulk and not
    -- transactional, so NOT VALID skips nothing that could fail; new rows are checked.
    ADD CONSTRAINT emails_transactional_not_bulk CHECK (NOT (transactional AND bulk)) NOT VALID;

ALTER TABLE sends
    ADD COLUMN transactional boolean NOT NULL DEFAULT false,
    -- The recipient of a transactional send to an address that is no subscriber (subscriber_id
    -- NULL). Erasing a subscriber with that address sets it to NULL (see below).
    ADD COLUMN address email_address,
    ADD CONSTRAINT sends_address_transactional CHECK (address IS NULL OR transactional) NOT VALID;

CREATE UNIQUE INDEX sends_email_subscriber_once ON sends (email_id, subscriber_id)
    WHERE NOT transactional;
ALTER TABLE sends DROP CONSTRAINT sends_email_id_subscriber_id_key;
-- A transactional email's recent sends (admin, API listing), newest first.
CREATE INDEX sends_transactional_recent ON sends (email_id, id DESC) WHERE transactional;
-- The scheduler's per-tick sweep of transactional rows left queued (a message lost).
CREATE INDEX sends_transactional_queued ON sends (queued_at) WHERE state = 'queued' AND transactional;
-- Erasing an address finds its non-subscriber sends.
CREATE INDEX sends_transactional_address ON sends (sender_id, address) WHERE address IS NOT NULL;

-- What one transactional send was built from, so view-in-browser shows what was sent and a
-- retry sends the same thing. Deleted when its subscriber (or address) is erased.
CREATE TABLE send_payloads (
    send_id      bigint PRIMARY KEY REFERENCES sends ON DELETE CASCADE,
    data         jsonb NOT NULL DEFAULT '{}' CHECK (jsonb_typeof(data) = 'object'),
    headers      jsonb NOT NULL DEFAULT '{}' CHECK (jsonb_typeof(headers) = 'object'),
    -- [{"filename", "content_type", "content" (base64)}], size-capped by the service
    attachments  jsonb NOT NULL DEFAULT '[]' CHECK (jsonb_typeof(attachments) = 'array')
);

-- On a subscriber's deletion (the GDPR erase, shared/privacy/erasure.py): its transactional
-- payloads go, and sends to its address as a non-subscriber lose the address, their payload and
-- the address in their SMTP reply and error. Named to fire before subscribers_sends_set_null
-- (triggers fire in name order), while sends still carry the subscriber id.
CREATE FUNCTION subscribers_erase_transactional() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    DELETE FROM send_payloads p USING sends s, gone_subscribers g
    WHERE p.send_id = s.id AND s.subscriber_id = g.id AND s.sender_id = g.sender_id
      AND s.transactional;
    DELETE FROM send_payloads p USING sends s, gone_subscribers g
    WHERE p.send_id = s.id AND s.sender_id = g.sender_id AND s.address = g.address;
    UPDATE sends s SET address = NULL, smtp_reply = redact_address(s.smtp_reply, g.address),
                       error = redact_address(s.error, g.address)
    FROM gone_subscribers g WHERE s.sender_id = g.sender_id AND s.address = g.address;
    RETURN NULL;
END $$;
CREATE TRIGGER subscribers_erase_transactional AFTER DELETE ON subscribers
    REFERENCING OLD TABLE AS gone_subscribers
    FOR EACH STATEMENT EXECUTE FUNCTION subscribers_erase_transactional();
