"""Why a delivery failed: one taxonomy for every path that reports a failure (the relay's SMTP
reply at send time, a DSN, a free-text bounce), so the same reply means the same thing.

Two separate facts come out of a failure:

- ``permanent``: the failure is final and nobody retries it (a 5xx reply, or a DSN with
  ``Action: failed``); a temporary one (4xx, ``Action: delayed``) is still being retried.
- ``hard_or_soft``: what the failure says about the address. **hard** means the address itself can
  never take mail: the user or the domain does not exist, the address has moved, or the domain
  accepts no mail (null MX, RFC 7505). **Every other failure is soft**, even with a permanent
  code: a full or disabled mailbox, a block, a spam or policy rejection, a content filter, a
  missing PTR record, an expired message, too many connections, an undetermined 5xx. A soft
  failure stops a subscriber only through the sender's "N in a window" rule.

The reason comes from the remote server's words first (MTAs put 5.0.0 or 5.7.1 on everything),
then from the enhanced status code (RFC 3463, and the IANA registry's later codes).
"""

from __future__ import annotations

import re
from dataclasses import dataclass

# What each reason means; hard reasons first.
REASONS: dict[str, str] = {
    "user_unknown": "the mailbox does not exist",
    "domain_unknown": "the domain does not exist or has no mail host",
    "moved": "the address has moved or changed owner",
    "no_mail_domain": "the domain accepts no mail (null MX)",
    "bad_address": "the address is malformed or ambiguous",
    "mailbox_full": "the mailbox is over its quota",
    "mailbox_disabled": "the mailbox is disabled, suspended or inactive",
    "too_large": "the message is larger than the server accepts",
    "spam": "the message was judged spam",
    "blocked": "the sending IP or domain is blocked (blocklist, reputation) or refused",
    "content": "a content filter refused the message (virus, attachment, content)",
    "policy": "a policy refused the message (SPF, DKIM, DMARC, the sender address)",
    "no_reverse_dns": "the sending IP has no PTR (reverse DNS) record",
    "rate_limited": "too many connections, messages or recipients; throttled",
    "relay_denied": "the server refused to relay",
    "expired": "the message expired in a queue after retrying",
    "loop": "a mail loop (too many hops)",
    "network": "the connection or DNS failed",
    "system_error": "the receiving system failed",
    "mailbox_error": "a mailbox problem of no stated kind",
    "protocol": "an SMTP protocol error",
    "unknown": "the cause could not be told",
}
HARD_REASONS = frozenset(
    {"user_unknown", "domain_unknown", "moved", "no_mail_domain", "bad_address"}
)


@dataclass(frozen=True)
class Verdict:
    """One failed recipient, explained."""

    reason: str
    permanent: bool  # final: nobody retries (5xx, Action: failed); else still being retried
    hard: bool  # the address itself is dead (a hard reason, and a final 5xx-class failure)

    @property
    def hard_or_soft(self) -> str:
        return "hard" if self.hard else "soft"


# Enhanced status code (subject.detail; the class is judged apart) -> reason. Codes that say
# little (x.0.0, x.1.0, x.5.x, x.7.0, x.7.1, ...) are in _VAGUE_CODES: any reason the text
# gives beats them.
_BY_CODE = {
    "1.0": "unknown", "1.1": "user_unknown", "1.2": "domain_unknown", "1.3": "bad_address",
    "1.4": "bad_address", "1.6": "moved", "1.7": "policy", "1.8": "policy",
    "1.10": "no_mail_domain",
    "2.0": "mailbox_error", "2.1": "mailbox_disabled", "2.2": "mailbox_full", "2.3": "too_large",
    "2.4": "mailbox_error",
    "3.0": "system_error", "3.1": "system_error", "3.2": "system_error", "3.3": "system_error",
    "3.4": "too_large", "3.5": "system_error",
    "4.0": "network", "4.1": "network", "4.2": "network", "4.3": "network",
    "4.4": "domain_unknown", "4.5": "rate_limited", "4.6": "loop", "4.7": "expired",
    "5.0": "protocol", "5.1": "protocol", "5.2": "protocol", "5.3": "rate_limited",
    "5.4": "protocol", "5.5": "protocol", "5.6": "protocol",
    "6.0": "content", "6.1": "content", "6.2": "content", "6.3": "content", "6.4": "content",
    "6.5": "content",
    "7.0": "policy", "7.1": "blocked", "7.2": "policy", "7.3": "policy", "7.4": "policy",
    "7.5": "policy", "7.6": "policy", "7.7": "content", "7.8": "policy", "7.9": "policy",
    "7.10": "policy", "7.11": "policy", "7.12": "policy", "7.13": "mailbox_disabled",
    "7.14": "policy", "7.15": "policy", "7.16": "mailbox_full", "7.17": "moved", "7.18": "moved",
    "7.19": "policy", "7.20": "policy", "7.21": "policy", "7.22": "policy", "7.23": "policy",
    "7.24": "policy", "7.25": "no_reverse_dns", "7.26": "policy", "7.27": "policy",
    "7.28": "rate_limited", "7.29": "policy", "7.30": "policy",
}  # fmt: skip
_VAGUE_CODES = frozenset(
    {"0.0", "1.0", "2.0", "3.0", "4.0", "5.0", "5.1", "5.2", "5.4", "5.5", "7.0", "7.1"}
)

