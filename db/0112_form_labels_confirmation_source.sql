-- A form's own labels for its text fields, per page language: {"first_name": {"en": "First
-- name", "tr": "Adınız"}}. A field without one shows its property name, humanised.
-- depends: 0111_forms

ALTER TABLE forms ADD COLUMN field_labels jsonb NOT NULL DEFAULT '{}'
    CHECK (jsonb_typeof(field_labels) = 'object');

-- Where a confirmation was asked for (a form, or the API), kept apart from form_id, which a
-- deleted form clears: the consent record of the confirmation names the right source.
ALTER TABLE confirmations ADD COLUMN source text NOT NULL DEFAULT 'form'
    CHECK (source IN ('form', 'api'));

-- The sweep that queues confirmation mails again when their message was lost.
CREATE INDEX confirmations_unmailed ON confirmations (requested_at)
    WHERE mailed_at IS NULL OR mailed_at < requested_at;
