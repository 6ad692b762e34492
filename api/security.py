"""API keys for mutating endpoints, and the request-body size limit.

`require_api_key` is a dependency: with no keys configured it lets everything through; with
keys, the request must carry ``Authorization: Bearer <key>``, compared in constant time against
every configured key. `BodySizeLimit` is a small ASGI middleware answering 413 for bodies over
the limit, whether announced by Content-Length or streamed in chunks.
"""

from __future__ import annotations

import hmac
import json
from typing import Annotated

from fastapi import Depends, HTTPException, Request, status
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from starlette.types import ASGIApp, Message, Receive, Scope, Send

bearer = HTTPBearer(auto_error=False, description="One of the keys in HPADVISOR_API_KEYS.")


def _unauthorized(message: str) -> HTTPException:
    detail = [{"loc": ["header", "authorization"], "msg": message, "type": "unauthorized"}]
    return HTTPException(status.HTTP_401_UNAUTHORIZED, detail,
                         headers={"WWW-Authenticate": "Bearer"})


def key_matches(given: str, keys: tuple[str, ...]) -> bool:
    """Constant-time comparison against every key (no early exit on a match)."""
    matched = False
    for key in keys:
        matched |= hmac.compare_digest(given.encode(), key.encode())
    return matched


def require_api_key(
    request: Request,
    credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(bearer)],
) -> None:
    keys: tuple[str, ...] = request.app.state.settings.api_keys
    if not keys:
        return
    if credentials is None or credentials.scheme.lower() != "bearer":
        raise _unauthorized("this endpoint needs an API key: Authorization: Bearer <key>")
    if not key_matches(credentials.credentials, keys):
        raise _unauthorized("the API key is not valid")


class _TooLarge(Exception):
    pass


class BodySizeLimit:
    """Refuse request bodies over `max_bytes` with 413 before the app reads them."""

    def __init__(self, app: ASGIApp, max_bytes: int) -> None:
        self.app = app
        self.max_bytes = max_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        length = dict(scope["headers"]).get(b"content-length")
        if length is not None:
            if not length.isdigit() or int(length) > self.max_bytes:
                await self._refuse(send)
                return
            await self.app(scope, receive, send)
            return
        try:
            messages = await self._buffer(receive)
        except _TooLarge:
            await self._refuse(send)
            return
        await self.app(scope, self._replay(messages, receive), send)

    async def _buffer(self, receive: Receive) -> list[Message]:
        """Read a chunked body up to the limit (it is small by definition)."""
        messages, size = [], 0
        while True:
            message = await receive()
            messages.append(message)
            size += len(message.get("body", b""))
            if size > self.max_bytes:
                raise _TooLarge
            if message["type"] != "http.request" or not message.get("more_body", False):
                return messages

    @staticmethod
    def _replay(messages: list[Message], receive: Receive) -> Receive:
        async def replay() -> Message:
            return messages.pop(0) if messages else await receive()
        return replay

    async def _refuse(self, send: Send) -> None:
        body = json.dumps({"detail": [{
            "loc": ["body"], "type": "too_large",
            "msg": f"request body is larger than {self.max_bytes} bytes"}]}).encode()
        await send({"type": "http.response.start", "status": 413, "headers": [
            (b"content-type", b"application/json"), (b"content-length", str(len(body)).encode()),
            (b"connection", b"close")]})
        await send({"type": "http.response.body", "body": body})
