"""Machine-traffic rules: which opens and clicks were not made by a person.

Pure functions over (kind, IP, user agent, seconds since sent), so they are cheap to test and to
change. This is the one definition of "human": an open, view or click is human unless a rule
here flags it as machine. Flagged events are recorded all the same (``send_events.machine``) and
counted apart on ``sends`` (``machine_open_count``, ``machine_click_count``); every statistic
reads the human counts (see ``send_engagement`` in db/0090).

An open fetched by Gmail's or Yahoo's image proxy is a person opening the message: those
providers fetch images when the reader opens it, through their proxy, so the open is human and
only flagged ``proxy`` (statistics show "of which proxied"). Apple Mail Privacy Protection
fetches every image when the message arrives, opened or not, so its opens stay machine.
"""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass
from functools import lru_cache

# Opens fetched by a mail provider's image proxy on the reader's behalf, when they open the
# message (human, flagged with the proxy's name).
_PROXY_AGENTS = (
    ("googleimageproxy", "google_image_proxy"),
    ("ggpht.com", "google_image_proxy"),
    ("yahoomailproxy", "yahoo_image_proxy"),
)
# Apple Mail Privacy Protection prefetches every image through Apple's egress ranges with a bare
# "Mozilla/5.0" user agent.
_APPLE_MPP_AGENT = "mozilla/5.0"
_APPLE_NETWORKS = ("17.0.0.0/8",)

# Link scanners and automated fetchers, by user agent substring (lower case).
_SCANNER_AGENTS = (
    "bot", "crawler", "spider", "scanner", "preview", "curl/", "wget", "python-", "go-http-client",
    "java/", "libwww", "okhttp", "headlesschrome", "phantomjs", "barracuda", "mimecast",
    "proofpoint", "urldefense", "safelinks", "symantec", "messagelabs", "trendmicro", "fortiguard",
    "sophos", "zscaler", "forcepoint", "ironport", "virustotal", "bitdefender", "mcafee",
    "facebookexternalhit", "slackbot", "linkcheck",
)  # fmt: skip

# Published ranges of mail security gateways that follow links before delivery.
_SCANNER_NETWORKS = (
    ("40.94.0.0/16", "microsoft_safe_links"),
    ("40.107.0.0/16", "microsoft_safe_links"),
    ("52.100.0.0/14", "microsoft_safe_links"),
    ("104.47.0.0/17", "microsoft_safe_links"),
    ("66.249.64.0/19", "google_crawler"),
    ("205.139.110.0/24", "mimecast"),
    ("207.211.30.0/24", "mimecast"),
    ("148.163.128.0/19", "proofpoint"),
    ("67.231.144.0/20", "proofpoint"),
    ("64.235.144.0/20", "barracuda"),
)
_NETWORKS = tuple(
    (ipaddress.ip_network(net), reason)
    for net, reason in (*((n, "apple_mpp") for n in _APPLE_NETWORKS), *_SCANNER_NETWORKS)
)


@dataclass(frozen=True)
class Verdict:
    """Whether an event is machine traffic, and the rule that said so; for a human open fetched
    through a mail provider's image proxy, ``proxy`` names the proxy."""

    machine: bool
    reason: str | None = None
    proxy: str | None = None


HUMAN = Verdict(False)


@lru_cache(maxsize=65536)
def clean_ip(ip: str | None) -> str | None:
    """``ip`` when it is an IPv4 or IPv6 address, else None (what a proxy header or a test client
    passes is not always one, and one bad value must not fail a whole batch insert)."""
    if not ip:
        return None
    try:
        return str(ipaddress.ip_address(ip))
    except ValueError:
        return None


@lru_cache(maxsize=65536)
def network_reason(ip: str | None) -> str | None:
    """The name of the known range ``ip`` is in, if any (cached: the same proxies repeat)."""
    if not ip:
        return None
    try:
        address = ipaddress.ip_address(ip)
    except ValueError:
        return None
    for network, reason in _NETWORKS:
        if address.version == network.version and address in network:
            return reason
    return None


def classify(
    kind: str,
    ip: str | None,
    user_agent: str | None,
    seconds_since_sent: float | None,
    *,
    scanner_click_seconds: float = 10.0,
) -> Verdict:
    """Decide whether one event was made by a machine.

    Parameters:
      kind: ``open``, ``view`` or ``click``.
      ip: the client address, or None.
      user_agent: the User-Agent header, or None.
      seconds_since_sent: seconds between the send's ``sent_at`` and the event (None if unknown).
      scanner_click_seconds: a click sooner than this after sending is a scanner's.

    Returns:
      a Verdict; ``reason`` names the machine rule (``apple_mpp``, ``scanner_agent``,
      ``no_user_agent``, ``too_soon``, or a network's name); a human open through Gmail's or
      Yahoo's image proxy has ``proxy`` set (``google_image_proxy``, ``yahoo_image_proxy``).
    """
    agent = (user_agent or "").strip().lower()
    net = network_reason(ip)
    if kind == "open":
        # Before the network rules: Google's proxy fetches from 66.249.64.0/19, which is also
        # where Google's crawler comes from.
        for needle, proxy in _PROXY_AGENTS:
            if needle in agent:
                return Verdict(False, proxy=proxy)
        if agent == _APPLE_MPP_AGENT or net == "apple_mpp":
            return Verdict(True, "apple_mpp")
    if not agent:
        return Verdict(True, "no_user_agent")
    if any(needle in agent for needle in _SCANNER_AGENTS):
        return Verdict(True, "scanner_agent")
    if net is not None and net != "apple_mpp":
        return Verdict(True, net)
    if (
        kind == "click"
        and seconds_since_sent is not None
        and 0 <= seconds_since_sent < scanner_click_seconds
    ):
        return Verdict(True, "too_soon")
    return HUMAN
