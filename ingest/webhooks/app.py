"""The Starlette application: POST /v1/events, GET /healthz, /readyz and /metrics.

A request to /v1/events goes through, in order: the client's request rate (429), the body's
size (413) and how long it takes to arrive (408), UTF-8 (400), the signature (401), the body's
shape (400, 413), then its commit (503 when the database is unreachable). It is answered 200
with {"accepted": n, "rejected": m, "load_batch_id": id} only once its rows, its rejects and
its raw.load_batches row are committed.
"""

from __future__ import annotations

import asyncio
import logging
import sys
import time
import uuid
from contextlib import asynccontextmanager
from datetime import UTC, datetime

import psycopg
from starlette.applications import Starlette
from starlette.requests import ClientDisconnect, Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from countonce import db
from countonce.settings import Settings
from ingest.chunk import Limits
from ingest.webhooks.auth import Unauthorized, Verifier
from ingest.webhooks.batcher import Batcher, Refused
from ingest.webhooks.body import BadBody, TooManyEvents, parse_body
from ingest.webhooks.metrics import CONTENT_TYPE, Metrics
from ingest.webhooks.ratelimit import RateLimiter, retry_after

log = logging.getLogger(__name__)

# What a 503 asks the sender to wait before retrying.
UNAVAILABLE_RETRY_AFTER_SECONDS = 5
READY_CONNECT_TIMEOUT_SECONDS = 2
MAX_WEBHOOK_ID_CHARS = 256


class _TooLarge(Exception):
    pass


def _error(status: int, message: str, headers: dict[str, str] | None = None) -> JSONResponse:
    return JSONResponse({"error": message}, status_code=status, headers=headers)


class EventsEndpoint:
    def __init__(
        self,
        settings: Settings,
        verifier: Verifier | None,
        batcher: Batcher,
        metrics: Metrics,
    ) -> None:
        self.settings = settings
        self.verifier = verifier
        self.batcher = batcher
        self.metrics = metrics
        self.limiter = RateLimiter(settings.webhook_rate_limit)
        # One request is one load batch, read whole: the body's limits bound the chunk.
        self.limits = Limits(
            max_line_bytes=settings.max_line_bytes,
            reject_text_bytes=settings.reject_text_bytes,
            chunk_rows=max(1, settings.webhook_max_events),
            chunk_bytes=settings.webhook_max_body_bytes + 1,
            reject_buffer_bytes=sys.maxsize,
        )

    async def post(self, request: Request) -> Response:
        status = 500
        try:
            response = await self._handle(request)
            status = response.status_code
            return response
        finally:
            self.metrics.requests.labels(str(status)).inc()

    async def _handle(self, request: Request) -> Response:
        client = request.client.host if request.client else ""
        wait = self.limiter.acquire(client)
        if wait:
            return _error(429, "too many requests", {"Retry-After": retry_after(wait)})
        started_at = datetime.now(UTC)
        try:
            body = await self._read_body(request)
        except _TooLarge:
            limit = self.settings.webhook_max_body_bytes
            return _error(413, f"the body is larger than {limit} bytes")
        except TimeoutError:
            seconds = self.settings.webhook_body_timeout_seconds
            return _error(408, f"the body did not arrive within {seconds} s")
        except ClientDisconnect:
            return _error(400, "the client disconnected before sending the whole body")
        received = time.perf_counter()
        try:
            text = body.decode()
        except UnicodeDecodeError as exc:
            return _error(400, f"the body is not UTF-8 ({exc.reason} at byte {exc.start})")
        if self.verifier is not None:
            try:
                webhook_id = self.verifier.verify(text, request.headers)
            except Unauthorized as exc:
                return _error(401, f"signature not accepted: {exc}")
        else:
            webhook_id = request.headers.get("webhook-id") or f"unsigned-{uuid.uuid4().hex}"
        if len(webhook_id) > MAX_WEBHOOK_ID_CHARS or not webhook_id.isprintable():
            limit = MAX_WEBHOOK_ID_CHARS
            return _error(400, f"webhook-id must be at most {limit} printable characters")
        try:
            parsed = parse_body(
                body, text, f"http:{webhook_id}", self.limits, self.settings.webhook_max_events
            )
        except BadBody as exc:
            return _error(400, str(exc))
        except TooManyEvents as exc:
            return _error(413, str(exc))
        batch_id = None
        if parsed.lines:
            try:
                async with asyncio.timeout(self.settings.webhook_commit_timeout_seconds):
                    batch_id = await self.batcher.land(parsed, started_at)
            except (db.DatabaseUnavailable, TimeoutError) as exc:
                reason = str(exc) or "the commit did not finish in time"
                return _error(
                    503,
                    f"not acknowledged, send it again later: {reason}",
                    {"Retry-After": str(UNAVAILABLE_RETRY_AFTER_SECONDS)},
                )
            except Refused as exc:
                return _error(500, f"PostgreSQL refused the events; nothing was stored: {exc}")
        self.metrics.acknowledge_seconds.observe(time.perf_counter() - received)
        return JSONResponse(
            {"accepted": parsed.landed, "rejected": parsed.rejected, "load_batch_id": batch_id}
        )

    async def _read_body(self, request: Request) -> bytes:
        limit = self.settings.webhook_max_body_bytes
        declared = request.headers.get("content-length", "")
        if declared.isdigit() and int(declared) > limit:
            raise _TooLarge
        parts = []
        size = 0
        async with asyncio.timeout(self.settings.webhook_body_timeout_seconds):
            async for part in request.stream():
                size += len(part)
                if size > limit:
                    raise _TooLarge
                parts.append(part)
        return b"".join(parts)


def create_app(
    settings: Settings, params: dict[str, str], *, insecure_no_auth: bool = False
) -> Starlette:
    """The application; unless `insecure_no_auth`, every request must be signed with one of
    settings.webhook_secrets (ValueError when there is none, or one is not a valid secret)."""
    verifier = None if insecure_no_auth else Verifier(settings.webhook_secrets)
    metrics = Metrics()
    batcher = Batcher(params, settings.webhook_batch_wait_ms / 1000, metrics)
    events = EventsEndpoint(settings, verifier, batcher, metrics)

    async def healthz(request: Request) -> Response:
        return JSONResponse({"status": "ok"})

    async def readyz(request: Request) -> Response:
        try:
            conn = await psycopg.AsyncConnection.connect(
                **params, connect_timeout=READY_CONNECT_TIMEOUT_SECONDS
            )
            async with conn:
                await conn.execute("select 1")
        except psycopg.Error as exc:
            return JSONResponse(
                {"status": "database unreachable", "error": str(exc).strip()}, status_code=503
            )
        return JSONResponse({"status": "ready"})

    async def metrics_endpoint(request: Request) -> Response:
        return Response(metrics.exposition(), media_type=CONTENT_TYPE)

    @asynccontextmanager
    async def lifespan(app: Starlette):
        batcher.start()
        try:
            yield
        finally:
            await batcher.stop()

    return Starlette(
        routes=[
            Route("/v1/events", events.post, methods=["POST"]),
            Route("/healthz", healthz, methods=["GET"]),
            Route("/readyz", readyz, methods=["GET"]),
            Route("/metrics", metrics_endpoint, methods=["GET"]),
        ],
        lifespan=lifespan,
    )
