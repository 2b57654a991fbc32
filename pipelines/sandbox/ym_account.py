"""The Yandex Market part of the sandbox account: one business, its campaigns, warehouses and
offers, and the truth a correct sync must end with (docs/api/yandex_market.md §7).

Why a module of its own: Yandex Market's model (campaigns per placement model, stock per
warehouse x offer with overlapping stock types, §2.2.4) shares nothing with the Ozon/WB
columns but the catalogue; `Account` holds one `YmAccount` and calls it on `tick()`.

How it is kept (the same reasons as account.py): everything comes from `random.Random`
seeded from the account seed (a purpose string of its own, so the Ozon and WB data are
unchanged by YM's existence), and stock is kept as flat columns, one per (place, stock
type), indexed by offer position: `on[p][i]` says offer `i` has a stock record on place `p`
(a warehouse as one campaign reports it). 100,000 offers x 9 places cost about 30 MB and
well under a second to generate; JSON exists only for the page being served.

The stock model per (place, offer): `avail` = AVAILABLE, `freeze` = FREEZE, and the held
types `quar` QUARANTINE, `defect` DEFECT, `expired` EXPIRED, `util` UTILIZATION. FIT is never
stored: it is AVAILABLE + FREEZE (§2.2.4, inf). Seller warehouses (FBS, Express, DBS) hold
one count per offer, the seller's upload (§2.2.4: "written as a single count"), so their
FREEZE is always 0: that is what keeps the truth the same whether an answer carries
AVAILABLE+FREEZE+FIT or FIT alone (`SandboxOptions.ym_seller_stock_types`). The FBS returns
warehouse holds returned units only (QUARANTINE, sometimes DEFECT), never sellable ones.
"""

from __future__ import annotations

import random
from array import array
from dataclasses import dataclass
from typing import Any, Callable, Iterator

from .reference import CLOCK_START, HISTORY_SECONDS, ean13, inventory_row, mix, parse_article


@dataclass(frozen=True)
class YmCampaign:
    """A campaign (shop) of the business: `placement` is its `placementType` (§2.1)."""

    id: int
    domain: str
    placement: str  # FBY, FBS, DBS
    availability: str = "AVAILABLE"
    client_id: int = 0

    @property
    def active(self) -> bool:
        return self.availability == "AVAILABLE"


@dataclass(frozen=True)
class YmWarehouse:
    """A warehouse: Market's (FBY, `GET /v2/warehouses`) or the seller's (`POST
    /v2/businesses/{id}/warehouses`), or a returns warehouse that is in neither list."""

    id: int
    name: str
    city: str
    street: str = ""
    campaign: int = 0  # seller warehouses: the campaign (index into YM_CAMPAIGNS) it serves
    express: bool = False
    latitude: float = 55.75
    longitude: float = 37.62


@dataclass(frozen=True)
class YmPlace:
    """A (campaign, warehouse) pair with stock: one `warehouses[]` entry of that campaign's
    getStocks answer. `kind` = market, seller or returns."""

    campaign: int  # index into YM_CAMPAIGNS
    warehouse: YmWarehouse
    kind: str
    chance: float  # share of offers with a stock record here


BUSINESS_NAME = "ООО «Песочница»"
# Campaigns in `GET /v2/campaigns` order. The last one is off (no goods shown > 90 days):
# its methods answer 403 and its stock is not in the truth (§2.1, §7).
YM_CAMPAIGNS: tuple[YmCampaign, ...] = (
    YmCampaign(21_630_101, "pesochnica-fby.market.yandex.ru", "FBY", client_id=131_001),
    YmCampaign(21_630_102, "pesochnica-fbs.market.yandex.ru", "FBS", client_id=131_002),
    YmCampaign(21_630_103, "pesochnica-dbs.market.yandex.ru", "DBS", client_id=131_003),
    YmCampaign(21_630_104, "pesochnica-old.market.yandex.ru", "FBS", "DISABLED_BY_INACTIVITY", client_id=131_004),
)
FBY, FBS, DBS, OFF = range(4)

