"""Consent records: the append-only history of what each subscriber agreed to or withdrew
(db/0100_consent_records.sql), written by every path that subscribes, confirms, unsubscribes,
resubscribes, changes preferences or erases."""
