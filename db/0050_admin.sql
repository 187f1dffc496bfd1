-- Admin: the subscribers page searches by address prefix ("starts with") within a sender.
-- The unique (sender_id, address) index cannot serve LIKE 'x%' under a non-C collation;
-- text_pattern_ops can, so the search stays an index range scan at millions of rows.
-- depends: 0003_admin_api

CREATE INDEX IF NOT EXISTS subscribers_address_prefix
    ON subscribers (sender_id, address text_pattern_ops);
