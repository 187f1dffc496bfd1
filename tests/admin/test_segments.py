"""The segments pages through httpx: add with a live count, inline errors, the subscriber list
filtered by a segment, delete, and CSRF."""

from __future__ import annotations

from psycopg_pool import AsyncConnectionPool

from tests.admin.conftest import AdminClient, make_sender


async def _sender_with_people(pool: AsyncConnectionPool) -> int:
    sender_id = await make_sender(pool)
    async with pool.connection() as conn:
        await conn.execute(
            "INSERT INTO subscribers (sender_id, address, properties) SELECT %s,"
            " 'seg' || g || '@example.com', jsonb_build_object('n', g)"
            " FROM generate_series(1, 5) g",
            [sender_id],
        )
    return sender_id


async def test_add_a_segment_and_list_its_members(
    owner: AdminClient, pool: AsyncConnectionPool
) -> None:
    sender_id = await _sender_with_people(pool)
    base = f"/senders/{sender_id}/segments"
    bad = await owner.post(f"{base}/new", {"name": "big", "filter": "n >"})
    assert bad.status_code == 400 and "a number or an ISO date/time string" in bad.text
    r = await owner.post(f"{base}/new", {"name": "big", "filter": "n >= 4"})
    assert r.status_code == 303, r.text
    page = await owner.client.get(r.headers["location"])
    assert page.status_code == 200
    assert '<strong id="live-count">2</strong> active subscriber(s)' in page.text
    segment_id = r.headers["location"].split("/")[-1].split("?")[0]
    listing = await owner.client.get(f"{base}")
    assert "big" in listing.text
    members = await owner.client.get(
        f"/senders/{sender_id}/subscribers", params={"segment": segment_id}
    )
    assert "seg4@example.com" in members.text and "seg5@example.com" in members.text
    assert "seg3@example.com" not in members.text
    dup = await owner.post(f"{base}/new", {"name": "big", "filter": "n = 1"})
    assert dup.status_code == 400 and "segment of that name" in dup.text
    forged = await owner.client.post(f"{base}/{segment_id}/delete", data={})
    assert forged.status_code in (400, 403)
    gone = await owner.post(f"{base}/{segment_id}/delete")
    assert gone.status_code == 303
    assert (await owner.client.get(f"{base}/{segment_id}")).status_code == 404


async def test_a_segment_of_another_sender_is_not_found(
    owner: AdminClient, pool: AsyncConnectionPool
) -> None:
    one = await _sender_with_people(pool)
    two = await make_sender(pool)
    r = await owner.post(f"/senders/{one}/segments/new", {"name": "a", "filter": "n = 1"})
    segment_id = r.headers["location"].split("/")[-1].split("?")[0]
    assert (await owner.client.get(f"/senders/{two}/segments/{segment_id}")).status_code == 404
    listed = await owner.client.get(f"/senders/{two}/subscribers", params={"segment": segment_id})
    assert listed.status_code == 400 and "not found" in listed.text


async def test_follow_up_non_openers_from_the_send_page(
    owner: AdminClient, pool: AsyncConnectionPool
) -> None:
    sender_id = await _sender_with_people(pool)
    async with pool.connection() as conn:
        ids = []
        for name, state in (("first", "sending"), ("second", "draft")):
            cur = await conn.execute(
                "INSERT INTO emails (sender_id, name) VALUES (%s, %s) RETURNING id",
                [sender_id, name],
            )
            email_id = (await cur.fetchone())["id"]
            await conn.execute(
                "INSERT INTO variations (email_id, name, subject, plain_body)"
                " VALUES (%s, 'A', 'Hi', 'Hello')",
                [email_id],
            )
            await conn.execute("UPDATE emails SET state = %s WHERE id = %s", [state, email_id])
            ids.append(email_id)
    first, second = ids
    base = f"/senders/{sender_id}/emails/{first}"
    page = await owner.client.get(f"{base}/send")
    assert "Follow up with non-openers" in page.text
    same = await owner.post(f"{base}/resend", {"followup_email_id": str(first), "delay_hours": "1"})
    assert same.status_code == 400 and "a different email" in same.text
    r = await owner.post(f"{base}/resend", {"followup_email_id": str(second), "delay_hours": "2"})
    assert r.status_code == 303, r.text
    async with pool.connection() as conn:
        cur = await conn.execute(
            "SELECT state::text AS state, filter FROM campaigns WHERE email_id = %s", [second]
        )
        row = await cur.fetchone()
    assert row["state"] == "scheduled"
    assert row["filter"] == {"and": [{"received": first}, {"not": {"opened": first}}]}


