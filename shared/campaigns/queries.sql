-- name: get_email_for_update
-- Locks the sender's email while its state changes, so two queue requests cannot both start it.
-- NO KEY UPDATE, not UPDATE: a dispatch holding its campaign row updates it twice in one
-- transaction (checkpoint, then state), and the second update re-checks the campaign's foreign
-- key with KEY SHARE on this email row, which FOR UPDATE would block while the pause waits for
-- that campaign row: a deadlock.
SELECT id, sender_id, name, bulk, redirect_url, locales::text[] AS locales, track_clicks,
       state::text AS state, transactional, layout_id, created_at, updated_at
FROM emails WHERE id = :email_id AND sender_id = :sender_id FOR NO KEY UPDATE;

-- name: get_email
-- The sender's email, read without a lock (progress, test sends).
SELECT id, sender_id, name, bulk, redirect_url, locales::text[] AS locales, track_clicks,
       state::text AS state, transactional, layout_id, created_at, updated_at
FROM emails WHERE id = :email_id AND sender_id = :sender_id;

-- name: set_email_state
-- Moves an email between states; the emails_state trigger refuses illegal transitions.
UPDATE emails SET state = :state::email_state
WHERE id = :email_id AND sender_id = :sender_id
RETURNING id, sender_id, name, bulk, redirect_url, locales::text[] AS locales, track_clicks, state::text AS state, created_at, updated_at;

-- name: active_variations
-- The variations a send may use, in id order (the weighted pick depends on a stable order).
SELECT * FROM variations WHERE email_id = :email_id AND state = 'active' ORDER BY id;

-- name: get_variation
-- One variation of the sender's email (test sends), tenant-checked through the email, and of
-- that email when the caller names it.
SELECT v.*, e.sender_id, e.track_clicks, e.bulk
FROM variations v JOIN emails e ON e.id = v.email_id
WHERE v.id = :variation_id AND e.sender_id = :sender_id
  AND (:email_id::bigint IS NULL OR v.email_id = :email_id::bigint);

-- name: open_campaign_for_email
-- The email's campaign that is not over yet (at most one runs at a time).
SELECT id, email_id, sender_id, state::text AS state, locales::text[] AS locales, contains, filter, max_count,
    scheduled_at, ab_test_share::float8 AS ab_test_share, ab_wait, ab_metric, winner_variation_id, winner_reason, winner_at,
    cursor_updated_at, cursor_id, planned_count, queued_count, created_at, started_at, finished_at
FROM campaigns
WHERE email_id = :email_id AND sender_id = :sender_id
  AND state IN ('scheduled', 'dispatching', 'testing', 'sending', 'paused')
ORDER BY id DESC LIMIT 1 FOR UPDATE;

-- name: last_campaign_for_email
-- The email's latest campaign whatever its state (retries reopen a finished one).
SELECT id, email_id, sender_id, state::text AS state, locales::text[] AS locales, contains, filter, max_count,
    scheduled_at, ab_test_share::float8 AS ab_test_share, ab_wait, ab_metric, winner_variation_id, winner_reason, winner_at,
    cursor_updated_at, cursor_id, planned_count, queued_count, created_at, started_at, finished_at
FROM campaigns WHERE email_id = :email_id AND sender_id = :sender_id
ORDER BY id DESC LIMIT 1 FOR UPDATE;

-- name: create_campaign
-- Records one bulk send of an email with its audience, checkpoint start and A/B settings.
INSERT INTO campaigns (email_id, sender_id, state, locales, contains, filter, max_count,
   
                       scheduled_at, ab_test_share, ab_wait, ab_metric, ab_min_sends,
                       planned_count, started_at)
VALUES (:email_id, :sender_id, :state::campaign_state, :locales::text[]::locale[],
        :contains::jsonb, :filter::jsonb, :max_count, :scheduled_at, :ab_test_share,
        make_interval(secs => :ab_wait_seconds::float8), :ab_metric, :ab_min_sends,
        :planned_count, CASE WHEN :state = 'dispatching' THEN now() END)