# The remote server's words, as (reason, patterns), first match wins. Rules about the sender or
# the sending IP come first, because their texts also name a domain or an address ("Sender
# address rejected: Domain not found" says nothing about the recipient). Host names, addresses
# and URLs' hosts are removed before matching, so "mx.spamexperts.example" is not spam.
_SPECIFIC: list[tuple[str, tuple[str, ...]]] = [
    ("policy", (
        r"sender (address |domain )?(rejected|refused|denied|blocked|"
        r"not (allowed|permitted|valid|found|authori[sz]ed))",
        r"sender verif\w* failed", r"verification failed for", r"sender (address )?verif",
        r"domain of sender", r"sender domain", r"sender address",
        r"from:? (domain|address) .{0,20}invalid",
        r"mail from .{0,40}(rejected|not allowed|refused|invalid)", r"\bspf\b", r"\bdkim\b",
        r"\bdmarc\b", r"\bauthenticat", r"unauthenticated", r"\bsenderid\b", r"authrequired",
        r"not authori[sz]ed to send", r"impersonat", r"spoof",
    )),
    ("no_reverse_dns", (
        r"\bptr\b", r"reverse (dns|lookup|hostname|host name|name|mapping|resolution)",
        r"\brdns\b", r"cannot find your (reverse )?host ?name", r"(no|missing) host ?name",
        r"hostname .{0,30}(does not|doesn.t) resolve", r"(ip|address) .{0,20}not resolve",
        r"helo .{0,40}(rejected|invalid|not found)",
    )),
    ("rate_limited", (
        r"too many (connections|concurrent|sessions|smtp|messages|"
        r"mails|e-?mails|recipients|rcpt|invalid recipients|errors|"
        r"simultaneous)",
        r"rate ?limit", r"throttl", r"unusual rate", r"receiving mail (at|too) (a )?(rate|fast)",
        r"sending rate", r"(connection|message|recipient|sending) (rate|limit|count) exceed",
        r"exceeded .{0,30}(rate|message limit|connection limit)", r"too fast", r"mail flood",
        r"\bts[s]?0\d\b", r"temporarily deferred", r"deferred due to",
        r"(max|maximum) (number of )?(connections|messages|recipients)", r"concurrent connection",
        r"slow down", r"greylist", r"graylist", r"(server|system|host) (is )?(too )?busy",
        r"(sending|daily|hourly|outbound|send|submission) (quota|limit)",
    )),
    ("mailbox_full", (
        r"over ?quota", r"quota ?(exceeded|full|limit)", r"exceed\w* .{0,25}quota",
        r"mail ?box (is |has |would be |was |would )?(full|over|exceed)", r"full mail ?box",
        r"(mail ?box|disk|storage|space) .{0,20}(limit|allocation) (exceeded|reached)",
        r"exceeded storage", r"insufficient (disk )?(space|storage)",
        r"out of (disk )?(space|storage)", r"storage (allocation|quota|limit|space)",
        r"too much mail", r"(user|recipient|inbox|account) (is )?(full|over)", r"overquota",
        r"disk quota", r"mailbox size", r"size of the mailbox", r"\bquota\b",
        r"(mail|box|folder|inbox|account|user)\S{0,10}( is| are| was)? (full|over)\b",
        r"(not|insufficient) (have )?enough (disk |storage )?(space|storage|room)", r"pilna",
        r"pārpildīt", r"пере?полн", r"postfach (ist )?voll", r"speicherplatz",
        r"bo[iî]te .{0,20}pleine", r"casella .{0,20}piena", r"buz[oó]n .{0,10}lleno",
        r"caixa .{0,20}cheia",
    )),
    ("mailbox_disabled", (
        r"disabled", r"deactivated", r"inactive", r"suspended", r"not active",
        r"account (has been |is |was )?(closed|locked|expired|blocked|"
        r"frozen|terminated|deleted|cancel+ed)",
        r"(mail ?box|account|user) (is |has been )?(locked|frozen|"
        r"on hold|blocked|unavailable due)",
        r"blocked account", r"no longer (active|in use|accepts mail|accepting mail)",
        r"expired account", r"account expired", r"bloķēt",
        r"not been (collected|picked up|read|retrieved)",
    )),
    ("too_large", (
        r"too (large|big|long message)", r"message size", r"size (limit|exceed)",
        r"exceeds? .{0,25}(maximum|max|allowed|fixed|size) (message )?(size|length|limit)",
        r"message length exceeds", r"message is larger", r"mesgtoobig", r"size of (the )?message",
        r"exceeds .{0,20}size",
    )),
    ("blocked", (
        r"black ?list", r"block ?list", r"deny ?list", r"(?<!not )listed (at|in|on|by)",
        r"spamhaus", r"spamcop", r"barracuda", r"\brbl\b", r"dnsbl", r"\b[sxpc]bl\b",
        r"reputation", r"blocked using", r"\bbanned", r"\[bl\d+\]",
        r"(your|the|sending|client) (ip|network|host|server)\b.{0,50}(blocked|"
        r"listed|rejected|banned|refused|not (allowed|accepted|welcome))",
        r"(blocked|refused|rejected) .{0,30}\b(ip|network|host)\b",
        r"(connection|connections|traffic) .{0,30}(not (be )?accepted|rejected)",
        r"not accepting (mail|messages|connections) from", r"ip (address )?(is |has been )?block",
        r"ipblock", r"block list",
    )),
    ("spam", (
        r"\bspam(?!haus|cop)", r"junk", r"unsolicited", r"bulk (mail|e-?mail)",
        r"(seems|looks) (like|to be) .{0,20}(spam|junk|bulk)", r"\buce\b",
    )),
    ("content", (
        r"virus", r"malware", r"phish", r"infected", r"\btrojan",
        r"content (filter|rejected|restriction|policy|polic)",
        r"(rejected|refused|blocked) (due to|because( of)?|for) .{0,30}content",
        r"(message|mail) content",
        r"(attachment|file ?type|file name|extension)s? .{0,40}(not allowed|"
        r"rejected|blocked|prohibited|forbidden|refused|banned)",
        r"(prohibited|forbidden|dangerous|banned|blocked) (attachment|file|content)",
        r"objectionable", r"suspicious (content|link|url|attachment)",
        r"\burl\b.{0,30}(block|listed)",
    )),
    ("moved", (
        r"has moved", r"moved (to|permanently|away)", r"not local.{0,30}(please )?(try|forward)",
        r"user not local", r"(address|recipient) (has )?changed", r"new (e-?mail )?address is",
        r"no longer (with|at|employed|works|working)", r"hasmoved", r"owner (has )?changed",
        r"has been replaced by",
    )),
    ("no_mail_domain", (
        r"null ?mx",
        r"domain .{0,60}(does not|doesn.t|will not|won.t|do not) (accept|"
        r"receive) (any )?(e-?)?mail",
        r"accepts? no (e-?)?mail", r"nullmx", r"host(/domain)? does not accept (e-?)?mail",
    )),
    ("network", (
        r"not found, try again", r"temporary (failure in name resolution|dns|lookup)",
        r"(dns|name server|lookup) .{0,20}(timeout|timed out|servfail)",
    )),
    ("bad_address", (
        r"not unique", r"(several|multiple) matches", r"ambiguous", r"address syntax",
        r"syntax error in (the )?(recipient|address|mailbox)",
        r"malformed (recipient |e-?mail )?address",
    )),
    ("domain_unknown", (
        r"host (or domain name )?not found", r"unknown (host|domain)", r"no such (host|domain)",
        r"domain (name )?not found", r"unrout(e)?able", r"\bno mx\b", r"nxdomain",
        r"name or service not known", r"domain .{0,40}(does not|doesn.t) exist",
        r"bad destination system", r"host unknown", r"domain (is )?(not valid|invalid|unknown)",
        r"couldn.t find any host", r"non-?existent (host|domain)", r"nonexistentdomain",
        r"no (valid )?(mx|a|mail exchanger) (record|host)", r"mx (record )?lookup failed",
        r"mx records point to non-?existent", r"domain .{0,30}not (exist|resolv|found)",
        r"(recipient|destination) domain .{0,30}(invalid|unknown|not found)",
        r"domain must exist",
    )),
    ("user_unknown", (
        r"user ?unknown",
        r"unknown (user|recipient|local|mail ?box|address|alias|account|e-?mail|addressee)",
        r"no such (user|mail ?box|recipient|address|person|local|account|e-?mail|addressee)",
        r"(user|mail ?box|recipient|address|account|addressee|e-?mail|"
        r"person)\S*( \S+){0,2} (does not|doesn.t|did not|does no longer|"
        r"no longer|do not|don.t) exist",
        r"(user|mail ?box|recipient|address|account|addressee)( \S+)? (is |"
        r"was )?(not found|unavailable|invalid|unknown|not valid|not exist|"
        r"nonexistent|non-existent|not listed)",
        r"invalid (recipient|mail ?box|address|user|account|e-?mail|addressee|destination)",
        r"not a (valid|known) (user|mail ?box|recipient|address|account)", r"no mail ?box",
        r"not our customer", r"bad destination mail ?box", r"addressee unknown",
        r"unknown or illegal alias", r"no longer on (this )?server", r"(user|recipient) not found",
        r"recip\w*notfound", r"nosuchuser", r"(?<!host )(?<!domain )not exist",
        r"doesn.t have an? (\S+ )?account", r"(no|not an?) (valid )?account",
        r"recipient address rejected: access denied",
        r"(recipient|address) rejected: (user unknown|unknown|undeliverable|invalid|no such|"
        r"non-?existent|user does not|userunknown)",
        r"not listed in .{0,40}(directory|address book|recipient|domino|table)",
        r"unknown local[- ]part", r"undeliverable address",
        r"(recipient|user) .{0,20}(unknown|invalid)", r"no (valid )?recipients?\b",
        r"not a valid recipient", r"address (is )?no longer valid",
        r"not present in (the )?directory", r"(can.t|cannot) accept (this )?user",
        r"address(es)? (were|was|is) unknown", r"address could not be found",
        r"not an active address", r"mail ?box not present", r"not a local (address|user)",
        r"recipient ?not ?found", r"bad ?rcpt ?to", r"bad ?recipient ?to", r"valid ?rcpt ?to",
        r"(name|user) is not found", r"no one (at|with) this address", r"inconnu",
        r"unknown virtual user", r"in (the )?name directory",
        r"non-?existent (user|recipient|mailbox|address)", r"utente", r"no such",
        r"^\W*(\d{3}\W+)?(#?\d\.\d\.\d+\W+)?address rejected\W*$",
        r"(user|recipient|addressee|address|mailbox) not known", r"invalid (\S+ ){0,3}user ?id",
        r"address is (wrong|invalid|incorrect)", r"(wrong|incorrect) (e-?mail )?address",
        r"no matches? (to|for|found)", r"did not (exactly )?match (an|any) .{0,40}address",
        r"(no|not have an?) final (e-?mail )?delivery point", r"nepast[aā]v", r"neeksist",
        r"non esiste", r"existiert nicht", r"unbekannt", r"inexistant", r"n.existe pas",
        r"no existe", r"n[aã]o existe", r"onbekend", r"nie istnieje", r"не существует",
        r"неизвестн",
    )),
]  # fmt: skip
_SPECIFIC_AFTER_ADDRESS: list[tuple[str, tuple[str, ...]]] = [
    ("expired", (
        r"expired", r"retry time", r"retry timeout", r"too (long|old) in (the )?queue",
        r"in the queue too long", r"giving up", r"gave up",
        r"could not be delivered (for|within|after)", r"not (been )?delivered (for|within|after)",
        r"unable to deliver .{0,40}(days|hours)", r"delivery time", r"maximum time",
        r"lifetime exceeded", r"message timeout", r"for more than \d+ (days|hours)",
        r"failed \d+ attempts", r"after \d+ (attempts|tries)",
    )),
    ("loop", (
        r"\bloops?\b", r"looping", r"too many hops", r"hop count", r"maximum hop",
    )),
    ("relay_denied", (
        r"relay(ing)? (access )?(denied|not permitted|not allowed|prohibited|refused)",
        r"(not|isn.t) (permitted|allowed|authori[sz]ed) to relay", r"(do not|don.t) relay",
        r"unable to relay", r"no relay", r"relay not permitted",
    )),
    ("network", (
        r"connection (was |has been )?(refused|timed out|reset|closed|lost|dropped|failed)",
        r"lost connection", r"connection to .{0,40}failed", r"(did|does) not respond",
        r"timed? ?out", r"no route to host", r"network (is )?unreachable",
        r"(could|can)( ?not|n.t) connect", r"unable to connect", r"host (is )?(down|unreachable)",
        r"name server", r"dns (error|failure|timeout|lookup|problem)", r"lookup failure",
        r"read error", r"write error", r"broken pipe", r"\btls\b", r"handshake", r"starttls",
        r"temporar(y|ily) (failure|unavailable|error|problem)", r"unable to (establish|reach)",
        r"no answer", r"not reachable",
    )),
    ("system_error", (
        r"(internal|system|server|local|software) (error|failure|problem)",
        r"resources? (temporarily )?unavailable", r"insufficient (system )?resources",
        r"insufficient system", r"out of memory", r"not (currently )?accepting (mail|messages)",
        r"configuration error", r"misconfigur", r"command died", r"(child|exit) status",
    )),
]  # fmt: skip
# Words that explain nothing specific; they beat only a vague code or none.
_GENERIC: list[tuple[str, tuple[str, ...]]] = [
    ("policy", (
        r"polic(y|ies)", r"not (authori[sz]ed|permitted)", r"administrative(ly)? prohibit",
        r"prohibited", r"not allowed", r"forbidden", r"access denied", r"\bpermission",
    )),
    ("blocked", (
        r"\bblock", r"denied", r"refused", r"reject",
    )),
    ("user_unknown", (
        r"mailbox unavailable",
    )),
]  # fmt: skip


