"""Public tender search under load: 100,000 tenders, 16 concurrent clients, p50/p95/p99.

    .venv/bin/python bench/tender_search.py [--quick] [--rows 100000] [--clients 16]
        [--seconds 6] [--workers 4 --worker-class sync|gthread --threads 4]

Creates (and drops at the end, also on error) its own PostgreSQL database
`canal_bench_search`, migrated with `flask db upgrade`. Loads buyers and tenders with
COPY (realistic zh/en titles from procurement vocabularies, varied buyers, categories,
methods, budgets, deadlines; statuses mostly published), ANALYZE, builds the tender
search index from the rows (`TENDER_INDEX.rebuild()`, as `flask search rebuild` does; its
time is printed; with --reuse too, the index living in the run's instance directory), then
serves the app with gunicorn (bench/wsgi_bench.py) and drives it from a separate
aiohttp process. Phases run in turns (pk, 2-char zh, ...; twice over) so every kind
sees the same machine state; per kind it prints req/s and p50/p95/p99 beside the bare
primary-key lookup `/_bench/pk/<id>` of the same run:

- pk:          GET /_bench/pk/<id> (one indexed row, small JSON: the floor);
- zh-2:        2-character Chinese keywords (设备, 医疗, 维护...);
- zh-long:     longer Chinese terms (办公设备, 信息化系统, 物业管理服务...);
- en:          English words (equipment, maintenance...);
- filtered:    lists without keyword (status, method, category, budget and deadline ranges);
- mixed:       keyword + filters;
- html-*:      the same through the HTML page /procurement/tenders (when present).

Before the HTTP figures it prints the IN-PROCESS LEVEL: `--clients` client processes
(spawned, each with its own app, pool and session, booted and connected before the first
timed window: no shared GIL) call `procurement.queries.search_tenders` directly, pk being
`session.get(Tender, id)`, in the same turns; beside it "alone": p50/p95 of one client
calling each kind one at a time (the cost of one search with no concurrency).

Goal (DESIGN.md section 10): p95 < 50 ms for the searches. (search_tenders reads the
tender search index only: the in-process level measures the index and the Python that
builds a page; pk there is a database read.)
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import random
import sys
import time
import traceback
from datetime import UTC, datetime, timedelta
from pathlib import Path
from urllib.parse import parse_qsl, urlencode

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import _harness as h  # noqa: E402

GOAL_P95_MS = 50.0

# --------------------------------------------------------------------------- vocabularies

# (zh, en, category, category code)
OBJECTS = [
    ("办公设备", "office equipment", "goods", "A0201"), ("台式计算机", "desktop computers", "goods", "A020102"),
    ("便携式计算机", "laptops", "goods", "A020104"), ("服务器", "servers", "goods", "A020106"),
    ("打印机", "printers", "goods", "A020201"), ("复印机", "copiers", "goods", "A020202"),
    ("网络设备", "network equipment", "goods", "A0203"), ("监控设备", "surveillance equipment", "goods", "A0205"),
    ("医疗器械", "medical devices", "goods", "A0232"), ("医用耗材", "medical consumables", "goods", "A0233"),
    ("检验试剂", "laboratory reagents", "goods", "A0234"), ("教学家具", "classroom furniture", "goods", "A0601"),
    ("办公家具", "office furniture", "goods", "A0602"), ("图书", "books", "goods", "A0801"),
    ("空调", "air conditioners", "goods", "A020501"), ("公务车辆", "official vehicles", "goods", "A0209"),
    ("消防器材", "fire-fighting equipment", "goods", "A0240"), ("实验室设备", "laboratory equipment", "goods", "A0320"),
    ("路灯", "street lights", "goods", "A0250"), ("食材", "food supplies", "goods", "A0901"),
    ("校服", "school uniforms", "goods", "A0701"), ("药品", "medicines", "goods", "A0235"),
    ("信息化系统", "information system", "services", "C0201"), ("软件开发", "software development", "services", "C0202"),
    ("数据中心运维", "data centre operations", "services", "C0203"), ("网络安全", "network security", "services", "C0204"),
    ("物业管理", "property management", "services", "C0801"), ("保洁", "cleaning", "services", "C0802"),
    ("安保", "security guards", "services", "C0803"), ("绿化养护", "landscape maintenance", "services", "C0804"),
    ("电梯维护保养", "lift maintenance", "services", "C0805"), ("审计", "audit", "services", "C1201"),
    ("法律顾问", "legal counsel", "services", "C1202"), ("体检", "health check-ups", "services", "C1501"),
    ("档案数字化", "archive digitisation", "services", "C0210"), ("广告宣传", "advertising", "services", "C1301"),
    ("餐饮", "catering", "services", "C1401"), ("车辆维修", "vehicle repair", "services", "C0806"),
    ("道路维修", "road repair", "works", "B0101"), ("河道整治", "river regulation", "works", "B0102"),
    ("校舍改造", "school building renovation", "works", "B0103"), ("管网改造", "pipe network renewal", "works", "B0104"),
    ("污水处理", "sewage treatment", "works", "B0105"), ("园林景观", "landscape works", "works", "B0106"),
]
ACTIONS = [
    ("采购", "procurement"), ("采购项目", "procurement project"), ("服务项目", "service project"),
    ("维护服务", "maintenance service"), ("升级改造", "upgrade"), ("建设项目", "construction project"),
    ("租赁", "lease"), ("框架协议采购", "framework agreement"), ("更新", "replacement"), ("年度采购", "annual purchase"),
]
PLACES = [
    ("扬州市", "Yangzhou"), ("江都区", "Jiangdu District"), ("邗江区", "Hanjiang District"),
    ("广陵区", "Guangling District"), ("仪征市", "Yizheng"), ("高邮市", "Gaoyou"), ("宝应县", "Baoying County"),
    ("扬州经济技术开发区", "Yangzhou Economic Development Zone"), ("生态科技新城", "Eco-Tech New Town"),
]
UNITS = [
    ("教育局", "Education Bureau"), ("卫生健康委员会", "Health Commission"), ("人民医院", "People's Hospital"),
    ("中医院", "Hospital of Traditional Chinese Medicine"), ("第一中学", "No. 1 Middle School"),
    ("实验小学", "Experimental Primary School"), ("公安局", "Public Security Bureau"),
    ("交通运输局", "Transport Bureau"), ("园林局", "Parks Bureau"), ("城市管理局", "Urban Management Bureau"),
    ("财政局", "Finance Bureau"), ("图书馆", "Library"), ("水利局", "Water Resources Bureau"),
    ("住房和城乡建设局", "Housing and Construction Bureau"), ("档案馆", "Archives"), ("疾病预防控制中心", "CDC"),
    ("市场监督管理局", "Market Regulation Bureau"), ("民政局", "Civil Affairs Bureau"), ("职业技术学院", "Polytechnic"),
]
DESCRIPTIONS_ZH = [
    "本项目采用电子招标，投标人须在投标截止时间前通过平台提交加密投标文件。",
    "供应商应具备相应资质，提供三年内类似项目业绩。",
    "交货期为合同签订后三十日内，质保期不少于三年。",
    "服务期一年，期满考核合格可续签。",
    "本项目面向中小企业预留份额。",
    "详见招标文件技术需求部分。",
]
DESCRIPTIONS_EN = [
    "Sealed electronic bids are submitted on the platform before the deadline.",
    "Suppliers must hold the relevant licences and show similar contracts in the last three years.",
    "Delivery within thirty days of the contract; warranty of at least three years.",
    "One-year service term, renewable after a satisfactory review.",
    "A share of this tender is reserved for small and medium enterprises.",
    "See the technical requirements in the tender documents.",
]
METHODS = [("open", 60), ("competitive_negotiation", 10), ("competitive_consultation", 10), ("inquiry", 10),
           ("invitation", 5), ("single_source", 5)]
STATUSES = [("published", 85), ("opened", 4), ("evaluation", 2), ("cancelled", 3), ("unsuccessful", 1), ("draft", 5)]

ZH2_TERMS = ["设备", "医疗", "维护", "采购", "办公", "家具", "系统", "服务", "改造", "监控", "车辆", "绿化", "物业", "扬州"]
ZH_LONG_TERMS = ["办公设备", "信息化系统", "物业管理", "医疗器械", "教学家具", "绿化养护", "电梯维护保养",
                 "扬州市人民医院", "网络安全服务", "校舍改造"]
EN_TERMS = ["equipment", "maintenance", "medical", "furniture", "software", "network security", "lift",
            "procurement project", "hospital", "road"]


def _weighted(rng: random.Random, pairs):
    values, weights = zip(*pairs, strict=True)
    return rng.choices(values, weights=weights)[0]


# --------------------------------------------------------------------------- data


def load_data(app, rows: int, seed: int = 7) -> dict:
    """Buyers through the ORM, tenders by COPY; returns facts the queries need."""
    import sqlalchemy as sa

    from accounts.models import Organization
    from accounts.uscc import make_uscc
    from core.db import db
    from procurement.models import Tender
    from procurement.states import TIME_DRIVEN

    rng = random.Random(seed)
    now = datetime.now(UTC)
    started = time.perf_counter()
    with app.app_context():
        buyers = []
        for i, (place, unit) in enumerate((p, u) for p in PLACES for u in UNITS):
            org = Organization(kinds=["buyer"], name_zh=place[0] + unit[0], name_en=f"{place[1]} {unit[1]}",
                               uscc=make_uscc(500_000 + i), verification="verified")
            db.session.add(org)
            buyers.append(org)
        db.session.commit()
        buyer_names = {o.id: (o.name_zh, o.name_en) for o in buyers}
        buyer_ids = list(buyer_names)

        table = Tender.__table__
        explicit = {
            "buyer_org_id", "title_zh", "title_en", "description_zh", "description_en", "category", "category_code",
            "budget", "method", "status", "enquiry_end", "submission_deadline", "opening_time", "published_at",
            "cancelled_at", "cancel_reason", "opened_at", "created_at", "updated_at",
            "custodian_threshold", "custodian_count", "evaluation_method", "sme_deduction_pct", "version", "currency",
        }
        defaults = {}
        for col in table.columns:
            if col.primary_key or col.name in explicit:
                continue
            default = col.default
            if default is not None and default.is_scalar:
                defaults[col.name] = default.arg
            elif default is not None and default.is_callable:
                defaults[col.name] = default.arg(None)  # SQLAlchemy wraps it to take a context
            elif col.nullable:
                defaults[col.name] = None
            else:
                raise RuntimeError(f"tenders.{col.name}: no value for the bench rows")
        columns = sorted(explicit) + sorted(defaults)
        time_driven = sorted(s.value for s in TIME_DRIVEN)
        facts = {"ids": [], "buyers": buyer_ids}

        def make_row() -> dict:
            obj_zh, obj_en, category, code = rng.choice(OBJECTS)
            act_zh, act_en = rng.choice(ACTIONS)
            buyer = rng.choice(buyer_ids)
            b_zh, b_en = buyer_names[buyer]
            year = rng.choice(["", "2025年", "2026年", "2025-2026年度"])
            title_zh = f"{b_zh}{year}{obj_zh}{act_zh}"
            title_en = f"{b_en}: {obj_en} {act_en}"
            picks = rng.sample(range(len(DESCRIPTIONS_ZH)), 2)
            desc_zh = "".join(DESCRIPTIONS_ZH[i] for i in picks)
            desc_en = " ".join(DESCRIPTIONS_EN[i] for i in picks)
            status = _weighted(rng, STATUSES)
            published_at = now - timedelta(days=rng.uniform(0, 720))
            if status == "published":
                # recent ones still open; older ones awaiting opening (both time-driven)
                published_at = now - timedelta(days=rng.uniform(0, 90) if rng.random() < 0.5 else rng.uniform(0, 720))
                status = rng.choice(time_driven)
            deadline = published_at + timedelta(days=rng.randint(5, 40), hours=rng.randint(0, 8))
            enquiry_end = published_at + timedelta(days=rng.randint(2, 4)) if rng.random() < 0.7 else None
            budget = int(10 ** rng.uniform(6, 9.7)) // 100 * 100  # 10,000 to 50,000,000 yuan, in fen
            row = dict(defaults)
            row.update(
                buyer_org_id=buyer, title_zh=title_zh, title_en=title_en, description_zh=desc_zh,
                description_en=desc_en, category=category, category_code=code, budget=budget,
                method=_weighted(rng, METHODS), status=status, enquiry_end=enquiry_end,
                submission_deadline=deadline, opening_time=deadline + timedelta(hours=1),
                published_at=None if status == "draft" else published_at,
                cancelled_at=deadline - timedelta(days=1) if status == "cancelled" else None,
                cancel_reason="需求变更" if status == "cancelled" else "",
                opened_at=deadline + timedelta(hours=1) if status in ("opened", "evaluation", "unsuccessful") else None,
                created_at=published_at - timedelta(days=3), updated_at=published_at,
                custodian_threshold=2, custodian_count=3, evaluation_method="lowest_price", sme_deduction_pct=10,
                version=1, currency="CNY",
            )
            return row

        engine = db.engine
        raw = engine.raw_connection()
        try:
            cur = raw.cursor()
            with cur.copy(f"COPY tenders ({', '.join(columns)}) FROM STDIN") as copy:
                for _ in range(rows):
                    row = make_row()
                    copy.write_row([row[c] for c in columns])
            raw.commit()
        finally:
            raw.close()
        with engine.connect() as conn:
            facts["ids"] = [r[0] for r in conn.execute(sa.text(
                "SELECT id FROM tenders WHERE status <> 'draft' ORDER BY random() LIMIT 2000"))]
        with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
            conn.execute(sa.text("VACUUM ANALYZE tenders"))
            conn.execute(sa.text("VACUUM ANALYZE organizations"))
        db.session.remove()
    print(f"  loaded {len(buyer_ids)} buyers and {rows:,} tenders (COPY + VACUUM ANALYZE) "
          f"in {time.perf_counter() - started:.1f} s", flush=True)
    return facts


def build_index(app) -> None:
    from procurement.search import TENDER_INDEX

    started = time.perf_counter()
    with app.app_context():
        count = TENDER_INDEX.rebuild()
    print(f"  search index: {count:,} published tenders indexed in {time.perf_counter() - started:.1f} s "
          "(TENDER_INDEX.rebuild, as `flask search rebuild`)", flush=True)


# --------------------------------------------------------------------------- queries


def build_queries(facts: dict, api_path: str | None, html_path: str | None, rng: random.Random) -> dict:
    """{kind: [path?query, ...]} for each kind measured."""
    today = datetime.now(UTC).date()

    def filtered_params() -> dict:
        choice = rng.randrange(6)
        if choice == 0:
            return {"status": "active.tendering"}
        if choice == 1:
            return {"method": rng.choice(["open", "inquiry", "competitive_negotiation"]), "status": "active.tendering"}
        if choice == 2:
            return {"category": rng.choice(["goods", "services", "works"]), "page": rng.randint(1, 5)}
        if choice == 3:
            low = rng.choice([10_000_00, 100_000_00, 1_000_000_00])
            return {"budget_min": low, "budget_max": low * 10}
        if choice == 4:
            start = today + timedelta(days=rng.randint(-30, 20))
            return {"deadline_from": start.isoformat(), "deadline_to": (start + timedelta(days=14)).isoformat()}
        return {"page": rng.randint(1, 20)}

    def mixed_params() -> dict:
        p = {"q": rng.choice(ZH2_TERMS + EN_TERMS[:4])}
        p.update(rng.choice([{"status": "active.tendering"}, {"category": "goods"}, {"method": "open"},
                             {"budget_min": 1_000_000_00}]))
        return p

    kinds: dict[str, list[str]] = {"pk": [f"/_bench/pk/{i}" for i in facts["ids"][:500]]}
    gens = {
        "zh-2": lambda: {"q": rng.choice(ZH2_TERMS)},
        "zh-long": lambda: {"q": rng.choice(ZH_LONG_TERMS)},
        "en": lambda: {"q": rng.choice(EN_TERMS)},
        "filtered": filtered_params,
        "mixed": mixed_params,
    }
    for name, gen in gens.items():
        queries = [gen() for _ in range(300)]  # the same queries through the API and the page
        if api_path is not None:
            kinds[name] = [f"{api_path}?{urlencode(p)}" for p in queries]
        if html_path is not None and name != "mixed":
            kinds["html-" + name] = [f"{html_path}?{urlencode(_in_yuan(p))}" for p in queries]
    return kinds


def _in_yuan(params: dict) -> dict:
    """The page's budget fields take yuan (the API takes fen)."""
    return {k: (f"{v / 100:.2f}" if k in ("budget_min", "budget_max") else v) for k, v in params.items()}


