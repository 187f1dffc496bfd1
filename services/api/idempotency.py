"""``Idempotency-Key`` for POSTs that create or send.

The key is claimed in the request's transaction and the answer is stored in it too, so either
both the work and the answer commit or neither does. A retry with the same key and body gets
the stored answer; the same key with another body is a 422.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from typing import Annotated, Any

from fastapi import Depends, Header, Request
from fastapi.encoders import jsonable_encoder
from fastapi.responses import JSONResponse

from services.api.deps import Ctx
from shared.errors import Conflict, Unprocessable
from shared.idempotency import repository

IDEMPOTENCY_HEADER = "Idempotency-Key"
REPLAYED_HEADER = "Idempotent-Replayed"


@dataclass
class Idempotency:
    """The request's key (None when the client sent none) and its stored answer, if any."""

    ctx: Any
    key: str | None
    replay: JSONResponse | None = None

    async def respond(self, status_code: int, body: Any) -> JSONResponse:
        """Build the response, storing it under the key in the request's transaction."""
        content = jsonable_encoder(body)
        if self.key is not None:
            await repository.store(
                self.ctx.conn, self.ctx.sender_id, self.key, status_code, content
            )
        return JSONResponse(content, status_code=status_code)


async def idempotency(
    request: Request,
    ctx: Ctx,
    key: Annotated[
        str | None,
        Header(
            alias=IDEMPOTENCY_HEADER,
            min_length=1,
            max_length=255,
            pattern=r"^[\x21-\x7e]+$",
            description="Any unique string; a retry with the same key queues nothing new.",
        ),
    ] = None,
) -> Idempotency:
    if key is None:
        return Idempotency(ctx, None)
    body = await request.body()
    request_hash = hashlib.sha256(
        request.method.encode() + b" " + request.url.path.encode() + b"\n" + body
    ).digest()
    if await repository.claim(ctx.conn, ctx.sender_id, key, request_hash):
        return Idempotency(ctx, key)
    stored = await repository.get(ctx.conn, ctx.sender_id, key)
    if stored is None or stored["status_code"] is None:
        raise Conflict("a request with this Idempotency-Key is still in progress")
    if bytes(stored["request_hash"]) != request_hash:
        raise Unprocessable("this Idempotency-Key was used with another request")
    replay = JSONResponse(
        stored["response"], status_code=stored["status_code"], headers={REPLAYED_HEADER: "true"}
    )
    return Idempotency(ctx, None, replay)


Idem = Annotated[Idempotency, Depends(idempotency)]