RETURNING id, email_id, sender_id, state::text AS state, locales::text[] AS locales, contains, filter, max_count,
    scheduled_at, ab_test_share::float8 AS ab_test_share, ab_wait, ab_metric, winner_variation_id, winner_reason, winner_at,
    cursor_updated_at, cursor_id, planned_count, queued_count, created_at, started_at, finished_at;

-- name: get_campaign_for_update
-- Locks a campaign while dispatch advances its checkpoint (one dispatcher at a time).
SELECT id, email_id, sender_id, state::text AS state, locales::text[] AS locales, contains, filter, max_count,
    scheduled_at, ab_test_share::float8 AS ab_test_share, ab_wait, ab_metric, winner_variation_id, winner_reason, winner_at,
    cursor_updated_at, cursor_id, planned_count, queued_count, created_at, started_at, finished_at
FROM campaigns WHERE id = :campaign_id FOR UPDATE;

-- name: set_campaign_state
-- Moves a campaign; started_at and finished_at follow the state. A move by a person or the
-- dispatcher clears the guard's pause reason (the guard writes it in guard_pause).
UPDATE campaigns
SET state = :state::campaign_state,
    paused_reason = NULL,
    started_at = CASE WHEN :state IN ('dispatching', 'sending') THEN coalesce(started_at, now())
                      ELSE started_at END,
    finished_at = CASE WHEN :state IN ('finished', 'cancelled') THEN now() END
WHERE id = :campaign_id
RETURNING id, email_id, sender_id, state::text AS state, locales::text[] AS locales, contains, filter, max_count,
    scheduled_at, ab_test_share::float8 AS ab_test_share, ab_wait, ab_metric, winner_variation_id, winner_reason, winner_at,
    cursor_updated_at, cursor_id, planned_count, queued_count, created_at, started_at, finished_at;

-- name: advance_checkpoint!
-- Saves dispatch progress after a chunk, in the chunk's transaction, so a crash resumes here.
UPDATE campaigns
SET cursor_updated_at = :cursor_updated_at, cursor_id = :cursor_id,
    queued_count = queued_count + :inserted
WHERE id = :campaign_id;

