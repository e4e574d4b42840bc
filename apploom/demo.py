"""Demo users and a year of believable history for the bundled apps: 200 customers,
300 items in 3 warehouses, 2,000 orders across every channel and state, their payments,
purchase orders, receipts and returns. Seeded, so the same day gives the same data.

The year is replayed day by day through the record service and the workflows, under
the engine's clock (``clock.at``), so stock moves, reservations, backorders, low-stock
proposals and emails happen as they would have, each stamped with its own time.
"""

from __future__ import annotations

import heapq
import random
from datetime import datetime, timedelta, timezone
from decimal import Decimal
from typing import Callable

from sqlalchemy import delete, select, update

from apploom.engine import clock
from apploom.engine.access.permissions import User
from apploom.engine.errors import AppLoomError
from apploom.engine.query.filters import Query, parse_where
from apploom.engine.runtime import Runtime
from apploom.engine.storage.database import insert_ignore
from apploom.engine.storage.system_tables import sys_meta, sys_notification, sys_outbox

DEMO_PASSWORD = "apploom-demo"
DEMO_USERS = {
    "admin": ["admin"],
    "sales": ["sales"],
    "li.na": ["sales"],  # the sales team takes turns at the orders that come in
    "wang.wei": ["sales"],
    "warehouse": ["warehouse"],
    "service": ["service"],
    "manager": ["manager"],
    "purchasing": ["purchasing"],
}
DEMO_NAMES = {"li.na": "李娜 Li Na", "wang.wei": "王伟 Wang Wei"}
_FLAG = "demo_loaded"
CENT = Decimal("0.01")

