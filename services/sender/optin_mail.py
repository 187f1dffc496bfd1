"""optin.confirmation: the double opt-in confirmation mail of one open confirmation.

Not a send row (a pending subscriber is in no audience, and the mail is about consent, not
engagement): composed here with the sender's From, Reply-To and DKIM keys, without tracking,
List-Unsubscribe or Precedence: bulk, and handed to the relays like a test send. Idempotent: a
redelivered message whose confirmation was mailed after it was asked for sends nothing.
"""

from __future__ import annotations

import uuid

from psycopg_pool import AsyncConnectionPool

from services.sender.dkim import body_hash, canonical_header, signed_picks
from services.sender.message import FEEDBACK_SENDER_ID, rfc5322_date, signers_for
from services.sender.mime import Layout
from services.sender.smtp import Relays
from shared.config import Settings
from shared.logging import get_logger
from shared.optin import mail
from shared.optin import repository as optin
from shared.sends import repository as sends

log = get_logger(__name__)


class MailDeferred(Exception):
    """The relay did not take the mail for now: dramatiq retries the message."""


async def send_confirmation(
    pool: AsyncConnectionPool, confirmation_id: int, *, settings: Settings, relays: Relays
) -> str:
    """Mail the confirmation link; returns what happened (``sent``, ``skipped``, ``refused``).

    Raises:
      MailDeferred: a temporary relay failure (retried).
    """
    async with pool.connection() as conn:
        row = await optin.confirmation_for_mail(conn, confirmation_id)
        ctx = await sends.sender_context(conn, row["sender_id"]) if row else None
        language = mail.language_of(row["locale"]) if row else "en"
        custom = await optin.get_template(conn, row["sender_id"], language) if row else None
        await conn.rollback()
    if row is None or ctx is None or row["state"] not in ("pending", "unsubscribed"):
        return "skipped"  # confirmed, purged or stopped since it was asked for
    if row["mailed_at"] is not None and row["mailed_at"] >= row["requested_at"]:
        return "skipped"  # a redelivered message: this request was mailed already
    token = mail.confirm_token(settings, confirmation_id, row["subscriber_id"])
    rendered = mail.render_confirmation(
        mail.template_for(custom, language),
        sender_id=row["sender_id"],
        address=row["address"],
        locale=row["locale"],
        sender_name=row["sender_name"],
        url=mail.confirm_url(ctx["public_base_url"], token),
    )
    domain = ctx["return_path_domain"]
    layout = Layout(
        from_name=ctx["from_name"],
        from_address=ctx["from_address"],
        reply_to=ctx["reply_to"],
        feedback_id=f"optin:{row['sender_id']}:{FEEDBACK_SENDER_ID}",
        bulk=False,
        one_click=False,
    )
    built = layout.build(
        to=row["address"],
        subject=rendered.subject,
        date=rfc5322_date(),
        message_id=f"optin-{confirmation_id}-{uuid.uuid4().hex}@{domain}",
        token=f"optin-{confirmation_id}",
        unsubscribe_url=None,
        unsubscribe_mailto=None,
        plain=rendered.plain,
        html=rendered.html,
    )
    signatures = []
    signers = signers_for(ctx)
    if signers:
        h, picks = signed_picks([name for name, _ in built.headers])
        canonical = "".join(canonical_header(*built.headers[i]) for i in picks if i >= 0)
        bh = body_hash(built.body)
        signatures = [s.sign_canonical(canonical, h, bh) for s in signers]
    result = await relays.send(
        ctx["relay"], f"bounces@{domain}", row["address"], built.to_bytes(signatures)
    )
    if result.kind == "temporary":
        raise MailDeferred(result.reply)
    # sent, or refused for good (the person can submit the form again): handled either way
    async with pool.connection() as conn:
        await optin.mark_mailed(conn, confirmation_id)
        await conn.commit()
    if result.kind != "sent":
        log.warning(
            "confirmation mail refused", confirmation_id=confirmation_id, reply=result.reply
        )
        return "refused"
    log.info("confirmation mailed", confirmation_id=confirmation_id)
    return "sent"
