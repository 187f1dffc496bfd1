"""The one bounce taxonomy (shared/responses/reasons.py), on replies as the big providers and the
common MTAs word them.

hard = the address itself is permanently undeliverable (no such user or domain, moved, null MX,
malformed). Everything else is soft, even with a 5xx. ``permanent`` (final, nobody retries) is a
separate fact. The texts are written after what these servers send; host names, IPs and
addresses are made up.
"""

from __future__ import annotations

import pytest

from shared.responses.reasons import HARD_REASONS, REASONS, explain, explain_reply

GMAIL_NO_USER = (
    "550-5.1.1 The email account that you tried to reach does not exist. Please try 550-5.1.1 "
    "double-checking the recipient's email address for typos or 550-5.1.1 unnecessary spaces. "
    "Learn more at 550 5.1.1  https://support.google.com/mail/?p=NoSuchUser a1si12qkc.7 - gsmtp"
)

# (label, status, diagnostic, action, reason, hard_or_soft, permanent)
HARD = [
    ("gmail 5.1.1", "5.1.1", GMAIL_NO_USER, "failed", "user_unknown"),
    ("outlook.com mailbox unavailable", "5.5.0",
     "550 5.5.0 Requested action not taken: mailbox unavailable (S2017062302). "
     "[DB5EUR03FT012.eop-EUR03.prod.protection.outlook.com]", "failed", "user_unknown"),
    ("microsoft 365 5.1.10 recipient not found", "5.1.10",
     "550 5.1.10 RESOLVER.ADR.RecipientNotFound; Recipient not found by SMTP address lookup",
     "failed", "user_unknown"),
    ("exchange RecipNotFound", "5.1.1", "#550 5.1.1 RESOLVER.ADR.RecipNotFound; not found ##",
     "failed", "user_unknown"),
    ("microsoft 365 5.4.1 directory-based edge blocking", "5.4.1",
     "550 5.4.1 Recipient address rejected: Access denied. AS(201806281) "
     "[BN8NAM12FT010.eop-nam12.prod.protection.outlook.com]", "failed", "user_unknown"),
    ("yahoo no account", None,
     "554 delivery error: dd This user doesn't have a yahoo.com account (ann@yahoo.com) [0] - "
     "mta1234.mail.bf1.yahoo.com", "failed", "user_unknown"),
    ("yahoo mailbox not found", None, "552 1 Requested mail action aborted, mailbox not found",
     None, "user_unknown"),
    ("postfix local table", "5.1.1",
     "550 5.1.1 <bob@example.org>: Recipient address rejected: User unknown in local recipient "
     "table", "failed", "user_unknown"),
    ("postfix virtual table via qmail", None,
     "64.136.25.171 does not like recipient. Remote host said: 550 <bob@example.org>: Recipient "
     "address rejected: User unknown in virtual mailbox table", "failed", "user_unknown"),
    ("exim cpanel", "5.0.0", "550 No Such User Here", "failed", "user_unknown"),
    ("exim no such person", None, "550 No such person at this address", "failed", "user_unknown"),
    ("exim unrouteable", "5.0.0", "Unrouteable address", "failed", "domain_unknown"),
    ("qmail no mailbox", None, "Sorry, no mailbox here by that name. (#5.1.1)", "failed",
     "user_unknown"),
    ("qmail no host", None,
     "Sorry, I couldn't find any host named nosuchdomain.example. (#5.1.2)", "failed",
     "domain_unknown"),
    ("sendmail user unknown", "5.1.1", "550 5.1.1 <bob@example.org>... User unknown", "failed",
     "user_unknown"),
    ("sendmail addressee unknown", "5.3.0", "553 5.3.0 <bob@example.org>... Addressee unknown",
     "failed", "user_unknown"),
    ("sendmail host unknown", "5.1.2",
     "Host unknown (Name server: nosuchdomain.example: host not found)", "failed",
     "domain_unknown"),
    ("postfix domain not found", "5.4.4",
     "Host or domain name not found. Name service error for name=nosuchdomain.example type=A: "
     "Host not found", "failed", "domain_unknown"),
    ("exchange nonexistent domain", "5.4.4",
     "#554 5.4.4 SMTPSEND.DNS.NonExistentDomain; nonexistent domain ##", "failed",
     "domain_unknown"),
    ("exchange 5.4.310", "5.4.310",
     "550 5.4.310 DNS domain nosuchdomain.example does not exist "
     "[Message=InfoDomainNonexistent]", "failed", "domain_unknown"),
    ("postfix null MX", "5.1.10", "Domain example.net does not accept mail (nullMX)", "failed",
     "no_mail_domain"),
    ("null MX 556", "5.1.10", "556 5.1.10 Recipient address has null MX", "failed",
     "no_mail_domain"),
    ("moved 5.1.6", "5.1.6", "551 5.1.6 User has moved; please try <ann@new.example>", "failed",
     "moved"),
    ("moved 551 not local", None, "551 User not local; please try <ann@other.example>",
     "failed", "moved"),
    ("bad syntax 5.1.3", "5.1.3", "553 5.1.3 Bad recipient address syntax", "failed",
     "bad_address"),
    ("aol 5.1.1", "5.1.1", "550 5.1.1 <bad@aol.com>: Recipient address rejected: aol.com",
     "failed", "user_unknown"),
    ("icloud", "5.1.1", "550 5.1.1 <ann@icloud.com>: user does not exist", "failed",
     "user_unknown"),
    ("mimecast invalid recipient", None,
     "550 Invalid Recipient - https://community.mimecast.com/docs/DOC-1369#550 [abc.us1]",
     "failed", "user_unknown"),
    ("zoho", None, "550 5.1.1 User does not exist - <ann@zoho.example>", "failed",
     "user_unknown"),
    ("german", "5.1.1", "550 5.1.1 Die E-Mail-Adresse existiert nicht", "failed",
     "user_unknown"),
    ("french", None, "550 Adresse inexistante", "failed", "user_unknown"),
    ("spanish", None, "550 El usuario no existe", "failed", "user_unknown"),
    ("domino", "5.1.1",
     "User ann (ann@example.org) not listed in public Name & Address Book", "failed",
     "user_unknown"),
    ("5.7.1 used for unknown users", "5.7.1", "550 5.7.1 Recipient address rejected: Nonexistent "
     "user", "failed", "user_unknown"),
    ("gmail relays 'address unknown'", None,
     "Google tried to deliver your message, but it was rejected by the recipient domain. The "
     "error that the other server returned was: 550 550 Address unknown (state 14).", "failed",
     "user_unknown"),
    ("a silent status, the remote server's code", "5.0.0", "550 5.1.1 <ann@example.org>",
     "failed", "user_unknown"),
    ("address rejected, and nothing else", None, "550 #5.1.0 Address rejected.", "failed",
     "user_unknown"),
    ("host names are not read as words", "5.1.1",
     "host spam-filter.example.net[192.0.2.7] said: 550 5.1.1 <ann@example.org>: Recipient "
     "address rejected: User unknown", "failed", "user_unknown"),
]  # fmt: skip

