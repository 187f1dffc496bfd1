-- name: claim_batch
-- Claims up to :limit queued rows of a range for this worker (queued -> sending, with a lease).
-- The attempt number it sets identifies this claim when the outcome is recorded; the first
-- claim also stamps first_attempt_at, from which retrying_seconds (the retry lifetime used) runs.
-- FOR UPDATE SKIP LOCKED over the partial index sends_queued lets workers share ranges. Rows of
-- a subscriber who stopped (unsubscribed, bounced, complained, erased) become cancelled instead,
-- and rows of a paused or cancelled campaign are left alone. A transactional row stops only for
-- a bounced, complained or erased recipient (models.suppression_reason); one to an address
-- that is no subscriber renders with that address. Returns what rendering needs, with a
-- transactional row's payload.
WITH candidates AS (
    SELECT s.id, s.subscriber_id, s.transactional, s.address
    FROM sends s
    WHERE s.state = 'queued' AND s.id BETWEEN :first_id AND :last_id
      AND s.email_id = :email_id AND NOT s.held
      AND (s.next_attempt_at IS NULL OR s.next_attempt_at <= now())
      AND (s.campaign_id IS NULL OR EXISTS (
            SELECT 1 FROM campaigns c WHERE c.id = s.campaign_id
              AND c.state IN ('dispatching', 'testing', 'sending')))
    ORDER BY s.id
    LIMIT :limit
    FOR UPDATE OF s SKIP LOCKED
), joined AS (
    SELECT c.id, coalesce(sub.address, c.address) AS address,
           coalesce(sub.locale, 'C') AS locale, coalesce(sub.properties, '{}') AS properties,
           CASE WHEN NOT c.transactional THEN
                    CASE WHEN sub.state = 'active' THEN NULL
                         ELSE coalesce(sub.state::text, 'erased') END
                WHEN sub.id IS NULL AND c.address IS NULL THEN 'erased'
                WHEN sub.state IN ('bounced', 'complained') THEN sub.state::text
           END AS stop
    FROM candidates c LEFT JOIN subscribers sub ON sub.id = c.subscriber_id
)
UPDATE sends s
SET state = CASE WHEN j.stop IS NULL THEN 'sending' ELSE 'cancelled' END::send_state,
    lease_until = CASE WHEN j.stop IS NULL
                       THEN now() + make_interval(secs => :lease_seconds::float8) END,
    attempts = s.attempts + CASE WHEN j.stop IS NULL THEN 1 ELSE 0 END,
    first_attempt_at = CASE WHEN j.stop IS NULL
                            THEN coalesce(s.first_attempt_at, now()) ELSE s.first_attempt_at END,
    error = CASE WHEN j.stop IS NULL THEN s.error ELSE 'subscriber is ' || j.stop END
FROM joined j
WHERE s.id = j.id
RETURNING s.id, s.state::text AS state, s.subscriber_id, s.variation_id, s.attempts,
          extract(epoch FROM now() - s.first_attempt_at)::float8 AS retrying_seconds,
          j.address::text AS address, j.locale::text AS locale, j.properties, s.transactional;

-- name: payloads
-- The data, headers and attachments of the transactional rows a batch claimed.
SELECT send_id, data, headers, attachments FROM send_payloads WHERE send_id = ANY(:ids::bigint[]);

-- name: record_outcomes!
-- Records a batch's refusals and temporary failures in one statement: failed, or back to queued
-- with a backoff (accepted sends are written by record_sent as their replies arrive). Only rows
-- still held by this batch's claim change: 'sending' with the attempt number the claim set (a
-- row whose lease ran out may have been claimed again by another worker).
UPDATE sends s
SET state = o.state::send_state,
    variation_id = coalesce(o.variation_id, s.variation_id),
    sent_at = CASE WHEN o.state = 'sent' THEN now() ELSE s.sent_at END,
    lease_until = NULL,
    next_attempt_at = CASE WHEN o.state = 'queued'
                           THEN now() + make_interval(secs => o.delay) END,
    smtp_code = o.code,
    smtp_reply = o.reply,
    error = o.error
FROM unnest(:ids::bigint[], :states::text[], :variation_ids::bigint[], :codes::smallint[],
            :replies::text[], :errors::text[], :delays::float8[], :attempts::smallint[])
     AS o(id, state, variation_id, code, reply, error, delay, attempt)
WHERE s.id = o.id AND s.state = 'sending' AND (o.attempt IS NULL OR s.attempts = o.attempt);

-- name: record_sent!
-- The sends a relay accepted in the last few milliseconds, written 'sent' together by the
-- worker's recorder (services/sender/recorder.py) so that a killed worker sends few of them again.
-- Only rows still held by the claim that sent them change (see record_outcomes). relay_id: the
-- queue id the relay named in its 250 (services/sender/smtp.py relay_queue_id), what its events
-- carry; the reply itself is not kept.
UPDATE sends s
SET state = 'sent',
    variation_id = coalesce(o.variation_id, s.variation_id),
    sent_at = now(),
    lease_until = NULL,
    next_attempt_at = NULL,
    smtp_code = o.code,
    smtp_reply = NULL,
    relay_id = o.relay_id,
    error = NULL
