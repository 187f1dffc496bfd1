-- ESP event intake (issue 20.1): bounces and complaints that a relay provider (Amazon SES through
-- SNS, SendGrid, Postmark, Mailgun) posts to the receiver's web endpoint, one per sender and
-- provider. Each event is kept raw in inbound_messages (source 'esp:<provider>', sender_id set)
-- and parsed by inbound.parse like a DSN, through the same policy (record_responses).
--   inbound_messages.sha256  for an ESP event: sha256 of its identity (provider, sender and the
--                            provider's event id), so a redelivered event is the same row
--   esp_endpoints            what verifies a sender's callbacks, per provider:
--     ses       topic_arns   the SNS topics allowed to post (any SNS topic can sign)
--     sendgrid  public_key   the signed event webhook's verification key (base64 DER, P-256)
--     postmark  username + secret_hash   basic auth (sha256 of the password, never the password)
--     mailgun   secret       the HTTP webhook signing key (needed as is to compute the HMAC)
--   esp_nonces               signature tokens already used (Mailgun), refused as replays while
--                            their timestamp is still fresh; older rows are pruned
-- depends: 0095_api_key_rights

ALTER TABLE inbound_messages
    ADD COLUMN sender_id bigint REFERENCES senders ON DELETE CASCADE;
CREATE INDEX inbound_messages_sender ON inbound_messages (sender_id, received_at)
    WHERE sender_id IS NOT NULL;

CREATE TABLE esp_endpoints (
    sender_id    bigint NOT NULL REFERENCES senders ON DELETE CASCADE,
    provider     text NOT NULL CHECK (provider IN ('ses', 'sendgrid', 'postmark', 'mailgun')),
    topic_arns   text[] NOT NULL DEFAULT '{}',
    public_key   text,
    username     text,
    secret_hash  bytea,
    secret       text,
    created_at   timestamptz NOT NULL DEFAULT now(),
    updated_at   timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (sender_id, provider),
    CHECK (CASE provider
               WHEN 'ses' THEN cardinality(topic_arns) > 0
               WHEN 'sendgrid' THEN public_key IS NOT NULL
               WHEN 'postmark' THEN username IS NOT NULL AND secret_hash IS NOT NULL
               ELSE secret IS NOT NULL END)
);

CREATE TABLE esp_nonces (
    provider  text NOT NULL,
    nonce     text NOT NULL,
    seen_at   timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (provider, nonce)
);
CREATE INDEX esp_nonces_seen ON esp_nonces (seen_at);
