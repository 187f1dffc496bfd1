-- Public link service: idempotent batched event recording, and event lookups by subscriber.
-- Each events.record message carries a batch id; the actor records it here in the same
-- transaction as the events, so a redelivered message (worker killed after COMMIT, before ack)
-- writes nothing twice.
-- depends: 0003_admin_api

CREATE TABLE event_batches (
    id          uuid PRIMARY KEY,
    events      integer NOT NULL,
    recorded_at timestamptz NOT NULL DEFAULT now()
);
-- Pruning old batch ids (redelivery happens within minutes, ids are kept for days).
CREATE INDEX event_batches_recorded ON event_batches (recorded_at);

-- A subscriber's event history (the "events on the subscriber" view, and GDPR export/erase).
CREATE INDEX send_events_subscriber ON send_events (subscriber_id, at) WHERE subscriber_id IS NOT NULL;