# Market fulfilment warehouses (`GET /v2/warehouses`): the first four hold the FBY stock, the
# last two are listed but hold nothing of this seller.
YM_MARKET_WAREHOUSES: tuple[YmWarehouse, ...] = (
    YmWarehouse(145, "Маркет Софьино", "Софьино", "Промышленная зона", latitude=55.51, longitude=38.12),
    YmWarehouse(147, "Маркет Ростов-на-Дону", "Ростов-на-Дону", "Логопарк", latitude=47.21, longitude=39.71),
    YmWarehouse(171, "Маркет Томилино", "Томилино", "Новорязанское ш.", latitude=55.65, longitude=37.95),
    YmWarehouse(300, "Маркет Санкт-Петербург", "Санкт-Петербург", "Шушары", latitude=59.80, longitude=30.37),
    YmWarehouse(302, "Маркет Екатеринбург", "Екатеринбург", "Кольцовский тракт", latitude=56.75, longitude=60.80),
    YmWarehouse(304, "Маркет Новосибирск", "Новосибирск", "Толмачёво", latitude=55.01, longitude=82.65),
)
# The seller's warehouses (`POST /v2/businesses/{id}/warehouses`), with the campaign each serves.
YM_SELLER_WAREHOUSES: tuple[YmWarehouse, ...] = (
    YmWarehouse(1_342_001, "Склад Подольск", "Подольск", "ул. Правды", campaign=FBS),
    YmWarehouse(1_342_002, "Экспресс Москва", "Москва", "ул. Бутырская", campaign=FBS, express=True),
    YmWarehouse(1_342_003, "Склад Казань (DBS)", "Казань", "ул. Тэцевская", campaign=DBS),
    YmWarehouse(1_342_004, "Старый склад Тверь", "Тверь", "ул. Склизкова", campaign=OFF),
)
# A Market returns warehouse: FBS answers carry its rows, neither list names it (§2.2.3).
YM_RETURNS_WAREHOUSE = YmWarehouse(60_017_352, "", "Москва")

YM_PLACES: tuple[YmPlace, ...] = (
    *(YmPlace(FBY, w, "market", chance) for w, chance in zip(YM_MARKET_WAREHOUSES[:4], (0.5, 0.35, 0.45, 0.3))),
    YmPlace(FBS, YM_SELLER_WAREHOUSES[0], "seller", 0.5),
    YmPlace(FBS, YM_SELLER_WAREHOUSES[1], "seller", 0.3),
    YmPlace(FBS, YM_RETURNS_WAREHOUSE, "returns", 0.05),
    YmPlace(DBS, YM_SELLER_WAREHOUSES[2], "seller", 0.3),
    YmPlace(OFF, YM_SELLER_WAREHOUSES[3], "seller", 0.25),
)
N_PLACES = len(YM_PLACES)
# Places of each campaign in answer order (warehouseId ascending).
CAMPAIGN_PLACES: tuple[tuple[int, ...], ...] = tuple(
    tuple(sorted((p for p, pl in enumerate(YM_PLACES) if pl.campaign == c), key=lambda p: YM_PLACES[p].warehouse.id))
    for c in range(len(YM_CAMPAIGNS)))

# The special offerIds: two SKUs that differ only by a leading zero (§2.5: different SKUs).
LEADING_ZERO_PAIR = ("557722", "0557722")
STOCK_COLUMNS = ("avail", "freeze", "quar", "defect", "expired", "util")
HELD_TYPES = (("QUARANTINE", "quar"), ("DEFECT", "defect"), ("EXPIRED", "expired"), ("UTILIZATION", "util"))
# Offer roles: normal, archived (left out unless `archived: true`), no card (no marketSku),
# zero (stock records with every count 0).
NORMAL, ARCHIVED, NO_CARD, ZERO = range(4)
_ROLE_CUT = (0.88, 0.91, 0.96)  # cumulative: 88 % normal, 3 % archived, 5 % no card, 4 % zero
MOSCOW = 3 * 3600


def _role(x: float) -> int:
    for k, cut in enumerate(_ROLE_CUT):
        if x < cut:
            return k
    return ZERO


def msk_offset_iso(ts: int) -> str:
    """ISO 8601 with the Moscow offset, as getStocks writes `updatedAt` (§2.2.3)."""
    import time

    return time.strftime("%Y-%m-%dT%H:%M:%S+03:00", time.gmtime(ts + MOSCOW))


