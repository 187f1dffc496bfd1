-- Entry of the "created" and "active" triggers: where the next look-back starts. A subscriber
-- row carries its transaction's start time (created_at and state_changed_at are now()), so a
-- transaction that runs long commits rows dated before the checkpoint. Each caught-up pass
-- stores the start of the oldest transaction still open (at most an hour back); the next
-- caught-up pass reads again from there, so those rows enter once their transaction commits.
-- NULL (sequences made before this) reads from the checkpoint, as before.
-- depends: 0173_automation_entry_keyset

ALTER TABLE automations ADD COLUMN settled_through timestamptz;
