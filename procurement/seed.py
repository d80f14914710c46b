"""Demo data of the procurement area (`flask seed-demo`, after the accounts and payments seeds).

Tenders of the demo buyers (edu, health) in every state issue 4 reaches, built through
the real services with `core.clock` frozen at moments in the past (dates relative to the
day of the first run), so every publishing rule, deadline and 2FA check applies:

- a draft;
- one in its enquiry period, with an answered (public) question and an unanswered one;
- one accepting bids, with sealed bids, bonds (a confirmed transfer and a pending
  guarantee) and an amendment;
- one awaiting its opening (deadline and opening time passed) with bids of 3 suppliers:
  its custodians' shares are left *uncollected* on the platform and written to the demo
  shares file, so custodian1@edu and custodian2@edu can run the opening in the browser;
- one opened by the custodians (opening record published);
- one cancelled (reason published, bonds refunded / released);
- one opened with an unsuccessful lot (fewer bids than the method's minimum).

Idempotent: a tender is looked up by buyer and title and built only when missing, each
in one unit of work (all or nothing). Only in a demo database (accounts' marker).

The custodians' share codes go to a demo-only file (`PROCUREMENT_DEMO_SHARES_FILE`, by
default `instance/demo_custodian_shares.json`) and are printed at the end of every run.

Two more verified suppliers (with bank accounts, for bond refunds) are added here: of the
four accounts demo suppliers only two may bid (one is unverified, one debarred), and an
opening needs bids of 3.
"""

from __future__ import annotations

import json
import os
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from pathlib import Path
from typing import Any

import pyotp
import sqlalchemy as sa
from flask import current_app

from accounts.models import Organization, User
from core import clock
from core.db import db, unit_of_work
from core.errors import DomainError

SHARES_FILE_NAME = "demo_custodian_shares.json"
SHARES_FILE_FORMAT = "canal-demo-custodian-shares"

Echo = Callable[[str], Any]


# --------------------------------------------------------------------------- extra suppliers


def _extra_suppliers():
    from accounts.seed import DemoOrg, _u
    from accounts.states import OrgKind, Role, SizeClass
    from accounts.uscc import make_uscc

    return (
        (
            DemoOrg(
                "wenchang", make_uscc(810311), "扬州文昌教育装备有限公司", "Yangzhou Wenchang Education Equipment Co., Ltd.",
                (OrgKind.SUPPLIER,), SizeClass.SMALL, "扬州市广陵区文昌东路 218 号", "0514-87350311",
                (_u("bidder@wenchang.example.com", "金海", Role.BIDDER, Role.ORG_ADMIN),),
            ),
            dict(bank_name="中国建设银行扬州文昌支行", bank_account_name="扬州文昌教育装备有限公司",
                 bank_account_number="3205 0173 5201 0000 0311"),
        ),
        (
            DemoOrg(
                "runyang", make_uscc(810312), "江苏润扬医疗器械有限公司", "Jiangsu Runyang Medical Devices Co., Ltd.",
                (OrgKind.SUPPLIER,), SizeClass.MEDIUM, "扬州市邗江区润扬南路 36 号", "0514-87350312",
                (_u("bidder@runyang.example.com", "蔡琳", Role.BIDDER, Role.ORG_ADMIN),),
            ),
            dict(bank_name="中国农业银行扬州邗江支行", bank_account_name="江苏润扬医疗器械有限公司",
                 bank_account_number="1031 2101 0400 0312 8"),
        ),
    )


def _ensure_extra_suppliers() -> int:
    from accounts.passwords import hash_password
    from accounts.seed import DEMO_PASSWORD, _ensure_org, _ensure_user

    created = 0
    with unit_of_work():
        password_hash = None
        for spec, bank in _extra_suppliers():
            org, new = _ensure_org(spec)
            if new:
                for key, value in bank.items():
                    setattr(org, key, value)
                created += 1
            for user_spec in spec.users:
                exists = db.session.scalar(sa.select(User.id).where(User.email == user_spec.email))
                if exists is None and password_hash is None:
                    password_hash = hash_password(DEMO_PASSWORD)
                created += _ensure_user(user_spec, org, password_hash or "")
    return created


# --------------------------------------------------------------------------- look-ups


