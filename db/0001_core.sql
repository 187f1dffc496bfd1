-- Core schema: senders, subscribers, emails, variations, campaigns, sends and their events.
-- The database keeps enforcing what the 2013 schema enforced (address format, locale format,
-- a body per variation, one send per email and subscriber, legal state transitions), so a bug in
-- one service cannot write what the others would misread.

-- An address as mailbox providers accept it: one @, no spaces or control characters, a dotted
-- domain, at most 254 characters (RFC 5321 path limit). Services store it lower-cased.
CREATE DOMAIN email_address AS text
    CHECK (length(VALUE) <= 254
           AND VALUE ~ '^[^@\s<>(),;:"\[\]\\]{1,64}@[A-Za-z0-9]([A-Za-z0-9-]*[A-Za-z0-9])?(\.[A-Za-z0-9]([A-Za-z0-9-]*[A-Za-z0-9])?)+$');

-- 'C' (no locale) or language_TERRITORY, as in 2013: en_US, tr_TR.
CREATE DOMAIN locale AS text CHECK (VALUE = 'C' OR VALUE ~ '^[a-z]{2}_[A-Z]{2}$');

CREATE TYPE subscriber_state AS ENUM ('active', 'unsubscribed', 'bounced', 'complained');
CREATE TYPE email_state AS ENUM ('draft', 'scheduled', 'sending', 'paused', 'sent', 'cancelled');
CREATE TYPE variation_state AS ENUM ('active', 'disabled');
CREATE TYPE campaign_state AS ENUM (
    'scheduled',   -- waits for scheduled_at
    'dispatching', -- send rows being created, checkpoint advancing
    'testing',     -- A/B winner mode: the test share is out, waiting to pick a winner
    'sending',     -- every send row exists; workers are sending
    'paused', 'finished', 'cancelled');
CREATE TYPE send_state AS ENUM ('queued', 'sending', 'sent', 'failed', 'cancelled');
CREATE TYPE event_kind AS ENUM ('open', 'view', 'click', 'unsubscribe', 'bounce', 'complaint');

CREATE FUNCTION touch_updated_at() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    NEW.updated_at := now();
    RETURN NEW;
END $$;

CREATE TABLE senders (
    id                  bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    address             email_address NOT NULL UNIQUE,
    name                text NOT NULL CHECK (name <> '' AND name !~ '[\r\n]'),
    reply_to            email_address,
    public_base_url     text NOT NULL CHECK (public_base_url ~ '^https?://[^\s/]+(/[^\s]*)?$'),
    -- Domain of the VERP return path (bounces+TOKEN@domain) and of the mailto unsubscribe.
    return_path_domain  text NOT NULL CHECK (return_path_domain ~ '^[A-Za-z0-9.-]+\.[A-Za-z]{2,}$'),
    dkim_selector       text CHECK (dkim_selector ~ '^[A-Za-z0-9][A-Za-z0-9._-]{0,62}$'),
    dkim_algorithm      text NOT NULL DEFAULT 'rsa-sha256'
                            CHECK (dkim_algorithm IN ('rsa-sha256', 'ed25519-sha256')),
    dkim_private_key    text,  -- PEM; readable only by the services, never returned by the API
    rate_per_second     integer CHECK (rate_per_second > 0),
    rate_per_hour       integer CHECK (rate_per_hour > 0),
    relay               text,  -- name of a configured relay; NULL means round robin
    soft_bounce_limit   integer NOT NULL DEFAULT 3 CHECK (soft_bounce_limit > 0),
    soft_bounce_window  interval NOT NULL DEFAULT '30 days',
    anonymous_events    boolean NOT NULL DEFAULT false,  -- count events, tie none to a subscriber
    webhook_url         text CHECK (webhook_url ~ '^https?://'),
    webhook_secret      text,
    webhook_events      text[] NOT NULL DEFAULT '{send_failed,bounce,complaint,unsubscribe}',
    created_at          timestamptz NOT NULL DEFAULT now(),
    updated_at          timestamptz NOT NULL DEFAULT now(),
    CHECK ((dkim_selector IS NULL) = (dkim_private_key IS NULL))
);
CREATE TRIGGER senders_touch BEFORE UPDATE ON senders
    FOR EACH ROW EXECUTE FUNCTION touch_updated_at();