def _compile(rules: list[tuple[str, tuple[str, ...]]]) -> list[tuple[str, re.Pattern[str]]]:
    return [(name, re.compile("|".join(f"(?:{w})" for w in words), re.I)) for name, words in rules]


_SPECIFIC_RULES = _compile(_SPECIFIC) + _compile(_SPECIFIC_AFTER_ADDRESS)
_GENERIC_RULES = _compile(_GENERIC)

MAX_TEXT = 4000  # a diagnostic longer than this explains nothing more, and costs time
_STATUS = re.compile(r"(?<![\d.])([245])\.(\d{1,3})\.(\d{1,3})(?![\d.]*\d)")
_LEADING_REPLY = re.compile(r"^\W*([45])\d\d(?:[ -]|$)")
_REPLY = re.compile(r"(?<![\d.#])([45])\d\d(?:[ -]|$)")
_ADDRESS = re.compile(r"\S+@\S+")
# Host names as MTAs print them (lower case): "RESOLVER.ADR.RecipNotFound" and
# "STOREDRV.Deliver.Exception:QuotaExceededException" are Exchange's words, not hosts.
_HOST = re.compile(r"\b(?:[a-z0-9](?:[a-z0-9_-]{0,61}[a-z0-9])?\.)+[a-z]{2,24}\b\.?")
_IP = re.compile(r"\b\d{1,3}(?:\.\d{1,3}){3}\b|\b[0-9a-f]{0,4}(?::[0-9a-f]{0,4}){2,7}\b", re.I)