SOFT = [
    ("gmail over quota", "5.2.2",
     "552-5.2.2 The email account that you tried to reach is over quota and inactive. Please "
     "direct 552-5.2.2 the recipient to 552 5.2.2 https://support.google.com/mail/?p=OverQuotaPerm",
     "failed", "mailbox_full"),
    ("gmail disabled", "5.2.1",
     "550-5.2.1 The email account that you tried to reach is disabled. Learn more at 550 5.2.1 "
     "https://support.google.com/mail/?p=DisabledUser", "failed", "mailbox_disabled"),
    ("gmail spam", "5.7.1",
     "550-5.7.1 [203.0.113.5] Our system has detected that this message is likely unsolicited "
     "mail. To reduce the amount of spam sent to Gmail, this message has been blocked.",
     "failed", "spam"),
    ("gmail DMARC 5.7.26", "5.7.26",
     "550-5.7.26 This mail is unauthenticated, which poses a security risk to the sender and "
     "Gmail users, and has been blocked. The sender must authenticate with at least one of SPF "
     "or DKIM.", "failed", "policy"),
    ("gmail PTR 5.7.25", "5.7.25",
     "550-5.7.25 [203.0.113.5] The IP address sending this message does not have a PTR record "
     "setup, or the corresponding forward DNS entry does not point to the sending IP.",
     "failed", "no_reverse_dns"),
    ("gmail receiving too fast 4.2.1", "4.2.1",
     "450-4.2.1 The user you are trying to contact is receiving mail at a rate that prevents "
     "additional messages from being delivered.", "delayed", "rate_limited"),
    ("gmail unusual rate 4.7.28", "4.7.28",
     "421-4.7.28 [203.0.113.5] Our system has detected an unusual rate of unsolicited mail "
     "originating from your IP address.", "delayed", "rate_limited"),
    ("gmail too large", "5.3.4", "552-5.3.4 Your message exceeded Google's message size limits.",
     "failed", "too_large"),
    ("gmail blocked content", "5.7.0",
     "552-5.7.0 This message was blocked because its content presents a potential security "
     "issue. Please visit https://support.google.com/mail/?p=BlockedMessage", "failed",
     "content"),
    ("gmail over quota, temporary", "4.2.2",
     "452-4.2.2 The email account that you tried to reach is over quota.", "delayed",
     "mailbox_full"),
    ("outlook block list", "5.7.1",
     "550 5.7.1 Unfortunately, messages from [203.0.113.5] weren't sent. Please contact your "
     "Internet service provider since part of their network is on our block list (S3150).",
     "failed", "blocked"),
    ("microsoft banned IP", "5.7.606", "550 5.7.606 Access denied, banned sending IP "
     "[203.0.113.5].", "failed", "blocked"),
    ("microsoft server busy", "4.7.500",
     "421 4.7.500 Server busy. Please try again later from [203.0.113.5]. (S77719)", "delayed",
     "rate_limited"),
    ("exchange mailbox full", "5.2.2",
     "554 5.2.2 mailbox full; STOREDRV.Deliver.Exception:QuotaExceededException."
     "MapiExceptionShutoffQuotaExceeded", "failed", "mailbox_full"),
    ("exchange quota, its exception only", "5.2.0",
     "554 5.2.0 STOREDRV.Deliver.Exception:QuotaExceededException."
     "MapiExceptionShutoffQuotaExceeded", "failed", "mailbox_full"),
    ("microsoft DMARC reject", "5.7.509",
     "550 5.7.509 Access denied, sending domain example.com does not pass DMARC verification "
     "and has a DMARC policy of reject.", "failed", "policy"),
    ("microsoft authentication required", "5.7.133",
     "550 5.7.133 RESOLVER.RST.SenderNotAuthenticatedForGroup; authentication required",
     "failed", "policy"),
    ("yahoo spamhaus", "5.7.1",
     "553 5.7.1 [BL21] Connections will not be accepted from 203.0.113.5, because the ip is in "
     "Spamhaus's list; see http://postmaster.yahoo.com/550-bl23.html", "failed", "blocked"),
    ("yahoo deferral", "4.7.0",
     "421 4.7.0 [TSS04] Messages from 203.0.113.5 temporarily deferred due to unexpected volume "
     "or user complaints - 4.16.55.1; see https://postmaster.yahooinc.com/error-codes",
     "delayed", "rate_limited"),
    ("yahoo disabled", None,
     "554 delivery error: dd Sorry your message to ann@yahoo.com cannot be delivered. This "
     "mailbox is disabled (554.30). - mta1234.mail.gq1.yahoo.com", "failed",
     "mailbox_disabled"),
    ("yahoo full", None, "552 1 Requested mail action aborted, mailbox full", "failed",
     "mailbox_full"),
    ("postfix relay denied", "5.7.1", "554 5.7.1 <ann@example.org>: Relay access denied",
     "failed", "relay_denied"),
    ("postfix spamhaus", "5.7.1",
     "554 5.7.1 Service unavailable; Client host [203.0.113.5] blocked using zen.spamhaus.org; "
     "https://www.spamhaus.org/query/ip/203.0.113.5", "failed", "blocked"),
    ("postfix reverse hostname", "4.7.1",
     "450 4.7.1 Client host rejected: cannot find your reverse hostname, [203.0.113.5]",
     "delayed", "no_reverse_dns"),
    ("postfix expired 4.4.7", "4.4.7",
     "delivery temporarily suspended: connect to mx.example.org[192.0.2.1]:25: Connection "
     "timed out", "failed", "expired"),
    ("expired 5.4.7", "5.4.7", "550 5.4.7 Delivery expired (message too old)", "failed",
     "expired"),
    ("postfix connection refused, given up", "4.4.1",
     "connect to mx.example.org[192.0.2.1]:25: Connection refused", "failed", "network"),
    ("postfix greeting timeout, delayed", "4.4.2",
     "conversation with mx.example.org[192.0.2.1] timed out while receiving the initial server "
     "greeting", "delayed", "network"),
    ("postfix DNS try again", None,
     "Name service error for domain digicool.example: Host not found, try again", "failed",
     "network"),
    ("postfix sender domain not found", "4.1.8",
     "450 4.1.8 <bounces@news.example.com>: Sender address rejected: Domain not found",
     "delayed", "policy"),
    ("postfix greylisting", "4.2.0",
     "450 4.2.0 <ann@example.org>: Recipient address rejected: Greylisted, see "
     "http://postgrey.schweikert.ch/help/example.org.html", "delayed", "rate_limited"),
    ("exim retry timeout", "5.0.0", "retry timeout exceeded", "failed", "expired"),
    ("exim quota", "5.2.2",
     "550 5.2.2 mailbox is full (MTA-imposed quota exceeded while writing to file "
     "/var/mail/ann)", "failed", "mailbox_full"),
    ("exim sender verify", "5.0.0",
     "550-Verification failed for <bounces+abc@news.example.com> 550-Unrouteable address 550 "
     "Sender verify failed", "failed", "policy"),
    ("exim message size", None, "552 Message size exceeds maximum permitted", "failed",
     "too_large"),
    ("qmail quota", None, "The users mailfolder is over the allowed quota (size). (#5.2.2)",
     "failed", "mailbox_full"),
    ("qmail queue too long", None,
     "I'm not going to try again; this message has been in the queue too long.", "failed",
     "expired"),
    ("qmail no longer accepts mail", None, "This address no longer accepts mail. (#5.2.1)",
     "failed", "mailbox_disabled"),
    ("sendmail deferred", "4.4.1", "Deferred: Connection refused by mx.example.org.", "delayed",
     "network"),
    ("sendmail loop", "5.4.6",
     "554 5.4.6 Too many hops 26 (25 max): from <a@example.com> via localhost, to <b@example.org>",
     "failed", "loop"),
    ("content restrictions", "5.7.1", "554 5.7.1 Message rejected due to content restrictions",
     "failed", "content"),
    ("virus", "5.7.0", "550 5.7.0 Message rejected: virus found (Eicar-Test-Signature)",
     "failed", "content"),
    ("attachment", None, "552 5.7.0 Attachment with file type .exe is not allowed", "failed",
     "content"),
    ("bare 550", None, "550 Requested action not taken", "failed", "unknown"),
    ("bare 554", None, "554 Transaction failed", "failed", "unknown"),
    ("too many connections 421", "4.7.0",
     "421 4.7.0 Too many concurrent SMTP connections from this IP address; please try again "
     "later.", "delayed", "rate_limited"),
    ("too many connections, no code", None, "421 Too many connections from your IP", None,
     "rate_limited"),
    ("recipient address rejected for a policy", "5.7.1",
     "554 5.7.1 <ann@example.org>: Recipient address rejected: Policy Rejection- Abuse",
     "failed", "policy"),
    ("too many recipients", "4.5.3", "452 4.5.3 Too many recipients", "delayed",
     "rate_limited"),
    ("spoofing policy", None, "550 Rejected by header based Anti-Spoofing policy", "failed",
     "policy"),
    ("barracuda", None,
     "554 Service unavailable; Client host [203.0.113.5] blocked using Barracuda Reputation",
     "failed", "blocked"),
    ("comcast DNSBL", None,
     "554 resimta-ch2-18v.sys.comcast.net 203.0.113.5 found on one or more DNSBLs, see "
     "http://postmaster.comcast.net/smtp-error-codes.php#BL000001", "failed", "blocked"),
    ("at&t RBL", "5.3.0",
     "553 5.3.0 flph829 DNSBL:RBL 521< 203.0.113.5 >_is_blocked.For assistance forward this "
     "error to abuse_rbl@abuse-att.net", "failed", "blocked"),
    ("icloud local policy", "5.7.1", "550 5.7.1 [CS01] Message rejected due to local policy",
     "failed", "policy"),
    ("exchange expired", "5.4.300", "#550 5.4.300 Message expired ##", "failed", "expired"),
    ("german full", None, "552 5.2.2 Postfach voll", "failed", "mailbox_full"),
    ("french full", None, "552 5.2.2 La boîte aux lettres est pleine", "failed", "mailbox_full"),
    ("temporary user unknown stays soft", "4.1.1",
     "450 4.1.1 <ann@example.org>: Recipient address rejected: unverified address: User "
     "unknown", "delayed", "user_unknown"),
]  # fmt: skip