FROM unnest(:ids::bigint[], :attempts::smallint[], :variation_ids::bigint[], :codes::smallint[],
            :relay_ids::text[])
     AS o(id, attempt, variation_id, code, relay_id)
WHERE s.id = o.id AND s.state = 'sending' AND s.attempts = o.attempt;

-- name: take_rate
-- Counts :n sends against a sender's window (second or hour) shared by every worker; returns
-- the new count so the caller can keep only what fits under the limit.
INSERT INTO rate_counters AS r (key, window_start, count)
VALUES (:key, date_trunc(:unit, now()), :n)
ON CONFLICT (key, window_start) DO UPDATE SET count = r.count + :n
RETURNING count, window_start;

-- name: give_back_rate!
-- Returns the part of a reservation that was not used.
UPDATE rate_counters SET count = greatest(count - :n, 0)
WHERE key = :key AND window_start = :window_start;

-- name: purge_rate_counters!
-- Old windows are no longer read.
DELETE FROM rate_counters WHERE window_start < now() - interval '2 hours';

-- name: release_expired_leases
-- A worker that died mid-batch left rows 'sending': give them back to the queue. Returns the
-- id ranges to queue again (transactional ones go back to the priority lane).
WITH released AS (
    UPDATE sends SET state = 'queued', lease_until = NULL
    WHERE state = 'sending' AND lease_until < now()
    RETURNING id, email_id, transactional
)
SELECT email_id, transactional, min(id) AS first_id, max(id) AS last_id
FROM released GROUP BY email_id, transactional, id / :batch_size ORDER BY 1, 3;

-- name: stale_queued_ranges
-- Queued rows nobody picked up for a while (message lost between commit and publish, or a
-- backoff that came due): id ranges to queue again. Claims skip rows not due, so an extra
-- message is harmless. Transactional rows have their own, more frequent sweep (below).
SELECT s.email_id, min(s.id) AS first_id, max(s.id) AS last_id
FROM sends s
WHERE s.state = 'queued' AND NOT s.held AND NOT s.transactional
  AND coalesce(s.next_attempt_at, s.queued_at) < now() - make_interval(secs => :age_seconds)
  AND (s.campaign_id IS NULL OR EXISTS (
        SELECT 1 FROM campaigns c WHERE c.id = s.campaign_id
          AND c.state IN ('dispatching', 'testing', 'sending')))
GROUP BY s.email_id, s.id / :batch_size ORDER BY 1, 2 LIMIT 1000;

-- name: stale_transactional_ranges
-- Queued transactional rows untouched for :age_seconds (a priority message lost in a broker
-- blip, or a backoff that came due): run every scheduler tick, so such a send waits seconds,
-- not the bulk sweep's minutes. Reads only the sends_transactional_queued index.
SELECT s.email_id, min(s.id) AS first_id, max(s.id) AS last_id
FROM sends s
WHERE s.state = 'queued' AND s.transactional
  AND coalesce(s.next_attempt_at, s.queued_at) < now() - make_interval(secs => :age_seconds)
GROUP BY s.email_id, s.id / :batch_size ORDER BY 1, 2 LIMIT 1000;

-- name: batch_context
-- Everything a batch needs about its email and sender, in one round trip; dkim_keys are the
-- sender's active DKIM keys (each message gets a signature from each, RSA first).
SELECT e.id AS email_id, e.sender_id, e.bulk, e.track_clicks, e.state::text AS email_state,
       e.transactional, s.transactional_rate_limited, s.postal_address,
       l.id AS layout_id, l.updated_at AS layout_updated_at, l.html_body AS layout_html,
       l.plain_body AS layout_plain,
       s.address AS from_address, s.name AS from_name, s.reply_to, s.public_base_url,
       s.return_path_domain, s.rate_per_second, s.rate_per_hour, s.relay,
       s.updated_at AS sender_updated_at,
       (SELECT coalesce(jsonb_agg(jsonb_build_object(
                   'id', k.id, 'selector', k.selector, 'algorithm', k.algorithm,
                   'private_key', k.private_key) ORDER BY k.algorithm DESC), '[]')
        FROM sender_dkim_keys k WHERE k.sender_id = s.id AND k.state = 'active') AS dkim_keys
FROM emails e JOIN senders s ON s.id = e.sender_id
LEFT JOIN layouts l ON l.id = e.layout_id AND l.sender_id = e.sender_id
WHERE e.id = :email_id;

-- name: sender_context
-- The sender's message settings for a test send (dkim_keys as in batch_context).
SELECT s.id AS sender_id, s.address AS from_address, s.name AS from_name, s.reply_to,
       s.public_base_url, s.return_path_domain, s.relay, s.updated_at AS sender_updated_at,
       (SELECT coalesce(jsonb_agg(jsonb_build_object(
                   'id', k.id, 'selector', k.selector, 'algorithm', k.algorithm,
                   'private_key', k.private_key) ORDER BY k.algorithm DESC), '[]')
        FROM sender_dkim_keys k WHERE k.sender_id = s.id AND k.state = 'active') AS dkim_keys
FROM senders s WHERE s.id = :sender_id;

-- name: email_variations
-- The variations a batch may pick from (active ones, stable order) plus any a row already uses.
SELECT id, email_id, subject, plain_body, html_body, weight, state::text AS state, updated_at
FROM variations WHERE email_id = :email_id ORDER BY id;
