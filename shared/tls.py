"""The one TLS client context the services use to verify the servers they connect to
(IMAP mailboxes in the receiver, SMTP relays in the sender).

Verification is on unless ``TART_TLS_VERIFY=false`` (refused outside dev/test).
``TART_TLS_CA_FILE`` names a PEM bundle that replaces the system trust store, for relays and
mailboxes behind a private CA.
"""

from __future__ import annotations

import ssl
from functools import lru_cache
from pathlib import Path

from shared.config import Settings


def client_context(settings: Settings) -> ssl.SSLContext:
    """A client ``SSLContext`` that checks certificates and host names per the settings.

    Parameters:
        settings: reads ``tls_ca_file`` and ``tls_verify``.

    Returns:
        A shared context (one per distinct pair of settings); do not mutate it.

    Raises:
        ValueError: the CA file is missing or holds no usable certificate.
    """
    return _context(settings.tls_ca_file, settings.tls_verify)


@lru_cache(maxsize=8)
def _context(ca_file: str, verify: bool) -> ssl.SSLContext:
    # Cached: loading the system store costs milliseconds, and a relay pool reconnects often.
    if ca_file and not Path(ca_file).is_file():
        raise ValueError(f"TART_TLS_CA_FILE={ca_file}: no such file")
    try:
        context = ssl.create_default_context(cafile=ca_file or None)
    except ssl.SSLError as error:
        raise ValueError(f"TART_TLS_CA_FILE={ca_file}: not a PEM CA bundle ({error})") from None
    context.minimum_version = ssl.TLSVersion.TLSv1_2
    if not verify:
        context.check_hostname = False
        context.verify_mode = ssl.CERT_NONE
    return context