# --------------------------------------------------------------------------- load (separate process)


def load(base_url: str, kinds: dict[str, list[str]], clients: int, seconds: float, turns: int) -> dict:
    """Runs in the load-generator process: each kind for seconds/turns, `turns` times over,
    `clients` concurrent connections (keep-alive). Returns per kind latencies (s), statuses."""
    import aiohttp

    async def phase(session, paths: list[str], duration: float, out: dict) -> None:
        stop_at = time.perf_counter() + duration
        counter = iter(range(10**9))

        async def client() -> None:
            while time.perf_counter() < stop_at:
                path = paths[next(counter) % len(paths)]
                t0 = time.perf_counter()
                try:
                    async with session.get(base_url + path) as resp:
                        await resp.read()
                        status = resp.status
                except Exception as exc:  # connection errors are counted, not fatal
                    status = type(exc).__name__
                out["lat"].append(time.perf_counter() - t0)
                out["status"][status] = out["status"].get(status, 0) + 1
                if status != 200 and len(out["samples"]) < 3:
                    out["samples"].append(f"{status} {path}")

        t0 = time.perf_counter()
        await asyncio.gather(*(client() for _ in range(clients)))
        out["elapsed"] += time.perf_counter() - t0

    async def main() -> dict:
        results = {k: {"lat": [], "status": {}, "elapsed": 0.0, "samples": []} for k in kinds}
        connector = aiohttp.TCPConnector(limit=clients, force_close=False)
        timeout = aiohttp.ClientTimeout(total=60)
        async with aiohttp.ClientSession(connector=connector, timeout=timeout) as session:
            warm = {"lat": [], "status": {}, "elapsed": 0.0, "samples": []}
            for paths in kinds.values():  # warm-up: every worker imports and caches
                await phase(session, paths, min(1.0, seconds / turns / 2), warm)
            for _ in range(turns):
                for kind, paths in kinds.items():
                    await phase(session, paths, seconds / turns, results[kind])
        return results

    return asyncio.run(main())


