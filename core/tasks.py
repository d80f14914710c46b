"""Background tasks on Huey.

Storage: Redis when REDIS_URL is set, else a SQLite file in instance/. Tests run Huey in
immediate mode. Tasks run inside an application context (`app_task`). Areas register
deadline work with `register_sweep`; the periodic `sweep` task runs it every minute.
"""

from __future__ import annotations

import functools
import logging
import os
from collections.abc import Callable
from pathlib import Path

from huey import RedisHuey, SqliteHuey, crontab

log = logging.getLogger(__name__)


def _make_huey():
    redis_url = os.environ.get("REDIS_URL")
    if redis_url:
        return RedisHuey("canal", url=redis_url)
    default = Path(os.environ.get("CANAL_INSTANCE", Path(__file__).resolve().parent.parent / "instance"))
    path = os.environ.get("HUEY_SQLITE_PATH", str(default / "huey.db"))
    Path(path).parent.mkdir(parents=True, exist_ok=True)
    return SqliteHuey("canal", filename=path)


huey = _make_huey()
_app = None

#: Deadline work registered by the areas: callables taking no arguments, each idempotent,
#: each opening its own unit of work.
SWEEPS: list[Callable[[], object]] = []


def bind_app(app) -> None:
    """Remember the Flask app so tasks can push its context (called by create_app)."""
    global _app
    _app = app
    huey.immediate = bool(app.config.get("HUEY_IMMEDIATE"))


def _get_app():
    global _app
    if _app is None:
        from app import create_app

        _app = create_app()
    return _app


def app_task(*task_args, **task_kwargs):
    """Like huey.task, but the function runs inside the application context."""

    def decorator(fn):
        @functools.wraps(fn)
        def wrapper(*args, **kwargs):
            from flask import has_app_context

            if has_app_context():
                return fn(*args, **kwargs)
            with _get_app().app_context():
                return fn(*args, **kwargs)

        return huey.task(*task_args, **task_kwargs)(wrapper)

    return decorator


def register_sweep(fn: Callable[[], object]) -> Callable[[], object]:
    if fn not in SWEEPS:
        SWEEPS.append(fn)
    return fn


def run_sweeps() -> dict[str, str]:
    """Run every registered sweep; one failing sweep does not stop the others."""
    results: dict[str, str] = {}
    for fn in SWEEPS:
        name = f"{fn.__module__}.{fn.__qualname__}"
        try:
            fn()
            results[name] = "ok"
        except Exception as exc:  # logged, retried next minute
            log.exception("sweep %s failed", name)
            results[name] = f"error: {exc}"
    return results


@huey.periodic_task(crontab(minute="*"))
def sweep() -> None:
    from flask import has_app_context

    if has_app_context():
        run_sweeps()
        return
    with _get_app().app_context():
        run_sweeps()
