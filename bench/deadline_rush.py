"""Deadline rush: 100 suppliers submitting sealed bids (200 KB attachment each) at once.

    .venv/bin/python bench/deadline_rush.py [--quick] [--suppliers 100] [--rounds 5] [--pairs 2]
        [--attachment-kb 200] [--workers 4 --worker-class sync|gthread --threads 4] [--profile]

Creates (and drops at the end, also on error) its own PostgreSQL database
`canal_bench_rush`, migrated with `flask db upgrade`. Sets up, with the services: a buyer
with an officer and 3 key custodians, ONE published open tender with a lot without bond
and two criteria, in its tendering period by the real clock (gunicorn uses it), and
`--suppliers` verified supplier organizations, each with a bidder (2FA on) and an API
token. The custodians collect their shares.

gunicorn (bench/wsgi_bench.py) then serves the app and an aiohttp load generator in a
separate process runs, with one connection per supplier (100 concurrent): first an
unmeasured warm-up (one request per supplier on each path), then alternating phases in
the same run: bare, sealed, bare, sealed... (`--pairs` of each). In a phase
every supplier sends `--rounds` requests one after the other:

- sealed: `POST /api/v1/tenders/<id>/bids` with its bearer token and a fresh
  Idempotency-Key, a JSON body with the lot price, answers to the criteria and the
  attachment in base64 (each round replaces the supplier's previous bid);
- bare:   the same body size to `POST /_bench/bare` (INSERT of the raw body + COMMIT).

Printed: req/s and p50/p95/p99 of each, the sealed/bare ratios of throughput and p99,
errors, the CPU milliseconds per request of the gunicorn processes, of the PostgreSQL
backends of the bench database and of the load generator (Linux /proc); then the tender is opened the way the opening does it (clock moved to the
opening time in this process, the custodians present their shares through
procurement.services.opening) and every accepted bid (the last HTTP 2xx of each
supplier) is looked up in the opening record: "accepted N, in the opening N, lost 0".

Goal (DESIGN.md section 10): sealed >= 0.5x bare throughput, p99 within 2x bare p99, 0 lost.
`--profile` profiles the sealed path in-process (cProfile, 20 submissions) and prints
where the time goes.
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import json
import os
import random
import sys
import time
import traceback
import uuid
from datetime import timedelta
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import _harness as h  # noqa: E402

GOAL_THROUGHPUT_RATIO = 0.5
GOAL_P99_RATIO = 2.0
LOT_BUDGET = 500_000_000  # fen


# --------------------------------------------------------------------------- set-up (this process)


def _totp(user) -> str:
    import pyotp

    from core import clock

    return pyotp.TOTP(user.totp_secret).at(clock.now())


def build_world(app, suppliers: int) -> dict:
    """Buyer, custodians, one published tender, suppliers with API tokens; shares collected."""
    import pyotp

    from accounts.models import Membership, Organization, User
    from accounts.passwords import hash_password
    from accounts.services.tokens import create_token
    from accounts.states import OrgKind, Role
    from accounts.uscc import make_uscc
    from core import clock
    from core.db import db, unit_of_work
    from core.files import save_file
    from procurement.services import keys
    from procurement.services import tenders as tenders_svc

    started = time.perf_counter()
    password_hash = hash_password("bench-" + uuid.uuid4().hex)  # one hash for all: nobody logs in
    serial = iter(range(700_000, 800_000))

    def org(kind: str, name_zh: str, name_en: str) -> Organization:
        row = Organization(kinds=[kind], name_zh=name_zh, name_en=name_en, uscc=make_uscc(next(serial)),
                           verification="verified")
        db.session.add(row)
        return row

    def user(org_row: Organization, roles: list[str], email: str) -> User:
        row = User(email=email, password_hash=password_hash, display_name=email.split("@")[0], locale="en",
                   current_org_id=org_row.id, totp_secret=pyotp.random_base32(), totp_enabled_at=clock.now())
        db.session.add(row)
        db.session.flush()
        db.session.add(Membership(user_id=row.id, org_id=org_row.id, roles=roles))
        return row

    with app.app_context():
        with unit_of_work():
            buyer = org(OrgKind.BUYER.value, "扬州市教育局", "Yangzhou Education Bureau")
            db.session.flush()
            officer = user(buyer, [Role.PROCUREMENT_OFFICER.value], "officer@bench.test")
            custodians = [user(buyer, [Role.KEY_CUSTODIAN.value], f"custodian{i}@bench.test") for i in range(3)]
        now = clock.now()
        deadline = now + timedelta(days=30)
        tender = tenders_svc.create_draft(
            buyer, officer,
            lots=[dict(title_zh="教学用计算机", title_en="Classroom computers", budget=LOT_BUDGET, bond_amount=0,
                       quantity=200, unit="set", delivery_terms="30 days")],
            criteria=[dict(name_zh="价格", name_en="Price", weight=40, kind="price"),
                      dict(name_zh="技术方案", name_en="Technical proposal", weight=60, kind="technical")],
            custodian_ids=[c.id for c in custodians],
            title_zh="扬州市教育局教学用计算机采购", title_en="Classroom computers", category="goods",
            category_code="A020102", budget=LOT_BUDGET, method="open", enquiry_end=None,
            submission_deadline=deadline, opening_time=deadline + timedelta(hours=1),
            custodian_threshold=2, custodian_count=3, evaluation_method="scored", sme_deduction_pct=10,
        )
        with unit_of_work():
            stored = save_file(b"%PDF-1.4\n1 0 obj<<>>endobj\ntrailer<<>>\n%%EOF\n", filename="tender.pdf",
                               allowed={"pdf"}, purpose="tender_document")
        tenders_svc.add_document(tender, officer, stored, title="Tender documents")
        tender = tenders_svc.publish(tender, officer)
        # each custodian collects their share once (the platform erases it); the bench keeps
        # the codes in memory for the opening, as the custodians would ({user id: code})
        codes = {c.id: keys.collect_share(tender, c, _totp(c)).code for c in custodians}

        bidders = []
        for i in range(suppliers):
            with unit_of_work():
                s_org = org(OrgKind.SUPPLIER.value, f"扬州投标供应商{i:03d}有限公司", f"Bench Supplier {i:03d} Ltd")
                db.session.flush()
                bidder = user(s_org, [Role.BIDDER.value], f"bidder{i:03d}@bench.test")
            _token, raw = create_token(bidder, s_org.id, "deadline rush")
            bidders.append({"org_id": s_org.id, "user_id": bidder.id, "token": raw})
        world = {
            "tender_id": tender.id,
            "lot_ids": [lot.id for lot in tender.lots],
            "criterion_ids": [c.id for c in tender.criteria],
            "custodian_ids": [c.id for c in custodians],
            "bidders": bidders,
            "codes": codes,
            "opening_time": tender.opening_time,
        }
        db.session.remove()
    print(f"  set-up: tender {world['tender_id']} published, {suppliers} suppliers with API tokens "
          f"in {time.perf_counter() - started:.1f} s", flush=True)
    return world


def sa_url_database(url: str) -> str:
    import sqlalchemy as sa

    return sa.engine.make_url(url).database or ""


# --------------------------------------------------------------------------- request bodies


def attachment_bytes(size: int, rng: random.Random) -> bytes:
    """A PDF-looking file of `size` bytes (the upload check wants %PDF- magic) with random content."""
    head, tail = b"%PDF-1.4\n", b"\n%%EOF\n"
    return head + rng.randbytes(max(0, size - len(head) - len(tail))) + tail


def bid_body(lot_ids: list[int], criterion_ids: list[int], price: int, attachment_b64: str, name: str) -> bytes:
    """The JSON body of POST /api/v1/tenders/<id>/bids (shape of procurement/api/bids.py).
    The base64 attachment is spliced in rather than re-encoded on every request."""
    head = {
        "prices": [{"lot_id": lot_id, "price": price} for lot_id in lot_ids],
        "answers": {str(c): "我方完全响应招标文件技术要求，提供原厂三年质保。" for c in criterion_ids[1:]},
        "attachments": [{"name": name, "content_base64": "@@B64@@"}],
    }
    text = json.dumps(head, ensure_ascii=False, separators=(",", ":"))
    before, after = text.split("@@B64@@")
    return before.encode() + attachment_b64.encode("ascii") + after.encode()


def bid_id_of(payload) -> int | None:
    """The bid id in the API's response (tolerant of {"id"}, {"bid_id"} or {"bid": {"id"}})."""
    if not isinstance(payload, dict):
        return None
    for key in ("id", "bid_id"):
        if isinstance(payload.get(key), int):
            return payload[key]
    inner = payload.get("bid")
    return bid_id_of(inner) if isinstance(inner, dict) else None


