"""Requests per second per client address: a token bucket for each, holding one second's worth."""

from __future__ import annotations

import math
import time
from collections.abc import Callable

# Buckets of clients that have not been heard from are dropped past this many.
_MAX_BUCKETS = 10_000


class RateLimiter:
    """`rate` requests a second per client, in bursts of up to `rate`; rate 0: no limit."""

    def __init__(self, rate: int, clock: Callable[[], float] = time.monotonic) -> None:
        self.rate = rate
        self._clock = clock
        self._buckets: dict[str, tuple[float, float]] = {}  # client -> (tokens, as of)

    def acquire(self, client: str) -> float:
        """0 when `client` may go ahead, else the seconds until it may."""
        if self.rate <= 0:
            return 0.0
        now = self._clock()
        tokens, since = self._buckets.get(client, (self.rate, now))
        tokens = min(self.rate, tokens + (now - since) * self.rate)
        if tokens < 1:
            self._buckets[client] = (tokens, now)
            return (1 - tokens) / self.rate
        if client not in self._buckets and len(self._buckets) >= _MAX_BUCKETS:
            self._forget_full(now)
        self._buckets[client] = (tokens - 1, now)
        return 0.0

    def _forget_full(self, now: float) -> None:
        """Drop the buckets that have refilled: forgetting them changes nothing."""
        for client, (tokens, since) in list(self._buckets.items()):
            if tokens + (now - since) * self.rate >= self.rate:
                del self._buckets[client]


def retry_after(seconds: float) -> str:
    """A Retry-After header value: whole seconds, at least one."""
    return str(max(1, math.ceil(seconds)))
