-- name: create
-- A new sequence of a sender; a duplicate name is a unique violation (409).
INSERT INTO automations (sender_id, name, trigger, segment_id, date_property, state)
VALUES (:sender_id, :name, :trigger, :segment_id, :date_property, :state)
RETURNING id, name, trigger::text AS trigger, segment_id, date_property, state::text AS state,
          created_at, updated_at;

-- name: get
-- One sequence of a sender (another sender's is not found); FOR UPDATE when editing.
SELECT id, name, trigger::text AS trigger, segment_id, date_property, state::text AS state,
       created_at, updated_at
FROM automations WHERE id = :id AND sender_id = :sender_id;

-- name: lock
-- The sequence row, locked while its steps are replaced (the engine skips it meanwhile).
SELECT id FROM automations WHERE id = :id AND sender_id = :sender_id FOR UPDATE;

-- name: list
-- The sender's sequences, newest first, one page before an id.
SELECT id, name, trigger::text AS trigger, segment_id, date_property, state::text AS state,
       created_at, updated_at
FROM automations
WHERE sender_id = :sender_id AND (:before_id::bigint IS NULL OR id < :before_id)
ORDER BY id DESC LIMIT :limit;

-- name: update
-- Rename, pause or resume (each only when given). Resuming keeps the entry checkpoint, so
-- subscribers who came during the pause enter too.
UPDATE automations
SET name = coalesce(:name, name), state = coalesce(:state::automation_state, state)
WHERE id = :id AND sender_id = :sender_id
RETURNING id, name, trigger::text AS trigger, segment_id, date_property, state::text AS state,
          created_at, updated_at;

-- name: delete
-- Removes a sequence with its steps and everyone's progress (sends already made stay).
DELETE FROM automations WHERE id = :id AND sender_id = :sender_id RETURNING id;

-- name: steps
-- A sequence's steps in order.
SELECT position, kind::text AS kind, extract(epoch FROM wait)::bigint AS wait_seconds,
       email_id, segment_id
FROM automation_steps WHERE automation_id = :automation_id ORDER BY position;

-- name: delete_steps!
-- Before the new list of steps is written (in the same transaction).
DELETE FROM automation_steps WHERE automation_id = :automation_id;

-- name: insert_steps!
-- The whole list of steps in one statement; rows arrive as one JSON array.
INSERT INTO automation_steps (automation_id, position, sender_id, kind, wait, email_id, segment_id)
SELECT :automation_id, r.position, :sender_id, r.kind::automation_step_kind,
       make_interval(secs => r.wait_seconds), r.email_id, r.segment_id
FROM jsonb_to_recordset(:rows::jsonb)
     AS r(position smallint, kind text, wait_seconds bigint, email_id bigint, segment_id bigint);

-- name: using_segment
-- Sequences of the sender that use a segment (as trigger or condition): it cannot be deleted.
SELECT DISTINCT a.id, a.name FROM automations a
LEFT JOIN automation_steps st ON st.automation_id = a.id
WHERE a.sender_id = :sender_id AND (a.segment_id = :segment_id OR st.segment_id = :segment_id);

-- name: step_statistics
-- Per step: who waits there, who went past, who stopped (a condition) or left (unsubscribed,
-- bounced) there, and for a send step its sends still to go (queued, or with a worker now), sent,
-- and opened and clicked by human readers.
WITH places AS (
    SELECT position, state, count(*) AS n FROM automation_progress
    WHERE automation_id = :automation_id GROUP BY position, state
), mail AS (
    SELECT st.position, count(*) FILTER (WHERE e.state IN ('queued', 'sending')) AS queued,
           count(*) FILTER (WHERE e.state = 'sent') AS sent,
           count(*) FILTER (WHERE e.opened) AS opened, count(*) FILTER (WHERE e.clicked) AS clicked
    FROM automation_steps st
    JOIN automation_progress p ON p.automation_id = st.automation_id AND p.position > st.position
    JOIN send_engagement e ON e.email_id = st.email_id AND e.subscriber_id = p.subscriber_id
                          AND e.occurrence = p.occurrence  -- one send per round of a yearly one
    WHERE st.automation_id = :automation_id AND st.kind = 'send'
    GROUP BY st.position
)
SELECT st.position, st.kind::text AS kind,
       coalesce(sum(pl.n) FILTER (WHERE pl.position = st.position AND pl.state = 'waiting'), 0)
           AS waiting,
       coalesce(sum(pl.n) FILTER (WHERE pl.position > st.position), 0) AS passed,
       coalesce(sum(pl.n) FILTER (WHERE pl.position = st.position AND pl.state = 'stopped'), 0)
           AS stopped,
       coalesce(sum(pl.n) FILTER (WHERE pl.position = st.position AND pl.state = 'left'), 0)
           AS left,
       coalesce(m.queued, 0) AS queued, coalesce(m.sent, 0) AS sent,
       coalesce(m.opened, 0) AS opened, coalesce(m.clicked, 0) AS clicked
FROM automation_steps st
LEFT JOIN places pl ON true
LEFT JOIN mail m ON m.position = st.position
WHERE st.automation_id = :automation_id
GROUP BY st.position, st.kind, m.queued, m.sent, m.opened, m.clicked
ORDER BY st.position;

-- name: totals
-- How many subscribers are in each state of a sequence.
SELECT state::text AS state, count(*) AS n FROM automation_progress
WHERE automation_id = :automation_id GROUP BY state;

-- name: progress_page
-- Who is where: one page of a sequence's subscribers, by subscriber id.
SELECT p.subscriber_id, s.address, p.occurrence, p.position, p.state::text AS state, p.due_at,
       p.entered_at, p.updated_at
FROM automation_progress p JOIN subscribers s ON s.id = p.subscriber_id
WHERE p.automation_id = :automation_id
  AND (:state::automation_progress_state IS NULL OR p.state = :state::automation_progress_state)
  AND p.subscriber_id > :after_id
ORDER BY p.subscriber_id, p.occurrence LIMIT :limit;

-- Engine ------------------------------------------------------------------------------------

-- name: runnable
-- Active sequences with their trigger settings, for one scheduler pass.
SELECT id, sender_id, trigger::text AS trigger, segment_id, date_property, entered_through,
       entry_tried_at, last_date_run, updated_at
FROM automations WHERE state = 'active' ORDER BY id;

-- name: hold
-- Taken by each step statement's transaction: a pause or an edit (FOR UPDATE, which touches
-- updated_at) waits for the step in flight, and a pass that read the steps before the edit
-- sees it changed and stops (the next pass reads the new steps).
SELECT updated_at FROM automations WHERE id = :automation_id AND state = 'active' FOR SHARE;