# --------------------------------------------------------------------------- load (separate process)


def rush_load(base_url: str, world: dict, rounds: int, pairs: int, attachment_size: int, seed: int = 3) -> dict:
    """Runs in the load-generator process. One aiohttp connection per supplier; phases
    bare, sealed, bare, sealed... each with `rounds` requests per supplier.

    Returns {"phases": [{"kind", "elapsed", "lat", "status", "samples"}], "accepted": {org_id: bid_id}}.
    """
    import aiohttp

    rng = random.Random(seed)
    bidders = world["bidders"]
    encoded = [base64.b64encode(attachment_bytes(attachment_size, rng)).decode("ascii") for _ in bidders]
    sealed_url = f"{base_url}/api/v1/tenders/{world['tender_id']}/bids"
    bare_url = f"{base_url}/_bench/bare"
    accepted: dict[int, int | None] = {}
    body_sizes: list[int] = []

    async def supplier(session, i: int, kind: str, phase: dict, count: int) -> None:
        who = bidders[i]
        for r in range(count):
            price = LOT_BUDGET - 1_000_000 * (i + 1) - r * 100
            body = bid_body(world["lot_ids"], world["criterion_ids"], price, encoded[i], f"技术方案-{i:03d}.pdf")
            if not body_sizes:
                body_sizes.append(len(body))
            if kind == "sealed":
                url = sealed_url
                headers = {"Authorization": f"Bearer {who['token']}", "Idempotency-Key": uuid.uuid4().hex,
                           "Content-Type": "application/json", "Accept": "application/json"}
            else:
                url = bare_url
                headers = {"Content-Type": "application/json", "Accept": "application/json"}
            t0 = time.perf_counter()
            try:
                async with session.post(url, data=body, headers=headers) as resp:
                    raw = await resp.read()
                    status = resp.status
            except Exception as exc:  # counted as an error, the run goes on
                raw, status = b"", type(exc).__name__
            phase["lat"].append(time.perf_counter() - t0)
            phase["status"][status] = phase["status"].get(status, 0) + 1
            ok = isinstance(status, int) and 200 <= status < 300
            if not ok and len(phase["samples"]) < 3:
                phase["samples"].append(f"{status} {raw[:300]!r}")
            if kind == "sealed" and ok:
                try:
                    accepted[who["org_id"]] = bid_id_of(json.loads(raw))
                except ValueError:
                    accepted[who["org_id"]] = None

    import resource

    groups = {"server": base_url.split("//", 1)[-1]}  # gunicorn's command line has -b host:port
    if world.get("db_name"):
        groups["db"] = world["db_name"]  # PostgreSQL backends show their database in their title

    def cpu() -> dict[str, float]:
        usage = resource.getrusage(resource.RUSAGE_SELF)
        return dict(h.cpu_seconds(groups), client=usage.ru_utime + usage.ru_stime)

    async def run_phase(session, kind: str, count: int = rounds) -> dict:
        phase = {"kind": kind, "lat": [], "status": {}, "samples": [], "elapsed": 0.0}
        cpu0 = cpu()
        t0 = time.perf_counter()
        await asyncio.gather(*(supplier(session, i, kind, phase, count) for i in range(len(bidders))))
        phase["elapsed"] = time.perf_counter() - t0
        phase["cpu"] = {k: v - cpu0.get(k, 0.0) for k, v in cpu().items()}
        return phase

    async def main() -> dict:
        connector = aiohttp.TCPConnector(limit=len(bidders))
        timeout = aiohttp.ClientTimeout(total=300)
        phases = []
        async with aiohttp.ClientSession(connector=connector, timeout=timeout) as session:
            # Warm-up, not measured: one request per supplier on each path (worker imports,
            # pooled connections, prepared statements), so neither path pays for it.
            warmup = [await run_phase(session, "bare", 1), await run_phase(session, "sealed", 1)]
            for _ in range(pairs):
                phases.append(await run_phase(session, "bare"))
                phases.append(await run_phase(session, "sealed"))
        return {"phases": phases, "warmup": warmup, "accepted": accepted,
                "body_bytes": body_sizes[0] if body_sizes else 0}

    return asyncio.run(main())