-- A key is shown once; only its SHA-256 is kept. The prefix lets an operator tell keys apart.
CREATE TABLE api_keys (
    id            bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    sender_id     bigint NOT NULL REFERENCES senders ON DELETE CASCADE,
    name          text NOT NULL DEFAULT '',
    prefix        text NOT NULL,
    key_hash      bytea NOT NULL UNIQUE CHECK (length(key_hash) = 32),
    rate_per_minute integer NOT NULL DEFAULT 600 CHECK (rate_per_minute > 0),
    created_at    timestamptz NOT NULL DEFAULT now(),
    last_used_at  timestamptz,
    revoked_at    timestamptz
);
CREATE INDEX api_keys_sender ON api_keys (sender_id);

CREATE TABLE subscribers (
    id            bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    sender_id     bigint NOT NULL REFERENCES senders ON DELETE CASCADE,
    address       email_address NOT NULL CHECK (address = lower(address)),
    locale        locale NOT NULL DEFAULT 'C',
    properties    jsonb NOT NULL DEFAULT '{}' CHECK (jsonb_typeof(properties) = 'object'),
    state         subscriber_state NOT NULL DEFAULT 'active',
    soft_bounces  integer NOT NULL DEFAULT 0,
    created_at    timestamptz NOT NULL DEFAULT now(),
    -- "revised" in 2013: bulk sends go to the least recently revised subscribers first.
    updated_at    timestamptz NOT NULL DEFAULT now(),
    state_changed_at timestamptz NOT NULL DEFAULT now(),
    UNIQUE (sender_id, address),
    UNIQUE (sender_id, id)  -- target of tenant-checked foreign keys
);
CREATE TRIGGER subscribers_touch BEFORE UPDATE ON subscribers
    FOR EACH ROW WHEN (OLD.* IS DISTINCT FROM NEW.*) EXECUTE FUNCTION touch_updated_at();
-- The audience query: active subscribers of a sender in some locales, oldest revision first.
CREATE INDEX subscribers_audience ON subscribers (sender_id, locale, state, updated_at, id);
CREATE INDEX subscribers_properties ON subscribers USING gin (properties jsonb_path_ops);
CREATE INDEX subscribers_sender_updated ON subscribers (sender_id, updated_at, id);
CREATE INDEX subscribers_sender_created ON subscribers (sender_id, created_at, id);

CREATE TABLE emails (
    id            bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    sender_id     bigint NOT NULL REFERENCES senders ON DELETE CASCADE,
    name          text NOT NULL CHECK (name <> ''),
    bulk          boolean NOT NULL DEFAULT true,
    redirect_url  text CHECK (redirect_url ~ '^https?://'),  -- 2013's single click target
    locales       locale[] NOT NULL DEFAULT '{}',            -- empty: every locale
    track_clicks  boolean NOT NULL DEFAULT true,
    state         email_state NOT NULL DEFAULT 'draft',
    created_at    timestamptz NOT NULL DEFAULT now(),
    updated_at    timestamptz NOT NULL DEFAULT now(),
    UNIQUE (sender_id, id)  -- target of tenant-checked foreign keys
);
CREATE TRIGGER emails_touch BEFORE UPDATE ON emails
    FOR EACH ROW EXECUTE FUNCTION touch_updated_at();

CREATE FUNCTION check_email_transition() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF OLD.state = NEW.state THEN
        RETURN NEW;
    END IF;
    IF (OLD.state, NEW.state) IN (
        ('draft', 'scheduled'), ('draft', 'sending'), ('draft', 'cancelled'),
        ('scheduled', 'sending'), ('scheduled', 'cancelled'), ('scheduled', 'draft'),
        ('sending', 'paused'), ('sending', 'sent'), ('sending', 'cancelled'),
        ('paused', 'sending'), ('paused', 'cancelled'),
        -- a sent email may be sent again to subscribers who joined since (as in 2013)
        ('sent', 'sending'), ('sent', 'scheduled')
    ) THEN
        RETURN NEW;
    END IF;
    RAISE EXCEPTION 'email % cannot go from % to %', OLD.id, OLD.state, NEW.state
        USING ERRCODE = 'check_violation';