# --------------------------------------------------------------------------- alone (this process)


def service_times(app, kinds: dict[str, list[str]], per_kind: int = 20) -> dict[str, float]:
    """Median ms of `per_kind` requests of each kind, one at a time through the Flask test
    client in this process (no server, no queueing): what one request costs."""
    import statistics

    client = app.test_client()
    out = {}
    for kind, paths in kinds.items():
        client.get(paths[0])
        times = []
        for path in paths[1:per_kind + 1]:
            t0 = time.perf_counter()
            client.get(path)
            times.append((time.perf_counter() - t0) * 1000)
        out[kind] = statistics.median(times)
    return out


def profile_kind(app, paths: list[str], count: int = 30) -> None:
    """cProfile of `count` requests of one kind in-process: where a request's time goes."""
    import cProfile
    import io
    import pstats

    client = app.test_client()
    client.get(paths[0])
    prof = cProfile.Profile()
    prof.enable()
    for path in paths[1:count + 1]:
        client.get(path)
    prof.disable()
    out = io.StringIO()
    pstats.Stats(prof, stream=out).sort_stats("cumulative").print_stats(r"^(?!.*site-packages).*/work/main/(?!bench)", 25)
    lines = [line for line in out.getvalue().splitlines() if line.strip()]
    start = next((i for i, line in enumerate(lines) if "ncalls" in line), 0)
    for line in lines[start:start + 26]:
        print("    " + line.replace(str(h.ROOT) + "/", ""))


