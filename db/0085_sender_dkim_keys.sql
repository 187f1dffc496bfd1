-- DKIM keys of a sender in their own table: a sender signs with every active key (one RSA and
-- one Ed25519 at most, RFC 8463's advice: two DKIM-Signature headers), and rotates a key without
-- a gap: a new key is created 'next' under a new selector, its TXT record is published, then it
-- is activated, which retires the active key of the same algorithm. A retired key signs nothing,
-- but its selector's record stays published, so mail it signed still verifies.
--
-- The single key senders had (dkim_selector, dkim_algorithm, dkim_private_key) moves here as an
-- active key, so every existing sender keeps signing as before, and those columns go.
-- depends: 0084_send_first_attempt

CREATE TYPE dkim_key_state AS ENUM ('next', 'active', 'retired');

CREATE TABLE sender_dkim_keys (
    id            bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    sender_id     bigint NOT NULL REFERENCES senders ON DELETE CASCADE,
    -- <selector>._domainkey.<the From domain> holds the public key.
    selector      text NOT NULL CHECK (selector ~ '^[A-Za-z0-9][A-Za-z0-9._-]{0,62}$'),
    algorithm     text NOT NULL CHECK (algorithm IN ('rsa-sha256', 'ed25519-sha256')),
    private_key   text NOT NULL,  -- PEM; readable only by the services, never returned by the API
    state         dkim_key_state NOT NULL DEFAULT 'next',
    created_at    timestamptz NOT NULL DEFAULT now(),
    activated_at  timestamptz,
    retired_at    timestamptz,
    -- A selector names one public key in DNS: never reuse one for another key.
    UNIQUE (sender_id, selector)
);
-- One signing key per algorithm; the batch reads a sender's active keys through this index too.
CREATE UNIQUE INDEX sender_dkim_keys_active ON sender_dkim_keys (sender_id, algorithm)
    WHERE state = 'active';

INSERT INTO sender_dkim_keys (sender_id, selector, algorithm, private_key, state, created_at,
                              activated_at)
SELECT id, dkim_selector, dkim_algorithm, dkim_private_key, 'active', updated_at, updated_at
FROM senders WHERE dkim_private_key IS NOT NULL;

-- Dropping the columns drops the CHECK that paired the selector with the key.
ALTER TABLE senders DROP COLUMN dkim_selector, DROP COLUMN dkim_algorithm,
    DROP COLUMN dkim_private_key;