def _org(key: str) -> Organization:
    from accounts.seed import ORGS

    specs = {spec.key: spec for spec in ORGS}
    specs.update({spec.key: spec for spec, _bank in _extra_suppliers()})
    org = db.session.scalar(sa.select(Organization).where(Organization.uscc == specs[key].uscc))
    if org is None:
        raise RuntimeError(f"demo organization {key!r} is missing: run the accounts seed first")
    return org


def _user(email: str) -> User:
    user = db.session.scalar(sa.select(User).where(User.email == email))
    if user is None:
        raise RuntimeError(f"demo user {email} is missing: run the accounts seed first")
    return user


@dataclass
class Party:
    org: Organization
    user: User


def _supplier(key: str, email: str) -> Party:
    return Party(_org(key), _user(email))


@dataclass
class BuyerSide:
    org: Organization
    officer: User
    custodians: list[User]


def _buyer(key: str) -> BuyerSide:
    return BuyerSide(
        _org(key), _user(f"officer1@{key}.example.com"),
        [_user(f"custodian{i}@{key}.example.com") for i in (1, 2, 3)],
    )


# --------------------------------------------------------------------------- small builders


def _pdf(title: str, lines: list[str]) -> bytes:
    """A small valid one-page PDF (ASCII text, Helvetica) for demo documents and slips."""

    def esc(text: str) -> str:
        text = text.encode("ascii", "replace").decode("ascii")
        return text.replace("\\", "\\\\").replace("(", "\\(").replace(")", "\\)")

    rows = [f"BT /F1 16 Tf 56 780 Td ({esc(title)}) Tj ET"]
    y = 750
    for line in lines:
        rows.append(f"BT /F1 11 Tf 56 {y} Td ({esc(line)}) Tj ET")
        y -= 18
    stream = "\n".join(rows).encode("ascii")
    objects = [
        b"<< /Type /Catalog /Pages 2 0 R >>",
        b"<< /Type /Pages /Kids [3 0 R] /Count 1 >>",
        b"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 595 842] /Resources << /Font << /F1 5 0 R >> >> "
        b"/Contents 4 0 R >>",
        b"<< /Length %d >>\nstream\n" % len(stream) + stream + b"\nendstream",
        b"<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica >>",
    ]
    out = bytearray(b"%PDF-1.4\n")
    offsets = []
    for number, body in enumerate(objects, start=1):
        offsets.append(len(out))
        out += b"%d 0 obj\n" % number + body + b"\nendobj\n"
    xref = len(out)
    out += b"xref\n0 %d\n0000000000 65535 f \n" % (len(objects) + 1)
    for offset in offsets:
        out += b"%010d 00000 n \n" % offset
    out += b"trailer\n<< /Size %d /Root 1 0 R >>\nstartxref\n%d\n%%%%EOF\n" % (len(objects) + 1, xref)
    return bytes(out)


def _stored_pdf(name: str, title: str, lines: list[str], purpose: str, user: User | None = None):
    from core.files import save_file

    return save_file(_pdf(title, lines), filename=name, allowed={"pdf"}, purpose=purpose,
                     uploaded_by_id=user.id if user else None)


def _totp(user: User) -> str:
    """A TOTP code of `user` valid at the (frozen) clock, for a time step never used before."""
    db.session.refresh(user)
    step = int(clock.now().timestamp()) // 30
    if user.totp_last_step is not None and step <= user.totp_last_step:
        raise RuntimeError(f"cannot make a fresh authentication code for {user.email} at {clock.now().isoformat()}: "
                           "a later code was already used (the demo timeline is out of order)")
    return pyotp.TOTP(user.totp_secret).at(step * 30)


@contextmanager
def _at(moment: datetime) -> Iterator[None]:
    with clock.frozen(moment):
        yield


@dataclass
class Built:
    """What building one tender gave: the custodians' shares for the demo file."""

    shares: list[dict] = field(default_factory=list)


# --------------------------------------------------------------------------- tender specs


@dataclass(frozen=True)
class Spec:
    key: str
    buyer: str  # edu / health
    title_zh: str
    title_en: str
    description_zh: str
    description_en: str
    category: str
    category_code: str
    lots: tuple[dict, ...]
    evaluation_method: str = "lowest_price"
    criteria: tuple[dict, ...] = ()
    method: str = "open"


YUAN = 100  # fen