# --------------------------------------------------------------------------- opening (this process)


def open_tender(app, world: dict) -> dict:
    """Move this process's clock to the opening time, let k custodians present their
    shares through procurement.services.opening (the k-th opens), return the record."""
    from accounts.models import User
    from core import clock
    from core.db import db
    from procurement.models import Tender
    from procurement.services import opening

    with app.app_context():
        clock.set_time(world["opening_time"] + timedelta(minutes=1))
        try:
            tender = db.session.get(Tender, world["tender_id"])
            started = time.perf_counter()
            presented = 0
            for user_id, code in world["codes"].items():
                tender = db.session.get(Tender, world["tender_id"])
                user = db.session.get(User, user_id)
                progress = opening.present_share(tender, user, code, totp_code=_totp(user))
                presented += 1
                if progress.opened:
                    break
            elapsed = time.perf_counter() - started
            db.session.expire_all()
            tender = db.session.get(Tender, world["tender_id"])
            record = tender.opening_record or {}
            status = tender.status
            db.session.remove()
        finally:
            clock.reset()
    return {"record": record, "status": status, "elapsed": elapsed, "presented": presented}


# --------------------------------------------------------------------------- profile (this process)


def profile_sealed_path(app, world: dict, attachment_size: int, count: int = 20) -> tuple[int, int | None]:
    """cProfile of `count` API submissions of supplier 0 through the Flask test client (the
    gunicorn code path minus the server): SQL statements per submission, then the
    project's functions by cumulative time and all functions by own time.
    Returns (org id, its last accepted bid id): that bid replaces its rush bid."""
    import cProfile
    import io
    import pstats

    import sqlalchemy as sa

    from core.db import db

    rng = random.Random(99)
    payload = base64.b64encode(attachment_bytes(attachment_size, rng)).decode("ascii")
    client = app.test_client()
    who = world["bidders"][0]
    url = f"/api/v1/tenders/{world['tender_id']}/bids"
    last: list[int | None] = [None]

    def one(n: int) -> int:
        body = bid_body(world["lot_ids"], world["criterion_ids"], LOT_BUDGET - n, payload, "profile.pdf")
        resp = client.post(url, data=body, headers={
            "Authorization": f"Bearer {who['token']}", "Idempotency-Key": uuid.uuid4().hex,
            "Content-Type": "application/json", "Accept": "application/json"})
        if 200 <= resp.status_code < 300:
            last[0] = bid_id_of(resp.get_json())
        return resp.status_code

    one(0)  # warm-up
    statements: list[str] = []
    with app.app_context():
        engine = db.engine

    def count_sql(conn, cursor, statement, parameters, context, executemany):
        statements.append(statement.split(None, 1)[0].upper())
        if args_sql:
            print("    SQL:", " ".join(statement.split())[:160])

    args_sql = bool(os.environ.get("BENCH_PRINT_SQL"))  # print the statements of one submission
    checkouts: list[int] = []

    def count_checkout(dbapi_connection, connection_record, connection_proxy):
        checkouts.append(1)

    sa.event.listen(engine, "before_cursor_execute", count_sql)
    sa.event.listen(engine.pool, "checkout", count_checkout)
    try:
        one(1)
    finally:
        sa.event.remove(engine, "before_cursor_execute", count_sql)
        sa.event.remove(engine.pool, "checkout", count_checkout)
    kinds = {k: statements.count(k) for k in sorted(set(statements))}
    prof = cProfile.Profile()
    t0 = time.perf_counter()
    prof.enable()
    statuses = [one(n + 2) for n in range(count)]
    prof.disable()
    per = (time.perf_counter() - t0) / count * 1000
    print(f"\n  profile: {count} sealed submissions in-process (test client), {per:.1f} ms each "
          f"(statuses {sorted(set(statuses))}); {len(statements)} SQL statements per submission {kinds}, "
          f"{len(checkouts)} connection checkout(s)")
    venv = str(Path(sys.executable).parent.parent) + "/"
    for sort, restrict, n in (("cumulative", r"^(?!.*site-packages).*/work/main/(?!bench)", 40), ("tottime", "", 25)):
        out = io.StringIO()
        stats = pstats.Stats(prof, stream=out)
        stats.sort_stats(sort)
        if restrict:
            stats.print_stats(restrict, n)
        else:
            stats.print_stats(n)
        lines = [line for line in out.getvalue().splitlines() if line.strip()]
        start = next((i for i, line in enumerate(lines) if "ncalls" in line), 0)
        print(f"  by {sort}{' (project code)' if restrict else ''}:")
        for line in lines[start:start + n + 1]:
            print("    " + line.replace(venv, "").replace(str(h.ROOT) + "/", ""))
    return who["org_id"], last[0]