-- name: count_audience
-- Active subscribers per locale that match the audience and do not have this email yet (in any
-- occurrence: a campaign's own rows have occurrence '', db/0176).
-- {filter} is a psycopg.sql expression composed by shared.filters (values adapted by psycopg).
SELECT s.locale::text AS locale, count(*) AS n
FROM subscribers s
WHERE s.sender_id = :sender_id AND s.state = 'active'
  AND (cardinality(:locales::text[]) = 0 OR s.locale = ANY(:locales::text[]))
  AND s.properties @> :contains::jsonb
  AND NOT EXISTS (SELECT 1 FROM sends x WHERE x.email_id = :email_id AND x.subscriber_id = s.id
                        AND NOT x.transactional)
  AND {filter}
GROUP BY s.locale ORDER BY s.locale;

-- name: dispatch_chunk
-- Creates the next chunk of send rows in one INSERT ... SELECT, in 2013 order (least recently
-- revised first), after the checkpoint. In A/B winner mode row k of the audience goes to the test
-- share when floor((k+1)*share) > floor(k*share), which spreads the test share evenly; the other
-- rows are held until the winner is known. Returns the counts, the id range of rows ready to
-- send, and the new checkpoint. {filter} is composed by shared.filters.
WITH audience AS MATERIALIZED (
    SELECT s.id, s.updated_at
    FROM subscribers s
    WHERE s.sender_id = :sender_id AND s.state = 'active'
      AND (cardinality(:locales::text[]) = 0 OR s.locale = ANY(:locales::text[]))
      AND s.properties @> :contains::jsonb
      AND (s.updated_at, s.id) > (:cursor_updated_at::timestamptz, :cursor_id::bigint)
      -- OFFSET 0 keeps this a per-row probe of the leading (email_id, subscriber_id) columns of
      -- the once-only index (db/0177; any occurrence counts, as in count_audience). As an anti
      -- join, the planner trusts statistics taken before the previous chunks' rows existed
      -- ("1 row"), materializes them and compares every candidate with every one: 34,000
      -- candidates against 34,000 rows took minutes (bench/segments.py).
      AND NOT EXISTS (SELECT 1 FROM sends x WHERE x.email_id = :email_id AND x.subscriber_id = s.id
                        AND NOT x.transactional OFFSET 0)
      AND {filter}
    ORDER BY s.updated_at, s.id
    LIMIT :limit
), numbered AS (
    SELECT id, row_number() OVER (ORDER BY updated_at, id) - 1 + :offset::bigint AS k
    FROM audience
), inserted AS (
    INSERT INTO sends (email_id, sender_id, subscriber_id, campaign_id, held)
    SELECT :email_id, :sender_id, n.id, :campaign_id,
           CASE WHEN :share::numeric IS NULL THEN false
                ELSE floor((n.k + 1) * :share::numeric) = floor(n.k * :share::numeric) END
    FROM numbered n ORDER BY n.k
    ON CONFLICT (email_id, subscriber_id, occurrence) WHERE NOT transactional DO NOTHING
    RETURNING id, held
), last_row AS (
    SELECT updated_at, id FROM audience ORDER BY updated_at DESC, id DESC LIMIT 1
)
SELECT (SELECT count(*) FROM audience) AS scanned,
       (SELECT count(*) FROM inserted) AS inserted,
       (SELECT count(*) FROM inserted WHERE NOT held) AS ready,
       (SELECT min(id) FROM inserted WHERE NOT held) AS first_id,
       (SELECT max(id) FROM inserted WHERE NOT held) AS last_id,
       (SELECT updated_at FROM last_row) AS cursor_updated_at,
       (SELECT id FROM last_row) AS cursor_id;

-- name: ready_ranges
-- Id ranges of a campaign's sendable rows, one per send.batch message (resume, winner,
-- a retried dispatch).
SELECT email_id, min(id) AS first_id, max(id) AS last_id
FROM sends
WHERE campaign_id = :campaign_id AND state = 'queued' AND NOT held
GROUP BY email_id, id / :batch_size ORDER BY 2;

-- name: variation_results
-- A/B test share results per active variation: sends that went out and, of those, the sends
-- opened and clicked, by the definitions every statistic uses (send_engagement, db/0090).
SELECT v.id AS variation_id, v.name,
       count(e.id) FILTER (WHERE e.state = 'sent') AS sent,
       count(e.id) FILTER (WHERE e.state = 'sent' AND e.opened) AS opened,
       count(e.id) FILTER (WHERE e.state = 'sent' AND e.clicked) AS clicked
FROM variations v
LEFT JOIN send_engagement e
       ON e.variation_id = v.id AND e.campaign_id = :campaign_id AND NOT e.held
WHERE v.email_id = :email_id AND v.state = 'active'
GROUP BY v.id, v.name ORDER BY v.id;

-- name: ab_settings
-- A campaign's A/B metric and minimum sample (read apart from the campaign row the dispatcher
-- locks, which does not carry them).
SELECT ab_metric, ab_min_sends FROM campaigns WHERE id = :campaign_id;

-- name: last_ab_campaign
-- The email's latest campaign in A/B winner mode, with its decision if made (statistics).
SELECT id, state::text AS state, ab_metric, ab_min_sends, ab_result, winner_variation_id,
       winner_reason, winner_at
FROM campaigns
WHERE email_id = :email_id AND sender_id = :sender_id AND ab_test_share IS NOT NULL
ORDER BY id DESC LIMIT 1;

-- name: release_held!
-- After the A/B wait: the rest of the audience gets the winning variation.
UPDATE sends SET variation_id = :variation_id, held = false
WHERE campaign_id = :campaign_id AND held AND state = 'queued';