SPECS: dict[str, Spec] = {s.key: s for s in (
    Spec(
        "draft", "edu", "扬州市中小学智慧黑板采购（演示草稿）", "Smart blackboards for Yangzhou schools (demo draft)",
        "为全市 42 所中小学采购交互式智慧黑板，含安装与三年质保。",
        "Interactive smart blackboards for 42 primary and secondary schools, with installation and a 3-year warranty.",
        "goods", "A02021101",
        (dict(title_zh="智慧黑板", title_en="Smart blackboards", budget=3_360_000 * YUAN, bond_amount=60_000 * YUAN,
              quantity=420, unit="套", delivery_terms="合同签订后 45 日内安装完毕"),),
    ),
    Spec(
        "enquiries", "edu", "扬州市教育局学生课桌椅采购", "Student desks and chairs for the Education Bureau",
        "为新建及改扩建学校采购可调节学生课桌椅。答疑期内欢迎供应商提问。",
        "Adjustable student desks and chairs for new and extended schools. Questions are welcome during the "
        "enquiry period.",
        "goods", "A05010101",
        (dict(title_zh="可调节课桌椅", title_en="Adjustable desks and chairs", budget=1_800_000 * YUAN,
              bond_amount=30_000 * YUAN, quantity=6000, unit="套", delivery_terms="开学前 30 日内交付"),),
    ),
    Spec(
        "tendering", "health", "扬州市卫生健康委员会医用防护用品采购", "Medical protective equipment for the Health Commission",
        "采购医用防护服、医用外科口罩等防护用品，综合评分法。",
        "Protective gowns and surgical masks for the municipal hospitals; scored evaluation.",
        "goods", "A02320101",
        (dict(title_zh="医用防护用品", title_en="Medical protective equipment", budget=2_500_000 * YUAN,
              bond_amount=50_000 * YUAN, quantity=1, unit="批", delivery_terms="分三批交付，每批间隔 30 日"),),
        evaluation_method="scored",
        criteria=(
            dict(name_zh="价格", name_en="Price", weight=40, kind="price"),
            dict(name_zh="技术参数响应", name_en="Technical compliance", weight=40, kind="technical"),
            dict(name_zh="供货及售后服务", name_en="Supply and after-sales service", weight=20, kind="commercial"),
        ),
    ),
    Spec(
        "awaiting", "edu", "扬州市教育局教学用计算机采购", "Teaching computers for the Education Bureau",
        "为全市中小学计算机教室采购台式计算机及配套显示器。开标时间已到：请密钥保管人开启投标文件。",
        "Desktop computers and monitors for school computer rooms. The opening time has come: the key custodians "
        "may open the bids.",
        "goods", "A02010104",
        (
            dict(title_zh="台式计算机", title_en="Desktop computers", budget=1_200_000 * YUAN, quantity=240,
                 unit="台", delivery_terms="合同签订后 30 日内交付"),
            dict(title_zh="显示器", title_en="Monitors", budget=300_000 * YUAN, quantity=240, unit="台",
                 delivery_terms="与台式计算机同时交付"),
        ),
    ),
    Spec(
        "opened", "edu", "扬州市教育局校园安防监控系统采购", "Campus security camera system for the Education Bureau",
        "为 18 所学校建设校园安防视频监控系统。",
        "A video surveillance system for 18 school campuses.",
        "goods", "A02091001",
        (dict(title_zh="安防监控系统", title_en="Security camera system", budget=2_000_000 * YUAN,
              bond_amount=40_000 * YUAN, quantity=18, unit="校", delivery_terms="合同签订后 60 日内完成安装调试"),),
    ),
    Spec(
        "cancelled", "health", "扬州市卫生健康委员会体检中心装修改造", "Renovation of the health check-up center",
        "市体检中心二层装修改造工程。", "Renovation of the second floor of the municipal health check-up center.",
        "works", "B0702",
        (dict(title_zh="装修改造工程", title_en="Renovation works", budget=900_000 * YUAN, bond_amount=18_000 * YUAN,
              quantity=1, unit="项", delivery_terms="工期 90 日"),),
    ),
    Spec(
        "unsuccessful_lot", "health", "扬州市卫生健康委员会医疗设备采购（两个标段）",
        "Medical devices for the Health Commission (two lots)",
        "标段一：便携式超声诊断仪；标段二：心电监护仪。", "Lot 1: portable ultrasound scanners; lot 2: patient monitors.",
        "goods", "A02320201",
        (
            dict(title_zh="便携式超声诊断仪", title_en="Portable ultrasound scanners", budget=1_600_000 * YUAN,
                 quantity=8, unit="台", delivery_terms="合同签订后 45 日内交付"),
            dict(title_zh="心电监护仪", title_en="Patient monitors", budget=600_000 * YUAN, bond_amount=12_000 * YUAN,
                 quantity=30, unit="台", delivery_terms="合同签订后 30 日内交付"),
        ),
    ),
)}

