-- Automations (issue 17): sequences of steps a subscriber walks through after a trigger.
--
-- A sequence belongs to a sender and starts when a subscriber is created, becomes active (a
-- confirmed subscription, whichever path confirms it: the trigger below keeps state_changed_at
-- true for every write), enters a segment, or when a date property comes round (e.g. a
-- birthday, once a year). Its steps are "wait", "send email" and "continue only if segment".
--
-- automation_progress holds each subscriber's place: the next step's position and when it is
-- due. The scheduler (services/sender/scheduler.py through shared/automations/engine.py) moves
-- due rows one step at a time in set-based statements; a send step inserts the send rows and
-- advances the rows in ONE statement, so a restart or a redelivered message never sends a step
-- twice (and sends' UNIQUE (email_id, subscriber_id) backs that up). Editing the steps applies to
-- those who have not reached a step yet: a row only knows its next position.
-- depends: 0141_segments

CREATE TYPE automation_trigger AS ENUM (
    'subscriber_created', 'subscriber_active', 'segment_entered', 'date_property'
);
CREATE TYPE automation_state AS ENUM ('active', 'paused');
CREATE TYPE automation_step_kind AS ENUM ('wait', 'send', 'condition');
-- waiting: at its next step; done: past the last; stopped: a condition did not hold;
-- left: unsubscribed, bounced or complained (or erased) on the way.
CREATE TYPE automation_progress_state AS ENUM ('waiting', 'done', 'stopped', 'left');

CREATE TABLE automations (
    id              bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    sender_id       bigint NOT NULL REFERENCES senders ON DELETE CASCADE,
    name            text NOT NULL CHECK (name <> '' AND length(name) <= 200 AND name !~ '[\r\n]'),
    trigger         automation_trigger NOT NULL,
    segment_id      bigint,
    date_property   text CHECK (length(date_property) BETWEEN 1 AND 200),
    state           automation_state NOT NULL DEFAULT 'active',
    -- Subscribers created or activated up to this time were considered for entry.
    entered_through timestamptz NOT NULL DEFAULT now(),
    -- Segment and date entries are tried now and then, not every tick.
    entry_tried_at  timestamptz,
    last_date_run   date,
    created_at      timestamptz NOT NULL DEFAULT now(),
    updated_at      timestamptz NOT NULL DEFAULT now(),
    UNIQUE (sender_id, name),
    UNIQUE (sender_id, id),
    FOREIGN KEY (sender_id, segment_id) REFERENCES segments (sender_id, id),
    CHECK ((trigger = 'segment_entered') = (segment_id IS NOT NULL)),
    CHECK ((trigger = 'date_property') = (date_property IS NOT NULL))
);
-- Only the owner's changes (rename, pause, resume, and every edit of the steps, which goes through
-- the same UPDATE) move updated_at; the engine's checkpoints do not (it compares updated_at to
-- notice an edit in the middle of a pass).
CREATE TRIGGER automations_touch BEFORE UPDATE OF name, state ON automations
    FOR EACH ROW EXECUTE FUNCTION touch_updated_at();
CREATE INDEX automations_active ON automations (id) WHERE state = 'active';

CREATE TABLE automation_steps (
    automation_id   bigint NOT NULL REFERENCES automations ON DELETE CASCADE,
    position        smallint NOT NULL CHECK (position >= 0),
    sender_id       bigint NOT NULL,
    kind            automation_step_kind NOT NULL,
    wait            interval CHECK (wait > interval '0'),
    email_id        bigint,
    segment_id      bigint,
    PRIMARY KEY (automation_id, position),
    -- tenant-checked: a step names the sender's own email or segment only
    FOREIGN KEY (sender_id, automation_id) REFERENCES automations (sender_id, id) ON DELETE CASCADE,
    FOREIGN KEY (sender_id, email_id) REFERENCES emails (sender_id, id),
    FOREIGN KEY (sender_id, segment_id) REFERENCES segments (sender_id, id),
    CHECK ((kind = 'wait') = (wait IS NOT NULL)),
    CHECK ((kind = 'send') = (email_id IS NOT NULL)),
    CHECK ((kind = 'condition') = (segment_id IS NOT NULL))
);

CREATE TABLE automation_progress (
    automation_id   bigint NOT NULL REFERENCES automations ON DELETE CASCADE,
    subscriber_id   bigint NOT NULL REFERENCES subscribers ON DELETE CASCADE,
    -- '' for a trigger that fires once per subscriber; the year for a date property.
    occurrence      text NOT NULL DEFAULT '',
    position        smallint NOT NULL DEFAULT 0,
    state           automation_progress_state NOT NULL DEFAULT 'waiting',
    due_at          timestamptz NOT NULL DEFAULT now(),
    entered_at      timestamptz NOT NULL DEFAULT now(),
    updated_at      timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (automation_id, subscriber_id, occurrence)
);
CREATE INDEX automation_progress_due ON automation_progress (automation_id, position, due_at)
    WHERE state = 'waiting';
CREATE INDEX automation_progress_subscriber ON automation_progress (subscriber_id)
    WHERE state = 'waiting';

-- state_changed_at moves with every state change, whichever statement makes it (the API, the
-- admin, an unsubscribe, a bounce, a confirmation written by any later path), so "became
-- active" can be found by time.
CREATE FUNCTION subscribers_state_changed() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF NEW.state IS DISTINCT FROM OLD.state THEN
        NEW.state_changed_at := now();
    END IF;
    RETURN NEW;
END $$;
CREATE TRIGGER subscribers_state_changed BEFORE UPDATE OF state ON subscribers
    FOR EACH ROW EXECUTE FUNCTION subscribers_state_changed();

-- "became active since" for the subscriber_active trigger: its index is built online by 0143.
