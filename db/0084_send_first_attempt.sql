-- When a send was first tried, so temporary failures are retried for a lifetime (Postfix's
-- maximal_queue_lifetime) rather than a fixed number of tries.
--
-- Why not queued_at: rows of an A/B winner campaign wait (held) for the winner, and a scheduled
-- or paused campaign's rows wait too; that waiting must not use up the retry lifetime. The claim
-- sets the column on the first try (coalesce), in the UPDATE it already runs, so it costs no
-- round trip. A manual "retry failed sends" clears it along with the attempts.
--
-- Adding a nullable column without a default rewrites nothing: instant on a large sends table.
-- depends: 0070_subscriber_property_bits

ALTER TABLE sends ADD COLUMN first_attempt_at timestamptz;
