"""The one source of "now". Tests move time with `freeze`/`advance`; code never calls datetime.now()."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

LOCAL_TZ = ZoneInfo("Asia/Shanghai")

_frozen: datetime | None = None
_offset = timedelta(0)


def now() -> datetime:
    """Current time, timezone-aware UTC."""
    if _frozen is not None:
        return _frozen
    return datetime.now(UTC) + _offset


def local_now() -> datetime:
    return now().astimezone(LOCAL_TZ)


def today_local():
    return local_now().date()


def set_time(moment: datetime | None) -> None:
    """Freeze the clock at `moment` (aware) or unfreeze with None."""
    global _frozen
    if moment is not None and moment.tzinfo is None:
        raise ValueError("clock.set_time needs an aware datetime")
    _frozen = moment.astimezone(UTC) if moment else None


def advance(delta: timedelta) -> None:
    """Move the clock forward (frozen or not)."""
    global _frozen, _offset
    if _frozen is not None:
        _frozen = _frozen + delta
    else:
        _offset = _offset + delta


def reset() -> None:
    global _frozen, _offset
    _frozen = None
    _offset = timedelta(0)


@contextmanager
def frozen(moment: datetime) -> Iterator[None]:
    previous = _frozen
    set_time(moment)
    try:
        yield
    finally:
        set_time(previous)


def as_utc(value: datetime) -> datetime:
    """Normalise a datetime read from any backend to aware UTC."""
    if value.tzinfo is None:
        return value.replace(tzinfo=UTC)
    return value.astimezone(UTC)