# --------------------------------------------------------------------------- in-process level: calls


def search_params(qs: str) -> dict:
    """TenderSearch keyword arguments of a query string of build_queries."""
    from procurement import queries

    fields = set(queries.TenderSearch.__dataclass_fields__)
    params: dict = {}
    for key, value in parse_qsl(qs):
        if key not in fields:
            continue
        if key in ("budget_min", "budget_max", "page", "per_page"):
            params[key] = int(value)
        elif key in ("deadline_from", "deadline_to"):
            params[key] = datetime.fromisoformat(value).date()
        else:
            params[key] = value
    return params


def db_calls(kinds: dict[str, list[str]]) -> dict[str, list]:
    """{kind: [call, ...]}: the API kinds as `search_tenders` arguments, pk as tender ids."""
    calls: dict[str, list] = {}
    for kind, paths in kinds.items():
        if kind == "pk":
            calls[kind] = [int(p.rsplit("/", 1)[1]) for p in paths]
        elif not kind.startswith("html-") and "?" in paths[0]:
            calls[kind] = [search_params(p.split("?", 1)[1]) for p in paths]
    return calls


def _db_call(kind: str, call) -> None:
    """One database-level request: `search_tenders` of the call, or the pk lookup."""
    from core.db import db
    from procurement import queries
    from procurement.models import Tender

    if kind == "pk":
        if db.session.get(Tender, call) is None:
            raise LookupError(call)
    else:
        queries.search_tenders(queries.TenderSearch(**call))