SURNAMES = "王李张刘陈杨黄赵吴周徐孙马朱胡郭何林罗高"
GIVEN = ["伟", "芳", "娜", "敏", "静", "磊", "洋", "婷", "强", "军", "杰", "丽", "涛", "超", "霞"]
FIRST = ["Emma", "Liam", "Olivia", "Noah", "Sophia", "Lucas", "Mia", "Ethan", "Ava", "Leo"]
LAST = ["Johnson", "Smith", "Brown", "Wilson", "Lee", "Martin", "Clark", "Walker", "Young"]
COMPANY = [
    "华联贸易",
    "青木家居",
    "星河电子",
    "锦程商贸",
    "云山茶业",
    "恒信百货",
    "Northwind",
    "Blue Harbor",
    "Acme Office",
    "Green Leaf",
]
COMPANY_KIND = ["有限公司", "商行", " Trading Ltd.", " Retail Co."]
ADDRESSES = [  # province, city, district, street, postcode, country
    ("上海市", "上海市", "黄浦区", "南京东路", "200001", "CN"),
    ("北京市", "北京市", "朝阳区", "建国路", "100022", "CN"),
    ("浙江省", "杭州市", "西湖区", "文三路", "310012", "CN"),
    ("广东省", "深圳市", "南山区", "科技园路", "518057", "CN"),
    ("四川省", "成都市", "武侯区", "人民南路", "610041", "CN"),
    ("广东省", "广州市", "天河区", "天河路", "510620", "CN"),
    ("江苏省", "南京市", "鼓楼区", "中山路", "210008", "CN"),
    ("湖北省", "武汉市", "江汉区", "解放大道", "430022", "CN"),
    ("England", "London", "Camden", "High Holborn", "WC1V 6RL", "GB"),
    ("", "Singapore", "Orchard", "Orchard Road", "238801", "SG"),
]
FREE_SHIPPING_FROM = 99  # 满99包邮: web and marketplace orders below this pay the fee
SHIPPING_FEE = "8.00"
PRODUCTS = [  # code, name, unit, price
    ("LJ", "龙井绿茶 Longjing tea", "box", "88.00"),
    ("PE", "普洱熟茶 Pu'er tea", "box", "128.00"),
    ("TG", "铁观音 Tieguanyin", "box", "96.00"),
    ("BC", "白茶 White tea", "box", "110.00"),
    ("HC", "红茶 Black tea", "box", "72.00"),
    ("MH", "茉莉花茶 Jasmine tea", "box", "58.00"),
    ("CUP", "陶瓷茶杯 Ceramic cup", "pcs", "25.50"),
    ("POT", "紫砂壶 Clay teapot", "pcs", "268.00"),
    ("MAT", "竹编茶垫 Bamboo mat", "pcs", "12.90"),
    ("TIN", "茶叶罐 Tea tin", "pcs", "39.00"),
    ("SET", "旅行茶具 Travel tea set", "box", "199.00"),
    ("KET", "电热水壶 Kettle", "pcs", "159.00"),
    ("TRY", "茶盘 Tea tray", "pcs", "129.00"),
    ("GWN", "盖碗 Gaiwan", "pcs", "45.00"),
    ("FLT", "茶滤 Strainer", "pcs", "9.90"),
    ("PIT", "公道杯 Pitcher", "pcs", "35.00"),
    ("TWL", "茶巾 Tea towel", "pcs", "15.00"),
    ("SCP", "茶则 Tea scoop", "pcs", "19.00"),
    ("BOX", "礼盒 Gift box", "box", "60.00"),
    ("CAD", "茶叶袋 Tea caddy", "pcs", "22.00"),
    ("HNY", "蜂蜜 Honey", "kg", "68.00"),
    ("SGR", "冰糖 Rock sugar", "kg", "18.00"),
    ("DAT", "红枣 Red dates", "kg", "32.00"),
    ("GOJ", "枸杞 Goji berries", "kg", "48.00"),
    ("BRW", "冷泡壶 Cold brew jug", "pcs", "89.00"),
    ("THE", "温度计 Thermometer", "pcs", "29.00"),
    ("SCL", "茶秤 Tea scale", "pcs", "79.00"),
    ("BRS", "茶刷 Brush", "pcs", "12.00"),
    ("STV", "电陶炉 Tea stove", "pcs", "359.00"),
    ("TBL", "茶桌 Tea table", "pcs", "1280.00"),
]
VARIANTS = ["", "A", "B", "C", "D", "E", "F", "G", "H", "J"]
WAREHOUSES = [
    ("SH01", "上海中心仓 Shanghai hub", "上海"),
    ("CD01", "成都仓 Chengdu", "成都"),
    ("GZ01", "广州仓 Guangzhou", "广州"),
]
SUPPLIERS = [
    "杭州茶园 Hangzhou Tea Farm",
    "宜兴陶艺 Yixing Pottery",
    "福建茶厂 Fujian Tea",
    "Ningbo Homeware Ltd.",
]
CHANNELS = ["web"] * 5 + ["marketplace"] * 3 + ["store"] * 2 + ["phone", "email"]
PAID_UP_FRONT = {  # channel: how its orders are paid when placed, and how often each way
    "web": (["alipay", "wechat_pay", "card"], [5, 4, 1]),
    "marketplace": (["alipay", "wechat_pay"], [6, 4]),
    "store": (["wechat_pay", "alipay", "cash", "card"], [4, 3, 2, 1]),
}  # phone and email orders are paid later, by bank transfer
CARRIERS = ["sf", "zto", "yto", "jd", "ems"]
RETURN_REASONS = ["damaged", "wrong_item", "not_as_described", "changed_mind"]
OPPORTUNITY_PATHS = [
    (),
    ("contact",),
    ("contact", "qualify"),
    ("contact", "qualify", "win"),
    ("lose",),
]


def demo_loaded(runtime: Runtime) -> bool:
    with runtime.db.read() as conn:
        return (
            conn.execute(select(sys_meta.c.value).where(sys_meta.c.key == _FLAG)).first()
            is not None
        )