#: The order tenders are built in: per buyer, each custodian's 2FA codes must move forward
#: in time (a used time step is refused), so older tenders first.
BUILD_ORDER = ("opened", "awaiting", "enquiries", "unsuccessful_lot", "cancelled", "tendering", "draft")


def _existing(spec: Spec, buyer_org: Organization):
    from procurement.models import Tender

    return db.session.scalar(
        sa.select(Tender).where(Tender.buyer_org_id == buyer_org.id, Tender.title_zh == spec.title_zh)
        .order_by(Tender.id).limit(1)
    )


def _create(spec: Spec, buyer: BuyerSide, *, deadline: datetime, opening: datetime,
            enquiry_end: datetime | None = None):
    from procurement.services import tenders as tender_svc

    tender = tender_svc.create_draft(
        buyer.org, buyer.officer, lots=[dict(lot) for lot in spec.lots], criteria=[dict(c) for c in spec.criteria],
        custodian_ids=[u.id for u in buyer.custodians],
        title_zh=spec.title_zh, title_en=spec.title_en, description_zh=spec.description_zh,
        description_en=spec.description_en, category=spec.category, category_code=spec.category_code,
        budget=sum(lot["budget"] for lot in spec.lots), method=spec.method, enquiry_end=enquiry_end,
        submission_deadline=deadline, opening_time=opening, custodian_threshold=2,
        custodian_count=len(buyer.custodians), evaluation_method=spec.evaluation_method, sme_deduction_pct=10,
    )
    stored = _stored_pdf(
        "tender-documents.pdf", spec.title_en,
        ["Tender documents (demo data of the Canal platform).", f"Buyer: {buyer.org.name_en}",
         f"Lots: {len(spec.lots)}", "Submit sealed bids on the platform before the submission deadline."],
        "tender_document", buyer.officer,
    )
    tender_svc.add_document(tender, buyer.officer, stored, title="招标文件 / Tender documents")
    return tender


def _published(spec: Spec, buyer: BuyerSide, *, at: datetime, deadline: datetime,
               enquiry_end: datetime | None = None) -> tuple[Any, list[dict]]:
    """Create and publish the tender at `at` (opening an hour after the deadline); its
    custodians collect their shares an hour after that."""
    with _at(at):
        tender = _create(spec, buyer, deadline=deadline, opening=deadline + timedelta(hours=1),
                         enquiry_end=enquiry_end)
        tender = _publish(tender, buyer)
    with _at(at + timedelta(hours=1)):
        shares = _collect(tender, buyer)
    return tender, shares


def _publish(tender, buyer: BuyerSide):
    from procurement.services import tenders as tender_svc

    return tender_svc.publish(tender, buyer.officer)


def _collect(tender, buyer: BuyerSide, *, confirm: bool = True) -> list[dict]:
    """Each custodian collects their share through the keys service (with a fresh code)."""
    from procurement.services import keys

    out = []
    for user in buyer.custodians:
        collected = keys.collect_share(tender, user, _totp(user))
        if confirm:
            keys.confirm_safekeeping(tender, user)
        out.append(_share_row(tender, user, collected.index, collected.code, collected=True))
    return out


def _peek(tender, buyer: BuyerSide) -> list[dict]:
    """The shares still waiting on the platform, read without collecting them (demo only:
    the custodians collect and present them themselves in the browser)."""
    from procurement import sealing
    from procurement.services import keys

    out = []
    for user in buyer.custodians:
        row = keys.custodian_for(tender, user)
        share = keys.open_share_at_rest(row.pending_share, keys.PENDING, tender.id, row.id)
        code = sealing.KeyShare(index=share.index, value=share.value).code
        out.append(_share_row(tender, user, share.index, code, collected=False))
    return out


def _share_row(tender, user: User, index: int, code: str, *, collected: bool) -> dict:
    return {
        "tender_id": tender.id,
        "title": tender.title_zh,
        "title_en": tender.title_en,
        "key_fingerprint": tender.key_fingerprint,
        "custodian_email": user.email,
        "custodian_name": user.display_name,
        "index": index,
        "share_code": code,
        "collected_by_seed": collected,
    }


