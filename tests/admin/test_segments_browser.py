"""Segments and automations in headless Debian Chromium: an operator saves an engagement
segment and sees its live count, sees where a malformed expression goes wrong, filters the
subscriber list by the segment, builds a sequence, pauses and resumes it, and reads who is where
after the engine has moved subscribers; the segment list counts a segment only when asked, in
place. Screenshots go to test-artifacts/admin-segments/."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import psycopg
import pytest
from playwright.sync_api import Browser, Page, expect

from shared.automations import engine
from shared.config import Settings
from shared.db import create_pool
from tests.admin.browser import admin_user, log_in
from tests.fixtures import browser as browsers
from tests.sender.conftest import make_email, make_sender, make_subscribers

ROOT = Path(__file__).resolve().parents[2]
ARTIFACTS = ROOT / "test-artifacts" / "admin-segments"
MAIL = [{"subject": "Hello", "plain_body": "Hi {{ unsubscribe_url }}\n"}]


@pytest.fixture(scope="module")
def chromium() -> Iterator[Browser]:
    with browsers.chromium(ARTIFACTS) as b:
        yield b


def _shot(page: Page, name: str) -> None:
    browsers.screenshot(page, ARTIFACTS, name)


def _engine_pass(settings: Settings) -> None:
    """One scheduler pass of the automation engine, as the scheduler runs it."""

    async def run() -> None:
        pool = create_pool(settings, name="browser-test-engine")
        await pool.open(wait=True, timeout=10)
        try:
            await engine.run_pass(pool, 50)
        finally:
            await pool.close()

    # Playwright's sync API holds this thread's event loop: the pass runs on its own thread.
    with ThreadPoolExecutor(1) as pool:
        pool.submit(asyncio.run, run()).result(timeout=60)


def _sent(conn: psycopg.Connection[Any], email_id: int, subscriber_id: int, **counts: int) -> None:
    conn.execute(
        "INSERT INTO sends (email_id, sender_id, subscriber_id, state, sent_at, open_count,"
        " machine_open_count) SELECT %s, sender_id, id, 'sent', now(), %s, %s"
        " FROM subscribers WHERE id = %s",
        [email_id, counts.get("opens", 0), counts.get("machine_opens", 0), subscriber_id],
    )


def _step_row(page: Page, number: int) -> Any:
    return page.locator("#steps tbody tr").nth(number - 1)


def test_an_operator_segments_and_automates(
    admin_url: str, chromium: Browser, settings: Settings, sync_conn: psycopg.Connection[Any]
) -> None:
    _, admin = admin_user(sync_conn)
    sender_id = make_sender(sync_conn)["id"]
    launch, _ = make_email(sync_conn, sender_id, MAIL)
    welcome, _ = make_email(sync_conn, sender_id, MAIL)
    offer, _ = make_email(sync_conn, sender_id, MAIL)
    plans = ["pro", "pro", "pro", "free", "pro"]
    people = make_subscribers(sync_conn, sender_id, 5, properties=lambda i: {"plan": plans[i]})
    address = {
        r["id"]: r["address"]
        for r in sync_conn.execute(
            "SELECT id, address FROM subscribers WHERE id = ANY(%s)", [people]
        ).fetchall()
    }
    # two pros opened; a pro who did not; a free one who opened; a pro whose only open was a
    # machine's (Apple's prefetch), which is not engagement
    for person, counts in zip(people, [{"opens": 1}, {"opens": 2}, {}, {"opens": 1},
                                       {"machine_opens": 1}], strict=True):  # fmt: skip
        _sent(sync_conn, launch, person, **counts)
    engaged = {address[people[0]], address[people[1]]}
    context = chromium.new_context(viewport={"width": 1280, "height": 1000})
    try:
        page = context.new_page()
        log_in(page, admin_url, admin)
        page.goto(f"{admin_url}/senders/{sender_id}")

        # a saved segment on engagement, with its live count
        page.click("nav.sendernav >> text=Segments")
        expect(page.locator("h1")).to_have_text("Segments")
        page.click("text=New segment")
        page.fill("#f-name", "Engaged pros")
        expression = f'opened email {launch} and plan = "pro"'
        page.fill("#f-filter", expression)
        page.click("button.primary")
        expect(page.locator(".notice")).to_have_text("Saved.")
        expect(page.locator("h1")).to_have_text("Engaged pros")
        expect(page.locator("#live-count")).to_have_text("2")
        expect(page.locator("#f-filter")).to_have_value(expression)
        segment_id = int(page.url.split("?")[0].rsplit("/", 1)[1])
        _shot(page, "01-segment")

        # a malformed expression: the error says where and what was expected
        page.click("nav.sendernav >> text=Segments")
        listed = page.locator("tbody tr", has_text="Engaged pros")
        listed.get_by_role("link", name="Count").click()  # counted on demand, in place
        expect(listed.locator(".segment-count")).to_have_text("2")
        page.click("text=New segment")
        page.fill("#f-name", "Broken")
        page.fill("#f-filter", 'opened email and plan = "pro"')
        page.click("button.primary")
        error = page.locator("#e-filter")
        expect(error).to_contain_text("position 14")
        expect(error).to_contain_text("expected an email id")
        expect(page.locator("#f-filter")).to_have_value('opened email and plan = "pro"')
        _shot(page, "02-segment-error")

        # the segment as a filter of the subscriber list
        page.click("nav.sendernav >> text=Subscribers")
        page.select_option("#f-segment", label="Engaged pros")
        page.click("#search button")
        rows = page.locator("table tbody tr")
        expect(rows).to_have_count(2)
        assert set(rows.locator("td:first-child").all_inner_texts()) == engaged
        _shot(page, "03-subscribers-in-segment")

        # an automation: trigger, send, wait, condition, send
        page.click("nav.sendernav >> text=Automations")
        page.click("text=New automation")
        reference = page.locator("#step-reference")
        expect(reference).to_contain_text(f"{segment_id}: Engaged pros")
        expect(reference).to_contain_text(f"{welcome}: test email")
        page.fill("#f-name", "Welcome series")
        page.select_option("#f-trigger", "subscriber_created")
        page.fill(
            "#f-steps",
            f"send {welcome}\nwait 2 days\nif segment {segment_id}\nsend {offer}\n",
        )
        page.click("button.primary")
        expect(page.locator(".notice")).to_have_text("Created.")
        expect(page.locator("h1")).to_have_text("Welcome series")
        expect(page.locator("#summary")).to_contain_text("a subscriber is created")
        expect(page.locator("#summary")).to_contain_text("active")
        expect(_step_row(page, 2)).to_contain_text("wait 2 days")
        expect(_step_row(page, 3)).to_contain_text("if in segment Engaged pros")
        expect(_step_row(page, 4)).to_contain_text(f"send email {offer}")

        page.click("button:text-is('Pause')")
        expect(page.locator(".notice")).to_have_text("Paused.")
        expect(page.locator("#summary")).to_contain_text("paused")
        page.click("button:text-is('Resume')")
        expect(page.locator(".notice")).to_have_text("Resumed.")
        expect(page.locator("#summary")).to_contain_text("active")
        expect(page.locator("button:text-is('Pause')")).to_be_visible()

        # newcomers enter; the engine sends the first step; time passes; the condition splits
        newcomers = make_subscribers(
            sync_conn, sender_id, 3, properties=lambda i: {"plan": "pro" if i < 2 else "free"}
        )
        _engine_pass(settings)
        page.reload()  # the first step's sends are queued, not sent yet
        expect(_step_row(page, 1).locator("td.queued")).to_have_text("3")
        expect(_step_row(page, 1).locator("td.sent")).to_have_text("0")
        for state in ("sending", "sent"):  # the worker delivers what the step queued
            sync_conn.execute(
                "UPDATE sends SET state = %s, sent_at = now() WHERE email_id = %s",
                [state, welcome],
            )
        page.reload()
        expect(_step_row(page, 1).locator("td.passed")).to_have_text("3")
        expect(_step_row(page, 2).locator("td.waiting")).to_have_text("3")
        expect(_step_row(page, 1).locator("td.queued")).to_have_text("0")
        expect(_step_row(page, 1).locator("td.sent")).to_have_text("3")
        _shot(page, "04-automation-waiting")

        sync_conn.execute(  # one newcomer opens the welcome mail
            "UPDATE sends SET open_count = 1 WHERE email_id = %s AND subscriber_id = %s",
            [welcome, newcomers[0]],
        )
        _sent(sync_conn, launch, newcomers[0], opens=1)  # and the launch: it joins the segment
        sync_conn.execute(  # two days pass
            "UPDATE automation_progress SET due_at = due_at - interval '3 days'"
            " WHERE subscriber_id = ANY(%s)",
            [newcomers],
        )
        _engine_pass(settings)
        page.reload()
        expect(_step_row(page, 1).locator("td.opened")).to_have_text("1")
        expect(_step_row(page, 3).locator("td.stopped")).to_have_text("2")
        expect(_step_row(page, 4).locator("td.passed")).to_have_text("1")
        who = page.locator("#who tbody tr")
        expect(who).to_have_count(3)
        named = {
            r["id"]: r["address"]
            for r in sync_conn.execute(
                "SELECT id, address FROM subscribers WHERE id = ANY(%s)", [newcomers]
            ).fetchall()
        }
        expect(who.filter(has_text=named[newcomers[0]])).to_contain_text("done")
        for other in newcomers[1:]:
            row = who.filter(has_text=named[other])
            expect(row).to_contain_text("stopped")
            expect(row).to_contain_text("3. if in segment Engaged pros")
        _shot(page, "05-automation-who-is-where")

        page.click("nav.sendernav >> text=Automations")
        listed = page.locator("tbody tr", has_text="Welcome series")
        expect(listed).to_contain_text("a subscriber is created")
        expect(listed.locator("td.done")).to_have_text("1")
        expect(listed.locator("td.stopped")).to_have_text("2")
    finally:
        context.close()
        sync_conn.execute("DELETE FROM automations WHERE sender_id = %s", [sender_id])


def test_a_segment_is_counted_when_its_count_button_is_pressed(
    admin_url: str, chromium: Browser, sync_conn: psycopg.Connection[Any]
) -> None:
    _, email = admin_user(sync_conn)
    sender = make_sender(sync_conn)
    sync_conn.execute(
        "INSERT INTO subscribers (sender_id, address, properties) SELECT %s,"
        " 'p' || g || '@example.com', jsonb_build_object('plan', CASE WHEN g <= 2 THEN 'pro'"
        " ELSE 'free' END) FROM generate_series(1, 5) g",
        [sender["id"]],
    )
    sync_conn.execute(
        "INSERT INTO segments (sender_id, name, filter) VALUES"
        ' (%(s)s, \'pro\', \'{"eq": ["plan", "pro"]}\'),'
        ' (%(s)s, \'free\', \'{"eq": ["plan", "free"]}\')',
        {"s": sender["id"]},
    )
    context = chromium.new_context(viewport={"width": 1280, "height": 800})
    try:
        page = context.new_page()
        log_in(page, admin_url, email)
        page.goto(f"{admin_url}/senders/{sender['id']}/segments")
        expect(page.locator("h1")).to_have_text("Segments")
        pro = page.locator("tr", has_text="plan").filter(has_text="pro")
        free = page.locator("tr", has_text="plan").filter(has_text="free")
        expect(page.locator(".segment-count")).to_have_count(0)
        pro.get_by_role("link", name="Count").click()
        expect(pro.locator(".segment-count")).to_have_text("2")
        expect(page).to_have_url(f"{admin_url}/senders/{sender['id']}/segments")
        expect(free.get_by_role("link", name="Count")).to_be_visible()
        _shot(page, "06-segment-list-counted")
        free.get_by_role("link", name="Count").click()
        expect(free.locator(".segment-count")).to_have_text("3")
    finally:
        context.close()
        sync_conn.execute("DELETE FROM senders WHERE id = %s", [sender["id"]])
