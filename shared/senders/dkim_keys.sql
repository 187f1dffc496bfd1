-- name: list_dkim_keys
-- A sender's DKIM keys, oldest first, without their private keys (for the API and the admin).
SELECT id, selector, algorithm, state::text AS state, private_key, created_at, activated_at,
       retired_at
FROM sender_dkim_keys WHERE sender_id = :sender_id ORDER BY id;

-- name: get_dkim_key
-- One key of a sender (another sender's key is not found).
SELECT id, selector, algorithm, state::text AS state, private_key, created_at, activated_at,
       retired_at
FROM sender_dkim_keys WHERE id = :id AND sender_id = :sender_id;

-- name: create_dkim_key
-- A new key, 'next': it signs nothing until it is activated, once its TXT record is published.
INSERT INTO sender_dkim_keys (sender_id, selector, algorithm, private_key)
VALUES (:sender_id, :selector, :algorithm, :private_key)
RETURNING id, selector, algorithm, state::text AS state, private_key, created_at, activated_at,
          retired_at;

-- name: retire_active_dkim_key!
-- Activating a key first retires the active key of the same algorithm (the one index allows
-- one per algorithm); the same transaction then activates the new one, so signing never stops.
UPDATE sender_dkim_keys SET state = 'retired', retired_at = now()
WHERE sender_id = :sender_id AND algorithm = :algorithm AND state = 'active' AND id <> :id;

-- name: activate_dkim_key
-- The key signs from now on (a retired key may come back: its record must still be published).
UPDATE sender_dkim_keys SET state = 'active', activated_at = now(), retired_at = NULL
WHERE id = :id AND sender_id = :sender_id
RETURNING id, selector, algorithm, state::text AS state, private_key, created_at, activated_at,
          retired_at;

-- name: retire_dkim_key
-- The key stops signing; keep its TXT record published while mail it signed may still be read.
UPDATE sender_dkim_keys SET state = 'retired', retired_at = coalesce(retired_at, now())
WHERE id = :id AND sender_id = :sender_id
RETURNING id, selector, algorithm, state::text AS state, private_key, created_at, activated_at,
          retired_at;

-- name: delete_dkim_key
-- A key that does not sign (next or retired) can go; an active one must be retired first.
DELETE FROM sender_dkim_keys WHERE id = :id AND sender_id = :sender_id AND state <> 'active'
RETURNING id;