def _bid(tender, party: Party, prices: dict[int, int], answers: dict[int, str] | None = None):
    from procurement.services import bids

    attachment = bids.Attachment(
        "bid-documents.pdf",
        _pdf(f"Bid of {party.org.name_en}", [f"Tender: {tender.title_en}", "Technical and commercial response "
                                                                            "(demo data)."]),
    )
    return bids.submit_complete_bid(tender.id, party.user, party.org, prices=prices,
                                    answers={str(k): v for k, v in (answers or {}).items()} or None,
                                    attachments=[attachment])


def _confirmed_transfer(tender, lot, party: Party, finance: User, *, confirm_at: datetime):
    from payments.services import bank_transfer
    from procurement.services import bonds

    bond = bonds.lodge_transfer(tender, lot, party.user, party.org)
    bond = bonds.report_transfer(bond, party.user, party.org)
    with _at(confirm_at):
        slip = _pdf("Bank slip (demo)", [f"Amount received: {bond.amount / 100:.2f} CNY", "Demo data."])
        bank_transfer.confirm_transfer(bond.payment_id, amount_received=bond.amount, slip=slip,
                                       slip_filename="bank-slip.pdf", actor=finance)
    db.session.refresh(bond)
    return bond


def _guarantee(tender, lot, party: Party, *, number: str, valid_until: date):
    from procurement.services import bonds

    document = _pdf("Bid bond guarantee (demo)", [f"Issuer: Bank of Jiangsu, Yangzhou branch. Number {number}",
                                                   f"Valid until {valid_until.isoformat()}"])
    return bonds.lodge_guarantee(tender, lot, party.user, party.org, "江苏银行扬州分行", number, lot.bond_amount,
                                 valid_until, document, filename="guarantee.pdf")


def _present(tender, custodians: list[User], shares: list[dict]) -> None:
    from procurement.services import opening

    codes = {row["custodian_email"]: row["share_code"] for row in shares}
    for user in custodians:
        opening.present_share(tender, user, codes[user.email], totp_code=_totp(user))


# --------------------------------------------------------------------------- the scenarios


class Context:
    def __init__(self, now: datetime) -> None:
        self.now = now
        self.edu = _buyer("edu")
        self.health = _buyer("health")
        self.canalit = _supplier("small", "bidder@canalit.example.com")
        self.guangling = _supplier("medium", "bidder@guangling.example.com")
        self.wenchang = _supplier("wenchang", "bidder@wenchang.example.com")
        self.runyang = _supplier("runyang", "bidder@runyang.example.com")
        self.finance = _user("finance@platform.example.com")

    def days(self, n: float, hours: float = 0) -> datetime:
        return self.now + timedelta(days=n, hours=hours)


def _build_draft(ctx: Context, spec: Spec) -> Built:
    deadline = ctx.days(30)
    _create(spec, ctx.edu, deadline=deadline, opening=deadline + timedelta(hours=1), enquiry_end=ctx.days(10))
    return Built()


def _build_enquiries(ctx: Context, spec: Spec) -> Built:
    from procurement.services import clarifications

    deadline = ctx.days(25)
    tender, shares = _published(spec, ctx.edu, at=ctx.days(-3), deadline=deadline, enquiry_end=ctx.days(7))
    with _at(ctx.days(-2)):
        asked = clarifications.ask(
            tender, ctx.canalit.user, ctx.canalit.org,
            "课桌椅是否需要提供第三方检测机构出具的甲醛释放量检测报告？/ Is a third-party formaldehyde emission "
            "test report required for the desks and chairs?",
        )
    with _at(ctx.days(-1)):
        clarifications.answer(
            asked, ctx.edu.officer,
            "需要。投标时请提供近一年内具有 CMA 资质的第三方检测机构出具的检测报告。/ Yes: attach a test report "
            "issued within the last year by a CMA-accredited laboratory.",
        )
    with _at(ctx.days(-1, 3)):
        clarifications.ask(
            tender, ctx.guangling.user, ctx.guangling.org,
            "交货地点是否为各学校？能否分批交货？/ Are the goods delivered to each school, and may they be "
            "delivered in batches?",
        )
    return Built(shares)


