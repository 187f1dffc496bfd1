"""What the public routes share in one process: settings, the token codec, the event buffer
and the click-target cache (the last two are created in the lifespan)."""

from __future__ import annotations

from dataclasses import dataclass

from services.public.buffer import EventBuffer
from services.public.links import LinkCache
from shared.config import Settings
from shared.tokens import TokenCodec, codec_from_settings_secrets


@dataclass
class PublicState:
    settings: Settings
    codec: TokenCodec
    buffer: EventBuffer | None = None
    links: LinkCache | None = None

    @classmethod
    def from_settings(cls, settings: Settings) -> PublicState:
        secrets = [s.get_secret_value() for s in settings.token_secrets]
        return cls(settings=settings, codec=codec_from_settings_secrets(secrets))

    def require(self) -> tuple[EventBuffer, LinkCache]:
        if self.buffer is None or self.links is None:
            raise RuntimeError("the public service's lifespan has not started")
        return self.buffer, self.links
