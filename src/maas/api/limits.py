"""Abuse limits that are the transport's business: a token bucket per API key."""

from __future__ import annotations

import math
import threading
import time

from maas.errors import RateLimitedError

__all__ = ["RateLimiter"]


class RateLimiter:
    """Token buckets keyed by API key id: ``rate`` tokens a second, at most ``burst`` saved.

    Per process: with N replicas a key may make up to N times the rate in all.
    """

    def __init__(self, rate: float, burst: int) -> None:
        self.rate = rate
        self.burst = float(burst)
        self._buckets: dict[str, tuple[float, float]] = {}
        self._lock = threading.Lock()

    def check(self, key_id: str) -> None:
        """Take one token for ``key_id``.

        Raises:
            RateLimitedError: the key has no token left; ``retry_after`` says when it will.
        """
        if self.rate <= 0:
            return
        now = time.monotonic()
        with self._lock:
            tokens, last = self._buckets.get(key_id, (self.burst, now))
            tokens = min(self.burst, tokens + (now - last) * self.rate)
            if tokens < 1.0:
                self._buckets[key_id] = (tokens, now)
                wait = (1.0 - tokens) / self.rate
                raise RateLimitedError(
                    f"This key made more than {self.rate:g} requests a second "
                    f"(burst {self.burst:g}). Retry in {math.ceil(wait)} s.",
                    retry_after=wait,
                    expected=f"<= {self.rate:g} requests/s",
                )
            self._buckets[key_id] = (tokens - 1.0, now)
            if len(self._buckets) > 100_000:  # forget idle keys rather than grow without end
                self._buckets.clear()