def _build_tendering(ctx: Context, spec: Spec) -> Built:
    from core.files import check_upload
    from procurement.models import Criterion
    from procurement.services import amendments

    deadline = ctx.days(14)
    tender, shares = _published(spec, ctx.health, at=ctx.days(-10), deadline=deadline)
    with _at(ctx.days(-8)):
        extra = check_upload(_pdf("Supplementary notice (amendment 2)",
                                  ["The delivery schedule of annex 3 is clarified: three batches, 30 days apart."]),
                             filename="supplementary-notice.pdf", allowed={"pdf"})
        amendments.amend(tender, ctx.health.officer,
                         "补充交货批次说明，并将投标截止时间顺延两日。/ Delivery batches clarified; the submission "
                         "deadline moves two days later.",
                         submission_deadline=deadline + timedelta(days=2),
                         add_documents=[(extra, "补充说明 / Supplementary notice")])
    db.session.refresh(tender)
    lot = tender.lots[0]
    criteria = list(db.session.scalars(sa.select(Criterion).where(Criterion.tender_id == tender.id)
                                       .order_by(Criterion.id)))
    answers = {c.id: f"{c.name_zh}：完全响应招标文件要求（演示数据）。" for c in criteria if c.kind != "price"}
    with _at(ctx.days(-7)):
        _confirmed_transfer(tender, lot, ctx.canalit, ctx.finance, confirm_at=ctx.days(-6))
    with _at(ctx.days(-6, 2)):
        _guarantee(tender, lot, ctx.guangling, number="JSB-BH-2026-0417",
                   valid_until=(tender.opening_time + timedelta(days=90)).astimezone(clock.LOCAL_TZ).date())
    with _at(ctx.days(-5)):
        _bid(tender, ctx.canalit, {lot.id: 2_318_000 * YUAN}, answers)
    with _at(ctx.days(-4)):
        _bid(tender, ctx.guangling, {lot.id: 2_396_500 * YUAN}, answers)
    return Built(shares)


def _build_awaiting(ctx: Context, spec: Spec) -> Built:
    deadline = ctx.days(0, -2)
    opening = ctx.days(0, -1)
    with _at(ctx.days(-30)):
        tender = _create(spec, ctx.edu, deadline=deadline, opening=opening)
        tender = _publish(tender, ctx.edu)
    desktops, monitors = tender.lots
    bids = (
        (ctx.canalit, -6, 1_128_000, 276_000),
        (ctx.guangling, -5, 1_096_800, 283_200),
        (ctx.wenchang, -3, 1_152_000, 268_800),
    )
    for party, day, desktop_yuan, monitor_yuan in bids:
        with _at(ctx.days(day)):
            _bid(tender, party, {desktops.id: desktop_yuan * YUAN, monitors.id: monitor_yuan * YUAN})
    # The shares stay on the platform for the custodians to collect and present themselves.
    return Built(_peek(tender, ctx.edu))


def _build_opened(ctx: Context, spec: Spec) -> Built:
    from procurement.services import bonds

    deadline = ctx.days(-35)
    tender, shares = _published(spec, ctx.edu, at=ctx.days(-60), deadline=deadline, enquiry_end=ctx.days(-50))
    lot = tender.lots[0]
    with _at(ctx.days(-45)):
        _confirmed_transfer(tender, lot, ctx.canalit, ctx.finance, confirm_at=ctx.days(-44))
    with _at(ctx.days(-44, 2)):
        bond = _guarantee(tender, lot, ctx.guangling, number="JSB-BH-2026-0233",
                          valid_until=(deadline + timedelta(days=120)).astimezone(clock.LOCAL_TZ).date())
        bonds.verify_guarantee(bond, ctx.finance)
    with _at(ctx.days(-43)):
        _confirmed_transfer(tender, lot, ctx.wenchang, ctx.finance, confirm_at=ctx.days(-42))
    for party, day, price_yuan in ((ctx.canalit, -40, 1_876_000), (ctx.guangling, -39, 1_912_300),
                                   (ctx.wenchang, -37, 1_849_500)):
        with _at(ctx.days(day)):
            _bid(tender, party, {lot.id: price_yuan * YUAN})
    with _at(ctx.days(-35, 1)):
        _present(tender, ctx.edu.custodians[:2], shares)
    return Built(shares)


