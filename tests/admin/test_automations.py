"""The automations pages through httpx: build a sequence from lines, see it run, pause, edit."""

from __future__ import annotations

from psycopg_pool import AsyncConnectionPool

from services.admin.routes.automations import parse_steps, steps_text
from shared.automations import engine
from tests.admin.conftest import AdminClient, make_sender


def test_step_lines_round_trip() -> None:
    steps, error = parse_steps("send 3\n\nwait 2 days\nWAIT 90 minutes\nif segment 7\n")
    assert error is None
    rows = [{"kind": s.kind, "wait_seconds": s.wait_seconds, "email_id": s.email_id,
             "segment_id": s.segment_id} for s in steps]  # fmt: skip
    assert steps_text(rows) == "send 3\nwait 2 days\nwait 90 minutes\nif segment 7"
    assert parse_steps("send\n")[1] == 'line 1: expected "send EMAIL_ID", ' + (
        '"wait N days|hours|minutes" or "if segment SEGMENT_ID"'
    )


async def test_build_run_pause_and_edit(owner: AdminClient, pool: AsyncConnectionPool) -> None:
    sender_id = await make_sender(pool)
    async with pool.connection() as conn:
        cur = await conn.execute(
            "INSERT INTO emails (sender_id, name) VALUES (%s, 'welcome') RETURNING id", [sender_id]
        )
        email_id = (await cur.fetchone())["id"]
    base = f"/senders/{sender_id}/automations"
    bad = await owner.post(f"{base}/new", {"name": "w", "trigger": "subscriber_active",
                                           "steps": "jump 3", "active": "on"})  # fmt: skip
    assert bad.status_code == 400 and "line 1: expected" in bad.text
    r = await owner.post(f"{base}/new", {"name": "w", "trigger": "subscriber_active",
                         "steps": f"send {email_id}\nwait 1 day", "active": "on"})  # fmt: skip
    assert r.status_code == 303, r.text
    page_url = r.headers["location"].split("?")[0]
    async with pool.connection() as conn:
        await conn.execute(
            "INSERT INTO subscribers (sender_id, address) VALUES (%s, 'auto1@example.com')",
            [sender_id],
        )
    await engine.run_pass(pool, 50)
    page = await owner.client.get(page_url)
    assert page.status_code == 200 and "auto1@example.com" in page.text
    assert "send email" in page.text
    assert (await owner.post(f"{page_url}/pause")).status_code == 303
    assert "Resume" in (await owner.client.get(page_url)).text
    edit = await owner.post(page_url, {"name": "w2", "steps": f"send {email_id}\nwait 2 hours"})
    assert edit.status_code == 303
    assert "<td>wait 2 hours</td>" in (await owner.client.get(page_url)).text
    listing = await owner.client.get(base)
    assert "w2" in listing.text
    in_use = await owner.post(f"/senders/{sender_id}/emails/{email_id}/delete")
    assert in_use.status_code == 409 and "automation step sends this email" in in_use.text
    assert (await owner.post(f"{page_url}/delete")).status_code == 303
    assert (await owner.client.get(page_url)).status_code == 404
