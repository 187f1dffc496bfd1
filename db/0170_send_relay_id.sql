-- The relay's own id of each accepted send (issue 20): the queue id the relay names in its 250
-- reply ("250 Ok 0100018c...-000000" from Amazon SES, "250 Ok: queued as <id>" from SendGrid and
-- Postfix). An ESP event carries that id (SES mail.messageId, SendGrid sg_message_id, Postmark
-- MessageID), so it ties the event to the send when the event carries neither our token nor the
-- address we sent to. NULL when the relay named no id. Not personal data.
-- A report matched that way says matched_by = 'relay_id'; the check is added NOT VALID (no
-- scan of response_reports under the ALTER's lock) and validated online by 0171.
-- Adding a nullable column without a default only changes the catalogue.
-- depends: 0163_guard_indexes

ALTER TABLE sends ADD COLUMN relay_id text;

ALTER TABLE response_reports DROP CONSTRAINT response_reports_matched_by_check,
    ADD CONSTRAINT response_reports_matched_by_check
        CHECK (matched_by IN ('verp', 'token_header', 'message_id', 'list_unsubscribe',
                              'recipient', 'relay_id')) NOT VALID;