# --------------------------------------------------------------------------- report


def report(results: dict, server: h.Server, suppliers: int, rounds: int) -> tuple[dict, bool]:
    by_kind: dict[str, dict] = {}
    for phase in results["phases"]:
        agg = by_kind.setdefault(phase["kind"], {"lat": [], "status": {}, "elapsed": 0.0, "samples": [], "cpu": {}})
        agg["lat"] += phase["lat"]
        for k, v in phase.get("cpu", {}).items():
            agg["cpu"][k] = agg["cpu"].get(k, 0.0) + v
        agg["elapsed"] += phase["elapsed"]
        for k, v in phase["status"].items():
            agg["status"][k] = agg["status"].get(k, 0) + v
        agg["samples"] += phase["samples"]
    rows = []
    figures = {}
    for kind in ("bare", "sealed"):
        agg = by_kind[kind]
        p = h.percentiles(agg["lat"])
        ok = sum(v for k, v in agg["status"].items() if isinstance(k, int) and 200 <= k < 300)
        errors = len(agg["lat"]) - ok
        rate = len(agg["lat"]) / agg["elapsed"]
        figures[kind] = {"rate": rate, "p99": p[99], "errors": errors}
        rows.append([kind, len(agg["lat"]), f"{rate:.1f}", f"{p[50] * 1000:.0f}", f"{p[95] * 1000:.0f}",
                     f"{p[99] * 1000:.0f}", errors])
    print(f"  {server.describe()}; {suppliers} concurrent suppliers x {rounds} rounds per phase; "
          f"body {results['body_bytes'] / 1024:.0f} KB; phases: " + ", ".join(p["kind"] for p in results["phases"]))
    print("  warm-up (not measured, 1 request per supplier): " + ", ".join(
        f"{p['kind']} {len(p['lat']) / p['elapsed']:.0f}/s, "
        f"{sum(v for k, v in p['status'].items() if not (isinstance(k, int) and 200 <= k < 300))} errors"
        for p in results["warmup"]))
    print("  per phase: " + ", ".join(f"{p['kind']} {len(p['lat']) / p['elapsed']:.0f}/s" for p in results["phases"]))
    print(h.table(rows, ["path", "requests", "req/s", "p50 ms", "p95 ms", "p99 ms", "errors"]))
    for kind in ("bare", "sealed"):
        agg = by_kind[kind]
        if agg["cpu"] and agg["lat"]:
            print(f"  CPU ms per {kind} request: " + ", ".join(
                f"{k} {v / len(agg['lat']) * 1000:.1f}" for k, v in agg["cpu"].items()))
    for kind, agg in by_kind.items():
        for sample in agg["samples"][:3]:
            print(f"  ! {kind}: {sample}")
    for p in results["warmup"]:
        for sample in p["samples"][:3]:
            print(f"  ! warm-up {p['kind']}: {sample}")
    t_ratio = figures["sealed"]["rate"] / figures["bare"]["rate"]
    p_ratio = figures["sealed"]["p99"] / figures["bare"]["p99"]
    ok_t, ok_p = t_ratio >= GOAL_THROUGHPUT_RATIO, p_ratio <= GOAL_P99_RATIO
    print(f"  sealed/bare throughput {t_ratio:.2f}x (goal >= {GOAL_THROUGHPUT_RATIO}x: {'ok' if ok_t else 'MISS'}); "
          f"p99 {p_ratio:.2f}x (goal <= {GOAL_P99_RATIO}x: {'ok' if ok_p else 'MISS'})")
    return figures, ok_t and ok_p


