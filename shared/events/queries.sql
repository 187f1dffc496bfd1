-- name: send_contexts
-- Everything the public pages and click redirects need about each send, in one round trip: the
-- send, its email and variation (to re-render the exact message), the subscriber (for the
-- personalisation and the page language) and the sender (name, base URL, privacy option); for
-- a transactional send its data and recipient address, and the email's layout.
-- The click service loads every send that missed its cache during one event-loop turn at once.
SELECT s.id, s.sender_id, s.email_id, s.variation_id, s.subscriber_id, s.state, s.sent_at,
       s.unsubscribed_at, s.transactional, s.address::text AS send_address, p.data,
       e.redirect_url, e.track_clicks,
       v.updated_at AS variation_updated_at, v.subject, v.plain_body, v.html_body,
       sub.address, sub.locale, sub.properties, sub.state AS subscriber_state,
       se.name AS sender_name, se.public_base_url, se.anonymous_events, se.postal_address,
       l.id AS layout_id, l.updated_at AS layout_updated_at, l.html_body AS layout_html,
       l.plain_body AS layout_plain
FROM sends s
JOIN emails e ON e.id = s.email_id AND e.sender_id = s.sender_id
JOIN senders se ON se.id = s.sender_id
LEFT JOIN variations v ON v.id = s.variation_id AND v.email_id = s.email_id
LEFT JOIN subscribers sub ON sub.id = s.subscriber_id AND sub.sender_id = s.sender_id
LEFT JOIN send_payloads p ON p.send_id = s.id
LEFT JOIN layouts l ON l.id = e.layout_id AND l.sender_id = e.sender_id
WHERE s.id = ANY(:ids::bigint[]);

-- name: click_sends
-- A click on a send this process has not seen: only the keys of what to render (variation and
-- its version, subscriber) and the email's 2013 redirect_url and the sender's base URL, by
-- primary keys. The message body and the subscriber are read only when not cached or needed.
SELECT s.id, s.variation_id, s.subscriber_id, v.updated_at AS variation_updated_at,
       e.redirect_url, se.public_base_url, s.address IS NOT NULL AS to_address,
       -- per-send data or a layout change the links: such sends are rendered one by one
       (s.transactional OR e.layout_id IS NOT NULL) AS per_send
FROM sends s
JOIN emails e ON e.id = s.email_id AND e.sender_id = s.sender_id
JOIN senders se ON se.id = s.sender_id
LEFT JOIN variations v ON v.id = s.variation_id AND v.email_id = s.email_id
WHERE s.id = ANY(:ids::bigint[]);

-- name: variations_for_links
-- The templates of variations whose click links the public service has not analysed yet (once
-- per variation version and process).
SELECT id, updated_at, subject, plain_body, html_body
FROM variations
WHERE id = ANY(:ids::bigint[]);

-- name: lock_send
-- Locks one send for an unsubscribe or resubscribe, with its sender's privacy option, so two
-- concurrent requests for the same send are serialised.
SELECT s.id, s.sender_id, s.email_id, s.variation_id, s.subscriber_id, s.unsubscribed_at,
       se.anonymous_events
FROM sends s JOIN senders se ON se.id = s.sender_id
WHERE s.id = :id
FOR UPDATE OF s;

-- name: lock_subscriber
-- Locks one subscriber of a sender for an unsubscribe by the API or the admin, so it is
-- serialised with a concurrent one from a link.
SELECT id, state FROM subscribers WHERE id = :subscriber_id AND sender_id = :sender_id
FOR UPDATE;

-- name: unsubscribe_subscriber
-- Stops an active subscriber, or a pending one (who asked before confirming: a later confirm is
-- their own new consent); returns nothing otherwise (already unsubscribed, bounced or
-- complained), which is what makes a repeated unsubscribe a no-op.
UPDATE subscribers
SET state = 'unsubscribed', state_changed_at = now()
WHERE id = :subscriber_id AND sender_id = :sender_id AND state IN ('active', 'pending')
RETURNING id, address;

-- name: resubscribe_subscriber
-- Brings back a subscriber who unsubscribed (never one who bounced or complained).
UPDATE subscribers
SET state = 'active', state_changed_at = now()
WHERE id = :subscriber_id AND sender_id = :sender_id AND state = 'unsubscribed'
RETURNING id;

-- name: mark_send_unsubscribed!
-- The first unsubscribe time is kept on the send (the strongest state of the 2013 order).
UPDATE sends SET unsubscribed_at = coalesce(unsubscribed_at, now()) WHERE id = :id;

-- name: cancel_queued_sends!
-- An unsubscribe takes effect on every send still waiting for this subscriber (held A/B sends
-- included), so a running campaign never mails them again.
UPDATE sends
SET state = 'cancelled', error = 'subscriber unsubscribed'
WHERE sender_id = :sender_id AND subscriber_id = :subscriber_id AND state = 'queued';

-- name: insert_event!
-- One durable event (unsubscribe); with anonymous_events the caller passes NULL personal fields.
INSERT INTO send_events (send_id, email_id, variation_id, subscriber_id, kind, ip, user_agent,
                         detail)
VALUES (:send_id, :email_id, :variation_id, :subscriber_id, :kind::event_kind, :ip::inet,
        :user_agent, :detail);

-- name: claim_batch
-- Marks an events.record batch as done; returns nothing when a redelivery already wrote it.
INSERT INTO event_batches (id, events) VALUES (:id, :events)
ON CONFLICT (id) DO NOTHING
RETURNING id;

-- name: prune_batches!
-- Forgets batch ids old enough that RabbitMQ can no longer redeliver their message.
DELETE FROM event_batches WHERE recorded_at < now() - make_interval(days => :days);