def _db_client(url: str, index: int, clients: int, calls: dict[str, list], schedule: list[tuple[str, float, bool]],
               barrier, start_at, out_queue) -> None:
    """A client PROCESS of the in-process level (own interpreter, app, pool and session): for
    every (kind, seconds, measured) of `schedule`, waits for all clients at `barrier`, then
    calls that kind in a loop until the window closes (session removed after every call,
    as at the end of a request). Puts {kind: {"lat", "status", "end"}} of the measured
    phases on `out_queue`."""
    from core.db import db

    app = h.make_app(url, pool_size=1)
    results: dict[str, dict] = {}
    with app.app_context():
        for kind in calls:  # a connection and warm caches before any clock starts
            _db_call(kind, calls[kind][0])
            db.session.remove()
        for n, (kind, seconds, measured) in enumerate(schedule):
            barrier.wait(timeout=300)
            while not start_at[n]:  # set by the parent right after the barrier
                time.sleep(0.0002)
            t_start = start_at[n]
            while time.monotonic() < t_start:
                time.sleep(0.0005)
            stop = t_start + seconds
            todo = calls[kind]
            i = index
            lat, status = [], {}
            end = t_start
            while time.monotonic() < stop:
                call = todo[i % len(todo)]
                i += clients
                t0 = time.perf_counter()
                try:
                    _db_call(kind, call)
                    result: int | str = 200
                except Exception as exc:  # counted, not fatal
                    result = type(exc).__name__
                finally:
                    db.session.remove()
                lat.append(time.perf_counter() - t0)
                status[result] = status.get(result, 0) + 1
                end = time.monotonic()
            if measured:
                r = results.setdefault(kind, {"lat": [], "status": {}, "end": []})
                r["lat"] += lat
                for s, c in status.items():
                    r["status"][s] = r["status"].get(s, 0) + c
                r["end"].append(end - t_start)
    out_queue.put(results)


