"""An SMTP sink that the container test can count: every message it accepts is in a Maildir
(written before the 250 reply) on a directory the test reads from the host.

maildev, the compose file's mail catcher, is no use for counting: version 2.2.1 dies on an
uncaught EPIPE when a client's connection ends in the middle of a message, which is what a
SIGKILLed sender does, and it starts again empty."""

import mailbox
import os
import signal
import threading

from aiosmtpd.controller import Controller


class MaildirHandler:
    def __init__(self, path):
        for sub in ("tmp", "new", "cur"):  # the directory itself is a bind mount: it exists
            os.makedirs(os.path.join(path, sub), exist_ok=True)
        self.box = mailbox.Maildir(path, create=False)

    async def handle_DATA(self, server, session, envelope):
        self.box.add(envelope.original_content)
        return "250 OK caught"


def main():
    path = os.environ.get("CATCHER_MAILDIR", "/var/mail/caught")
    controller = Controller(MaildirHandler(path), hostname="0.0.0.0", port=1025)
    controller.start()
    print(f"catcher on :1025, writing to {path}/new", flush=True)
    done = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: done.set())
    done.wait()
    controller.stop()


if __name__ == "__main__":
    main()
