-- Inbound mail and what the receiver learns from it: bounces, complaints, auto-replies,
-- DMARC aggregate and failure reports, and SMTP TLS reports.
-- depends: 0001_core

CREATE TYPE inbound_state AS ENUM (
    'stored',       -- raw bytes are safe; inbound.parse is queued
    'parsed',       -- classified and applied
    'failed',       -- the last parse raised; it will be retried
    'quarantined',  -- a poison message: retries exhausted, kept with its reason
    'oversize');    -- over the size limit: kept (truncated) and marked, never parsed

-- Raw messages, deduplicated by content hash so a re-fetched or re-piped message is one row.
CREATE TABLE inbound_messages (
    id            bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    sha256        bytea NOT NULL UNIQUE CHECK (length(sha256) = 32),
    raw           bytea NOT NULL,
    size          integer NOT NULL,
    source        text NOT NULL,  -- 'imap:<account>/<mailbox>' or 'pipe'
    envelope_to   text,           -- the recipient the MTA delivered to (VERP), when known
    state         inbound_state NOT NULL DEFAULT 'stored',
    kind          text CHECK (kind IN ('bounce', 'dsn_success', 'arf', 'autoreply', 'not_bounce',
                                       'dmarc_aggregate', 'dmarc_failure', 'smtp_tls',
                                       'unsubscribe', 'invalid', 'unknown')),
    attempts      smallint NOT NULL DEFAULT 0,
    error         text,
    received_at   timestamptz NOT NULL DEFAULT now(),
    parsed_at     timestamptz
);
CREATE INDEX inbound_messages_state ON inbound_messages (state, id);
CREATE INDEX inbound_messages_kind ON inbound_messages (kind, received_at);

-- What a bounce, complaint or auto-reply says, tied to the send it answers.
-- headers is a JSON array of [name, value] pairs in message order, duplicates included
-- (2013 kept a dict and lost repeated Received: headers).
CREATE TABLE response_reports (
    id             bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    inbound_id     bigint NOT NULL REFERENCES inbound_messages ON DELETE CASCADE,
    sender_id      bigint REFERENCES senders ON DELETE CASCADE,
    send_id        bigint REFERENCES sends ON DELETE SET NULL,
    subscriber_id  bigint REFERENCES subscribers ON DELETE SET NULL,
    kind           text NOT NULL CHECK (kind IN ('bounce', 'dsn_success', 'arf', 'autoreply',
                                                 'unsubscribe')),
    recipient      text,
    hard_or_soft   text CHECK (hard_or_soft IN ('hard', 'soft')),
    status         text,          -- enhanced status code, 5.1.1
    reason         text,          -- user_unknown, mailbox_full, blocked, ...
    diagnostic     text,          -- the remote MTA's words
    feedback_type  text,          -- ARF: abuse, fraud, virus, not-spam, ...
    matched_by     text CHECK (matched_by IN ('verp', 'token_header', 'message_id',
                                              'list_unsubscribe', 'recipient')),
    headers        jsonb NOT NULL DEFAULT '[]' CHECK (jsonb_typeof(headers) = 'array'),
    human_text     text,
    original       text,          -- the returned original message or its headers
    created_at     timestamptz NOT NULL DEFAULT now(),
    -- Reprocessing the same inbound message replaces its reports instead of adding to them.
    UNIQUE NULLS NOT DISTINCT (inbound_id, recipient)
);
CREATE INDEX response_reports_sender ON response_reports (sender_id, kind, created_at);
CREATE INDEX response_reports_send ON response_reports (send_id);

CREATE TABLE dmarc_aggregate_reports (
    id             bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    inbound_id     bigint REFERENCES inbound_messages ON DELETE SET NULL,
    org_name       text NOT NULL,
    org_email      text,
    report_id      text NOT NULL,
    domain         text NOT NULL,
    begin_at       timestamptz NOT NULL,
    end_at         timestamptz NOT NULL,
    policy         jsonb NOT NULL DEFAULT '{}',  -- published policy: p, sp, pct, adkim, aspf
    errors         jsonb NOT NULL DEFAULT '[]',
    message_count  integer NOT NULL DEFAULT 0,
    pass_count     integer NOT NULL DEFAULT 0,
    created_at     timestamptz NOT NULL DEFAULT now(),
    UNIQUE (org_name, report_id)  -- one report stored twice is a no-op
);
CREATE INDEX dmarc_aggregate_domain ON dmarc_aggregate_reports (domain, begin_at);

CREATE TABLE dmarc_aggregate_records (
    id              bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    report_id       bigint NOT NULL REFERENCES dmarc_aggregate_reports ON DELETE CASCADE,
    source_ip       inet NOT NULL,
    message_count   integer NOT NULL,
    disposition     text,
    dkim_aligned    boolean NOT NULL,
    spf_aligned     boolean NOT NULL,
    passed          boolean NOT NULL,  -- DMARC passes when either is aligned
    header_from     text,
    envelope_from   text,
    envelope_to     text,
    dkim_results    jsonb NOT NULL DEFAULT '[]',
    spf_results     jsonb NOT NULL DEFAULT '[]',
    overrides       jsonb NOT NULL DEFAULT '[]'
);
CREATE INDEX dmarc_aggregate_records_report ON dmarc_aggregate_records (report_id);

CREATE TABLE dmarc_failure_reports (
    id               bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    inbound_id       bigint UNIQUE REFERENCES inbound_messages ON DELETE SET NULL,
    feedback_type    text,
    arrival_date     timestamptz,
    source_ip        inet,
    reported_domain  text,
    auth_failure     text[],
    delivery_result  text,
    dkim_domain      text,
    original_mail_from text,
    original_rcpt_to text,
    subject          text,
    sample_headers   jsonb NOT NULL DEFAULT '[]',
    parsed           jsonb NOT NULL DEFAULT '{}',
    created_at       timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX dmarc_failure_domain ON dmarc_failure_reports (reported_domain, arrival_date);

CREATE TABLE tls_reports (
    id                 bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    inbound_id         bigint REFERENCES inbound_messages ON DELETE SET NULL,
    organization_name  text NOT NULL,
    report_id          text NOT NULL,
    begin_at           timestamptz,
    end_at             timestamptz,
    contact_info       text,
    policies           jsonb NOT NULL DEFAULT '[]',
    success_count      integer NOT NULL DEFAULT 0,
    failure_count      integer NOT NULL DEFAULT 0,
    created_at         timestamptz NOT NULL DEFAULT now(),
    UNIQUE (organization_name, report_id)
);