def check_opening(world: dict, accepted: dict, opened: dict) -> bool:
    record = opened["record"]
    in_record = {}
    for lot in record.get("lots", []):
        for entry in lot.get("bids", []):
            in_record.setdefault(entry.get("bidder_org_id"), set()).add(entry.get("bid_id"))
    opened_ok = set(in_record)
    accepted_orgs = set(accepted)
    found = 0
    lost = []
    for org_id, bid_id in accepted.items():
        ids = in_record.get(org_id, set())
        if (bid_id in ids) if bid_id is not None else bool(ids):
            found += 1
        else:
            lost.append((org_id, bid_id, sorted(ids)))
    extra = opened_ok - accepted_orgs
    print(f"  opening: {opened['presented']} shares presented, status {opened['status']}, "
          f"{record.get('bid_count', 0)} bids decrypted ({record.get('opened_count', 0)} opened, "
          f"{record.get('invalid_count', 0)} invalid) in {opened['elapsed']:.1f} s")
    if any(v is None for v in accepted.values()):
        print("  (the API response carried no bid id: matched by bidder only)")
    print(f"  accepted {len(accepted)}, in the opening {found}, lost {len(lost)}"
          + (f", in the opening without an accepted response {len(extra)}" if extra else ""))
    for item in lost[:5]:
        print(f"  ! lost: org {item[0]} bid {item[1]}, in the record: {item[2]}")
    return not lost and record.get("invalid_count", 0) == 0


