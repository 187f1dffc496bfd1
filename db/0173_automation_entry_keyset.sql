-- The entry checkpoint of the "created" and "active" triggers becomes a keyset
-- (entered_through, entered_through_id): newcomers are taken in chunks ordered by (time, id),
-- and many subscribers sharing one timestamp (one import) can span chunks. 0 means "everyone
-- at entered_through itself is still to come".
ALTER TABLE automations ADD COLUMN entered_through_id bigint NOT NULL DEFAULT 0;
