"""A wall clock that tests and the control endpoint can move forward."""

import threading
import time as _time
from datetime import UTC, datetime


class Clock:
    """Real time plus an offset that only ever grows."""

    def __init__(self) -> None:
        self._offset = 0.0
        self._lock = threading.Lock()

    def time(self) -> float:
        """Return epoch seconds, real time plus the offset."""
        return _time.time() + self._offset

    def now(self) -> datetime:
        """Return the current time as a timezone-aware UTC datetime."""
        return datetime.fromtimestamp(self.time(), tz=UTC)

    def stamp(self) -> str:
        """Return the current time as an RFC 3339 string with seconds."""
        return format_time(self.now())

    def advance(self, seconds: float) -> None:
        """Move the clock forward by the given number of seconds."""
        if seconds < 0:
            raise ValueError("the clock only moves forward")
        with self._lock:
            self._offset += seconds

    @property
    def offset(self) -> float:
        """Return how far ahead of real time the clock is."""
        return self._offset


def format_time(moment: datetime) -> str:
    """Format a datetime the way the API server does (RFC 3339, UTC, seconds)."""
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def format_micro_time(moment: datetime) -> str:
    """Format a datetime as a MicroTime (RFC 3339 with microseconds)."""
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def parse_time(text: str) -> datetime:
    """Parse an RFC 3339 timestamp as written by the API server."""
    return datetime.fromisoformat(text.replace("Z", "+00:00")).astimezone(UTC)
