-- Admin users and sessions, API idempotency, webhooks and import jobs.
-- depends: 0002_inbound

CREATE TABLE admin_users (
    id              bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    email           email_address NOT NULL UNIQUE CHECK (email = lower(email)),
    password_hash   text NOT NULL CHECK (password_hash LIKE '$argon2id$%'),
    role            text NOT NULL DEFAULT 'member' CHECK (role IN ('owner', 'member')),
    totp_secret     text,
    failed_logins   integer NOT NULL DEFAULT 0,
    locked_until    timestamptz,
    created_at      timestamptz NOT NULL DEFAULT now(),
    last_login_at   timestamptz
);

-- Members see only the senders assigned to them; owners see all.
CREATE TABLE admin_user_senders (
    user_id    bigint NOT NULL REFERENCES admin_users ON DELETE CASCADE,
    sender_id  bigint NOT NULL REFERENCES senders ON DELETE CASCADE,
    PRIMARY KEY (user_id, sender_id)
);

-- Server-side sessions: the cookie holds a random id whose hash is stored, so a stolen database
-- dump cannot be replayed as a cookie, and logging in always issues a new id (no fixation).
CREATE TABLE admin_sessions (
    id_hash      bytea PRIMARY KEY CHECK (length(id_hash) = 32),
    user_id      bigint NOT NULL REFERENCES admin_users ON DELETE CASCADE,
    csrf_token   text NOT NULL,
    created_at   timestamptz NOT NULL DEFAULT now(),
    seen_at      timestamptz NOT NULL DEFAULT now(),
    expires_at   timestamptz NOT NULL
);
CREATE INDEX admin_sessions_user ON admin_sessions (user_id);

CREATE TABLE login_attempts (
    id          bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    ip          inet,
    email       text,
    succeeded   boolean NOT NULL,
    at          timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX login_attempts_ip ON login_attempts (ip, at);
CREATE INDEX login_attempts_email ON login_attempts (email, at);

-- A retried POST with the same Idempotency-Key gets the first answer and queues nothing new.
CREATE TABLE idempotency_keys (
    sender_id       bigint NOT NULL REFERENCES senders ON DELETE CASCADE,
    key             text NOT NULL CHECK (length(key) BETWEEN 1 AND 255),
    request_hash    bytea NOT NULL,
    status_code     smallint,
    response        jsonb,
    created_at      timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (sender_id, key)
);

CREATE TABLE webhook_deliveries (
    id              bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    sender_id       bigint NOT NULL REFERENCES senders ON DELETE CASCADE,
    event           text NOT NULL,
    payload         jsonb NOT NULL,
    state           text NOT NULL DEFAULT 'pending'
                        CHECK (state IN ('pending', 'delivered', 'failed')),
    attempts        smallint NOT NULL DEFAULT 0,
    last_status     smallint,
    last_error      text,
    created_at      timestamptz NOT NULL DEFAULT now(),
    next_attempt_at timestamptz,
    delivered_at    timestamptz
);
CREATE INDEX webhook_deliveries_sender ON webhook_deliveries (sender_id, id);
CREATE INDEX webhook_deliveries_pending ON webhook_deliveries (next_attempt_at) WHERE state = 'pending';

-- CSV imports run in the background; the admin and the API show their progress and errors.
CREATE TABLE import_jobs (
    id            bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    sender_id     bigint NOT NULL REFERENCES senders ON DELETE CASCADE,
    state         text NOT NULL DEFAULT 'running' CHECK (state IN ('running', 'finished', 'failed')),
    total_rows    integer NOT NULL DEFAULT 0,
    imported_rows integer NOT NULL DEFAULT 0,
    error_rows    integer NOT NULL DEFAULT 0,
    errors        jsonb NOT NULL DEFAULT '[]',  -- first rows that failed: [{line, error}]
    created_at    timestamptz NOT NULL DEFAULT now(),
    finished_at   timestamptz
);
CREATE INDEX import_jobs_sender ON import_jobs (sender_id, id);