class YmAccount:
    """The business's offers and their stock on every place of every campaign.

    `offer_id(i)` / `index_by_offer(s)` map offer positions and offerIds; `on`, `avail`,
    `freeze`, `quar`, `defect`, `expired`, `util`, `updated` are per-place columns; `archived`,
    `market_sku` per offer. The catalogue text (names, vendor codes) is the Ozon/WB account's:
    one seller, the same articles, except the leading-zero pair.
    """

    def __init__(self, seed: int, products: int, article: Callable[[int], str],
                 name: Callable[[int], str], brand: Callable[[int], str], category: Callable[[int], Any],
                 tick_changes: float = 0.05) -> None:
        self.seed = seed
        self.tick_changes = tick_changes
        self._article, self._name, self._brand, self._category = article, name, brand, category
        base = seed % 89
        self.business_id = 3_100_000 + base * 1_000
        self.sku_base = 101_000_000_000 + base * 1_000_000_000
        self.archived = bytearray()
        self.market_sku = array("q")  # 0 = no card
        self.special: dict[int, str] = {}
        self.on = [bytearray() for _ in range(N_PLACES)]
        self.avail = [array("i") for _ in range(N_PLACES)]
        self.freeze = [array("i") for _ in range(N_PLACES)]
        self.quar = [array("i") for _ in range(N_PLACES)]
        self.defect = [array("i") for _ in range(N_PLACES)]
        self.expired = [array("i") for _ in range(N_PLACES)]
        self.util = [array("i") for _ in range(N_PLACES)]
        self.updated = [array("q") for _ in range(N_PLACES)]
        rng = random.Random(f"invsync-sandbox:{seed}:ym")
        forced: dict[int, int] = {}
        if products >= 8:  # small accounts still show every special case
            picks = rng.sample(range(products), 5)
            self.special = {picks[0]: LEADING_ZERO_PAIR[0], picks[1]: LEADING_ZERO_PAIR[1]}
            forced = {picks[2]: ARCHIVED, picks[3]: NO_CARD, picks[4]: ZERO}
        self._special_rev = {v: k for k, v in self.special.items()}
        self._add_offers(rng.random, products, forced, None)
        for i in (*self.special, *forced):  # every special case shows in the answers
            for p in (0, 4):  # Маркет Софьино (FBY) and Склад Подольск (FBS)
                if not self.on[p][i]:
                    self.on[p][i] = 1
                    self.updated[p][i] = CLOCK_START - 1 - int(rng.random() * HISTORY_SECONDS)
                    if forced.get(i) not in (ARCHIVED, ZERO):
                        self.avail[p][i] = 1 + int(rng.random() * 20)

    # ------------------------------------------------------------------ generation
    def _add_offers(self, r: Any, count: int, forced: dict[int, int], born: int | None) -> None:
        """Append `count` offers with their stock records. Columns grow by blocks of zeros,
        then only the placed slots are written (the hot loop of a 100,000-offer account).
        `born` = the clock of the tick that added them (their `updatedAt`), None at start."""
        first = len(self.archived)
        n = first + count
        for cols in (self.avail, self.freeze, self.quar, self.defect, self.expired, self.util):
            for col in cols:
                col.extend(array("i", bytes(4 * count)))
        for col in self.updated:
            col.extend(array("q", bytes(8 * count)))
        for col in self.on:
            col.extend(bytes(count))
        self.archived.extend(bytes(count))
        self.market_sku.extend(array("q", bytes(8 * count)))
        on, av, fr, qu, de, ex, ut, up = (self.on, self.avail, self.freeze, self.quar, self.defect,
                                          self.expired, self.util, self.updated)
        places = [(p, pl.kind, pl.chance) for p, pl in enumerate(YM_PLACES)]
        sku = self.market_sku[first - 1] if first else self.sku_base
        for i in range(first, n):
            role = forced.get(i - first)
            if role is None:
                role = NORMAL if born is not None else _role(r())
            sku += 1 + int(r() * 700)
            if role == ARCHIVED:
                self.archived[i] = 1
            if role != NO_CARD:
                self.market_sku[i] = sku
            placed_any = False
            for p, kind, chance in places:
                if r() >= chance:
                    continue
                placed_any = True
                on[p][i] = 1
                up[p][i] = born if born is not None else CLOCK_START - 1 - int(r() * HISTORY_SECONDS)
                if role in (ZERO, ARCHIVED) or r() < 0.08:
                    continue  # a stock record with every count 0
                if kind == "market":
                    av[p][i] = int(r() * r() * 120)
                    fr[p][i] = int(r() * r() * r() * 8)
                    x = r()
                    if x < 0.10:
                        qu[p][i] = 1 + int(r() * 5)
                    elif x < 0.15:
                        de[p][i] = 1 + int(r() * 3)
                    elif x < 0.19:
                        ex[p][i] = 1 + int(r() * 4)
                    elif x < 0.22:
                        ut[p][i] = 1 + int(r() * 2)
                elif kind == "seller":
                    av[p][i] = int(r() * r() * 60)
                else:  # returns: returned units wait there, none sellable
                    qu[p][i] = 1 + int(r() * 3)
                    if r() < 0.3:
                        de[p][i] = 1
            if not placed_any and born is not None:  # a new offer always arrives somewhere
                on[0][i] = 1
                up[0][i] = born
                av[0][i] = 1 + int(r() * 30)

    # ------------------------------------------------------------------ time moves
    def tick(self, step: int, clock: int, new_offers: int) -> None:
        """One time step: about `tick_changes` of the stock records change (up or down a few
        units, one in ten sells out), their `updatedAt` becomes `clock`; `new_offers` offers
        arrive (the products the tick added to the catalogue). Its own Random per step."""
        rng = random.Random(f"invsync-sandbox:{self.seed}:ym-tick:{step}")
        r = rng.random
        n = len(self.archived)
        for p, pl in enumerate(YM_PLACES):
            on = self.on[p]
            placed = on.count(1)
            want = round(self.tick_changes * placed)
            if not placed or want <= 0:
                continue
            av, fr, qu, up = self.avail[p], self.freeze[p], self.quar[p], self.updated[p]
            picked: set[int] = set()
            tries = 0
            while len(picked) < want and tries < want * 50:
                tries += 1
                i = int(r() * n)
                if on[i]:
                    picked.add(i)
            for j, i in enumerate(sorted(picked)):
                up[i] = clock
                if pl.kind == "returns":
                    qu[i] = 0 if r() < 0.3 else 1 + int(r() * 3)
                    continue
                if j == 0 or r() < 0.1:
                    av[i] = 0
                    fr[i] = 0
                    continue
                if r() < 0.5 or av[i] == 0:
                    av[i] += 1 + int(r() * 20)
                else:
                    av[i] -= 1 + int(r() * min(10, av[i]))
                if pl.kind == "market":
                    fr[i] = int(r() * r() * 5)
        if new_offers:
            self._add_offers(r, new_offers, {}, clock)

    # ------------------------------------------------------------------ lookups
    @property
    def n_offers(self) -> int:
        return len(self.archived)

    def offer_id(self, i: int) -> str:
        """The offerId: the seller's article shared with Ozon/WB, or one of the leading-zero pair."""
        return self.special.get(i) or self._article(i)

    def index_by_offer(self, offer: str) -> int | None:
        """Exact-string lookup (§2.5: `557722` and `0557722` are different SKUs)."""
        if offer in self._special_rev:
            return self._special_rev[offer]
        i = parse_article(offer)  # the article format is the account's
        if i is None or i >= self.n_offers or i in self.special or self._article(i) != offer:
            return None
        return i

    def name(self, i: int) -> str:
        return self._name(i)

    def vendor(self, i: int) -> str:
        return self._brand(i)

    def category(self, i: int) -> Any:
        return self._category(i)

    def barcode(self, i: int) -> str:
        return ean13(f"46{(self.seed % 89):02d}{(7_000_000 + i * 3) % 100_000_000:08d}")

    def turnover_days(self, p: int, i: int) -> float:
        """Days of stock at the current sales rate (analytics only, never stock, §2.2.4)."""
        return round((mix(self.seed, p, i) % 3000) / 10, 1)

    def counts(self, p: int, i: int) -> tuple[int, int, int, int, int, int]:
        """(AVAILABLE, FREEZE, QUARANTINE, DEFECT, EXPIRED, UTILIZATION) of one record."""
        return (self.avail[p][i], self.freeze[p][i], self.quar[p][i], self.defect[p][i],
                self.expired[p][i], self.util[p][i])

    def listed(self, p: int, archived: bool) -> Iterator[int]:
        """Offers with a stock record on place `p`, archived ones only or none of them."""
        on, arch = self.on[p], self.archived
        want = 1 if archived else 0
        i = on.find(1)
        while i >= 0:
            if arch[i] == want:
                yield i
            i = on.find(1, i + 1)

    # ------------------------------------------------------------------ truth
    def iter_expected(self) -> Iterator[dict[str, Any]]:
        """The `inventory_data` rows of §7 (see `Account.expected_inventory`)."""
        for c, campaign in enumerate(YM_CAMPAIGNS):
            if not campaign.active:
                continue
            for p in CAMPAIGN_PLACES[c]:
                pl = YM_PLACES[p]
                wh = pl.warehouse
                stype = campaign.placement
                if stype == "FBS" and wh.express:
                    stype = "EXPRESS"
                wname = wh.name or f"warehouse {wh.id}"
                for i in self.listed(p, False):
                    av, fr, qu, de, ex, ut = self.counts(p, i)
                    sku = self.market_sku[i]
                    offer = self.offer_id(i)
                    reserved = fr + qu + de + ex + ut
                    yield inventory_row("ym", offer, str(sku) if sku else None, offer, str(wh.id), wname, "physical",
                                        stype, av + reserved, reserved)

    def summary(self) -> dict[str, Any]:
        rows = present = reserved = 0
        for row in self.iter_expected():
            rows += 1
            present += row["quantity_present"]
            reserved += row["quantity_reserved"]
        return {
            "offers": self.n_offers - self.archived.count(1),
            "archived": self.archived.count(1),
            "business_id": self.business_id,
            "campaigns": len(YM_CAMPAIGNS),
            "rows": rows,
            "present": present,
            "reserved": reserved,
            "available": present - reserved,
        }
