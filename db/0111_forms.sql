-- Subscription forms, the topics a sender offers, double opt-in confirmations and welcome
-- emails (issue 15, items 1, 2 and 4).
-- depends: 0110_subscriber_pending

-- Boolean "topic" properties a sender declares: a form offers them as checkboxes and a
-- subscriber has topic K when properties->K is JSON true.
CREATE TABLE sender_topics (
    sender_id  bigint NOT NULL REFERENCES senders ON DELETE CASCADE,
    key        text NOT NULL CHECK (key ~ '^[a-z][a-z0-9_]{0,63}$'),
    label_en   text NOT NULL CHECK (label_en <> '' AND length(label_en) <= 200
                                    AND label_en !~ '[\r\n]'),
    label_tr   text NOT NULL DEFAULT '' CHECK (length(label_tr) <= 200 AND label_tr !~ '[\r\n]'),
    position   integer NOT NULL DEFAULT 0,
    PRIMARY KEY (sender_id, key)
);

-- The email a subscriber gets once when their subscription starts, unless a form names its own.
ALTER TABLE senders ADD COLUMN welcome_email_id bigint;
ALTER TABLE senders ADD CONSTRAINT senders_welcome_email
    FOREIGN KEY (id, welcome_email_id) REFERENCES emails (sender_id, id)
    ON DELETE SET NULL (welcome_email_id);

CREATE TABLE forms (
    id              bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    sender_id       bigint NOT NULL REFERENCES senders ON DELETE CASCADE,
    name            text NOT NULL CHECK (name <> '' AND length(name) <= 200 AND name !~ '[\r\n]'),
    -- page languages offered, the first is the default
    locales         text[] NOT NULL DEFAULT '{en,tr}'
                        CHECK (cardinality(locales) > 0 AND locales <@ '{en,tr}'),
    -- text properties asked for (first_name, ...), in this order
    fields          text[] NOT NULL DEFAULT '{}'
                        CHECK (cardinality(fields) <= 20),
    -- sender_topics offered as checkboxes (checked in the service: topics can be deleted)
    topics          text[] NOT NULL DEFAULT '{}' CHECK (cardinality(topics) <= 50),
    thank_you_text  text CHECK (length(thank_you_text) <= 5000),
    redirect_url    text CHECK (redirect_url ~ '^https?://[^\s]+$' AND length(redirect_url) <= 2000),
    double_opt_in   boolean NOT NULL DEFAULT true,
    allowed_origins text[] NOT NULL DEFAULT '{}' CHECK (cardinality(allowed_origins) <= 20),
    welcome_email_id bigint,
    created_at      timestamptz NOT NULL DEFAULT now(),
    updated_at      timestamptz NOT NULL DEFAULT now(),
    UNIQUE (sender_id, id),
    FOREIGN KEY (sender_id, welcome_email_id) REFERENCES emails (sender_id, id)
        ON DELETE SET NULL (welcome_email_id)
);
CREATE INDEX forms_sender ON forms (sender_id, id);
CREATE TRIGGER forms_touch BEFORE UPDATE ON forms
    FOR EACH ROW EXECUTE FUNCTION touch_updated_at();

-- The confirmation mail a sender sends, per page language; without a row the built-in default
-- of that language is used (services/sender/optin_mail.py).
CREATE TABLE confirmation_templates (
    sender_id   bigint NOT NULL REFERENCES senders ON DELETE CASCADE,
    language    text NOT NULL CHECK (language IN ('en', 'tr')),
    subject     text NOT NULL CHECK (subject <> '' AND subject !~ '[\r\n]'),
    plain_body  text NOT NULL CHECK (plain_body <> ''),
    html_body   text,
    updated_at  timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (sender_id, language)
);

-- One open confirmation per subscriber: the subscription waiting for the person to confirm
-- (a new pending subscriber, or an unsubscribed one who asked to come back). Its id is in the
-- signed link, so a link works only while this row exists: confirming deletes it, and an old
-- link from an earlier cycle names a row that is gone.
CREATE TABLE confirmations (
    id              bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    sender_id       bigint NOT NULL REFERENCES senders ON DELETE CASCADE,
    -- (subscribers has no (sender_id, id) key since 0070; the row is created from the subscriber)
    subscriber_id   bigint NOT NULL UNIQUE REFERENCES subscribers ON DELETE CASCADE,
    form_id         bigint REFERENCES forms ON DELETE SET NULL,
    -- the last time a mail was asked for, and the last time one went out
    requested_at    timestamptz NOT NULL DEFAULT now(),
    mailed_at       timestamptz,
    mail_count      integer NOT NULL DEFAULT 0,
    created_at      timestamptz NOT NULL DEFAULT now()
);

-- The purge of pending subscribers who never confirmed (set-based, oldest first).
CREATE INDEX subscribers_pending ON subscribers (state_changed_at, id) WHERE state = 'pending';
