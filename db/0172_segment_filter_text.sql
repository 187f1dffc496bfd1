-- The expression as the operator typed it, so the admin shows a segment back in the text form
-- rather than as its JSON tree. NULL when the segment was given as JSON (the API's object form);
-- `filter` stays the one thing that is evaluated.
ALTER TABLE segments
    ADD COLUMN filter_text text CHECK (length(filter_text) <= 20000);