# --------------------------------------------------------------------------- main


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="20 suppliers, 2 rounds, 1 pair")
    parser.add_argument("--suppliers", type=int, default=None)
    parser.add_argument("--rounds", type=int, default=None, help="requests per supplier per phase")
    parser.add_argument("--pairs", type=int, default=None, help="bare+sealed phase pairs")
    parser.add_argument("--attachment-kb", type=int, default=200)
    # 4 sync workers (2 per core) served both paths best on the quiet 2-core machine: bare
    # 270-300/s and sealed 130-150/s, vs 200-290/s and 95-118/s with 8 (more context
    # switching for the same two cores); 8 had looked best only while other jobs loaded it
    parser.add_argument("--workers", type=int, default=4)
    parser.add_argument("--worker-class", default="sync", choices=["sync", "gthread"])
    parser.add_argument("--threads", type=int, default=4)
    parser.add_argument("--profile", action="store_true", help="cProfile the sealed path in-process afterwards")
    parser.add_argument("--url", default=h.DEFAULT_PG_URL)
    args = parser.parse_args()
    suppliers = args.suppliers or (20 if args.quick else 100)
    rounds = args.rounds or (2 if args.quick else 5)
    pairs = args.pairs or (1 if args.quick else 2)
    size = args.attachment_kb * 1024

    print(f"deadline rush bench: {suppliers} suppliers, sealed bids with a {args.attachment_kb} KB attachment, "
          f"{rounds} rounds x {pairs} pairs of phases; {h.describe_machine()}", flush=True)
    with h.bench_database("rush", args.url) as url, h.bench_env(url) as env:
        app = h.make_app(url)
        world = build_world(app, suppliers)
        world["db_name"] = sa_url_database(url)
        server = h.Server(env, workers=args.workers, worker_class=args.worker_class, threads=args.threads)
        with server:
            results = h.run_load(rush_load, server.base_url, world, rounds, pairs, size)
            if any(isinstance(k, int) and k >= 500
                   for p in results["phases"] + results["warmup"] for k in p["status"]):
                print("  server errors; gunicorn log (tail):\n" + server.log_tail(60))
        _figures, ok = report(results, server, suppliers, rounds)
        if args.profile:
            org_id, bid_id = profile_sealed_path(app, world, size)
            if bid_id is not None:
                results["accepted"][org_id] = bid_id  # the profile's last bid replaced its rush bid
        opened = open_tender(app, world)
        ok = check_opening(world, results["accepted"], opened) and ok
        with app.app_context():
            from core.db import db

            db.engine.dispose()
    print(f"  goals: {'all met' if ok else 'MISSED (see above)'}; after: {h.describe_machine()}")
    return 0  # figures, not a test: a missed goal is printed, not an exit status (make bench goes on)


if __name__ == "__main__":
    try:
        sys.exit(main())
    except Exception:
        traceback.print_exc()
        sys.exit(1)
