-- Resend to non-openers with another subject or variation (issue 17): the follow-up can be a copy
-- of the sent email that the system makes itself (shared/campaigns/followups.py), with one of the
-- original's variations and/or a new subject. followup_of links the copy to the email whose
-- non-openers it goes to, so the API and the admin can show where it came from.
-- Tenant-checked like every reference between a sender's rows: a copy names its own sender's
-- email only. Deleting the original (a draft only) keeps the copy and clears the link.
-- emails is small (one row per email written by hand), so the new key is checked at once; the
-- nullable column without a default only changes the catalogue.
-- depends: 0120_transactional

ALTER TABLE emails
    ADD COLUMN followup_of bigint,
    ADD CONSTRAINT emails_followup_of_fkey FOREIGN KEY (sender_id, followup_of)
        REFERENCES emails (sender_id, id) ON DELETE SET NULL (followup_of);
CREATE INDEX emails_followup_of ON emails (followup_of) WHERE followup_of IS NOT NULL;
