"""Inbound mail: IMAP poller, pipe ingest, and the inbound.parse classifier.

Intake (no loss): ``poller.py`` (TART_IMAP_URLS) and ``python -m services.receiver ingest`` both
go through ``ingest.py``: store the raw bytes (dedup by sha256), publish ``inbound.parse`` with a
broker confirm, then let the source forget the message. For a Postfix pipe (master.cf)::

    tart unix - n n - - pipe flags=Rq user=tart
      argv=/srv/tart/.venv/bin/python -m services.receiver ingest
      --envelope-to ${original_recipient}

Exit 75 (EX_TEMPFAIL) makes Postfix keep and retry the message while PostgreSQL or RabbitMQ is
down. ``classify/`` is the pure classifier (no database); ``parse.py`` ties a classified
message to its send (``matching.py``) and applies the sender's policy (shared/responses).
"""