def _build_unsuccessful_lot(ctx: Context, spec: Spec) -> Built:
    from procurement.services import bonds

    deadline = ctx.days(-25)
    tender, shares = _published(spec, ctx.health, at=ctx.days(-50), deadline=deadline)
    scanners, monitors = tender.lots
    with _at(ctx.days(-40)):
        bond = _guarantee(tender, monitors, ctx.runyang, number="JSB-BH-2026-0158",
                          valid_until=(deadline + timedelta(days=120)).astimezone(clock.LOCAL_TZ).date())
        bonds.verify_guarantee(bond, ctx.finance)
    for party, day, prices in (
        (ctx.canalit, -33, {scanners.id: 1_498_000 * YUAN}),
        (ctx.guangling, -31, {scanners.id: 1_536_000 * YUAN}),
        (ctx.runyang, -29, {scanners.id: 1_472_000 * YUAN, monitors.id: 566_400 * YUAN}),
    ):
        with _at(ctx.days(day)):
            _bid(tender, party, prices)
    with _at(ctx.days(-25, 2)):
        _present(tender, [ctx.health.custodians[0], ctx.health.custodians[2]], shares)
    return Built(shares)


def _build_cancelled(ctx: Context, spec: Spec) -> Built:
    from procurement.services import tenders as tender_svc

    deadline = ctx.days(10)
    tender, shares = _published(spec, ctx.health, at=ctx.days(-20), deadline=deadline)
    lot = tender.lots[0]
    with _at(ctx.days(-18)):
        _confirmed_transfer(tender, lot, ctx.runyang, ctx.finance, confirm_at=ctx.days(-17))
    with _at(ctx.days(-16)):
        _guarantee(tender, lot, ctx.guangling, number="JSB-BH-2026-0301",
                   valid_until=(deadline + timedelta(days=60)).astimezone(clock.LOCAL_TZ).date())
    with _at(ctx.days(-12)):
        tender_svc.cancel(tender, ctx.health.officer,
                          "因体检中心整体搬迁，原装修改造需求取消。/ The check-up center moves to a new building: "
                          "the renovation is no longer needed.")
    return Built(shares)


BUILDERS: dict[str, Callable[[Context, Spec], Built]] = {
    "draft": _build_draft,
    "enquiries": _build_enquiries,
    "tendering": _build_tendering,
    "awaiting": _build_awaiting,
    "opened": _build_opened,
    "cancelled": _build_cancelled,
    "unsuccessful_lot": _build_unsuccessful_lot,
}


# --------------------------------------------------------------------------- the shares file


def shares_file_path() -> Path:
    configured = current_app.config.get("PROCUREMENT_DEMO_SHARES_FILE")
    if configured:
        return Path(configured)
    return Path(current_app.config["INSTANCE_DIR"]) / SHARES_FILE_NAME


def _read_shares_file() -> list[dict]:
    path = shares_file_path()
    if not path.is_file():
        return []
    try:
        doc = json.loads(path.read_text("utf-8"))
    except (OSError, ValueError):
        return []
    rows = doc.get("shares") if isinstance(doc, dict) else None
    return [r for r in rows or [] if isinstance(r, dict)]


def _valid_rows(rows: list[dict]) -> list[dict]:
    """The rows of tenders of this database (same id and key fingerprint)."""
    from procurement.models import Tender

    ids = {int(r.get("tender_id") or 0) for r in rows}
    tenders = {t.id: t for t in db.session.scalars(sa.select(Tender).where(Tender.id.in_(ids or {0})))}
    return [r for r in rows if (t := tenders.get(int(r.get("tender_id") or 0))) is not None
            and t.key_fingerprint and t.key_fingerprint == r.get("key_fingerprint")]


