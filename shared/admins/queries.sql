-- name: create_admin
-- Adds an admin user; the password arrives already hashed with argon2id.
INSERT INTO admin_users (email, password_hash, role)
VALUES (:email, :password_hash, :role)
RETURNING id, email, role, created_at;

-- name: count_owners
-- make run creates a first owner only when there is none.
SELECT count(*) AS n FROM admin_users WHERE role = 'owner';

-- name: find_user_by_email
-- Login: the user with its hash, TOTP secret and lock.
SELECT id, email, password_hash, role, totp_secret, locked_until
FROM admin_users WHERE email = :email;

-- name: get_user
-- One admin user (no password hash), for the users page.
SELECT id, email, role, totp_secret IS NOT NULL AS totp_enabled, created_at, last_login_at
FROM admin_users WHERE id = :id;

-- name: list_users
-- Every admin user with the senders assigned to it, for owners.
SELECT u.id, u.email, u.role, u.totp_secret IS NOT NULL AS totp_enabled, u.created_at,
       u.last_login_at,
       coalesce(array_agg(us.sender_id ORDER BY us.sender_id)
                FILTER (WHERE us.sender_id IS NOT NULL), '{}') AS sender_ids
FROM admin_users u LEFT JOIN admin_user_senders us ON us.user_id = u.id
GROUP BY u.id ORDER BY u.id;

-- name: record_login_attempt!
-- Every login attempt is kept, for throttling and for audit.
INSERT INTO login_attempts (ip, email, succeeded) VALUES (:ip::inet, :email, :succeeded);

-- name: recent_failures
-- Throttling: failed attempts in the window, by this address or from this IP.
SELECT count(*) FILTER (WHERE email = :email) AS by_email,
       count(*) FILTER (WHERE ip = :ip::inet) AS by_ip
FROM login_attempts
WHERE NOT succeeded AND at > now() - make_interval(secs => :window_s)
  AND (email = :email OR ip = :ip::inet);

-- name: mark_login!
-- A successful login stamps the user.
UPDATE admin_users SET last_login_at = now(), failed_logins = 0 WHERE id = :id;

-- name: create_session!
-- A new server-side session; only the SHA-256 of the cookie value is stored.
INSERT INTO admin_sessions (id_hash, user_id, csrf_token, expires_at)
VALUES (:id_hash, :user_id, :csrf_token, now() + make_interval(secs => :ttl_s));

-- name: touch_session
-- Every request: finds the live session and its user, and slides the expiry forward.
UPDATE admin_sessions s
SET seen_at = now(), expires_at = now() + make_interval(secs => :ttl_s)
FROM admin_users u
WHERE s.id_hash = :id_hash AND s.expires_at > now() AND u.id = s.user_id
RETURNING u.id, u.email, u.role, s.csrf_token, u.totp_secret IS NOT NULL AS totp_enabled;

-- name: delete_session!
-- Logout.
DELETE FROM admin_sessions WHERE id_hash = :id_hash;

-- name: delete_user_sessions!
-- A password or role change logs the user out everywhere.
DELETE FROM admin_sessions WHERE user_id = :user_id;

-- name: purge_expired_sessions!
-- Housekeeping at login: expired sessions go.
DELETE FROM admin_sessions WHERE expires_at < now();

-- name: set_totp_secret!
-- Turns TOTP on (a secret) or off (NULL) for a user.
UPDATE admin_users SET totp_secret = :secret WHERE id = :id;

-- name: set_password!
-- Stores a new argon2id hash.
UPDATE admin_users SET password_hash = :password_hash WHERE id = :id;

-- name: update_user_role
-- An owner changes a user's role.
UPDATE admin_users SET role = :role WHERE id = :id RETURNING id;

-- name: delete_user
-- An owner removes a user (its sessions and assignments cascade).
DELETE FROM admin_users WHERE id = :id RETURNING id;

-- name: set_user_senders!
-- Replaces the senders a member may see with the given ids.
WITH gone AS (
    DELETE FROM admin_user_senders WHERE user_id = :user_id AND sender_id <> ALL(:sender_ids::bigint[])
)
INSERT INTO admin_user_senders (user_id, sender_id)
SELECT :user_id, id FROM senders WHERE id = ANY(:sender_ids::bigint[])
ON CONFLICT DO NOTHING;

-- name: visible_senders
-- The senders an admin may see: all for an owner, the assigned ones for a member.
SELECT s.id, s.address, s.name
FROM senders s
WHERE :is_owner::boolean OR EXISTS (SELECT 1 FROM admin_user_senders us
                          WHERE us.user_id = :user_id AND us.sender_id = s.id)
ORDER BY s.address;

-- name: can_see_sender
-- Tenant check of every sender page: true when the sender exists and the admin may see it.
SELECT EXISTS (
    SELECT 1 FROM senders s
    WHERE s.id = :sender_id
      AND (:is_owner::boolean OR EXISTS (SELECT 1 FROM admin_user_senders us
                               WHERE us.user_id = :user_id AND us.sender_id = s.id))
) AS ok;

-- name: sso_user
-- Single sign-on: the user with this verified address, created on first login, with the role the
-- identity provider's groups or domain give (updated at every login: the provider decides).
-- A new user's password hash is of a random password nobody knows.
INSERT INTO admin_users (email, password_hash, role)
VALUES (lower(:email), :password_hash, :role)
ON CONFLICT (email) DO UPDATE SET role = EXCLUDED.role
RETURNING id, email, role, (xmax = 0) AS created;
