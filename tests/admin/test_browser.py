"""The admin as a new operator uses it, in headless Debian Chromium (Playwright): log in, create a
sender and a subscriber, write an email with two variations, preview and test-send it, bulk send
it and watch the progress reach 100%, see a statistics chart drawn, and check that a form without
its CSRF token is refused and that a member cannot see another sender. Screenshots of the main
pages go to test-artifacts/admin/."""

from __future__ import annotations

import re
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import psycopg
import pytest
from playwright.sync_api import Browser, Page, expect

from tests.admin.browser import admin_user, log_in
from tests.fixtures.browser import chromium
from tests.fixtures.ports import free_port
from tests.fixtures.smtp import SmtpPeer
from tests.sender.conftest import WorkerProcess, worker_env

ROOT = Path(__file__).resolve().parents[2]
ARTIFACTS = ROOT / "test-artifacts" / "admin"


@pytest.fixture(scope="module")
def workers(smtp_peer_session: SmtpPeer) -> Iterator[None]:
    """A sender worker (dramatiq) sending to the aiosmtpd peer, and the campaign scheduler."""
    env = worker_env(smtp_peer_session.url, TART_SCHEDULER_METRICS_PORT=str(free_port()))
    worker = WorkerProcess(env)
    worker.start()
    log = tempfile.TemporaryFile()  # noqa: SIM115 - closed below
    scheduler = subprocess.Popen(
        [sys.executable, "-m", "services.sender", "scheduler"],
        cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True,
    )  # fmt: skip
    yield
    scheduler.terminate()
    try:
        scheduler.wait(15)
    except subprocess.TimeoutExpired:
        scheduler.kill()
        scheduler.wait(5)
    log.close()
    worker.stop()


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    with chromium(ARTIFACTS) as b:
        yield b


def _shot(page: Page, name: str) -> None:
    page.screenshot(path=str(ARTIFACTS / f"{name}.png"), full_page=True)


