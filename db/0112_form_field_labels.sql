-- A form's own labels for its text fields, per page language: {"first_name": {"en": "First
-- name", "tr": "Adınız"}}. A field without one shows its property name, humanised.
-- depends: 0111_forms

ALTER TABLE forms ADD COLUMN field_labels jsonb NOT NULL DEFAULT '{}'
    CHECK (jsonb_typeof(field_labels) = 'object');
