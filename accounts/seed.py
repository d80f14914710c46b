"""Demo organizations and users (`flask seed-demo`, accounts part).

Idempotent: organizations are looked up by USCC and users by email; what exists is left
as it is (password hashes and TOTP secrets included), so a second run changes nothing
and prints the same table. Dates are relative to the day of the first run.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta

import pyotp
import sqlalchemy as sa

from accounts.models import Membership, Organization, User
from accounts.states import TWO_FACTOR_ROLES, CreditStatus, OrgKind, Role, SizeClass, Verification
from accounts.uscc import make_uscc
from core import clock
from core.db import db, unit_of_work
from core.models import AppSetting

DEMO_PASSWORD = "Canal-Demo-2026"  # noqa: S105 - the documented demo password, printed by seed-demo
DEMO_MARKER = "demo_seeded"

P = Role  # short alias for the table below


@dataclass(frozen=True)
class DemoUser:
    email: str
    name: str
    roles: tuple[Role, ...]


@dataclass(frozen=True)
class DemoOrg:
    key: str
    uscc: str
    name_zh: str
    name_en: str
    kinds: tuple[OrgKind, ...]
    size: SizeClass
    address: str
    phone: str
    users: tuple[DemoUser, ...]
    verified: bool = True
    debarred_days: int | None = None  # debarred until today + N days


def _u(email: str, name: str, *roles: Role) -> DemoUser:
    return DemoUser(email, name, tuple(roles))


# Codes: 11 = government organ, 12 = public institution, 52 = social service body, 91 = enterprise;
# 321000 = Yangzhou. Serials are fixed so the codes never change between runs.
ORGS: tuple[DemoOrg, ...] = (
    DemoOrg(
        "platform", make_uscc(810001, "12321000"), "扬州市数字经济运营服务中心",
        "Yangzhou Digital Economy Operations Service Center", (OrgKind.PLATFORM,), SizeClass.MEDIUM,
        "扬州市邗江区文昌西路 56 号", "0514-87360001",
        (
            _u("admin@platform.example.com", "周建国", P.PLATFORM_ADMIN, P.ORG_ADMIN),
            _u("auditor@platform.example.com", "孙丽华", P.AUDITOR),
            _u("finance@platform.example.com", "钱晓燕", P.FINANCE),
        ),
    ),
    DemoOrg(
        "edu", make_uscc(810101, "11321000"), "扬州市教育局", "Yangzhou Municipal Education Bureau",
        (OrgKind.BUYER,), SizeClass.LARGE, "扬州市广陵区文昌中路 500 号", "0514-87340101",
        (
            _u("officer1@edu.example.com", "王敏", P.PROCUREMENT_OFFICER, P.ORG_ADMIN),
            _u("officer2@edu.example.com", "李强", P.PROCUREMENT_OFFICER),
            _u("custodian1@edu.example.com", "张伟", P.KEY_CUSTODIAN),
            _u("custodian2@edu.example.com", "刘洋", P.KEY_CUSTODIAN),
            _u("custodian3@edu.example.com", "陈静", P.KEY_CUSTODIAN),
            _u("finance@edu.example.com", "杨帆", P.FINANCE),
        ),
    ),
    DemoOrg(
        "health", make_uscc(810102, "11321000"), "扬州市卫生健康委员会", "Yangzhou Municipal Health Commission",
        (OrgKind.BUYER,), SizeClass.LARGE, "扬州市广陵区文昌中路 588 号", "0514-87340102",
        (
            _u("officer1@health.example.com", "赵磊", P.PROCUREMENT_OFFICER, P.ORG_ADMIN),
            _u("officer2@health.example.com", "黄婷", P.PROCUREMENT_OFFICER),
            _u("custodian1@health.example.com", "吴刚", P.KEY_CUSTODIAN),
            _u("custodian2@health.example.com", "徐丽", P.KEY_CUSTODIAN),
            _u("custodian3@health.example.com", "朱峰", P.KEY_CUSTODIAN),
            _u("finance@health.example.com", "胡敏", P.FINANCE),
        ),
    ),
    DemoOrg(
        "experts", make_uscc(810201, "52321000"), "扬州市政府采购评审专家库",
        "Yangzhou Government Procurement Expert Pool", (OrgKind.EXPERT_POOL,), SizeClass.SMALL,
        "扬州市邗江区江阳中路 43 号", "0514-87340201",
        (
            _u("expert1@experts.example.com", "郭志明", P.EVALUATOR, P.ORG_ADMIN),
            _u("expert2@experts.example.com", "何雪梅", P.EVALUATOR),
            _u("expert3@experts.example.com", "高建华", P.EVALUATOR),
            _u("expert4@experts.example.com", "林晓东", P.EVALUATOR),
            _u("expert5@experts.example.com", "罗佳", P.EVALUATOR),
            _u("expert6@experts.example.com", "梁文博", P.EVALUATOR),
            _u("expert7@experts.example.com", "宋雨", P.EVALUATOR),
        ),
    ),
    DemoOrg(
        "micro", make_uscc(810301), "扬州市微光软件工作室", "Yangzhou Weiguang Software Studio",
        (OrgKind.SUPPLIER,), SizeClass.MICRO, "扬州市广陵区东关街 88 号", "0514-87350301",
        (_u("bidder@weiguang.example.com", "唐晓", P.BIDDER, P.ORG_ADMIN),),
        verified=False,
    ),
    DemoOrg(
        "small", make_uscc(810302), "扬州运河信息技术有限公司", "Yangzhou Grand Canal Information Technology Co., Ltd.",
        (OrgKind.SUPPLIER,), SizeClass.SMALL, "扬州市邗江区文汇西路 199 号", "0514-87350302",
        (
            _u("admin@canalit.example.com", "韩冬", P.ORG_ADMIN, P.FINANCE),
            _u("bidder@canalit.example.com", "冯波", P.BIDDER),
        ),
    ),
    DemoOrg(
        "medium", make_uscc(810303), "江苏广陵智能科技有限公司", "Jiangsu Guangling Intelligent Technology Co., Ltd.",
        (OrgKind.SUPPLIER, OrgKind.PROVIDER), SizeClass.MEDIUM, "扬州市广陵区创业路 8 号", "0514-87350303",
        (_u("bidder@guangling.example.com", "曹阳", P.BIDDER, P.PROVIDER_STAFF, P.ORG_ADMIN),),
    ),
    DemoOrg(
        "large", make_uscc(810304), "扬州华扬建设集团有限公司", "Yangzhou Huayang Construction Group Co., Ltd.",
        (OrgKind.SUPPLIER,), SizeClass.LARGE, "扬州市江都区龙川北路 12 号", "0514-87350304",
        (_u("bidder@huayang.example.com", "彭刚", P.BIDDER, P.ORG_ADMIN),),
        debarred_days=120,
    ),
    DemoOrg(
        "sme1", make_uscc(810401), "扬州邗江精密机械有限公司", "Yangzhou Hanjiang Precision Machinery Co., Ltd.",
        (OrgKind.SME,), SizeClass.SMALL, "扬州市邗江区维扬路 301 号", "0514-87350401",
        (_u("buyer@hjjm.example.com", "蒋丽", P.BUYER, P.ORG_ADMIN),),
    ),
    DemoOrg(
        "sme2", make_uscc(810402), "扬州瘦西湖文旅发展有限公司", "Yangzhou Slender West Lake Culture & Tourism Co., Ltd.",
        (OrgKind.SME,), SizeClass.MICRO, "扬州市邗江区大虹桥路 28 号", "0514-87350402",
        (_u("buyer@sxh.example.com", "沈悦", P.BUYER, P.ORG_ADMIN, P.FINANCE),),
    ),
    DemoOrg(
        "provider1", make_uscc(810501), "扬州云帆数据服务有限公司", "Yangzhou Yunfan Data Services Co., Ltd.",
        (OrgKind.PROVIDER,), SizeClass.SMALL, "扬州市广陵区文昌东路 9 号", "0514-87350501",
        (_u("staff@yunfan.example.com", "许杰", P.PROVIDER_STAFF, P.ORG_ADMIN),),
    ),
    DemoOrg(
        "provider2", make_uscc(810502), "江苏智造云软件有限公司", "Jiangsu Zhizaoyun Software Co., Ltd.",
        (OrgKind.PROVIDER,), SizeClass.MEDIUM, "扬州市邗江区科技园路 66 号", "0514-87350502",
        (_u("staff@zhizaoyun.example.com", "邓超", P.PROVIDER_STAFF, P.ORG_ADMIN),),
    ),
    DemoOrg(
        "carrier", make_uscc(810601), "扬州顺运物流有限公司", "Yangzhou Shunyun Logistics Co., Ltd.",
        (OrgKind.CARRIER,), SizeClass.MEDIUM, "扬州市江都区仙城工业园 5 号", "0514-87350601",
        (_u("agent@shunyun.example.com", "夏天", P.CARRIER_AGENT, P.ORG_ADMIN),),
    ),
    DemoOrg(
        "regulator", make_uscc(810701, "11321000"), "扬州市财政局政府采购监督管理处",
        "Yangzhou Finance Bureau, Government Procurement Supervision Division", (OrgKind.REGULATOR,),
        SizeClass.SMALL, "扬州市广陵区文昌中路 468 号", "0514-87340701",
        (_u("regulator@czj.example.com", "钟明", P.REGULATOR, P.ORG_ADMIN),),
    ),
)


def is_demo_database() -> bool:
    return db.session.get(AppSetting, DEMO_MARKER) is not None


def _ensure_org(spec: DemoOrg) -> tuple[Organization, bool]:
    org = db.session.scalar(sa.select(Organization).where(Organization.uscc == spec.uscc))
    if org is not None:
        return org, False
    org = Organization(
        kinds=[k.value for k in spec.kinds],
        name_zh=spec.name_zh,
        name_en=spec.name_en,
        uscc=spec.uscc,
        size_class=spec.size.value,
        address=spec.address,
        contact_phone=spec.phone,
        invoice_title=spec.name_zh,
        tax_number=spec.uscc,
        verification=(Verification.VERIFIED if spec.verified else Verification.PENDING).value,
        verified_at=clock.now() if spec.verified else None,
    )
    if spec.debarred_days is not None:
        org.credit_status = CreditStatus.DEBARRED.value
        org.debarred_until = clock.today_local() + timedelta(days=spec.debarred_days)
        org.credit_note = "虚假材料谋取中标（演示数据）/ False documents in a bid (demo data)"
    db.session.add(org)
    db.session.flush()
    return org, True


def _ensure_user(spec: DemoUser, org: Organization, password_hash: str) -> bool:
    created = False
    user = db.session.scalar(sa.select(User).where(User.email == spec.email))
    if user is None:
        user = User(email=spec.email, password_hash=password_hash, display_name=spec.name, current_org_id=org.id)
        db.session.add(user)
        db.session.flush()
        created = True
    if any(r in TWO_FACTOR_ROLES for r in spec.roles) and not user.totp_secret:
        user.totp_secret = pyotp.random_base32()  # kept on later runs
        user.totp_enabled_at = clock.now()
        created = True
    membership = db.session.scalar(
        sa.select(Membership).where(Membership.user_id == user.id, Membership.org_id == org.id)
    )
    if membership is None:
        db.session.add(Membership(user_id=user.id, org_id=org.id, roles=[r.value for r in spec.roles]))
        created = True
    if user.current_org_id is None:
        user.current_org_id = org.id
    return created


def run(echo=print) -> None:
    from accounts.passwords import hash_password

    created = 0
    with unit_of_work():
        password_hash = None
        for spec in ORGS:
            org, new = _ensure_org(spec)
            created += new
            for user_spec in spec.users:
                exists = db.session.scalar(sa.select(User.id).where(User.email == user_spec.email))
                if exists is None and password_hash is None:
                    password_hash = hash_password(DEMO_PASSWORD)
                created += _ensure_user(user_spec, org, password_hash or "")
        if db.session.get(AppSetting, DEMO_MARKER) is None:
            db.session.add(AppSetting(key=DEMO_MARKER, value="accounts"))
            created += 1
        if created:
            from core import audit

            audit.record(
                "demo.seeded", "demo", "accounts", {"created_count": created}, actor=audit.system("cli:seed-demo")
            )
    _print_logins(echo)


def demo_logins() -> list[tuple[str, str, str, str]]:
    """(email, roles, organization, TOTP secret or "") for every demo user, in table order."""
    rows = []
    for spec in ORGS:
        for user_spec in spec.users:
            user = db.session.scalar(sa.select(User).where(User.email == user_spec.email))
            roles = ",".join(r.value for r in user_spec.roles)
            rows.append((user_spec.email, roles, spec.name_zh, (user.totp_secret or "") if user else ""))
    return rows


def _print_logins(echo) -> None:
    rows = demo_logins()
    echo("")
    echo(f"Demo logins (password for every account: {DEMO_PASSWORD})")
    widths = [max(len(r[i]) for r in rows) for i in range(2)]
    header = ("email", "roles", "organization", "TOTP secret")
    echo(f"{header[0]:<{widths[0]}}  {header[1]:<{widths[1]}}  {header[3]:<32}  {header[2]}")
    for email, roles, org, secret in rows:
        echo(f"{email:<{widths[0]}}  {roles:<{widths[1]}}  {secret or '-':<32}  {org}")
    echo("Get a current code with: flask demo otp EMAIL")
    echo("")
