-- Double opt-in: a subscriber who joined through a form (or the API with double_opt_in) is
-- 'pending' until they confirm their address. Every bulk audience and every send claim reads
-- state = 'active' only, so a pending subscriber is never mailed in bulk. Alone in its file:
-- a new enum value cannot be used in the transaction that adds it.
-- depends: 0095_api_key_rights

ALTER TYPE subscriber_state ADD VALUE IF NOT EXISTS 'pending' BEFORE 'active';