-- name: cancel_held!
-- An A/B test whose email has no active variation left: the held rest has nothing to be sent
-- with, so it is cancelled (held rows would otherwise stay queued and the campaign never end).
UPDATE sends SET state = 'cancelled', error = 'no active variation', held = false
WHERE campaign_id = :campaign_id AND held AND state = 'queued';

-- name: record_winner
-- Keeps the A/B decision: the variation the rest gets (the winner, or the default when the test
-- cannot tell), when, why, and the decision with its sample and margin.
UPDATE campaigns
SET winner_variation_id = :variation_id, winner_reason = :reason, winner_at = now(),
    ab_result = :result, state = 'sending'
WHERE id = :campaign_id AND state = 'testing'
RETURNING id, email_id, sender_id, state::text AS state, locales::text[] AS locales, contains, filter, max_count,
    scheduled_at, ab_test_share::float8 AS ab_test_share, ab_wait, ab_metric, winner_variation_id, winner_reason, winner_at,
    cursor_updated_at, cursor_id, planned_count, queued_count, created_at, started_at, finished_at;

-- name: cancel_queued!
-- Cancelling an email cancels every send that has not gone out (held ones included).
UPDATE sends SET state = 'cancelled', error = 'email cancelled', lease_until = NULL
WHERE email_id = :email_id AND sender_id = :sender_id AND state = 'queued';

-- name: requeue_failed
-- An operator retries the email's failed sends from scratch (a fresh retry lifetime too).
UPDATE sends
SET state = 'queued', attempts = 0, next_attempt_at = NULL, first_attempt_at = NULL, error = NULL
WHERE email_id = :email_id AND sender_id = :sender_id AND state = 'failed'
RETURNING id;

-- name: email_ready_ranges
-- Id ranges of an email's sendable rows (retries of transactional sends have no campaign).
SELECT min(id) AS first_id, max(id) AS last_id
FROM sends
WHERE email_id = :email_id AND sender_id = :sender_id AND state = 'queued' AND NOT held
GROUP BY id / :batch_size ORDER BY 1;

-- name: progress
-- The sender's email's state, its sends' counts by state and the rate over the last 10 seconds
-- (sends_sent_day covers the window), in one statement; no row when the email is not the
-- sender's.
SELECT e.state::text AS state,
       count(*) FILTER (WHERE s.state = 'queued') AS queued,
       count(*) FILTER (WHERE s.state = 'sending') AS sending,
       count(*) FILTER (WHERE s.state = 'sent') AS sent,
       count(*) FILTER (WHERE s.state = 'failed') AS failed,
       count(*) FILTER (WHERE s.state = 'cancelled') AS cancelled,
       count(*) FILTER (WHERE s.state = 'queued' AND s.held) AS held,
       count(*) FILTER (WHERE s.sent_at > now() - interval '10 seconds') AS sent_last_10s,
       (SELECT c.paused_reason FROM campaigns c WHERE c.email_id = e.id
        ORDER BY c.id DESC LIMIT 1) AS paused_reason
FROM emails e
LEFT JOIN sends s ON s.email_id = e.id AND s.sender_id = e.sender_id
WHERE e.id = :email_id AND e.sender_id = :sender_id
GROUP BY e.id;

-- name: find_subscriber
-- The sender's subscriber by id or address (transactional sends).
SELECT id, address::text AS address, state::text AS state FROM subscribers
WHERE sender_id = :sender_id
  AND ((:subscriber_id::bigint IS NOT NULL AND id = :subscriber_id::bigint)
       OR (:subscriber_id::bigint IS NULL AND address = lower(:address::text)));

-- name: insert_single_send
-- A send to one subscriber; nothing when the subscriber already has this email (occurrence '').
INSERT INTO sends (email_id, sender_id, subscriber_id)
VALUES (:email_id, :sender_id, :subscriber_id)
ON CONFLICT (email_id, subscriber_id, occurrence) WHERE NOT transactional DO NOTHING
RETURNING id, email_id, sender_id, subscriber_id, state::text AS state, queued_at;