async def test_follow_up_with_a_copy_of_another_variation_and_subject(
    owner: AdminClient, pool: AsyncConnectionPool
) -> None:
    sender_id, stranger = await _sender_with_people(pool), await make_sender(pool)
    async with pool.connection() as conn:
        cur = await conn.execute(
            "INSERT INTO emails (sender_id, name) VALUES (%s, 'first'), (%s, 'other'),"
            " (%s, 'theirs') RETURNING id",
            [sender_id, sender_id, stranger],
        )
        first, other, theirs = [r["id"] for r in await cur.fetchall()]
        cur = await conn.execute(
            "INSERT INTO variations (email_id, name, subject, plain_body) VALUES"
            " (%s, 'A', 'Hi', 'Body A'), (%s, 'B', 'Hey', 'Body B'), (%s, 'C', 'Yo', 'Body C')"
            " RETURNING id",
            [first, first, other],
        )
        _a, b, foreign = [r["id"] for r in await cur.fetchall()]
        await conn.execute("UPDATE emails SET state = 'sending' WHERE id = %s", [first])
        await conn.execute(  # sent to all five: one opened (human), one by a machine only
            "INSERT INTO sends (email_id, sender_id, subscriber_id, state, sent_at, open_count,"
            " machine_open_count) SELECT %s, %s, id, 'sent', now(),"
            " CASE WHEN address = 'seg1@example.com' THEN 1 ELSE 0 END,"
            " CASE WHEN address = 'seg2@example.com' THEN 2 ELSE 0 END"
            " FROM subscribers WHERE sender_id = %s",
            [first, sender_id, sender_id],
        )
    base = f"/senders/{sender_id}/emails/{first}"
    page = await owner.client.get(f"{base}/send")
    assert f'<option value="{b}">B · Hey</option>' in page.text
    refused = [
        ({}, "give an email to send, or a subject"),
        ({"subject": "Two\r\nlines"}, "must be one line"),
        ({"subject": "{{ x"}, "subject"),
        ({"variation_id": str(foreign)}, f"not a variation of email {first}"),
        ({"followup_email_id": str(theirs)}, f"no email {theirs} of this sender"),
        ({"followup_email_id": str(other), "subject": "x"}, "not both"),
    ]
    for fields, error in refused:
        r = await owner.post(f"{base}/resend", {"delay_hours": "0", **fields})
        assert r.status_code == 400 and error in r.text, (fields, r.status_code)
        assert '<p class="error">' in r.text  # beside its field
    forged = await owner.client.post(f"{base}/resend", data={"subject": "x", "delay_hours": "0"})
    assert forged.status_code in (400, 403)
    r = await owner.post(
        f"{base}/resend", {"subject": "Look again", "variation_id": str(b), "delay_hours": "0"}
    )
    assert r.status_code == 303, r.text
    copy = int(r.headers["location"].split("/emails/")[1].split("/")[0])
    async with pool.connection() as conn:
        cur = await conn.execute(
            "SELECT e.followup_of, v.subject, v.plain_body, c.planned_count FROM emails e"
            " JOIN variations v ON v.email_id = e.id JOIN campaigns c ON c.email_id = e.id"
            " WHERE e.id = %s",
            [copy],
        )
        rows = await cur.fetchall()
        cur = await conn.execute("SELECT count(*) AS n FROM emails WHERE followup_of = %s", [first])
        copies = (await cur.fetchone())["n"]
    assert [tuple(r.values()) for r in rows] == [(first, "Look again", "Body B", 4)]
    assert copies == 1  # the refused ones left nothing behind


async def test_the_expression_is_shown_as_typed_until_replaced_by_json(
    owner: AdminClient, pool: AsyncConnectionPool
) -> None:
    sender_id = await _sender_with_people(pool)
    base = f"/senders/{sender_id}/segments"
    r = await owner.post(f"{base}/new", {"name": "mid", "filter": "  n between 2 and 3 "})
    assert r.status_code == 303, r.text
    url = r.headers["location"].split("?")[0]
    page = await owner.client.get(url)
    assert ">n between 2 and 3</textarea>" in page.text
    assert '<strong id="live-count">2</strong>' in page.text
    assert "<code>n between 2 and 3</code>" in (await owner.client.get(base)).text
    r = await owner.post(url, {"name": "mid", "filter": '{"eq": ["n", 5]}'})
    assert r.status_code == 303, r.text
    page = await owner.client.get(url)
    assert "n between 2 and 3" not in page.text
    assert "&#34;eq&#34;: [&#34;n&#34;, 5]" in page.text
    assert '<strong id="live-count">1</strong>' in page.text


async def test_the_list_is_paged_and_counts_one_segment_on_demand(
    owner: AdminClient, pool: AsyncConnectionPool
) -> None:
    sender_id = await _sender_with_people(pool)
    async with pool.connection() as conn:
        await conn.execute(
            "INSERT INTO segments (sender_id, name, filter) SELECT %s, 'seg-' || g,"
            " jsonb_build_object('ge', jsonb_build_array('n', g %% 6))"
            " FROM generate_series(1, 51) g",
            [sender_id],
        )
        cur = await conn.execute(
            "SELECT id, name FROM segments WHERE sender_id = %s ORDER BY id", [sender_id]
        )
        ids = {row["name"]: row["id"] for row in await cur.fetchall()}
    base = f"/senders/{sender_id}/segments"
    first = await owner.client.get(base)
    assert first.status_code == 200
    assert ">seg-51<" in first.text and ">seg-2<" in first.text and ">seg-1<" not in first.text
    # no count on the list itself: one on-demand link per row, falling back to the segment page
    assert first.text.count(f'hx-get="{base}/') == 50
    assert f'hx-get="{base}/{ids["seg-4"]}/count"' in first.text
    assert f'href="?before={ids["seg-2"]}"' in first.text
    second = await owner.client.get(base, params={"before": str(ids["seg-2"])})
    assert (
        ">seg-1<" in second.text and ">seg-2<" not in second.text and "?before=" not in second.text
    )
    # n >= 4 holds for subscribers 4 and 5 of the five
    counted = await owner.client.get(f"{base}/{ids['seg-4']}/count")
    assert counted.status_code == 200 and counted.text == '<span class="segment-count">2</span>'
    everyone = await owner.client.get(f"{base}/{ids['seg-6']}/count")
    assert everyone.text == '<span class="segment-count">5</span>'
    other = await make_sender(pool)
    assert (
        await owner.client.get(f"/senders/{other}/segments/{ids['seg-4']}/count")
    ).status_code == 404
