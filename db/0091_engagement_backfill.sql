-- Backfill of db/0090: events recorded by the earlier rules, counted the new way.
--
-- Opens flagged machine only because Gmail's or Yahoo's image proxy fetched them become human
-- proxied opens (counted on their send, the first open time included), and sends get the machine
-- open and click counts of their events. An anonymous sender's earlier events carry no send link:
-- they stay in the timeline and the per-link clicks, but cannot be given to a send.
--
-- Apart from 0090 so that its ALTER TABLE locks are gone before this runs: these statements take
-- row locks only, so sending and recording go on meanwhile (a send or event row being updated
-- waits). One pass over send_events (no index covers "machine"): 6 s for a million events on a
-- 2-core machine. The previous release's events workers still run meanwhile (the new ones
-- start after the migration), so what they record during it keeps their flags.
-- depends: 0090_engagement

WITH proxied AS (
    UPDATE send_events SET machine = false, proxy = machine_reason, machine_reason = NULL
    WHERE kind = 'open' AND machine
      AND machine_reason IN ('google_image_proxy', 'yahoo_image_proxy')
    RETURNING send_id, at
), per_send AS (
    SELECT send_id, count(*) AS n, min(at) AS first_open
    FROM proxied WHERE send_id IS NOT NULL GROUP BY send_id
)
UPDATE sends s
SET open_count = s.open_count + p.n, proxied_open_count = p.n,
    opened_at = LEAST(s.opened_at, p.first_open)
FROM per_send p WHERE s.id = p.send_id;

UPDATE sends s
SET machine_open_count = m.opens, machine_click_count = m.clicks
FROM (
    SELECT send_id, count(*) FILTER (WHERE kind = 'open') AS opens,
           count(*) FILTER (WHERE kind = 'click') AS clicks
    FROM send_events
    WHERE machine AND send_id IS NOT NULL AND kind IN ('open', 'click')
    GROUP BY send_id
) m
WHERE s.id = m.send_id;
