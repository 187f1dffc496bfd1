"""One email's audience and what its recipients did, recorded through the public service's real
endpoints: human opens, a Gmail-proxied and a Yahoo-proxied open, Apple Mail prefetches, a link
scanner, clicks on numbered links and on the redirect URL, an unsubscribe. The same scenario
runs for a sender with and without anonymous tracking, and must give the same statistics.

    send  variation  locale  sent        what happened
    s1    A          en_US   2 days ago  2 human opens, a human click on link 1
    s2    A          tr_TR   2 days ago  1 open through Gmail's image proxy, an unsubscribe
    s3    B          en_US   1 day ago   an Apple Mail prefetch, a human click on link 0
    s4    B          tr_TR   1 day ago   an Apple Mail prefetch, a link scanner's click on link 0
    s5    A          en_US   1 day ago   1 open through Yahoo's proxy, 1 human open, a click on
                                         /c/<token> (the email's redirect URL)
    s6    A          tr_TR   (queued)    nothing
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, date

import httpx

from tests.public.conftest import Public
from tests.public.world import World

PERSON = "Mozilla/5.0 (iPhone; CPU iPhone OS 17_0 like Mac OS X) AppleWebKit/605.1.15 Mobile"
GMAIL_PROXY = (
    "Mozilla/5.0 (Windows NT 5.1; rv:11.0) Gecko Firefox/11.0 (via ggpht.com GoogleImageProxy)"
)
YAHOO_PROXY = (
    "Mozilla/5.0 (Windows NT 6.1; WOW64; rv:9.0) Gecko/20100101 Firefox/9.0 YahooMailProxy"
)
APPLE_PREFETCH = "Mozilla/5.0"
SCANNER = "Mozilla/5.0 (compatible; Barracuda Sentinel (EE))"
# Where each fetch comes from: Gmail's proxy inside Google's crawler range (the agent, not the
# range, decides), Apple's egress range, a person's address.
GMAIL_IP, APPLE_IP, PERSON_IP = "66.249.84.20", "17.58.101.2", "198.51.100.23"
REDIRECT_URL = "https://example.org/landing"
B_HTML = (
    '<html><body><p>B</p><a href="https://example.org/b-first">1</a> '
    '<a href="https://example.org/b-second">2</a></body></html>'
)


@dataclass
class Audience:
    email_id: int
    variation_a: int
    variation_b: int
    sends: dict[str, int]
    day1: date  # UTC day of sending of s1, s2
    day2: date  # of s3, s4, s5


async def _get(public: Public, path: str, agent: str, ip: str) -> None:
    transport = httpx.ASGITransport(app=public.app, client=(ip, 40000))
    async with httpx.AsyncClient(
        transport=transport, base_url="https://links.example.com"
    ) as client:
        response = await client.get(path, headers={"user-agent": agent})
        assert response.status_code in (200, 302), (path, response.status_code)


async def play(public: Public, world: World) -> Audience:
    """Build the audience, play the events through the public service and record them."""
    email_id, variation_a = world.email(redirect_url=REDIRECT_URL)
    row = world.row(
        "INSERT INTO variations (email_id, name, subject, html_body) "
        "VALUES (%s, 'B', 'Subject B', %s) RETURNING id",
        email_id,
        B_HTML,
    )
    variation_b = int(row["id"])
    world.db.execute("UPDATE variations SET name = 'A' WHERE id = %s", [variation_a])
    day = 86400

    def send(variation: int, locale: str, ago: float, state: str = "sent") -> int:
        return world.send(
            world.subscriber(locale=locale), email_id=email_id, variation_id=variation,
            sent_ago_s=ago, state=state,
        )  # fmt: skip

    sends = {
        "s1": send(variation_a, "en_US", 2 * day),
        "s2": send(variation_a, "tr_TR", 2 * day),
        "s3": send(variation_b, "en_US", day),
        "s4": send(variation_b, "tr_TR", day),
        "s5": send(variation_a, "en_US", day),
        "s6": send(variation_a, "tr_TR", 0, state="queued"),
    }
    t = {name: public.token(send_id) for name, send_id in sends.items()}
    await _get(public, f"/o/{t['s1']}", PERSON, PERSON_IP)
    await _get(public, f"/o/{t['s1']}", PERSON, PERSON_IP)
    await _get(public, f"/c/{t['s1']}/1", PERSON, PERSON_IP)
    await _get(public, f"/o/{t['s2']}", GMAIL_PROXY, GMAIL_IP)
    await _get(public, f"/o/{t['s3']}", APPLE_PREFETCH, APPLE_IP)
    await _get(public, f"/c/{t['s3']}/0", PERSON, PERSON_IP)
    await _get(public, f"/o/{t['s4']}", APPLE_PREFETCH, APPLE_IP)
    await _get(public, f"/c/{t['s4']}/0", SCANNER, PERSON_IP)
    await _get(public, f"/o/{t['s5']}", YAHOO_PROXY, PERSON_IP)
    await _get(public, f"/o/{t['s5']}", PERSON, PERSON_IP)
    await _get(public, f"/c/{t['s5']}", PERSON, PERSON_IP)
    assert await public.record() == 11
    unsubscribed = await public.client.post(f"/u/{t['s2']}")
    assert unsubscribed.status_code == 200
    sent = {
        r["id"]: r["sent_at"]
        for r in world.rows(
            "SELECT id, sent_at FROM sends WHERE id = ANY(%s)", list(sends.values())
        )
    }
    return Audience(
        email_id, variation_a, variation_b, sends,
        sent[sends["s1"]].astimezone(UTC).date(), sent[sends["s3"]].astimezone(UTC).date(),
    )  # fmt: skip