END $$;
CREATE TRIGGER emails_state BEFORE UPDATE OF state ON emails
    FOR EACH ROW EXECUTE FUNCTION check_email_transition();

CREATE TABLE variations (
    id            bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    email_id      bigint NOT NULL REFERENCES emails ON DELETE CASCADE,
    name          text NOT NULL DEFAULT '',
    subject       text NOT NULL CHECK (subject <> '' AND subject !~ '[\r\n]'),
    plain_body    text,
    html_body     text,
    weight        integer NOT NULL DEFAULT 1 CHECK (weight BETWEEN 1 AND 1000),
    state         variation_state NOT NULL DEFAULT 'active',
    created_at    timestamptz NOT NULL DEFAULT now(),
    updated_at    timestamptz NOT NULL DEFAULT now(),
    CONSTRAINT variation_has_body
        CHECK (coalesce(plain_body, '') <> '' OR coalesce(html_body, '') <> '')
);
CREATE INDEX variations_email ON variations (email_id, id);
CREATE TRIGGER variations_touch BEFORE UPDATE ON variations
    FOR EACH ROW EXECUTE FUNCTION touch_updated_at();

-- One bulk send of an email: its audience, its checkpoint and its A/B settings.
-- campaign.dispatch resumes from (cursor_updated_at, cursor_id) after a crash.
CREATE TABLE campaigns (
    id              bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    email_id        bigint NOT NULL,
    sender_id       bigint NOT NULL,
    state           campaign_state NOT NULL DEFAULT 'dispatching',
    locales         locale[] NOT NULL DEFAULT '{}',
    contains        jsonb NOT NULL DEFAULT '{}' CHECK (jsonb_typeof(contains) = 'object'),
    filter          jsonb,  -- the filter language, validated by the service
    max_count       integer CHECK (max_count > 0),
    scheduled_at    timestamptz,
    -- A/B winner mode: the share sent first, how long to wait, and the metric that decides.
    ab_test_share   numeric(4, 3) CHECK (ab_test_share > 0 AND ab_test_share < 1),
    ab_wait         interval,
    ab_metric       text CHECK (ab_metric IN ('click', 'open')),
    ab_test_size    integer,
    winner_variation_id bigint REFERENCES variations ON DELETE SET NULL,
    winner_reason   text,
    winner_at       timestamptz,
    cursor_updated_at timestamptz,
    cursor_id       bigint,
    planned_count   integer,  -- audience size when queued, capped by max_count
    queued_count    integer NOT NULL DEFAULT 0,
    created_at      timestamptz NOT NULL DEFAULT now(),
    started_at      timestamptz,
    finished_at     timestamptz,
    CHECK ((ab_test_share IS NULL) = (ab_wait IS NULL) AND (ab_wait IS NULL) = (ab_metric IS NULL)),
    FOREIGN KEY (sender_id, email_id) REFERENCES emails (sender_id, id) ON DELETE CASCADE
);
CREATE INDEX campaigns_email ON campaigns (email_id);
CREATE INDEX campaigns_due ON campaigns (scheduled_at) WHERE state = 'scheduled';
CREATE INDEX campaigns_active ON campaigns (state) WHERE state IN ('dispatching', 'testing', 'sending');