-- name: batch_send_facts
-- What classifying and attributing a batch needs about each send (sent_at for the too-soon
-- rule, the ids to attribute, the sender's privacy option), for all sends of the batch at once.
SELECT s.id, s.email_id, s.variation_id, s.subscriber_id, s.sent_at, se.anonymous_events
FROM sends s JOIN senders se ON se.id = s.sender_id
WHERE s.id = ANY(:ids::bigint[]);

-- name: record_batch
-- Writes a whole batch set-based: every event into send_events, then folds the batch into the
-- per-send counters every statistic reads (human opens, of which proxied, views and clicks; the
-- machine opens and clicks beside them) and, for attached sends only, the first time of each
-- kind and the open/click webhooks of first events. An anonymous sender's events are inserted
-- without send, subscriber, IP or user agent, and its sends get the counters only. Sends are
-- locked in id order so two concurrent batches cannot deadlock on the same rows.
WITH ev AS (
    SELECT *
    FROM unnest(:send_ids::bigint[], :email_ids::bigint[], :variation_ids::bigint[],
                :subscriber_ids::bigint[], :kinds::text[], :ats::timestamptz[], :ips::text[],
                :user_agents::text[], :links::smallint[], :machine::boolean[], :reasons::text[],
                :proxies::text[], :attach::boolean[])
         AS e(send_id, email_id, variation_id, subscriber_id, kind, at, ip, user_agent,
              link_index, machine, machine_reason, proxy, attach)
), inserted AS (
    INSERT INTO send_events (send_id, email_id, variation_id, subscriber_id, kind, at, ip,
                             user_agent, link_index, machine, machine_reason, proxy)
    SELECT CASE WHEN attach THEN send_id END, email_id, variation_id,
           CASE WHEN attach THEN subscriber_id END, kind::event_kind, at,
           CASE WHEN attach THEN ip::inet END, CASE WHEN attach THEN user_agent END,
           link_index, machine, machine_reason, proxy
    FROM ev
    RETURNING 1
), agg AS (
    SELECT send_id,
           min(at) FILTER (WHERE attach AND kind = 'open' AND NOT machine) AS first_open,
           min(at) FILTER (WHERE attach AND kind = 'view' AND NOT machine) AS first_view,
           min(at) FILTER (WHERE attach AND kind = 'click' AND NOT machine) AS first_click,
           count(*) FILTER (WHERE kind = 'open' AND NOT machine) AS opens,
           count(*) FILTER (WHERE kind = 'open' AND NOT machine AND proxy IS NOT NULL)
               AS proxied_opens,
           count(*) FILTER (WHERE kind = 'view' AND NOT machine) AS views,
           count(*) FILTER (WHERE kind = 'click' AND NOT machine) AS clicks,
           count(*) FILTER (WHERE kind = 'open' AND machine) AS machine_opens,
           count(*) FILTER (WHERE kind = 'click' AND machine) AS machine_clicks
    FROM ev
    GROUP BY send_id
), locked AS (
    SELECT s.id, s.opened_at AS was_opened, s.clicked_at AS was_clicked
    FROM sends s WHERE s.id IN (SELECT send_id FROM agg) ORDER BY s.id FOR UPDATE
), updated AS (
    UPDATE sends s
    SET opened_at = LEAST(s.opened_at, agg.first_open),
        viewed_at = LEAST(s.viewed_at, agg.first_view),
        clicked_at = LEAST(s.clicked_at, agg.first_click),
        open_count = s.open_count + agg.opens,
        proxied_open_count = s.proxied_open_count + agg.proxied_opens,
        view_count = s.view_count + agg.views,
        click_count = s.click_count + agg.clicks,
        machine_open_count = s.machine_open_count + agg.machine_opens,
        machine_click_count = s.machine_click_count + agg.machine_clicks
    FROM agg JOIN locked ON locked.id = agg.send_id
    WHERE s.id = agg.send_id
    RETURNING s.id, s.sender_id, s.email_id, s.subscriber_id,
              CASE WHEN locked.was_opened IS NULL THEN agg.first_open END AS new_open,
              CASE WHEN locked.was_clicked IS NULL THEN agg.first_click END AS new_click
), firsts AS (
    -- The first human open and the first human click of an attached send are webhook events
    -- (only for senders that subscribe to them; an anonymous sender's sends have no first
    -- times, so no webhook names who opened), logged set-based like shared/webhooks
    -- create_delivery.
    SELECT u.sender_id, f.event,
           jsonb_build_object('send_id', u.id, 'email_id', u.email_id,
                              'subscriber_id', u.subscriber_id, 'at', f.at) AS payload
    FROM updated u
    CROSS JOIN LATERAL (VALUES ('open', u.new_open), ('click', u.new_click)) AS f(event, at)
    WHERE f.at IS NOT NULL
), deliveries AS (
    INSERT INTO webhook_deliveries (sender_id, event, payload, next_attempt_at)
    SELECT f.sender_id, f.event, f.payload, now()
    FROM firsts f JOIN senders se ON se.id = f.sender_id
    WHERE se.webhook_url IS NOT NULL AND f.event = ANY (se.webhook_events)
    RETURNING id
)
SELECT (SELECT count(*) FROM inserted) AS inserted, (SELECT count(*) FROM updated) AS updated,
       (SELECT coalesce(array_agg(id ORDER BY id), '{}') FROM deliveries) AS delivery_ids;

-- name: count_recorded_events
-- How many open/view/click events an email has (the benchmark compares it with what it sent).
SELECT count(*) FROM send_events WHERE email_id = ANY(:email_ids::bigint[])
  AND kind IN ('open', 'view', 'click');