def _write_shares_file(new_rows: list[dict]) -> Path:
    """Add `new_rows` to the file. Rows of other databases (another key fingerprint) are
    kept but never printed: the instance dir may serve more than one database."""
    path = shares_file_path()
    fresh = {(r["key_fingerprint"], r["custodian_email"]) for r in new_rows}
    rows = [r for r in _read_shares_file() if (r.get("key_fingerprint"), r.get("custodian_email")) not in fresh]
    rows = rows + sorted(new_rows, key=lambda r: (r["tender_id"], r["index"]))
    doc = {
        "format": SHARES_FILE_FORMAT,
        "warning": "DEMO DATA ONLY. Key custodian share codes of the demo tenders, written by flask seed-demo so "
                   "a newcomer can run an opening. A real platform never keeps them.",
        "shares": rows,
    }
    path.parent.mkdir(parents=True, exist_ok=True)
    partial = path.with_suffix(".part")
    fd = os.open(str(partial), os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8") as handle:
        json.dump(doc, handle, ensure_ascii=False, indent=2)
        handle.write("\n")
    os.replace(partial, path)
    return path


def demo_shares() -> list[dict]:
    """The shares in the demo file that belong to tenders of this database."""
    return _valid_rows(_read_shares_file())


# --------------------------------------------------------------------------- run


def run(echo: Echo = print) -> None:
    from accounts.seed import is_demo_database
    from procurement.services import tenders as tender_svc

    if not is_demo_database():
        echo("Procurement demo data: not a demo database (run the accounts seed first); nothing added.")
        return
    tender_svc.seed_procedure_types()
    _ensure_extra_suppliers()
    ctx = Context(clock.now().replace(second=0, microsecond=0))
    added: list[str] = []
    new_shares: list[dict] = []
    for key in BUILD_ORDER:
        spec = SPECS[key]
        buyer = ctx.edu if spec.buyer == "edu" else ctx.health
        if _existing(spec, buyer.org) is not None:
            continue
        try:
            with unit_of_work():
                built = BUILDERS[key](ctx, spec)
        except (DomainError, RuntimeError) as exc:  # e.g. a custodian signed in after the demo's moments
            echo(f"Procurement demo tender {key!r} not added: {exc}")
            continue
        new_shares.extend(built.shares)
        added.append(key)
    if new_shares:
        _write_shares_file(new_shares)
    # The builders move some demo tenders' dates into the past after publishing them: the
    # search index is written again from the rows as they now are.
    from procurement.search import TENDER_INDEX

    indexed = TENDER_INDEX.rebuild()
    _print_summary(echo, added)
    echo(f"Search index: {indexed} published tenders.")


def _path(endpoint: str, **values: Any) -> str:
    """The page's path (outside a request, as `flask seed-demo` runs)."""
    from flask import url_for
    from werkzeug.routing import BuildError

    try:
        with current_app.test_request_context():
            return url_for(endpoint, **values)
    except BuildError:
        return ""


def _print_summary(echo: Echo, added: list[str]) -> None:
    from procurement.services.tenders import status_now
    from procurement.states import TenderStatus

    echo("")
    echo(f"Procurement demo tenders ({len(added)} added this run)")
    for key in BUILD_ORDER:
        spec = SPECS[key]
        buyer = _org(spec.buyer)
        tender = _existing(spec, buyer)
        if tender is None:
            continue
        echo(f"  #{tender.id:<5} {status_now(tender).value:<18} {spec.title_zh}  "
             f"{_path('procurement.tender_detail', tender_id=tender.id)}")
    echo("Extra demo suppliers (same password): "
         + ", ".join(user.email for spec, _bank in _extra_suppliers() for user in spec.users))
    rows = demo_shares()
    if not rows:
        echo(f"No demo custodian shares on file ({shares_file_path()}).")
        echo("")
        return
    from procurement.models import Tender

    echo("")
    echo(f"Demo key custodian shares (demo only; kept in {shares_file_path()}):")
    by_tender: dict[int, list[dict]] = {}
    for row in rows:
        by_tender.setdefault(row["tender_id"], []).append(row)
    done = []
    for tender_id, group in by_tender.items():
        tender = db.session.get(Tender, tender_id)
        status = status_now(tender)
        if status not in (TenderStatus.ENQUIRIES, TenderStatus.TENDERING, TenderStatus.AWAITING_OPENING):
            done.append(f"#{tender_id} ({status.value})")
            continue
        note = ("opening time reached: two custodians present their shares now"
                if status == TenderStatus.AWAITING_OPENING else "before its opening")
        echo(f"  tender #{tender_id} {group[0]['title']} [{status.value}: {note}]")
        for row in group:
            state = "collected" if row.get("collected_by_seed") else "not collected yet"
            echo(f"    {row['custodian_email']:<30} share {row['index']}  {row['share_code']}  ({state})")
        if status == TenderStatus.AWAITING_OPENING:
            echo(f"    -> log in as {group[0]['custodian_email']} and {group[1]['custodian_email']} (codes: flask demo "
                 f"otp EMAIL) and present the shares at {_path('procurement.present_share', tender_id=tender_id)}")
    if done:
        echo(f"  (shares of tenders already opened or cancelled, also in the file: {', '.join(done)})")
    echo("")