CREATE TABLE sends (
    id              bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    email_id        bigint NOT NULL,
    sender_id       bigint NOT NULL,
    -- NULL after a GDPR erase: the send stays as an anonymous count.
    subscriber_id   bigint,
    campaign_id     bigint REFERENCES campaigns ON DELETE SET NULL,
    variation_id    bigint REFERENCES variations ON DELETE SET NULL,
    state           send_state NOT NULL DEFAULT 'queued',
    -- A/B winner mode holds the rest of the audience until the winner is known.
    held            boolean NOT NULL DEFAULT false,
    attempts        smallint NOT NULL DEFAULT 0,
    lease_until     timestamptz,        -- a 'sending' row whose lease ran out is claimed again
    next_attempt_at timestamptz,        -- backoff after a temporary failure
    smtp_code       smallint,
    smtp_reply      text,               -- the relay's last reply, kept for every failure
    error           text,
    queued_at       timestamptz NOT NULL DEFAULT now(),
    sent_at         timestamptz,
    -- First time of each event (repeats are counted below and kept in send_events).
    opened_at       timestamptz,
    viewed_at       timestamptz,
    clicked_at      timestamptz,
    unsubscribed_at timestamptz,
    bounced_at      timestamptz,
    complained_at   timestamptz,
    bounce_type     text CHECK (bounce_type IN ('hard', 'soft')),
    open_count      integer NOT NULL DEFAULT 0,
    view_count      integer NOT NULL DEFAULT 0,
    click_count     integer NOT NULL DEFAULT 0,
    UNIQUE (email_id, subscriber_id),
    -- A send can only join an email and a subscriber of the same sender.
    FOREIGN KEY (sender_id, email_id) REFERENCES emails (sender_id, id) ON DELETE CASCADE,
    FOREIGN KEY (sender_id, subscriber_id) REFERENCES subscribers (sender_id, id)
        ON DELETE SET NULL (subscriber_id)
);
-- The claim path: FOR UPDATE SKIP LOCKED over queued rows by id (TOOLING.md: 94k rows/s).
CREATE INDEX sends_queued ON sends (id) WHERE state = 'queued';
CREATE INDEX sends_leased ON sends (lease_until) WHERE state = 'sending';
CREATE INDEX sends_email_state ON sends (email_id, state);
CREATE INDEX sends_campaign ON sends (campaign_id) WHERE campaign_id IS NOT NULL;
CREATE INDEX sends_subscriber ON sends (subscriber_id, id);
CREATE INDEX sends_sent_day ON sends (email_id, sent_at);

CREATE FUNCTION check_send_transition() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF OLD.state = NEW.state OR (OLD.state, NEW.state) IN (
        ('queued', 'sending'), ('queued', 'cancelled'), ('queued', 'failed'),
        ('sending', 'sent'), ('sending', 'failed'), ('sending', 'queued'),
        ('sending', 'cancelled'),
        ('failed', 'queued')  -- an operator retries a failed send
    ) THEN
        RETURN NEW;
    END IF;
    RAISE EXCEPTION 'send % cannot go from % to %', OLD.id, OLD.state, NEW.state
        USING ERRCODE = 'check_violation';
END $$;
CREATE TRIGGER sends_state BEFORE UPDATE OF state ON sends
    FOR EACH ROW EXECUTE FUNCTION check_send_transition();

-- Every event, with time, IP and user agent. With anonymous_events the personal columns stay NULL.
CREATE TABLE send_events (
    id              bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    send_id         bigint REFERENCES sends ON DELETE CASCADE,
    email_id        bigint NOT NULL REFERENCES emails ON DELETE CASCADE,
    variation_id    bigint REFERENCES variations ON DELETE SET NULL,
    subscriber_id   bigint REFERENCES subscribers ON DELETE SET NULL,
    kind            event_kind NOT NULL,
    at              timestamptz NOT NULL DEFAULT now(),
    ip              inet,
    user_agent      text,
    link_index      smallint,
    -- Opens by privacy proxies and clicks by link scanners are kept but flagged.
    machine         boolean NOT NULL DEFAULT false,
    machine_reason  text,
    detail          jsonb
);
CREATE INDEX send_events_email ON send_events (email_id, kind, at);
CREATE INDEX send_events_send ON send_events (send_id, at);

-- Fixed-window counters shared by every worker: sender send rates and API key request rates.
CREATE TABLE rate_counters (
    key           text NOT NULL,
    window_start  timestamptz NOT NULL,
    count         integer NOT NULL DEFAULT 0,
    PRIMARY KEY (key, window_start)
);