-- name: open_transactions_since
-- The start of the oldest other transaction still open, at most an hour back (now if none).
-- Read in a statement of its own before the entry statement: a transaction that this misses
-- because it has just committed is then visible to the entry statement's newer snapshot.
SELECT greatest(now() - interval '1 hour', least(now(), min(xact_start))) AS at
FROM pg_stat_activity
WHERE datname = current_database() AND backend_type = 'client backend'
  AND pid <> pg_backend_pid();

-- name: enter_newcomers
-- Subscribers created (trigger "subscriber_created", {at} = created_at, {active} = true) or
-- become active (trigger "subscriber_active", {at} = state_changed_at, {active} = s.state =
-- 'active'; the subscribers_activated index) since the checkpoint enter, at most :limit per
-- statement in ({at}, id) order, so a scheduler that was down for hours catches up in several
-- short transactions (a full chunk moves the checkpoint to its last row; more may follow). Once
-- caught up, the checkpoint moves to now, and rows since the settled point are read again: they
-- catch rows whose transaction began before a pass but committed after it ({at} is the
-- transaction's start). The settled point is the start of the oldest transaction that was open
-- at the last caught-up pass (at most an hour back; pg_stat_activity shows the sessions of this
-- role; see open_transactions_since), less five minutes for a transaction that had only just
-- begun; entering twice is a no-op. Only subscribers who came after the sequence was made
-- enter. A keyset, not an anti-join, so the plan stays cheap with fresh statistics.
WITH a AS (
    SELECT id, sender_id, entered_through, entered_through_id, created_at,
           least(entered_through, coalesce(settled_through, entered_through))
               - interval '5 minutes' AS reread_from
    FROM automations
    WHERE id = :automation_id AND state = 'active' AND trigger = {trigger}
    FOR UPDATE SKIP LOCKED
), due AS (
    SELECT s.id, s.{at} AS at FROM a JOIN subscribers s ON s.sender_id = a.sender_id
    WHERE {active}
      AND (s.{at}, s.id) > (a.entered_through, a.entered_through_id)
      AND s.{at} >= a.created_at AND s.{at} <= now()
    ORDER BY s.{at}, s.id LIMIT :limit
), caught_up AS (
    SELECT (SELECT count(*) FROM due) < :limit AS yes
), late AS (
    SELECT s.id FROM a JOIN subscribers s ON s.sender_id = a.sender_id
    WHERE (SELECT yes FROM caught_up) AND {active}
      AND s.{at} > a.reread_from
      AND (s.{at}, s.id) <= (a.entered_through, a.entered_through_id)
      AND s.{at} >= a.created_at
), entered AS (
    INSERT INTO automation_progress (automation_id, subscriber_id)
    SELECT (SELECT id FROM a), id FROM (SELECT id FROM due UNION SELECT id FROM late) n
    ON CONFLICT DO NOTHING
    RETURNING 1
), moved AS (
    UPDATE automations u SET (entered_through, entered_through_id, settled_through) = (
        SELECT CASE WHEN c.yes THEN now() ELSE d.at END, CASE WHEN c.yes THEN 0 ELSE d.id END,
               -- kept until a caught-up pass has read again what came after it
               CASE WHEN c.yes THEN :open_since::timestamptz
                    ELSE least(coalesce(u.settled_through, u.entered_through),
                               :open_since::timestamptz) END
        FROM caught_up c LEFT JOIN (SELECT at, id FROM due ORDER BY at DESC, id DESC LIMIT 1) d
             ON true)
    WHERE id = (SELECT id FROM a)
)
SELECT (SELECT count(*) FROM entered) AS entered, NOT (SELECT yes FROM caught_up) AS more;

-- name: enter_segment
-- Active subscribers who match the trigger segment and never entered, in one statement.
-- {filter} is the expanded segment, composed by shared.filters.
WITH entered AS (
    INSERT INTO automation_progress (automation_id, subscriber_id)
    SELECT :automation_id, s.id FROM subscribers s
    WHERE s.sender_id = :sender_id AND s.state = 'active' AND {filter}
    ON CONFLICT DO NOTHING
    RETURNING 1
)
SELECT count(*) AS entered FROM entered;

-- name: enter_dates
-- Active subscribers whose date property has today's month and day (UTC) enter once this
-- year (occurrence = the year).
WITH entered AS (
    INSERT INTO automation_progress (automation_id, subscriber_id, occurrence)
    SELECT :automation_id, s.id, to_char(:today::date, 'YYYY') FROM subscribers s
    WHERE s.sender_id = :sender_id AND s.state = 'active'
      AND s.properties ? :property
      AND to_char(jsonb_time(s.properties -> :property) AT TIME ZONE 'UTC', 'MM-DD')
          = to_char(:today::date, 'MM-DD')
    ON CONFLICT DO NOTHING
    RETURNING 1
)
SELECT count(*) AS entered FROM entered;

-- name: entry_tried!
-- Segment and date entries were tried now (and the date ones for today).
UPDATE automations SET entry_tried_at = now(), last_date_run = coalesce(:today, last_date_run)
WHERE id = :automation_id;

-- name: advance_wait
-- Rows at a wait step stay there (shown as waiting at it) until the wait has passed since they
-- reached it (due_at); then they move on, due at the moment the wait ended.
WITH due AS (
    SELECT subscriber_id, occurrence FROM automation_progress
    WHERE automation_id = :automation_id AND position = :position AND state = 'waiting'
      AND due_at <= now() - make_interval(secs => :wait_seconds)
    ORDER BY due_at LIMIT :limit FOR UPDATE SKIP LOCKED
), moved AS (
    UPDATE automation_progress p
    SET position = p.position + 1, due_at = p.due_at + make_interval(secs => :wait_seconds),
        updated_at = now()
    FROM due d
    WHERE p.automation_id = :automation_id AND p.subscriber_id = d.subscriber_id
      AND p.occurrence = d.occurrence
    RETURNING 1
)
SELECT count(*) AS moved FROM moved;

-- name: advance_send
-- Due rows at a send step: the send rows are created and the rows move on in ONE statement, so
-- a step is never sent twice, whatever crashes or is redelivered. A subscriber no longer active
-- leaves instead. Returns the id ranges to publish as send.batch messages.
WITH due AS (
    SELECT p.subscriber_id, p.occurrence, s.state = 'active' AS active
    FROM automation_progress p JOIN subscribers s ON s.id = p.subscriber_id
    WHERE p.automation_id = :automation_id AND p.position = :position AND p.state = 'waiting'
      AND p.due_at <= now()
      AND s.state <> 'pending'  -- not confirmed yet (double opt-in): the step waits for it
    ORDER BY p.due_at LIMIT :limit FOR UPDATE OF p SKIP LOCKED
), sent AS (
    -- The row's occurrence goes with the send: a yearly date sequence mails again next year,
    -- and (email, subscriber, occurrence) stays once-only (db/0177) if a step ever runs twice.
    INSERT INTO sends (email_id, sender_id, subscriber_id, occurrence)
    SELECT :email_id, :sender_id, subscriber_id, occurrence FROM due WHERE active
    ORDER BY subscriber_id
    ON CONFLICT (email_id, subscriber_id, occurrence) WHERE NOT transactional DO NOTHING
    RETURNING id
), moved AS (
    UPDATE automation_progress p
    SET position = CASE WHEN d.active THEN p.position + 1 ELSE p.position END,
        state = CASE WHEN d.active THEN 'waiting' ELSE 'left' END::automation_progress_state,
        due_at = now(), updated_at = now()
    FROM due d
    WHERE p.automation_id = :automation_id AND p.subscriber_id = d.subscriber_id
      AND p.occurrence = d.occurrence
    RETURNING 1
)
SELECT (SELECT count(*) FROM moved) AS moved,
       coalesce((SELECT jsonb_agg(jsonb_build_array(first_id, last_id)) FROM (
           SELECT min(id) AS first_id, max(id) AS last_id FROM sent GROUP BY id / :batch_size
       ) r), '[]') AS ranges;

-- name: advance_condition
-- Due rows at a "continue only if segment" step: those who match move on, the others stop
-- there, and those no longer active leave. {filter} is the expanded segment.
WITH due AS (
    SELECT p.subscriber_id, p.occurrence FROM automation_progress p
    JOIN subscribers s ON s.id = p.subscriber_id
    WHERE p.automation_id = :automation_id AND p.position = :position AND p.state = 'waiting'
      AND p.due_at <= now()
      AND s.state <> 'pending'  -- not confirmed yet (double opt-in): the step waits for it
    ORDER BY p.due_at LIMIT :limit FOR UPDATE OF p SKIP LOCKED
), judged AS (
    SELECT d.subscriber_id, d.occurrence,
           CASE WHEN s.state <> 'active' THEN 'left'
                WHEN {filter} THEN 'waiting' ELSE 'stopped' END AS next_state
    FROM due d JOIN subscribers s ON s.id = d.subscriber_id
), moved AS (
    UPDATE automation_progress p
    SET position = CASE WHEN j.next_state = 'waiting' THEN p.position + 1 ELSE p.position END,
        state = j.next_state::automation_progress_state, due_at = now(), updated_at = now()
    FROM judged j
    WHERE p.automation_id = :automation_id AND p.subscriber_id = j.subscriber_id
      AND p.occurrence = j.occurrence
    RETURNING 1
)
SELECT count(*) AS moved FROM moved;

-- name: finish
-- Rows past the last step are done.
WITH done AS (
    UPDATE automation_progress SET state = 'done', updated_at = now()
    WHERE automation_id = :automation_id AND state = 'waiting' AND position >= :steps
    RETURNING 1
)
SELECT count(*) AS done FROM done;

-- name: leave_inactive
-- Whoever unsubscribed, bounced or complained leaves every sequence, in one statement (the
-- send and condition steps check again when they run). A pending subscriber (double opt-in,
-- not confirmed yet) stays: a "created" sequence goes on once it confirms, and one that never
-- confirms is deleted by the pending purge, its progress with it.
WITH gone AS (
    UPDATE automation_progress p SET state = 'left', updated_at = now()
    FROM subscribers s
    WHERE p.state = 'waiting' AND s.id = p.subscriber_id AND s.state NOT IN ('active', 'pending')
    RETURNING 1
)
SELECT count(*) AS n FROM gone;
