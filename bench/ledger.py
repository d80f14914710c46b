"""Ledger throughput on PostgreSQL: journal entries posted per second.

    .venv/bin/python bench/ledger.py [--seconds 8] [--threads 8] [--url postgresql+psycopg://postgres@127.0.0.1:5432/postgres]

Creates (and drops at the end) its own database `canal_bench_ledger`. With the same
threads on the same database, in the same run, it measures:

- bare:    one INSERT of a small row + COMMIT per operation (the stack's physical limit);
- hot:     post_entry of one transfer between the same 2 accounts (every writer
           contends for the same two row locks);
- spread:  post_entry of one transfer between 2 of 1,000 accounts picked at random;
- *-noaudit: the same with the audit append switched off, to show its share (the
           audit chain head is one locked row, so it serializes all writers).

Prints entries/s and the ratio to the bare insert.
"""

from __future__ import annotations

import argparse
import os
import random
import sys
import threading
import time
from pathlib import Path

import sqlalchemy as sa

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
os.environ.setdefault("HUEY_SQLITE_PATH", "/tmp/canal-bench-ledger-huey.db")

DB_NAME = "canal_bench_ledger"


def admin_engine(url: str) -> sa.Engine:
    return sa.create_engine(sa.engine.make_url(url).set(database="postgres"), isolation_level="AUTOCOMMIT")


def recreate_database(url: str, drop_only: bool = False) -> None:
    engine = admin_engine(url)
    with engine.connect() as conn:
        conn.execute(sa.text(f'DROP DATABASE IF EXISTS "{DB_NAME}" WITH (FORCE)'))
        if not drop_only:
            conn.execute(sa.text(f'CREATE DATABASE "{DB_NAME}"'))
    engine.dispose()


def run_phase(app, threads: int, seconds: float, op) -> tuple[int, float]:
    """Run op(thread_index, n) in `threads` threads for `seconds`; returns (count, elapsed)."""
    counts = [0] * threads
    errors: list[BaseException] = []
    barrier = threading.Barrier(threads + 1)
    stop = threading.Event()

    def worker(i: int) -> None:
        from core.db import db

        with app.app_context():
            barrier.wait()
            n = 0
            try:
                while not stop.is_set():
                    op(i, n)
                    n += 1
            except BaseException as exc:  # reported below
                errors.append(exc)
            finally:
                counts[i] = n
                db.session.remove()

    pool = [threading.Thread(target=worker, args=(i,)) for i in range(threads)]
    for t in pool:
        t.start()
    barrier.wait()
    start = time.perf_counter()
    time.sleep(seconds)
    stop.set()
    for t in pool:
        t.join()
    elapsed = time.perf_counter() - start
    if errors:
        raise RuntimeError(f"{len(errors)} errors, first: {errors[0]!r}")
    return sum(counts), elapsed


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--url", default=os.environ.get("BENCH_PG_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/postgres"))
    parser.add_argument("--threads", type=int, default=8)
    parser.add_argument("--seconds", type=float, default=8.0)
    parser.add_argument("--accounts", type=int, default=1000)
    args = parser.parse_args()

    recreate_database(args.url)
    url = sa.engine.make_url(args.url).set(database=DB_NAME).render_as_string(hide_password=False)
    try:
        _bench(url, args)
    finally:
        recreate_database(args.url, drop_only=True)


def _bench(url: str, args) -> None:
    from app import create_app
    from config import Config
    from core.db import db
    from payments import ledger, queries
    from payments.ledger import TransferSpec as T

    app = create_app(Config, SQLALCHEMY_DATABASE_URI=url, RATELIMIT_ENABLED=False,
                     SQLALCHEMY_ENGINE_OPTIONS={"pool_size": args.threads + 2, "max_overflow": 4})
    bare = sa.Table("bench_bare", sa.MetaData(), sa.Column("id", sa.BigInteger, primary_key=True, autoincrement=True),
                    sa.Column("k", sa.String(64)), sa.Column("v", sa.BigInteger))
    with app.app_context():
        db.create_all()
        bare.create(db.engine)
        # accounts and funding (unguarded sources, guarded payables as in real use)
        ledger.post_entry("fund-hot", [T("platform:clearing", "org:0:payable", 10**14)])
        keys = [f"org:{i}:payable" for i in range(1, args.accounts + 1)]
        for chunk in range(0, len(keys), 100):
            ledger.post_entry(f"fund-{chunk}", [T("platform:clearing", k, 10**12) for k in keys[chunk:chunk + 100]])
        db.session.remove()

    with app.app_context():
        engine = db.engine

    run = f"{os.getpid()}-{time.time_ns()}"

    def op_bare(i: int, n: int) -> None:
        with engine.connect() as conn:
            conn.execute(bare.insert().values(k=f"{run}-{i}-{n}", v=n))
            conn.commit()

    def op_hot(tag: str):
        def op(i: int, n: int) -> None:
            ledger.post_entry(f"{tag}-{i}-{n}", [T("org:0:payable", "platform:fees", 1)])
        return op

    def op_spread(tag: str):
        rng = random.Random(tag)
        lock = threading.Lock()

        def op(i: int, n: int) -> None:
            with lock:
                a, b = rng.sample(keys, 2)
            ledger.post_entry(f"{tag}-{i}-{n}", [T(a, b, 1)])
        return op

    print(f"ledger bench: PostgreSQL, {args.threads} writer threads, {args.seconds:.0f} s per phase, "
          f"{os.cpu_count()} CPUs, load average {os.getloadavg()[0]:.1f}")
    results: dict[str, float] = {}
    phases = [("bare insert+commit", op_bare), ("hot (2 accounts)", op_hot("hot")),
              ("spread (1,000 accounts)", op_spread("spread"))]
    for name, op in phases:
        count, elapsed = run_phase(app, args.threads, args.seconds, op)
        results[name] = count / elapsed
    from payments.ledger import base as ledger_base

    real_audit = ledger_base._audit
    ledger_base._audit = lambda *a, **k: None
    try:
        for name, op in [("hot, audit off", op_hot("hotna")), ("spread, audit off", op_spread("spreadna"))]:
            count, elapsed = run_phase(app, args.threads, args.seconds, op)
            results[name] = count / elapsed
    finally:
        ledger_base._audit = real_audit
    baseline = results["bare insert+commit"]
    for name, rate in results.items():
        print(f"  {name:26s} {rate:9.1f} /s   ratio to bare {rate / baseline:5.2f}")
    with app.app_context():
        problems = queries.verify()
        print("  ledger verify:", "consistent" if not problems else problems[:3])
        db.session.remove()
        db.engine.dispose()


if __name__ == "__main__":
    main()