def find_status(text: str | None) -> str | None:
    """The first enhanced status code in a text, e.g. '5.1.1'."""
    match = _STATUS.search(text or "")
    return match.group(0) if match else None


def normalise_status(value: str | None) -> str | None:
    """'5.1.1 (user unknown)' -> '5.1.1'; '550' -> '5.0.0'; '5110' stays as found."""
    if not value:
        return None
    found = find_status(value)
    if found:
        return found
    digits = re.sub(r"\D", "", value)
    if len(digits) == 3 and digits[0] in "245":
        return f"{digits[0]}.0.0"  # a basic reply code says only the class
    return value.strip()[:32] or None


def reply_class(text: str | None) -> str | None:
    """'4' or '5' from an SMTP reply code in a text (the leading one first), else None."""
    text = text or ""
    match = _LEADING_REPLY.search(text) or _REPLY.search(text)
    return match.group(1) if match else None


def _words(text: str) -> str:
    """The diagnostic without host names, addresses and IPs (their words mislead)."""
    text = _ADDRESS.sub(" ", text)
    text = _IP.sub(" ", text)
    text = _HOST.sub(" ", text)
    return re.sub(r"\s+", " ", text)


def reason_from_text(text: str | None) -> tuple[str | None, bool]:
    """(reason, specific) from a server's words; specific is False for words like 'rejected'."""
    words = _words((text or "")[:MAX_TEXT])
    if not words.strip():
        return None, False
    for name, pattern in _SPECIFIC_RULES:
        if pattern.search(words):
            return name, True
    for name, pattern in _GENERIC_RULES:
        if pattern.search(words):
            return name, False
    return None, False


