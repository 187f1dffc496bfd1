-- The API's subscriber list pages in id order within a sender. Without (sender_id, id) the
-- primary key is walked across every sender's rows, and a small sender on a big instance
-- pays for the whole table; with it each page is a range scan of the sender's next rows.
-- depends: 0050_admin

CREATE INDEX IF NOT EXISTS subscribers_sender_id ON subscribers (sender_id, id);
