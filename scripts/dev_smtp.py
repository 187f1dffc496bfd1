"""A local SMTP catcher for `make run`: accepts every message and keeps it in a Maildir.

Mail "sends" with no relay configured, and each message can be read in .run/mail/new/.
"""

from __future__ import annotations

import mailbox
import os
import signal
import sys
import threading
from pathlib import Path
from typing import Any

from aiosmtpd.controller import Controller


class MaildirHandler:
    def __init__(self, path: Path) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)  # Maildir creates only the last level
        self.box = mailbox.Maildir(path, create=True)
        self.count = 0

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        self.box.add(envelope.original_content)
        self.count += 1
        return "250 OK caught"


def main() -> None:
    port = int(os.environ.get("TART_DEV_SMTP_PORT", "1025"))
    path = Path(os.environ.get("TART_DEV_MAILDIR", ".run/mail"))
    handler = MaildirHandler(path)
    controller = Controller(handler, hostname="127.0.0.1", port=port)
    controller.start()
    print(f"dev SMTP catcher on 127.0.0.1:{port}, writing to {path}/new", file=sys.stderr)
    done = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: done.set())
    signal.signal(signal.SIGINT, lambda *_: done.set())
    done.wait()
    controller.stop()


if __name__ == "__main__":
    main()