def _vague(code: str) -> bool:
    detail = code.split(".", 1)[1]
    return detail in _VAGUE_CODES or detail not in _BY_CODE


def explain(
    status: str | None,
    diagnostic: str | None,
    action: str | None = None,
    *,
    context: str | None = None,
) -> Verdict:
    """Explain one failed recipient.

    Parameters:
      status: the enhanced status code (5.1.1), a basic reply code, or None.
      diagnostic: the remote server's words (Diagnostic-Code, the SMTP reply, a free-text line).
      action: the DSN action (failed, delayed, ...) when there is one.
      context: further words (a report's human-readable text about this recipient), read only
        when the diagnostic and the code say nothing specific.

    Returns:
      the reason, whether the failure is final, and whether it is hard.
    """
    text = diagnostic or ""
    status = normalise_status(status) or find_status(text)
    code = status if status and _STATUS.fullmatch(status) else None
    quoted = find_status(text)
    if code and quoted and _vague(code) and not _vague(quoted) and quoted[0] == code[0]:
        code = quoted  # Status: 5.0.0, Diagnostic-Code: 550 5.1.1 ...: the remote server's code
    cls = code[0] if code else reply_class(text)
    act = (action or "").strip().lower()
    if act in ("delayed", "delay", "relayed", "expanded"):
        permanent = False
    elif act in ("failed", "failure"):
        permanent = True
    else:
        permanent = cls != "4"
    detail = code.split(".", 1)[1] if code else None
    by_code = _BY_CODE.get(detail) if detail else None
    if by_code == "domain_unknown" and detail == "4.4" and cls == "4":
        by_code = "network"  # 4.4.4: routing failed for now, not "no such domain"
    by_text, specific = reason_from_text(text)
    if detail == "4.7":
        by_text = None  # expired: the text is only the last of the errors that led to it
    vague = by_code is None or detail in _VAGUE_CODES
    if context and not specific and vague:
        found, found_specific = reason_from_text(context)
        if found_specific or not by_text:
            by_text, specific = found, found_specific
    reason = by_text if by_text and (specific or vague) else by_code or "unknown"
    hard = reason in HARD_REASONS and permanent and cls != "4"
    return Verdict(reason, permanent, hard)


def explain_reply(code: int | None, reply: str, *, final: bool = True) -> Verdict:
    """The same verdict for a reply the relay gave at send time (``550 5.1.1 user unknown``).

    ``final`` is False for a 4xx that will be retried; a 4xx after the last try is final, as an
    MTA's ``Action: failed`` DSN for an expired message is.
    """
    status = find_status(reply) or (f"{code // 100}.0.0" if code else None)
    return explain(status, reply, "failed" if final else "delayed")


def status_of_reply(code: int | None, reply: str) -> str | None:
    """The enhanced status code of a reply, or its class as x.0.0 (stored with the bounce)."""
    return find_status(reply) or (f"{code // 100}.0.0" if code else None)
