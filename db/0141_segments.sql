-- Saved segments (issue 17): a named filter of a sender, usable as a bulk send's audience, in
-- automations and as a filter of the subscriber lists. The filter is the JSON form of the filter
-- language (shared/filters), validated by shared/segments before it is stored; it may name other
-- segments ({"segment": id}), which are expanded when it is used (so editing a segment changes
-- every list and automation that uses it; a bulk send keeps the expanded filter it started with).
-- depends: 0140_filter_language

CREATE TABLE segments (
    id          bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    sender_id   bigint NOT NULL REFERENCES senders ON DELETE CASCADE,
    name        text NOT NULL CHECK (name <> '' AND length(name) <= 200 AND name !~ '[\r\n]'),
    filter      jsonb NOT NULL CHECK (jsonb_typeof(filter) = 'object'),
    created_at  timestamptz NOT NULL DEFAULT now(),
    updated_at  timestamptz NOT NULL DEFAULT now(),
    UNIQUE (sender_id, name),
    UNIQUE (sender_id, id)  -- target of tenant-checked foreign keys
);
CREATE TRIGGER segments_touch BEFORE UPDATE ON segments
    FOR EACH ROW EXECUTE FUNCTION touch_updated_at();