-- name: due_campaigns
-- Scheduled campaigns whose time has come (campaigns_due index).
SELECT id, email_id, sender_id FROM campaigns
WHERE state = 'scheduled' AND scheduled_at <= now()
ORDER BY scheduled_at LIMIT 100 FOR UPDATE SKIP LOCKED;

-- name: testing_due
-- A/B campaigns whose wait is over.
SELECT id FROM campaigns
WHERE state = 'testing' AND started_at + ab_wait <= now()
ORDER BY id LIMIT 100;

-- name: finish_done_campaigns
-- Campaigns with every row sent, failed or cancelled are finished, and their emails sent.
-- A pause, cancel or queue locks the email and then its campaign: the campaign and its email
-- are locked together here and skipped while either is held, so the two never deadlock (the
-- campaign is finished at the next tick if it still is done).
WITH ready AS (
    SELECT c.id FROM campaigns c JOIN emails e ON e.id = c.email_id
    WHERE c.state = 'sending'
      AND NOT EXISTS (SELECT 1 FROM sends s WHERE s.email_id = c.email_id
                      AND s.state IN ('queued', 'sending') AND s.campaign_id = c.id)
    FOR UPDATE OF c, e SKIP LOCKED
), done AS (
    UPDATE campaigns c SET state = 'finished', finished_at = now()
    FROM ready WHERE c.id = ready.id
    RETURNING c.email_id
)
UPDATE emails e SET state = 'sent' FROM done WHERE e.id = done.email_id AND e.state = 'sending'
RETURNING e.id;

-- name: stalled_dispatches
-- Campaigns left dispatching with no progress for a while (dispatcher crashed or its message was
-- lost between commit and publish).
SELECT id FROM campaigns
WHERE state = 'dispatching' AND coalesce(started_at, created_at) < now() - make_interval(secs => :age_seconds)
ORDER BY id LIMIT 100;

-- name: dispatch_async_commit!
-- A dispatch chunk's transaction does not wait for its WAL flush: if PostgreSQL itself crashes
-- before the flush, the chunk's rows AND its checkpoint are lost together (one transaction), so
-- the dispatch redoes the chunk; send.batch messages published for lost rows find nothing to
-- claim. Never torn, only redone, and about one WAL flush wait less per chunk. The chunk's two
-- sorts of up to 50,000 rows also get the memory to stay off disk (both for this transaction).
SELECT set_config('synchronous_commit', 'off', true), set_config('work_mem', '32MB', true);

