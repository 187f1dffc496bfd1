"""Admin users, for owners: add a user (its first password is shown once), set its role and
the senders a member may see, remove it."""

from __future__ import annotations

import secrets

import psycopg
from fastapi import APIRouter, Request
from fastapi.responses import RedirectResponse, Response

from services.admin.forms import read_form
from services.admin.sessions import OwnerAdmin, Tx
from services.admin.templating import render
from shared.admins import repository as admins
from shared.db import Conn
from shared.errors import NotFound
from shared.limits import valid_id
from shared.subscribers.validation import address_error

router = APIRouter(prefix="/users")
ROLES = ("owner", "member")


async def _page(
    request: Request,
    conn: Conn,
    *,
    errors: dict[str, str] | None = None,
    values: dict[str, str] | None = None,
    new_password: str | None = None,
    status_code: int = 200,
) -> Response:
    users = await admins.list_users(conn)
    senders = await admins.visible_senders(conn, 0, True)
    context = {
        "users": users,
        "all_senders": senders,
        "errors": errors or {},
        "values": values or {"role": "member"},
        "new_password": new_password,
    }
    return await render(request, "users.html", context, status_code=status_code)


@router.get("")
async def list_users(request: Request, admin: OwnerAdmin, tx: Tx) -> Response:
    return await _page(request, tx.conn)


@router.post("")
async def create_user(request: Request, admin: OwnerAdmin, tx: Tx) -> Response:
    form = await read_form(request)
    email = form.line("email", required=True, max_len=254).lower()
    role = form.choice("role", ROLES, default="member")
    if email and "email" not in form.errors and address_error(email):
        form.errors["email"] = "not a valid email address"
    if not form.ok:
        return await _page(
            request, tx.conn, errors=form.errors, values=form.values, status_code=400
        )
    password = secrets.token_urlsafe(12)
    try:
        async with tx.savepoint():
            await admins.create_admin(tx.conn, email=email, password=password, role=role)
    except psycopg.errors.UniqueViolation:
        return await _page(
            request,
            tx.conn,
            errors={"email": "a user with this address exists"},
            values=form.values,
            status_code=400,
        )
    return await _page(request, tx.conn, new_password=f"{email}: {password}")


@router.post("/{user_id}")
async def update_user(request: Request, admin: OwnerAdmin, user_id: int, tx: Tx) -> Response:
    if not valid_id(user_id):
        raise NotFound("no such user")
    form = await read_form(request)
    role = form.choice("role", ROLES, default="member")
    sender_ids = [int(x) for x in form.many("sender_ids") if x.isdigit() and valid_id(int(x))]
    if not form.ok:
        return await _page(request, tx.conn, errors=form.errors, status_code=400)
    if user_id == admin.id and role != "owner":
        return await _page(
            request,
            tx.conn,
            errors={"form": "you cannot take the owner role from yourself"},
            status_code=400,
        )
    if not await admins.update_user_role(tx.conn, user_id, role):
        raise NotFound("no such user")
    await admins.set_user_senders(tx.conn, user_id, sender_ids)
    if user_id != admin.id:  # new rights take effect at the next login
        await admins.delete_user_sessions(tx.conn, user_id)
    return RedirectResponse("/users?notice=saved", status_code=303)


@router.post("/{user_id}/delete")
async def delete_user(request: Request, admin: OwnerAdmin, user_id: int, tx: Tx) -> Response:
    if user_id == admin.id:
        return await _page(
            request, tx.conn, errors={"form": "you cannot remove yourself"}, status_code=400
        )
    if not valid_id(user_id) or not await admins.delete_user(tx.conn, user_id):
        raise NotFound("no such user")
    return RedirectResponse("/users?notice=deleted", status_code=303)