def load_demo(
    runtime: Runtime,
    seed: int = 7,
    orders: int = 2000,
    days: int = 365,
    progress: Callable[[str], None] = lambda _: None,
) -> User:
    """Create the demo users and replay a year of business once; returns the demo admin."""
    for username, roles in DEMO_USERS.items():
        name = DEMO_NAMES.get(username, username.title())
        runtime.users.create(username, roles, DEMO_PASSWORD, display_name=name)
    year = Year(runtime, runtime.users.get("admin"), random.Random(seed), days)
    year.replay(orders, progress)
    with runtime.db.write() as conn:
        # The past's emails went out long ago, and its notifications were read: keep only
        # the last two days' waiting.
        recent = year.end - timedelta(days=2)
        conn.execute(delete(sys_outbox).where(sys_outbox.c.created_at < recent))
        conn.execute(
            update(sys_notification)
            .where(sys_notification.c.created_at < recent, sys_notification.c.read_at.is_(None))
            .values(read_at=recent)
        )
        insert_ignore(conn, sys_meta, {"key": _FLAG, "value": "1"})
    return year.admin


class Year:
    """The demo business, day by day: orders come in and move on; stock runs low and is
    bought in; some goods come back."""

    def __init__(self, runtime: Runtime, admin: User, rng: random.Random, days: int):
        self.rt, self.admin, self.rng = runtime, admin, rng
        self.end = datetime.now(timezone.utc).replace(microsecond=0)
        self.start = (self.end - timedelta(days=days)).replace(hour=0, minute=0, second=0)
        self.days = days
        self.due: list[tuple[datetime, int, str, int]] = []  # (when, seq, step, record)
        self.seq = 0
        self.methods: dict[int, str] = {}  # order: how it was last paid

    def replay(self, orders: int, progress: Callable[[str], None]) -> None:
        self.orders_per_day = orders / self.days
        with clock.at(self.start):
            self.master_data()
        weights = [
            (1.8 if d.month == 11 else 1.3 if d.month == 12 else 1.0)
            * (1.2 if d.weekday() >= 5 else 1.0)
            for d in (self.start + timedelta(days=n) for n in range(self.days))
        ]
        per_day = [0] * self.days
        for day in self.rng.choices(range(self.days), weights, k=orders):
            per_day[day] += 1
        for day in range(self.days):
            opening = self.start + timedelta(days=day)
            self.run_due(opening)
            with clock.at(opening + timedelta(hours=8)):
                self.buy_in(opening)
            for _ in range(per_day[day]):
                at = opening + timedelta(seconds=self.rng.randint(8 * 3600, 22 * 3600))
                with clock.at(at):
                    self.new_order(at)
            if day % 30 == 29:
                progress(f"  {opening.date()}: {sum(per_day[: day + 1])} orders")
        self.run_due(self.end)

    # ---- master data ------------------------------------------------------------------
    def master_data(self) -> None:
        create, rng = self.rt.records.create, self.rng
        self.warehouses = [
            create(self.admin, "wms.warehouse", {"code": code, "name": name, "city": city})["id"]
            for code, name, city in WAREHOUSES
        ]
        self.weights = [1 / (rank + 1) ** 0.9 for rank in range(len(VARIANTS) * len(PRODUCTS))]
        rng.shuffle(self.weights)
        daily_units = self.orders_per_day * 2.3 * 1.7  # lines per order, units per line
        shares = iter(daily_units * w / sum(self.weights) for w in self.weights)
        self.items = []
        for rack, variant in enumerate(VARIANTS, 1):
            for aisle, (code, name, unit, list_price) in enumerate(PRODUCTS):
                price = Decimal(list_price) * (1 + Decimal(VARIANTS.index(variant)) / 20)
                lead_time = rng.choice([5, 7, 10, 14])
                self.items.append(
                    create(
                        self.admin,
                        "wms.item",
                        {
                            "sku": f"{code}-{variant or 'STD'}",
                            "unit": unit,
                            "name": name + (f" {variant}" if variant else ""),
                            "price": f"{price:.2f}",
                            "cost": f"{price * Decimal('0.55'):.2f}",
                            "lead_time_days": lead_time,  # reorder: the lead time and two days
                            "reorder_point": 3 + round(next(shares) * (lead_time + 2)),
                            "preferred_supplier": rng.choice(SUPPLIERS),
                            "barcode": f"69{rng.randint(10**10, 10**11 - 1)}",
                            # aisles A-O, two products to an aisle; a variant to a rack
                            "bin": f"{chr(65 + aisle // 2)}-{rack:02d}-{aisle % 2 + 1}",
                        },
                    )
                )
        self.customers = [self.customer(i) for i in range(200)]
        for call in self.rt.records.list(self.admin, "crm.activity", Query(limit=500)).data:
            self.rt.records.update(
                self.admin, "crm.activity", call["id"], {"done": True}, version=call["version"]
            )  # the welcome calls were made
        for warehouse in self.warehouses:  # the opening stock
            for chunk in range(0, len(self.items), 50):
                lines = [
                    {"item": it["id"], "qty": rng.randint(10, 30), "cost": it["cost"]}
                    for it in self.items[chunk : chunk + 50]
                ]
                po = create(
                    self.admin,
                    "wms.purchase_order",
                    {
                        "supplier": rng.choice(SUPPLIERS),
                        "warehouse": warehouse,
                        "expected_date": self.start.date().isoformat(),
                        "lines": lines,
                    },
                )
                self.take("wms.purchase_order", po["id"], "place", "receive")
        for n, customer in enumerate(self.customers[:40]):
            opportunity = create(
                self.admin,
                "crm.opportunity",
                {
                    "name": f"{customer['name']} 年度采购 annual order",
                    "customer": customer["id"],
                    "amount": f"{rng.randint(5, 80) * 1000}.00",
                    "close_date": (
                        self.end.date() + timedelta(days=rng.randint(-60, 60))
                    ).isoformat(),
                },
            )
            for step in OPPORTUNITY_PATHS[n % len(OPPORTUNITY_PATHS)]:
                self.rt.transitions.take(
                    self.admin,
                    "crm.opportunity",
                    opportunity["id"],
                    step,
                    {"lost_reason": "价格 price"} if step == "lose" else None,
                )

    def customer(self, i: int) -> dict:
        rng = self.rng
        company = rng.random() < 0.3
        if company:
            name = rng.choice(COMPANY) + rng.choice(COMPANY_KIND)
        elif rng.random() < 0.7:
            name = rng.choice(SURNAMES) + rng.choice(GIVEN) + rng.choice(["", *GIVEN])
        else:
            name = f"{rng.choice(FIRST)} {rng.choice(LAST)}"
        province, city, district, street, postcode, country = rng.choice(ADDRESSES)
        return self.rt.records.create(
            self.admin,
            "crm.customer",
            {
                "name": name,
                "kind": "company" if company else "person",
                "tier": rng.choice(["standard"] * 5 + ["silver", "silver", "gold", "vip"]),
                "email": f"customer{i + 1}@example.com",
                "recipient": rng.choice(SURNAMES) + rng.choice(GIVEN) if company else name,
                "province": province,
                "city": city,
                "district": district,
                "address": f"{street} {rng.randint(1, 999)} 号",
                "postcode": postcode,
                "country": country,
                "phone": f"+86 138 {1000 + i:04d} {rng.randint(0, 9999):04d}",
                "tags": rng.sample(
                    ["wholesale", "retail", "online", "returning"], 2 if company else 1
                ),
            },
        )

    # ---- the daily round --------------------------------------------------------------
    def new_order(self, at: datetime) -> None:
        rng = self.rng
        picked = {
            it["id"]: it
            for it in rng.choices(self.items, self.weights, k=rng.choice([1, 1, 2, 2, 3, 4]))
        }
        channel = rng.choice(CHANNELS)
        lines = [
            {"item": it["id"], "qty": rng.choice([1, 1, 1, 2, 2, 3])} for it in picked.values()
        ]
        goods = sum(Decimal(picked[line["item"]]["price"]) * line["qty"] for line in lines)
        posted = channel in ("web", "marketplace") and goods < FREE_SHIPPING_FROM
        order = self.rt.records.create(
            self.admin,
            "oms.order",
            {
                "customer": rng.choice(self.customers)["id"],
                "channel": channel,
                "external_id": f"{channel[:2].upper()}-{self.seq + 100000}"
                if channel in ("web", "marketplace")
                else None,
                "ordered_at": at.isoformat(),
                "warehouse": rng.choice(self.warehouses),
                "shipping_fee": SHIPPING_FEE if posted else "0",
                "discount": rng.choice(["5.00", "10.00"])
                if goods > 200 and rng.random() < 0.2
                else "0",
                "lines": lines,  # at the catalogue's prices
            },
        )
        if channel in PAID_UP_FRONT:
            methods, weights = PAID_UP_FRONT[channel]
            self.pay(order, Decimal(order["total"]), rng.choices(methods, weights)[0])
        else:
            self.on_account(order, at)
        if rng.random() < 0.03:
            self.later(at, rng.uniform(0.5, 24), "cancel", order["id"])
        else:
            self.later(at, rng.uniform(0.2, 6), "confirm", order["id"])

    def on_account(self, order: dict, at: datetime) -> None:
        """Phone and email orders are paid by bank transfer within about two months, a
        few after a deposit, some never (the recent ones are still open, of course)."""
        rng = self.rng
        if rng.random() < 0.15:
            share = Decimal(rng.choice(["0.3", "0.5"]))
            self.pay(order, (Decimal(order["total"]) * share).quantize(CENT), "bank_transfer")
        if rng.random() < 0.92:
            self.later(at, rng.uniform(2, 75) * 24, "pay", order["id"])

    def pay(self, order: dict, amount: Decimal, method: str) -> None:
        """A payment of the order, with the bank's or platform's number for it."""
        if method == "cash":
            reference = None
        elif method == "bank_transfer":
            reference = f"BT{clock.today():%Y%m%d}{self.rng.randint(10**5, 10**6 - 1)}"
        else:
            reference = f"{clock.today():%Y%m%d}{self.rng.randint(10**17, 10**18 - 1)}"
        self.methods[order["id"]] = method
        self.rt.records.create(
            self.admin,
            "oms.payment",
            {
                "order": order["id"],
                "amount": f"{amount:.2f}",
                "method": method,
                "reference": reference,
            },
        )

    def settle(self, order_id: int) -> None:
        """The rest of an order on account arrives (not for a cancelled one)."""
        order = self.rt.records.get(self.admin, "oms.order", order_id)
        rest = Decimal(order["total"]) - Decimal(order["paid"])
        if order["status"] != "cancelled" and rest > 0:
            self.pay(order, rest, "bank_transfer")

    def buy_in(self, today: datetime) -> None:
        """Purchasing places the low-stock proposals; goods arrive on their expected day."""
        records = self.rt.records
        for po in records.list(
            self.admin,
            "wms.purchase_order",
            Query(conditions=parse_where({"status": "draft"}), limit=200),
        ).data:
            arrives = (today + timedelta(days=self.rng.randint(3, 12))).date().isoformat()
            records.update(
                self.admin,
                "wms.purchase_order",
                po["id"],
                {"expected_date": arrives},
                version=po["version"],
            )
            self.take("wms.purchase_order", po["id"], "place")
        due = {
            "status": {"in": ["ordered", "partly_received"]},
            "expected_date": {"lte": today.date().isoformat()},
        }
        arriving = Query(conditions=parse_where(due), limit=200)
        for po in records.list(self.admin, "wms.purchase_order", arriving).data:
            if po["status"] == "ordered" and self.rng.random() < 0.2:
                self.arrive_in_part(po, today)
            else:
                self.take("wms.purchase_order", po["id"], "receive")

    def arrive_in_part(self, po: dict, today: datetime) -> None:
        """About half of each line comes now; the rest a few days later."""
        half = [
            {"item": line["item"], "qty": line["qty"] // 2}
            for line in po["lines"]
            if line["qty"] >= 2
        ]
        if not half:
            self.take("wms.purchase_order", po["id"], "receive")
            return
        receipt = self.rt.records.create(
            self.admin, "wms.goods_receipt", {"purchase_order": po["id"], "lines": half}
        )
        self.take("wms.goods_receipt", receipt["id"], "post")
        rest = (today + timedelta(days=self.rng.randint(2, 6))).date().isoformat()
        po = self.rt.records.get(self.admin, "wms.purchase_order", po["id"])
        self.rt.records.update(
            self.admin,
            "wms.purchase_order",
            po["id"],
            {"expected_date": rest},
            version=po["version"],
        )

    def later(self, after: datetime, hours: float, step: str, record_id: int) -> None:
        self.seq += 1
        heapq.heappush(self.due, (after + timedelta(hours=hours), self.seq, step, record_id))

    def run_due(self, until: datetime) -> None:
        while self.due and self.due[0][0] <= until:
            at, _, step, record_id = heapq.heappop(self.due)
            with clock.at(at):
                self.step(at, step, record_id)

    def step(self, at: datetime, step: str, record_id: int) -> None:
        rng = self.rng
        if step.startswith("rma:"):
            self.take("oms.return", record_id, step[4:])
            return
        if step == "pay":
            self.settle(record_id)
            return
        try:
            order = self.rt.transitions.take(
                self.admin,
                "oms.order",
                record_id,
                step,
                {"carrier": rng.choice(CARRIERS)} if step == "ship" else None,
            )
        except AppLoomError:  # still backordered when picking was planned: look tomorrow
            self.later(at, 24, step, record_id)
            return
        following = {
            "confirm": ("pick", 2, 30),
            "pick": ("ship", 1, 20),
            "ship": ("deliver", 24, 96),
            "deliver": ("complete", 72, 240),
        }
        if step == "cancel" and Decimal(order["paid"]) > 0:  # the money goes back
            self.pay(order, -Decimal(order["paid"]), self.methods[record_id])
        if order["status"] == "backordered":
            self.later(at, 24, "pick", record_id)  # looks again once stock may be back
        elif step in following:
            name, low, high = following[step]
            self.later(at, rng.uniform(low, high), name, record_id)
        if step == "deliver" and rng.random() < 0.03:
            self.return_goods(at, order)

    def return_goods(self, at: datetime, order: dict) -> None:
        line = self.rng.choice(order["lines"])
        rma = self.rt.records.create(
            self.admin,
            "oms.return",
            {
                "order": order["id"],
                "reason": self.rng.choice(RETURN_REASONS),
                "warehouse": line["warehouse"],
                "lines": [
                    {
                        "item": line["item"],
                        "qty": line["qty"],
                        "resaleable": self.rng.random() < 0.7,
                    }
                ],
            },
        )
        refund = f"{min(Decimal(line['amount']), Decimal(order['paid'])):.2f}"  # what was paid
        self.later(at, self.rng.uniform(48, 120), "rma:receive", rma["id"])
        self.rt.records.update(
            self.admin, "oms.return", rma["id"], {"refund_amount": refund}, version=rma["version"]
        )
        self.later(at, self.rng.uniform(130, 200), "rma:refund", rma["id"])

    def take(self, ref: str, record_id: int, *steps: str) -> None:
        for step in steps:
            self.rt.transitions.take(self.admin, ref, record_id, step)
