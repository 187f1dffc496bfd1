-- A key that may manage the sender's keys: create other keys through the API (POST
-- /v1/sender/keys). Granted by an administrator (admin, tart create-api-key --can-manage-keys) or
-- by a key that has it; existing keys do not have it.
-- depends: 0070_subscriber_property_bits

ALTER TABLE api_keys ADD COLUMN can_manage_keys boolean NOT NULL DEFAULT false;
