"""Whether PostgreSQL answers, as this process's pool sees it.

During an outage every request answers 503 (db/connection.py); the log gets one line when
the database goes away and one when it is back, never a line per request. Going away: a
connection could not be made, or one was lost (the server stopped, crashed, restarted,
or refused logins while starting up). Back: a new connection was made, or a transaction
committed.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable

log = logging.getLogger(__name__)

RETRY_AFTER_SECONDS = 1
"""The Retry-After of a 503 for an unavailable database: a restart takes about a second;
a client that keeps getting 503 backs off further (docs/api.md, errors and retries)."""


class Availability:
    """Up or down, with the moment it went down; only a change is logged."""

    def __init__(self, clock: Callable[[], float] = time.monotonic) -> None:
        self._down_since: float | None = None
        self._clock = clock

    @property
    def down(self) -> bool:
        return self._down_since is not None

    def lost(self, exc: BaseException) -> None:
        """A request found the database unavailable (`exc` says how)."""
        if self._down_since is None:
            self._down_since = self._clock()
            log.warning(
                "database unavailable (%s); requests answer 503 until it is back",
                type(exc).__name__,
            )

    def answered(self) -> None:
        """The database answered: a new connection, or a commit."""
        if self._down_since is not None:
            seconds = self._clock() - self._down_since
            self._down_since = None
            log.warning("database available again after %.1f s", seconds)
