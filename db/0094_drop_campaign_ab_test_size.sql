-- campaigns.ab_test_size goes: every dispatch chunk added its ready rows to it, and nothing ever
-- read it. The size of an A/B test share is the count of the campaign's sends that are not held.
-- depends: 0070_subscriber_property_bits

ALTER TABLE campaigns DROP COLUMN ab_test_size;