def db_level(url: str, calls: dict[str, list], clients: int, seconds: float, turns: int) -> dict:
    """`clients` client processes (spawned, each with its own app, pool and session, all
    started and connected before the first timed window) call `search_tenders` directly
    (or `session.get(Tender, id)` for pk), kind after kind in `turns` turns like the HTTP
    phases. No shared GIL: the figures are the database's and each client's own work.
    Returns per kind latencies (s) like `load`."""
    import multiprocessing

    ctx = multiprocessing.get_context("spawn")
    warm = [(kind, min(0.5, seconds / turns / 2), False) for kind in calls]
    measured = [(kind, seconds / turns, True) for _ in range(turns) for kind in calls]
    schedule = warm + measured
    barrier = ctx.Barrier(clients + 1)
    start_at = ctx.Array("d", len(schedule), lock=False)
    out_queue = ctx.Queue()
    procs = [ctx.Process(target=_db_client, args=(url, i, clients, calls, schedule, barrier, start_at, out_queue),
                         daemon=True) for i in range(clients)]
    for p in procs:
        p.start()
    try:
        for n in range(len(schedule)):
            barrier.wait(timeout=300)  # every client at the start line (the first time: booted and connected)
            start_at[n] = time.monotonic() + 0.02
        parts = [out_queue.get(timeout=max(120.0, seconds * len(calls) * 4)) for _ in procs]
    finally:
        for p in procs:
            p.join(timeout=30)
            if p.is_alive():
                p.terminate()
    results = {k: {"lat": [], "status": {}, "elapsed": 0.0, "samples": []} for k in calls}
    ends: dict[str, list[list[float]]] = {k: [] for k in calls}
    for part in parts:
        for kind, r in part.items():
            results[kind]["lat"] += r["lat"]
            for s, c in r["status"].items():
                results[kind]["status"][s] = results[kind]["status"].get(s, 0) + c
            ends[kind].append(r["end"])
    for kind, per_client in ends.items():  # per turn the last client to finish closes the window
        results[kind]["elapsed"] = sum(max(turn) for turn in zip(*per_client, strict=True)) if per_client else 0.0
    return results


