-- The audit log (issue 20.3): every change made through the admin or the API, who made it, from
-- where and when, with the settings before and after where a route records them. Append-only:
-- a trigger refuses UPDATE, DELETE and TRUNCATE, and the table has no foreign key (a deleted
-- sender or user keeps its history; ON DELETE SET NULL would be an UPDATE).
--   actor_kind   admin (a logged-in user; actor_id is admin_users.id) or api_key (api_keys.id)
--   action       the HTTP method and the route template: "PATCH /v1/sender"
--   target       the route's path parameters ({"sender_id": 3, "email_id": 12})
-- depends: 0161_campaign_guard

CREATE TABLE audit_log (
    id           bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    at           timestamptz NOT NULL DEFAULT now(),
    actor_kind   text NOT NULL CHECK (actor_kind IN ('admin', 'api_key')),
    actor_id     bigint NOT NULL,
    actor_label  text NOT NULL,
    sender_id    bigint,
    action       text NOT NULL,
    target       jsonb NOT NULL DEFAULT '{}' CHECK (jsonb_typeof(target) = 'object'),
    ip           inet,
    user_agent   text,
    before       jsonb,
    after        jsonb
);
CREATE INDEX audit_log_at ON audit_log (at DESC, id DESC);
CREATE INDEX audit_log_sender ON audit_log (sender_id, id DESC);
CREATE INDEX audit_log_actor ON audit_log (actor_kind, actor_id, id DESC);

CREATE FUNCTION audit_log_append_only() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION 'audit_log is append-only (% refused)', TG_OP
        USING ERRCODE = 'insufficient_privilege';
END $$;
CREATE TRIGGER audit_log_no_update BEFORE UPDATE OR DELETE ON audit_log
    FOR EACH ROW EXECUTE FUNCTION audit_log_append_only();
CREATE TRIGGER audit_log_no_truncate BEFORE TRUNCATE ON audit_log
    FOR EACH STATEMENT EXECUTE FUNCTION audit_log_append_only();