@pytest.mark.parametrize(
    ("status", "diagnostic", "action", "reason"),
    [c[1:] for c in HARD],
    ids=[c[0] for c in HARD],
)
def test_hard(status: str | None, diagnostic: str, action: str | None, reason: str) -> None:
    verdict = explain(status, diagnostic, action)
    assert (verdict.reason, verdict.hard_or_soft, verdict.permanent) == (reason, "hard", True)


@pytest.mark.parametrize(
    ("label", "status", "diagnostic", "action", "reason"), SOFT, ids=[c[0] for c in SOFT]
)
def test_soft(
    label: str, status: str | None, diagnostic: str, action: str | None, reason: str
) -> None:
    verdict = explain(status, diagnostic, action)
    assert (verdict.reason, verdict.hard_or_soft) == (reason, "soft")
    temporary = action == "delayed" or (action is None and diagnostic.startswith("4"))
    assert verdict.permanent is not temporary


def test_permanent_and_hard_are_separate_facts() -> None:
    full = explain("5.2.2", "552 5.2.2 mailbox full", "failed")
    assert full.permanent and not full.hard  # final, yet the address may work later
    delayed = explain("5.1.1", "550 5.1.1 user unknown", "delayed")
    assert not delayed.permanent and not delayed.hard  # still being retried: no verdict yet
    expired = explain("4.4.7", "delivery time expired", "failed")
    assert expired.permanent and not expired.hard


