"""Demo users and data for the bundled apps, generated deterministically and
written through the record service like any other input."""
from __future__ import annotations

import random
from datetime import date, timedelta
from decimal import Decimal

from sqlalchemy import select

from .engine.database import insert_ignore
from .engine.permissions import User
from .engine.runtime import Runtime
from .engine.systables import sys_meta

DEMO_PASSWORD = "apploom-demo"
DEMO_USERS = {"admin": ["admin"], "sales": ["sales"], "warehouse": ["warehouse"],
              "service": ["service"], "manager": ["manager"], "purchasing": ["purchasing"]}
_FLAG = "demo_loaded"

PEOPLE = ["张伟", "王芳", "李娜", "刘洋", "陈静", "杨磊", "赵敏", "黄婷", "Emma Johnson",
          "Liam Smith", "Olivia Brown", "Noah Wilson", "Sophia Lee", "Lucas Martin"]
COMPANIES = ["上海华联贸易有限公司", "杭州青木家居", "深圳星河电子", "成都锦程商贸",
             "Northwind Traders", "Blue Harbor Retail", "Acme Office Supply"]
CITIES = ["上海", "北京", "杭州", "深圳", "成都", "广州", "London", "Singapore"]
ITEMS = [
    ("TEA", "龙井绿茶 Longjing tea", "box", "88.00"),
    ("CUP", "陶瓷茶杯 Ceramic cup", "pcs", "25.50"),
    ("POT", "紫砂壶 Clay teapot", "pcs", "268.00"),
    ("MAT", "竹编茶垫 Bamboo mat", "pcs", "12.90"),
    ("TIN", "茶叶罐 Tea tin", "pcs", "39.00"),
    ("SET", "旅行茶具套装 Travel tea set", "box", "199.00"),
    ("KET", "电热水壶 Electric kettle", "pcs", "159.00"),
    ("TRY", "茶盘 Tea tray", "pcs", "129.00"),
]
WAREHOUSES = [("SH01", "上海中心仓 Shanghai hub", "上海"), ("CD01", "成都仓 Chengdu", "成都"),
              ("GZ01", "广州仓 Guangzhou", "广州")]
CHANNELS = ["web", "store", "phone", "email", "marketplace"]
ORDER_PATHS = [(), ("confirm",), ("confirm", "pick"), ("confirm", "pick", "ship"),
               ("confirm", "pick", "ship", "deliver"),
               ("confirm", "pick", "ship", "deliver", "complete"),
               ("confirm", "pick", "ship", "deliver", "complete"), ("confirm", "backorder"),
               ("cancel",), ("confirm", "pick", "ship", "deliver", "request_return")]
OPPORTUNITY_PATHS = [(), ("contact",), ("contact", "qualify"), ("contact", "qualify", "win"),
                     ("lose",)]
PURCHASE_PATHS = [(), ("place",), ("place", "receive_part"), ("place", "receive")]


def demo_loaded(runtime: Runtime) -> bool:
    with runtime.db.read() as conn:
        return conn.execute(select(sys_meta.c.value).where(sys_meta.c.key == _FLAG)).first() \
            is not None


def load_demo(runtime: Runtime, seed: int = 7) -> User:
    """Create the demo users and records once; returns the demo admin."""
    rng = random.Random(seed)
    for username, roles in DEMO_USERS.items():
        runtime.users.create(username, roles, DEMO_PASSWORD, display_name=username.title())
    admin = runtime.users.get("admin")
    create = runtime.records.create
    for code, name, city in WAREHOUSES:
        create(admin, "wms.warehouse", {"code": code, "name": name, "city": city})
    items = []
    for i, (code, name, unit, price) in enumerate(ITEMS * 3):
        variant = i // len(ITEMS)
        items.append(create(admin, "wms.item", {
            "sku": f"{code}-{100 + variant}",
            "name": name + (f" #{variant}" if variant else ""),
            "unit": unit, "price": price,
            "cost": (Decimal(price) * Decimal("0.55")).quantize(Decimal("0.01")),
            "reorder_point": rng.choice([5, 10, 20]), "lead_time_days": rng.choice([3, 7, 14])}))
    customers = []
    for i, name in enumerate(PEOPLE + COMPANIES):
        company = name in COMPANIES
        customers.append(create(admin, "crm.customer", {
            "name": name, "kind": "company" if company else "person",
            "tier": rng.choice(["standard", "standard", "silver", "gold", "vip"]),
            "email": f"customer{i + 1}@example.com",
            "phone": f"+86 138 {1000 + i:04d} {i * 7:04d}",
            "city": rng.choice(CITIES), "tags": rng.sample(["wholesale", "retail", "online",
                                                            "returning"], 2),
            "contacts": [{"name": name if not company else "采购部 Purchasing", "role": "buyer"}],
            "addresses": [{"recipient": name, "line1": f"{rng.randint(1, 999)} 南京路 Nanjing Rd",
                           "city": rng.choice(CITIES), "postcode": f"{200000 + i}",
                           "is_default": True}]}))
    start = date.today() - timedelta(days=90)
    for n in range(60):
        picked = rng.sample(items, rng.randint(1, 3))
        order = create(admin, "oms.order", {
            "customer": rng.choice(customers)["id"], "channel": rng.choice(CHANNELS),
            "external_id": f"EXT-{n + 1:05d}",
            "order_date": (start + timedelta(days=rng.randint(0, 90))).isoformat(),
            "payment_status": rng.choice(["unpaid", "paid", "paid", "partially_paid"]),
            "lines": [{"item": it["id"], "qty": rng.randint(1, 5), "price": it["price"]}
                      for it in picked]})
        _walk(runtime, admin, "oms.order", order["id"], rng.choice(ORDER_PATHS),
              {"ship": {"carrier": rng.choice(["sf", "zto", "jd"]),
                        "tracking_number": f"SF{rng.randint(10**11, 10**12 - 1)}"}})
    for n, customer in enumerate(customers[:8]):
        opportunity = create(admin, "crm.opportunity", {
            "name": f"{customer['name']} 年度采购 annual order", "customer": customer["id"],
            "amount": f"{rng.randint(5, 80) * 1000}.00",
            "close_date": (date.today() + timedelta(days=rng.randint(5, 60))).isoformat()})
        _walk(runtime, admin, "crm.opportunity", opportunity["id"],
              OPPORTUNITY_PATHS[n % len(OPPORTUNITY_PATHS)],
              {"lose": {"lost_reason": "价格 price"}})
    warehouse = runtime.records.list(admin, "wms.warehouse").data[0]
    for n in range(4):
        purchase = create(admin, "wms.purchase_order", {
            "supplier": rng.choice(["杭州茶园 Hangzhou Tea Farm", "宜兴陶艺 Yixing Pottery"]),
            "warehouse": warehouse["id"],
            "expected_date": (date.today() + timedelta(days=7 * (n + 1))).isoformat(),
            "lines": [{"item": it["id"], "qty": rng.randint(10, 50), "cost": it["cost"]}
                      for it in rng.sample(items, 2)]})
        _walk(runtime, admin, "wms.purchase_order", purchase["id"], PURCHASE_PATHS[n], {})
    with runtime.db.write() as conn:
        insert_ignore(conn, sys_meta, {"key": _FLAG, "value": "1"})
    return admin


def _walk(runtime: Runtime, user: User, ref: str, record_id: int, path: tuple[str, ...],
          asked: dict[str, dict]) -> None:
    for name in path:
        runtime.transitions.take(user, ref, record_id, name, asked.get(name))