def _wait(check: Callable[[], bool], timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if check():
            return
        time.sleep(0.2)
    raise AssertionError(f"{what}: not within {timeout}s")


def test_operator_journey(
    admin_url: str,
    workers: None,
    browser: Browser,
    sync_conn: psycopg.Connection[dict[str, Any]],
    smtp_peer: SmtpPeer,
) -> None:
    base = admin_url
    _owner_id, owner_email = admin_user(sync_conn, "owner")
    context = browser.new_context(viewport={"width": 1280, "height": 900})
    page = context.new_page()
    errors: list[str] = []
    page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)

    page.goto(f"{base}/login")
    _shot(page, "01-login")
    log_in(page, base, owner_email)
    _shot(page, "02-dashboard")

    # a sender, with an API key shown once and a DKIM record to publish
    tag = uuid.uuid4().hex[:8]
    address = f"news-{tag}@example.com"
    page.click("text=Senders")
    page.click("text=New sender")
    page.fill("#f-address", address)
    page.fill("#f-name", "Tart News")
    page.fill("#f-public_base_url", "https://links.example.com")
    page.click("text=Create sender")
    expect(page.locator(".notice")).to_have_text("Created.")
    sender_id = int(re.findall(r"/senders/(\d+)", page.url)[0])
    page.fill("#f-key_name", "integration")
    page.click("text=New API key")
    expect(page.locator("#new-api-key")).to_contain_text("tart_")
    page.fill("#f-selector", "s2026")
    page.click("text=Generate DKIM key")
    expect(page.locator(".dkim-value").first).to_contain_text("v=DKIM1; k=rsa; p=")
    _shot(page, "03-sender")

    # a subscriber through the form, and a few more to send to
    page.click(".sendernav >> text=Subscribers")
    page.click("text=Add subscriber")
    page.fill("#f-address", f"ada-{tag}@example.com")
    page.fill("#f-locale", "en_US")
    page.fill("#f-properties", '{"name": "Ada", "plan": "pro"}')
    page.click("text=Add subscriber")
    expect(page.locator(".notice")).to_have_text("Created.")
    sync_conn.execute(
        "INSERT INTO subscribers (sender_id, address, locale, properties) "
        "SELECT %s, 'reader' || g || %s, CASE WHEN g %% 2 = 0 THEN 'tr_TR' ELSE 'en_US' END,"
        " jsonb_build_object('name', 'Reader ' || g) FROM generate_series(1, 11) g",
        [sender_id, f"-{tag}@example.com"],
    )
    page.click(".sendernav >> text=Subscribers")
    expect(page.locator("#subscribers tbody tr")).to_have_count(12)
    page.fill("#f-filter", 'plan = "pro"')
    expect(page.locator("#subscribers tbody tr")).to_have_count(1)  # htmx search as you type
    _shot(page, "04-subscribers")

    # an email with two variations, previewed live in a sandboxed iframe
    page.click(".sendernav >> text=Emails")
    page.click("text=New email")
    page.fill("#f-name", "Launch")
    page.click("text=Create and add a variation")
    for name in ("A", "B"):
        if name == "B":
            page.click("#add-variation")
        page.fill("#f-name", name)
        page.fill("#f-subject", f"Hello {{{{ properties.name }}}} ({name})")
        page.fill(
            "#f-html_body",
            f"<h1 style='color:#2563eb'>Hi {{{{ properties.name }}}}</h1><p>Variation {name}. "
            "<a href='https://example.com/launch'>Read more</a></p>",
        )
        page.fill("#f-plain_body", f"Hi {{{{ properties.name }}}}, variation {name}.")
        page.fill("#f-preview_properties", '{"name": "Grace"}')
        expect(page.locator("#preview-subject")).to_have_text(f"Hello Grace ({name})")
        frame = page.frame_locator("#preview-html")
        expect(frame.locator("h1")).to_have_text("Hi Grace")
        expect(page.locator("#preview-plain")).to_contain_text(f"variation {name}")
        assert page.get_attribute("#preview-html", "sandbox") == ""
        if name == "A":
            expect(frame.locator("h1")).to_be_visible()
            page.locator("#preview").scroll_into_view_if_needed()
            page.locator("#preview").screenshot(path=str(ARTIFACTS / "05b-preview-pane.png"))
            _shot(page, "05-variation-preview")
        page.click("#save-variation")
        expect(page.locator("#variations tbody tr")).to_have_count(1 if name == "A" else 2)
    email_id = int(re.findall(r"/emails/(\d+)", page.url)[0])

    # test send: the message reaches the SMTP peer
    tester = f"tester-{tag}@example.com"
    page.fill("#f-test_address", tester)
    page.click("text=Send test")
    expect(page.locator(".notice")).to_have_text("Test message queued.")
    _wait(lambda: any(tester in r.rcpt_tos for r in smtp_peer.received), 30, "test message")
    _shot(page, "06-email")

    # bulk send: live audience per locale, confirmation, progress to 100%
    page.click("#bulk-send")
    expect(page.locator("#audience-total")).to_have_text("12")
    page.fill("#f-filter", 'name = "Ada"')
    expect(page.locator("#audience-total")).to_have_text("1")
    page.fill("#f-filter", "")
    expect(page.locator("#audience-total")).to_have_text("12")
    expect(page.locator('[data-locale="tr_TR"]')).to_have_text("5")
    _shot(page, "07-bulk-send")
    page.click("#review")
    expect(page.locator("#planned")).to_have_text("12")
    _shot(page, "08-confirm")
    page.click("#confirm-send")
    expect(page.locator(".notice")).to_have_text("Queued.")
    bar = page.locator("#progress-bar")
    expect(bar).to_have_attribute("data-total", "12", timeout=30_000)
    expect(bar).to_have_attribute("data-done", "12", timeout=60_000)
    expect(page.locator("#progress-bar")).to_contain_text("100.0%")
    _shot(page, "09-progress")
    # (other tests of the run may leave their own sends queued for this worker: count ours)
    received = {r for m in smtp_peer.received for r in m.rcpt_tos if tag in r}
    assert f"ada-{tag}@example.com" in received and len(received) == 13  # 12 + the test

    # statistics: the chart is drawn on the canvas
    page.goto(f"{base}/senders/{sender_id}/statistics/{email_id}")
    expect(page.locator("#total-sent")).to_have_text("12")
    page.wait_for_function("window.tartCharts && window.tartCharts.length >= 1")
    painted = page.evaluate(
        """() => { const c = document.getElementById('chart-timeline');
                  const d = c.getContext('2d').getImageData(0, 0, c.width, c.height).data;
                  let n = 0; for (let i = 3; i < d.length; i += 4) { if (d[i] > 0) n++; }
                  return n; }"""
    )
    assert painted > 500, f"the chart canvas is blank ({painted} painted pixels)"
    _shot(page, "10-statistics")
    page.goto(f"{base}/senders/{sender_id}/statistics")
    page.wait_for_function("window.tartCharts && window.tartCharts.length >= 1")
    _shot(page, "11-sender-statistics")

    # the other pages render for an operator
    for path, name in ((f"/senders/{sender_id}/bounces", "12-bounces"),
                       (f"/senders/{sender_id}/dmarc", "13-dmarc"),
                       ("/inbound", "14-inbound"), ("/", "15-dashboard-after")):  # fmt: skip
        response = page.goto(base + path)
        assert response is not None and response.status == 200, path
        _shot(page, name)

    # a POST without its CSRF token is refused (the browser's cookies, no token)
    refused = page.request.post(
        f"{base}/senders/{sender_id}/keys", form={"key_name": "forged"}, max_redirects=0
    )
    assert refused.status == 403

    # a member sees its sender and gets a 404 for any other
    member_id, member_email = admin_user(sync_conn, "member")
    other = sync_conn.execute(
        "INSERT INTO senders (address, name, public_base_url, return_path_domain) "
        "VALUES (%s, 'Other', 'https://o.example.com', 'example.com') RETURNING id",
        [f"other-{tag}@example.com"],
    ).fetchone()
    assert other is not None
    sync_conn.execute(
        "INSERT INTO admin_user_senders (user_id, sender_id) VALUES (%s, %s)",
        [member_id, other["id"]],
    )
    member = browser.new_context().new_page()
    log_in(member, base, member_email)
    assert f"other-{tag}@example.com" in member.content()
    assert address not in member.content()
    denied = member.goto(f"{base}/senders/{sender_id}/subscribers")
    assert denied is not None and denied.status == 404
    _shot(member, "16-member-404")
    member.context.close()

    # the layout holds on a phone
    phone = browser.new_context(viewport={"width": 390, "height": 844}, is_mobile=True)
    small = phone.new_page()
    log_in(small, base, owner_email)
    small.goto(f"{base}/senders/{sender_id}/emails/{email_id}/send")
    _shot(small, "17-phone-bulk-send")
    width = small.evaluate("document.documentElement.scrollWidth")
    assert width <= 400, f"the page scrolls sideways on a phone ({width}px)"
    phone.close()

    assert not [e for e in errors if "Content Security Policy" in e], errors
    context.close()