def test_the_report_text_explains_a_silent_status() -> None:
    """Status: 5.0.0 and no Diagnostic-Code: the human-readable part says why."""
    verdict = explain("5.0.0", None, "failed", context="evor@apollo.example unknown user account")
    assert (verdict.reason, verdict.hard) == ("user_unknown", True)
    specific = explain("5.2.2", "552 5.2.2 over quota", "failed", context="no such user")
    assert specific.reason == "mailbox_full"  # the diagnostic's own words come first


@pytest.mark.parametrize(
    ("code", "reply", "final", "reason", "hard_or_soft", "permanent"),
    [
        (550, "550 5.1.1 <ann@example.org>: Recipient address rejected: User unknown", True,
         "user_unknown", "hard", True),
        (552, "552 5.2.2 mailbox full", True, "mailbox_full", "soft", True),
        (554, "554 5.7.1 spam", True, "spam", "soft", True),
        (550, "550 Requested action not taken", True, "unknown", "soft", True),
        (421, "421 4.7.0 Too many connections", False, "rate_limited", "soft", False),
        (451, "451 4.3.0 Temporary local problem", True, "system_error", "soft", True),
    ],
)  # fmt: skip
def test_smtp_replies_at_send_time(
    code: int, reply: str, final: bool, reason: str, hard_or_soft: str, permanent: bool
) -> None:
    verdict = explain_reply(code, reply, final=final)
    assert (verdict.reason, verdict.hard_or_soft, verdict.permanent) == (
        reason,
        hard_or_soft,
        permanent,
    )


def test_every_reason_is_described_and_hard_ones_are_few() -> None:
    assert set(REASONS) > HARD_REASONS
    assert {"user_unknown", "domain_unknown", "moved", "no_mail_domain",
                            "bad_address"} == HARD_REASONS  # fmt: skip