-- name: guard_pause
-- The per-sender guard: the running campaigns of the emails these sends belong to, not checked
-- in the last :interval_s seconds, whose final-bounce or complaint rate among sent messages
-- crosses the sender's threshold (with at least guard_min_sent sent), are paused with their
-- email, and a campaign_paused webhook is logged. One statement, and one UPDATE of each
-- campaign row (a row updated twice in one statement keeps only the first change); every
-- checked campaign is stamped, so a burst of bounces costs one count per campaign per interval.
WITH due AS (
    -- The email and campaign rows are taken without waiting (SKIP LOCKED): a campaign being
    -- dispatched or paused by a person right now is checked on a later bounce, and a bounce
    -- never waits on, or deadlocks with, a dispatch or a pause (which lock email, then campaign).
    SELECT c.id, c.email_id, c.sender_id
    FROM campaigns c JOIN emails e ON e.id = c.email_id AND e.state = 'sending'
    WHERE c.email_id IN (SELECT DISTINCT email_id FROM sends WHERE id = ANY(:send_ids))
      AND c.state IN ('dispatching', 'sending')
      AND (c.guard_checked_at IS NULL
           OR c.guard_checked_at < now() - make_interval(secs => :interval_s))
    FOR NO KEY UPDATE OF c, e SKIP LOCKED
), rates AS (
    -- Three index counts per campaign (sends_sent_day, sends_bounced, sends_complained).
    SELECT d.id AS campaign_id, d.email_id, d.sender_id, se.guard_min_sent,
           se.guard_bounce_rate, se.guard_complaint_rate,
           (SELECT count(*) FROM sends s
            WHERE s.email_id = d.email_id AND s.sent_at IS NOT NULL) AS sent,
           (SELECT count(*) FROM sends s
            WHERE s.email_id = d.email_id AND s.bounced_at IS NOT NULL) AS bounced,
           (SELECT count(*) FROM sends s
            WHERE s.email_id = d.email_id AND s.complained_at IS NOT NULL) AS complained
    FROM due d
    JOIN senders se ON se.id = d.sender_id
), verdict AS (
    SELECT r.*, CASE
        WHEN r.sent < r.guard_min_sent THEN NULL
        WHEN r.complained > r.guard_complaint_rate * r.sent THEN 'complaint_rate'
        WHEN r.bounced > r.guard_bounce_rate * r.sent THEN 'bounce_rate'
        END AS reason
    FROM rates r
), checked AS (
    UPDATE campaigns c
    SET guard_checked_at = now(),
        state = CASE WHEN v.reason IS NULL THEN c.state ELSE 'paused' END,
        paused_at = CASE WHEN v.reason IS NULL THEN c.paused_at ELSE now() END,
        paused_reason = CASE WHEN v.reason IS NULL THEN c.paused_reason ELSE
            v.reason || ': '
            || CASE WHEN v.reason = 'bounce_rate' THEN v.bounced ELSE v.complained END
            || ' of ' || v.sent || ' sent (threshold '
            || CASE WHEN v.reason = 'bounce_rate' THEN v.guard_bounce_rate
                    ELSE v.guard_complaint_rate END::float8 || ')' END
    FROM verdict v
    WHERE c.id = v.campaign_id
    RETURNING c.id, c.email_id, c.sender_id, c.paused_reason, v.reason, v.sent, v.bounced,
              v.complained
), paused AS (
    SELECT * FROM checked WHERE reason IS NOT NULL
), emails_paused AS (
    UPDATE emails e SET state = 'paused'
    FROM paused p WHERE e.id = p.email_id AND e.state = 'sending'
    RETURNING e.id
), hooks AS (
    INSERT INTO webhook_deliveries (sender_id, event, payload, next_attempt_at)
    SELECT p.sender_id, 'campaign_paused',
           jsonb_build_object('email_id', p.email_id, 'campaign_id', p.id, 'reason', p.reason,
                              'sent', p.sent, 'bounced', p.bounced,
                              'complained', p.complained, 'detail', p.paused_reason),
           now()
    FROM paused p JOIN senders se ON se.id = p.sender_id
    WHERE se.webhook_url IS NOT NULL AND 'campaign_paused' = ANY (se.webhook_events)
    RETURNING id, (payload ->> 'campaign_id')::bigint AS campaign_id
)
SELECT p.id AS campaign_id, p.email_id, p.sender_id, p.reason, p.paused_reason, p.sent,
       p.bounced, p.complained, h.id AS delivery_id,
       (SELECT count(*) FROM emails_paused) AS emails_paused
FROM paused p LEFT JOIN hooks h ON h.campaign_id = p.id;

-- name: sending_health
-- What the alerts watch (the scheduler exports it every sweep): the age of the oldest queued
-- send that is due, and the running campaigns that sent nothing for :stuck_after_s seconds.
SELECT
    (SELECT coalesce(extract(epoch FROM now() - min(coalesce(s.next_attempt_at, s.queued_at))), 0)
     FROM sends s
     WHERE s.state = 'queued' AND NOT s.held
       AND coalesce(s.next_attempt_at, s.queued_at) <= now())::float8 AS oldest_queued_seconds,
    (SELECT count(*) FROM campaigns c
     WHERE c.state IN ('dispatching', 'sending')
       AND coalesce(c.started_at, c.created_at) < now() - make_interval(secs => :stuck_after_s)
       AND NOT EXISTS (SELECT 1 FROM sends s
                       WHERE s.email_id = c.email_id
                         AND s.sent_at > now() - make_interval(secs => :stuck_after_s))
    ) AS stuck_campaigns;
