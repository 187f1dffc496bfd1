"""``tart``: operator commands (migrate, create the first admin, create senders and API keys)."""

from __future__ import annotations

import argparse
import asyncio
import secrets
import sys
from collections.abc import Callable, Coroutine
from typing import Any

import psycopg
from psycopg.rows import dict_row

from shared.admins import repository as admins
from shared.config import get_settings
from shared.limits import API_KEY_RATE_DEFAULT, API_KEY_RATE_MAX, API_KEY_RATE_MIN
from shared.migrate import ensure_database, migrate
from shared.senders import repository as senders


async def _connect() -> psycopg.AsyncConnection[dict[str, object]]:
    return await psycopg.AsyncConnection.connect(get_settings().database_url, row_factory=dict_row)


def cmd_migrate(_args: argparse.Namespace) -> int:
    url = get_settings().database_url
    if ensure_database(url):
        print("created database")
    applied = migrate(url)
    print(f"applied {len(applied)} migration(s)" + (f": {', '.join(applied)}" if applied else ""))
    return 0


async def cmd_create_admin(args: argparse.Namespace) -> int:
    async with await _connect() as conn:
        if args.if_none and await admins.count_owners(conn) > 0:
            print("an owner already exists; nothing created")
            return 0
        password = args.password or secrets.token_urlsafe(12)
        await admins.create_admin(conn, email=args.email, password=password, role=args.role)
    print(f"admin created: email={args.email} password={password} (shown once)")
    return 0


async def cmd_create_sender(args: argparse.Namespace) -> int:
    async with await _connect() as conn:
        sender = await senders.create_sender(
            conn,
            address=args.address,
            name=args.name,
            public_base_url=args.public_base_url or get_settings().public_base_url,
        )
        key, _ = await senders.create_api_key(conn, sender["id"], name="cli")
    print(f"sender {sender['id']} created: {sender['address']}; API key (shown once): {key}")
    return 0


async def cmd_create_api_key(args: argparse.Namespace) -> int:
    async with await _connect() as conn:
        if await senders.get_sender(conn, args.sender_id) is None:
            print(f"tart: no sender {args.sender_id}", file=sys.stderr)
            return 1
        key, row = await senders.create_api_key(
            conn,
            args.sender_id,
            name=args.name,
            rate_per_minute=args.rate_per_minute,
            can_manage_keys=args.can_manage_keys,
        )
    rights = ", may manage keys" if row["can_manage_keys"] else ""
    print(
        f"API key {row['id']} for sender {args.sender_id} "
        f"({row['rate_per_minute']} requests a minute{rights}; shown once): {key}"
    )
    return 0


def _key_rate(value: str) -> int:
    rate = int(value)
    if not API_KEY_RATE_MIN <= rate <= API_KEY_RATE_MAX:
        raise argparse.ArgumentTypeError(f"must be {API_KEY_RATE_MIN} to {API_KEY_RATE_MAX}")
    return rate


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="tart", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True)
    sub.add_parser("migrate", help="create the database if missing and apply db/*.sql")
    admin = sub.add_parser("create-admin", help="create an admin user")
    admin.add_argument("--email", default="admin@example.com")
    admin.add_argument("--password", help="default: a random one, printed once")
    admin.add_argument("--role", choices=["owner", "member"], default="owner")
    admin.add_argument("--if-none", action="store_true", help="only when no owner exists")
    sender = sub.add_parser("create-sender", help="create a sender and its first API key")
    sender.add_argument("--address", required=True)
    sender.add_argument("--name", required=True)
    sender.add_argument("--public-base-url")
    key = sub.add_parser("create-api-key", help="create an API key for a sender")
    key.add_argument("--sender-id", type=int, required=True)
    key.add_argument("--name", default="")
    key.add_argument(
        "--rate-per-minute",
        type=_key_rate,
        default=API_KEY_RATE_DEFAULT,
        help=f"requests a minute ({API_KEY_RATE_MIN} to {API_KEY_RATE_MAX}; "
        f"default {API_KEY_RATE_DEFAULT})",
    )
    key.add_argument(
        "--can-manage-keys",
        action="store_true",
        help="the key may create the sender's other keys through the API (POST /v1/sender/keys)",
    )
    return parser


ASYNC_COMMANDS: dict[str, Callable[[argparse.Namespace], Coroutine[Any, Any, int]]] = {
    "create-admin": cmd_create_admin,
    "create-sender": cmd_create_sender,
    "create-api-key": cmd_create_api_key,
}


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    try:
        if args.command == "migrate":
            return cmd_migrate(args)
        return asyncio.run(ASYNC_COMMANDS[args.command](args))
    except psycopg.errors.UniqueViolation as error:
        print(f"tart: already exists: {error.diag.message_detail}", file=sys.stderr)
        return 1
    except psycopg.OperationalError as error:
        print(f"tart: database unreachable: {error}".splitlines()[0], file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())