def alone_times(app, calls: dict[str, list], per_kind: int = 40) -> dict[str, tuple[float, float]]:
    """(median, p95) ms of `per_kind` database-level calls of each kind, one at a time in
    this process (one client, no concurrency): what one search costs by itself."""
    import statistics

    from core.db import db

    out = {}
    with app.app_context():
        for kind, todo in calls.items():
            _db_call(kind, todo[0])
            db.session.remove()
            times = []
            for call in todo[1:per_kind + 1]:
                t0 = time.perf_counter()
                _db_call(kind, call)
                db.session.remove()
                times.append((time.perf_counter() - t0) * 1000)
            out[kind] = (statistics.median(times), h.percentiles(times)[95])
    return out


# --------------------------------------------------------------------------- main


def _probe(base_url: str, path: str) -> int:
    import urllib.error
    import urllib.request

    try:
        with urllib.request.urlopen(base_url + path, timeout=30) as resp:  # noqa: S310 - loopback
            return resp.status
    except urllib.error.HTTPError as exc:
        return exc.code


def existing_facts(app) -> dict:
    """The facts of an already loaded database (--reuse)."""
    import sqlalchemy as sa

    from core.db import db

    with app.app_context():
        ids = [r[0] for r in db.session.execute(sa.text(
            "SELECT id FROM tenders WHERE status <> 'draft' ORDER BY random() LIMIT 2000"))]
        buyers = [r[0] for r in db.session.execute(sa.text(
            "SELECT DISTINCT buyer_org_id FROM tenders ORDER BY 1"))]
        db.session.remove()
    return {"ids": ids, "buyers": buyers}


