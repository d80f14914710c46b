"""Shared machinery of the HTTP benchmarks (not a benchmark itself: `make bench` skips _*.py).

- `bench_database(name)`: a fresh PostgreSQL database `canal_bench_<name>`, migrated with
  `flask db upgrade` (DATABASE_URL), plus the bench-only table `bench_bare`; dropped at
  the end, also on error.
- `bench_env(url)`: the environment the app (in this process and in gunicorn) runs with:
  DATABASE_URL, a throw-away instance directory (files, signing key, huey file).
- `Server`: gunicorn serving `wsgi_bench:build_app()` (the normal app plus the bare baseline
  endpoints of `wsgi_bench.py`) on a free loopback port; started, waited for, stopped.
- `run_load(fn, *args)`: runs a load generator function in a separate process (spawn),
  so the client's CPU is not the server's interpreter.
- `percentiles`, `describe_machine`, `table`: figures.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Iterator
from concurrent.futures import ProcessPoolExecutor
from multiprocessing import get_context
from pathlib import Path
from typing import Any

import sqlalchemy as sa

BENCH_DIR = Path(__file__).resolve().parent
ROOT = BENCH_DIR.parent
VENV_BIN = Path(sys.executable).parent
DEFAULT_PG_URL = os.environ.get("BENCH_PG_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/postgres")

if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

BARE_TABLE_SQL = (
    "CREATE TABLE IF NOT EXISTS bench_bare ("
    " id bigserial PRIMARY KEY,"
    " body bytea NOT NULL,"
    " created_at timestamptz NOT NULL DEFAULT now())"
)


# --------------------------------------------------------------------------- machine


def cpu_probe_ms() -> float:
    """Milliseconds of one core for a fixed pure-Python workload (best of 5): the same
    code and input every run, so it tells how fast this machine is right now. Figures of
    runs made hours apart on this shared machine differ by as much as it does."""
    best = float("inf")
    for _ in range(5):
        started = time.perf_counter()
        total = 0
        table = {}
        for i in range(200_000):
            table[i & 1023] = total = (total * 31 + i) % 1_000_003
        best = min(best, time.perf_counter() - started)
    return best * 1000


def describe_machine() -> str:
    one, five, fifteen = os.getloadavg()
    return (f"{os.cpu_count()} CPUs, load average {one:.2f} {five:.2f} {fifteen:.2f}, "
            f"CPU probe {cpu_probe_ms():.1f} ms")


def cpu_seconds(groups: dict[str, str]) -> dict[str, float]:
    """CPU seconds (user + system) so far of the processes whose command line contains
    each group's marker ({group: marker}); Linux /proc, {} elsewhere. Taken before and
    after a phase it says where a request's CPU goes (server workers, database backends)."""
    tick = os.sysconf("SC_CLK_TCK") if hasattr(os, "sysconf") else 100
    totals = dict.fromkeys(groups, 0.0)
    proc = Path("/proc")
    if not proc.is_dir():
        return {}
    for entry in proc.iterdir():
        if not entry.name.isdigit():
            continue
        try:
            cmdline = (entry / "cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
            stat = (entry / "stat").read_text()
        except OSError:
            continue
        for group, marker in groups.items():
            if marker in cmdline:
                fields = stat.rsplit(")", 1)[1].split()
                totals[group] += (int(fields[11]) + int(fields[12])) / tick
                break
    return totals


def percentiles(values: list[float], points=(50, 95, 99)) -> dict[int, float]:
    """Nearest-rank percentiles (values in any unit); NaN when empty."""
    if not values:
        return {p: float("nan") for p in points}
    ordered = sorted(values)
    out = {}
    for p in points:
        rank = max(1, min(len(ordered), int(round(p / 100 * len(ordered) + 0.4999))))
        out[p] = ordered[rank - 1]
    return out


def table(rows: list[list[Any]], headers: list[str]) -> str:
    cells = [[str(h) for h in headers]] + [[str(c) for c in r] for r in rows]
    widths = [max(len(r[i]) for r in cells) for i in range(len(headers))]
    lines = []
    for n, r in enumerate(cells):
        lines.append("  " + "  ".join(c.rjust(w) if i else c.ljust(w) for i, (c, w) in enumerate(zip(r, widths, strict=True))))
        if n == 0:
            lines.append("  " + "  ".join("-" * w for w in widths))
    return "\n".join(lines)


# --------------------------------------------------------------------------- database


def _admin_engine(pg_url: str) -> sa.Engine:
    return sa.create_engine(sa.engine.make_url(pg_url).set(database="postgres"), isolation_level="AUTOCOMMIT")


def _drop(pg_url: str, db_name: str) -> None:
    engine = _admin_engine(pg_url)
    try:
        with engine.connect() as conn:
            conn.execute(sa.text(f'DROP DATABASE IF EXISTS "{db_name}" WITH (FORCE)'))
    finally:
        engine.dispose()


@contextlib.contextmanager
def bench_env(db_url: str) -> Iterator[dict[str, str]]:
    """Point this process (and child processes given the returned env) at `db_url` and a
    throw-away instance directory; restore os.environ afterwards."""
    instance = tempfile.mkdtemp(prefix="canal-bench-")
    values = {
        "DATABASE_URL": db_url,
        "CANAL_INSTANCE": instance,
        "FILES_DIR": str(Path(instance) / "files"),
        "SEARCH_DIR": str(Path(instance) / "search"),
        "HUEY_SQLITE_PATH": str(Path(instance) / "huey.db"),
        "PLATFORM_SIGNING_KEY_FILE": str(Path(instance) / "platform_ed25519.pem"),
        "MAIL_LOG_FILE": str(Path(instance) / "mail.log"),
        "PROCUREMENT_RECOVERY_KEY_DIR": instance,
        "FLASK_APP": "app",
        "PYTHONPATH": str(ROOT),
    }
    saved = {k: os.environ.get(k) for k in values}
    os.environ.update(values)
    try:
        yield dict(os.environ)
    finally:
        for k, v in saved.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v
        shutil.rmtree(instance, ignore_errors=True)


@contextlib.contextmanager
def bench_database(name: str, pg_url: str = DEFAULT_PG_URL, keep: bool = False) -> Iterator[str]:
    """Create `canal_bench_<name>`, migrate it (flask db upgrade) and add `bench_bare`.
    Yields the database URL; drops the database at the end (unless keep)."""
    db_name = f"canal_bench_{name}"
    _drop(pg_url, db_name)
    engine = _admin_engine(pg_url)
    with engine.connect() as conn:
        conn.execute(sa.text(f'CREATE DATABASE "{db_name}"'))
    engine.dispose()
    url = sa.engine.make_url(pg_url).set(database=db_name).render_as_string(hide_password=False)
    try:
        env = dict(os.environ, DATABASE_URL=url, FLASK_APP="app",
                   HUEY_SQLITE_PATH=os.environ.get("HUEY_SQLITE_PATH", f"/tmp/canal-bench-{name}-huey.db"))
        started = time.perf_counter()
        proc = subprocess.run([str(VENV_BIN / "flask"), "db", "upgrade"], cwd=ROOT, env=env,
                              capture_output=True, text=True, check=False)
        if proc.returncode != 0:
            raise RuntimeError(f"flask db upgrade failed:\n{proc.stdout}\n{proc.stderr}")
        print(f"  database {db_name}: migrated in {time.perf_counter() - started:.1f} s", flush=True)
        engine = sa.create_engine(url)
        with engine.begin() as conn:
            conn.execute(sa.text(BARE_TABLE_SQL))
        engine.dispose()
        yield url
    finally:
        if not keep:
            _drop(pg_url, db_name)


# --------------------------------------------------------------------------- app in this process


def make_app(db_url: str, pool_size: int = 5):
    """The app gunicorn serves (normal app + bare endpoints, wsgi_bench.build_app) bound to
    the bench database, in this process: for setting up data, profiling, checking after."""
    import wsgi_bench

    return wsgi_bench.build_app(SQLALCHEMY_DATABASE_URI=db_url,
                                SQLALCHEMY_ENGINE_OPTIONS={"pool_pre_ping": True, "pool_size": pool_size})


# --------------------------------------------------------------------------- gunicorn


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Server:
    """gunicorn serving wsgi_bench:build_app() on 127.0.0.1:<free port>.

    worker_class "sync" (one request at a time per worker process) or "gthread"
    (`threads` per worker). Use as a context manager; output goes to a log file that
    is printed (tail) when the server fails to start.
    """

    def __init__(self, env: dict[str, str], workers: int = 4, worker_class: str = "sync", threads: int = 1,
                 timeout: int = 120, backlog: int = 2048) -> None:
        self.env = dict(env)
        self.workers = workers
        self.worker_class = worker_class
        self.threads = threads
        self.timeout = timeout
        self.backlog = backlog
        self.port = free_port()
        self.base_url = f"http://127.0.0.1:{self.port}"
        self.proc: subprocess.Popen | None = None
        self.log_path = Path(tempfile.mkstemp(prefix="canal-bench-gunicorn-", suffix=".log")[1])

    def describe(self) -> str:
        kind = f"{self.worker_class}" + (f", {self.threads} threads each" if self.worker_class == "gthread" else "")
        return f"gunicorn {self.workers} workers ({kind})"

    def start(self, ready_path: str = "/_bench/ping", wait: float = 60.0) -> Server:
        cmd = [str(VENV_BIN / "gunicorn"), "--chdir", str(BENCH_DIR), "--pythonpath", str(ROOT),
               "-b", f"127.0.0.1:{self.port}", "-w", str(self.workers), "-k", self.worker_class,
               "--timeout", str(self.timeout), "--backlog", str(self.backlog),
               "--log-level", "warning", "--keep-alive", "5"]
        if self.worker_class == "gthread":
            cmd += ["--threads", str(self.threads)]
        cmd.append("wsgi_bench:build_app()")
        self._log = open(self.log_path, "wb")  # noqa: SIM115 - closed in stop()
        self.proc = subprocess.Popen(cmd, cwd=ROOT, env=self.env, stdout=self._log, stderr=subprocess.STDOUT,
                                     start_new_session=True)
        deadline = time.monotonic() + wait
        ok = 0
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"gunicorn exited with {self.proc.returncode}:\n{self.log_tail()}")
            try:
                with urllib.request.urlopen(self.base_url + ready_path, timeout=2) as resp:  # noqa: S310 - loopback
                    if resp.status == 200:
                        ok += 1
                        if ok >= self.workers * 2:  # most workers have booted
                            return self
                        continue
            except (urllib.error.URLError, ConnectionError, OSError):
                pass
            time.sleep(0.2)
        self.stop()
        raise RuntimeError(f"gunicorn not ready after {wait:.0f} s:\n{self.log_tail()}")

    def log_tail(self, lines: int = 40) -> str:
        try:
            return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-lines:])
        except OSError:
            return ""

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)  # graceful: arbiter stops its workers
            try:
                self.proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                os.killpg(self.proc.pid, signal.SIGKILL)
                self.proc.wait(timeout=10)
        self.proc = None
        if getattr(self, "_log", None) is not None:
            self._log.close()
            self._log = None

    def __enter__(self) -> Server:
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()
        with contextlib.suppress(OSError):
            if exc[0] is None:
                self.log_path.unlink()


# --------------------------------------------------------------------------- load generator process


def run_load(fn: Callable[..., Any], *args: Any) -> Any:
    """Run `fn(*args)` (a module-level function, usually driving aiohttp) in a fresh
    process and return its (picklable) result."""
    with ProcessPoolExecutor(max_workers=1, mp_context=get_context("spawn")) as pool:
        return pool.submit(fn, *args).result()
