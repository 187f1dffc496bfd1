"""Admin user storage and password hashing (argon2id)."""

from __future__ import annotations

import hashlib
import secrets

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError, VerifyMismatchError

from shared.db import Conn, Row, execute, fetch_all, fetch_one, fetch_value, load_queries

Q = load_queries(__file__)
password_hasher = PasswordHasher()  # argon2id with the library's current recommended cost


async def create_admin(conn: Conn, *, email: str, password: str, role: str = "owner") -> Row:
    row = await fetch_one(
        conn,
        Q.create_admin,
        {
            "email": email.strip().lower(),
            "password_hash": password_hasher.hash(password),
            "role": role,
        },
    )
    assert row is not None
    return row


async def count_owners(conn: Conn) -> int:
    return int(await fetch_value(conn, Q.count_owners))


# --- login, sessions and access (admin web UI) -------------------------------------------------


def hash_session_id(session_id: str) -> bytes:
    """The stored form of a session cookie: a dump of admin_sessions cannot be replayed."""
    return hashlib.sha256(session_id.encode("ascii", "replace")).digest()


def verify_password(password_hash: str, password: str) -> bool:
    try:
        return password_hasher.verify(password_hash, password)
    except (VerifyMismatchError, VerificationError, InvalidHashError):
        return False


async def find_user_by_email(conn: Conn, email: str) -> Row | None:
    return await fetch_one(conn, Q.find_user_by_email, {"email": email.strip().lower()})


async def get_user(conn: Conn, user_id: int) -> Row | None:
    return await fetch_one(conn, Q.get_user, {"id": user_id})


async def list_users(conn: Conn) -> list[Row]:
    return await fetch_all(conn, Q.list_users)


async def record_login_attempt(conn: Conn, *, ip: str | None, email: str, succeeded: bool) -> None:
    await execute(
        conn, Q.record_login_attempt, {"ip": ip, "email": email[:254], "succeeded": succeeded}
    )


async def recent_failures(conn: Conn, *, ip: str | None, email: str, window_s: int) -> Row:
    """``{"by_email": n, "by_ip": n}``: failed logins in the last ``window_s`` seconds."""
    row = await fetch_one(
        conn, Q.recent_failures, {"ip": ip, "email": email[:254], "window_s": window_s}
    )
    assert row is not None
    return row


async def mark_login(conn: Conn, user_id: int) -> None:
    await execute(conn, Q.mark_login, {"id": user_id})


async def create_session(conn: Conn, user_id: int, ttl_s: int) -> tuple[str, str]:
    """A new session for ``user_id``; returns (cookie value, CSRF token). A fresh random id at
    every login, so a session id planted before login is worthless (no fixation)."""
    session_id = secrets.token_urlsafe(32)
    csrf_token = secrets.token_urlsafe(32)
    await execute(conn, Q.purge_expired_sessions)
    await execute(
        conn,
        Q.create_session,
        {
            "id_hash": hash_session_id(session_id),
            "user_id": user_id,
            "csrf_token": csrf_token,
            "ttl_s": ttl_s,
        },
    )
    return session_id, csrf_token


async def touch_session(conn: Conn, session_id: str, ttl_s: int) -> Row | None:
    """The user of a live session (``id, email, role, csrf_token, totp_enabled``), or None."""
    return await fetch_one(
        conn, Q.touch_session, {"id_hash": hash_session_id(session_id), "ttl_s": ttl_s}
    )


async def delete_session(conn: Conn, session_id: str) -> None:
    await execute(conn, Q.delete_session, {"id_hash": hash_session_id(session_id)})


async def delete_user_sessions(conn: Conn, user_id: int) -> None:
    await execute(conn, Q.delete_user_sessions, {"user_id": user_id})


async def set_totp_secret(conn: Conn, user_id: int, secret: str | None) -> None:
    await execute(conn, Q.set_totp_secret, {"id": user_id, "secret": secret})


async def set_password(conn: Conn, user_id: int, password: str) -> None:
    await execute(
        conn, Q.set_password, {"id": user_id, "password_hash": password_hasher.hash(password)}
    )


async def update_user_role(conn: Conn, user_id: int, role: str) -> bool:
    return await fetch_one(conn, Q.update_user_role, {"id": user_id, "role": role}) is not None


async def delete_user(conn: Conn, user_id: int) -> bool:
    return await fetch_one(conn, Q.delete_user, {"id": user_id}) is not None


async def set_user_senders(conn: Conn, user_id: int, sender_ids: list[int]) -> None:
    await execute(conn, Q.set_user_senders, {"user_id": user_id, "sender_ids": sender_ids})


async def visible_senders(conn: Conn, user_id: int, is_owner: bool) -> list[Row]:
    return await fetch_all(conn, Q.visible_senders, {"user_id": user_id, "is_owner": is_owner})


async def can_see_sender(conn: Conn, user_id: int, is_owner: bool, sender_id: int) -> bool:
    return bool(
        await fetch_value(
            conn,
            Q.can_see_sender,
            {"user_id": user_id, "is_owner": is_owner, "sender_id": sender_id},
        )
    )


async def sso_user(conn: Conn, email: str, role: str) -> Row:
    """The admin user an SSO login maps to, created or given ``role``."""
    unusable = password_hasher.hash(secrets.token_urlsafe(32))
    row = await fetch_one(
        conn, Q.sso_user, {"email": email, "role": role, "password_hash": unusable}
    )
    assert row is not None
    return row