@contextlib.contextmanager
def _database(args, rows: int):
    """(url, loaded?) of a fresh bench database; with --reuse an existing one is used as it is
    (and kept), with --keep the fresh one is kept for later --reuse runs."""
    import sqlalchemy as sa

    if args.reuse:
        url = sa.engine.make_url(args.url).set(database="canal_bench_search").render_as_string(hide_password=False)
        engine = sa.create_engine(url)
        try:
            with engine.connect() as conn:
                count = conn.scalar(sa.text("SELECT count(*) FROM tenders"))
        finally:
            engine.dispose()
        print(f"  reusing canal_bench_search: {count:,} tenders", flush=True)
        yield url, False
        return
    with h.bench_database("search", args.url, keep=args.keep) as url:
        yield url, True


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="10,000 tenders, short phases")
    parser.add_argument("--rows", type=int, default=None)
    parser.add_argument("--clients", type=int, default=16, help="HTTP clients and database-level client processes")
    parser.add_argument("--seconds", type=float, default=None, help="measured seconds per kind (all turns)")
    parser.add_argument("--turns", type=int, default=2)
    parser.add_argument("--workers", type=int, default=4)
    parser.add_argument("--worker-class", default="sync", choices=["sync", "gthread"])
    parser.add_argument("--threads", type=int, default=4)
    parser.add_argument("--profile", default="", help="comma-separated kinds to cProfile in-process, e.g. zh-2,html-zh-2")
    parser.add_argument("--db-only", action="store_true", help="in-process level only (no gunicorn, no HTTP)")
    parser.add_argument("--keep", action="store_true", help="keep the database canal_bench_search afterwards")
    parser.add_argument("--reuse", action="store_true", help="use the kept canal_bench_search as it is (no load)")
    parser.add_argument("--url", default=h.DEFAULT_PG_URL)
    args = parser.parse_args()
    rows = args.rows or (10_000 if args.quick else 100_000)
    seconds = args.seconds or (2.0 if args.quick else 8.0)

    print(f"tender search bench: {rows:,} tenders, {args.clients} concurrent clients, {seconds:.0f} s per kind "
          f"in {args.turns} turns; {h.describe_machine()}", flush=True)
    with _database(args, rows) as (url, fresh), h.bench_env(url) as env:
        app = h.make_app(url, pool_size=args.clients + 2)
        facts = load_data(app, rows) if fresh else existing_facts(app)
        build_index(app)
        results = None
        if args.db_only:
            kinds = build_queries(facts, "/api/v1/tenders", None, random.Random(11))
        else:
            server = h.Server(env, workers=args.workers, worker_class=args.worker_class, threads=args.threads)
            with server:
                api_path = "/api/v1/tenders" if _probe(server.base_url, "/api/v1/tenders?" + urlencode({"q": "设备"})) == 200 else None
                html_path = "/procurement/tenders" if _probe(server.base_url, "/procurement/tenders?" + urlencode({"q": "设备"})) == 200 else None
                if api_path is None:
                    print("  (GET /api/v1/tenders not available: API kinds skipped)")
                if html_path is None:
                    print("  (GET /procurement/tenders not available: HTML kinds skipped)")
                kinds = build_queries(facts, api_path or "/api/v1/tenders", html_path, random.Random(11))
                if api_path is None:
                    kinds = {k: v for k, v in kinds.items() if k == "pk" or k.startswith("html-")}
                print(f"  {server.describe()}; load generator: aiohttp in a separate process", flush=True)
                results = h.run_load(load, server.base_url, kinds, args.clients, seconds, args.turns)
        calls = db_calls(kinds)
        db_alone = alone_times(app, calls)
        print(f"  in-process level: {args.clients} client processes (spawned, each its own app and session, removed "
              "after every call) call search_tenders directly", flush=True)
        db_results = db_level(url, calls, args.clients, seconds, args.turns)
        print(f"\n  IN-PROCESS LEVEL ({args.clients} client processes; search_tenders; pk = session.get(Tender, id), same run)")
        report(db_results, db_alone)
        if results is not None:
            alone = service_times(app, kinds)
            print("\n  HTTP (gunicorn; pk = GET /_bench/pk/<id>, same run)")
            report(results, alone)
        if args.profile:
            for kind in args.profile.split(","):
                print(f"\n  profile {kind} (in-process, project code by cumulative time):")
                profile_kind(app, kinds[kind])
    print(f"  after: {h.describe_machine()}")
    return 0


def report(results: dict, alone: dict | None) -> None:
    pk = h.percentiles(results["pk"]["lat"])
    rows = []
    for kind, r in results.items():
        lat = r["lat"]
        p = h.percentiles(lat)
        ok = r["status"].get(200, 0)
        errors = sum(n for s, n in r["status"].items() if s != 200)
        rate = len(lat) / r["elapsed"] if r["elapsed"] else 0.0
        goal = "" if kind == "pk" else ("ok" if p[95] * 1000 < GOAL_P95_MS else "MISS")
        row = [kind, len(lat), f"{rate:.0f}", f"{p[50] * 1000:.1f}", f"{p[95] * 1000:.1f}",
               f"{p[99] * 1000:.1f}", f"{p[95] / pk[95]:.1f}x", ok, errors, goal]
        if alone is not None:
            one = alone.get(kind, 0.0)
            row.append(f"{one[0]:.1f} / {one[1]:.1f}" if isinstance(one, tuple) else f"{one:.1f}")
        rows.append(row)
        for sample in r["samples"]:
            print(f"  ! {kind}: {sample}")
        if errors and not r["samples"]:
            print(f"  ! {kind}: {dict(r['status'])}")
    headers = ["kind", "requests", "req/s", "p50 ms", "p95 ms", "p99 ms", "p95/pk", "200", "errors",
               f"p95<{GOAL_P95_MS:.0f}ms"]
    per_call = alone is not None and any(isinstance(v, tuple) for v in alone.values())
    print(h.table(rows, headers + ([("alone p50 / p95 ms" if per_call else "alone ms")] if alone is not None else [])))
    if per_call:
        print("  (alone: one client, one call at a time, no concurrency: what one call costs by itself)")
    elif alone is not None:
        print("  (alone ms: median of one request at a time in-process, no server: the cost of one request)")


if __name__ == "__main__":
    try:
        sys.exit(main())
    except Exception:
        traceback.print_exc()
        sys.exit(1)
