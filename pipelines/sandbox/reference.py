"""Static reference data of the sandbox account and the small helpers that format it.

Why a separate module: the warehouses, categories and time formats are facts that the account
generator, the endpoint handlers and the tests all share. Keeping them in one place means the
API answers and `Account.expected_inventory()` can never disagree about a warehouse name or id.
"""

from __future__ import annotations

import hashlib
import re
import time
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from typing import Any

MSK = timezone(timedelta(hours=3), "MSK")
MSK_OFFSET = 3 * 3600

# The virtual clock starts here (09:00 Moscow time) and moves only by `tick`: the data never
# depends on the wall clock, so the same seed gives the same answers on any day.
CLOCK_START = int(datetime(2026, 6, 1, 6, 0, 0, tzinfo=timezone.utc).timestamp())
TICK_SECONDS = 30 * 60
# Initial WB lastChangeDate values are spread over this many seconds before CLOCK_START.
HISTORY_SECONDS = 30 * 24 * 3600


@dataclass(frozen=True)
class OzonFboWarehouse:
    """An Ozon fulfilment (FBO) warehouse: `/v1/warehouse/ozon/list` entry, analytics place.

    The same `warehouse_id` is used by `/v1/product/info/stocks-by-warehouse/fbo`,
    `/v1/warehouse/ozon/list` and `/v1/analytics/stocks` (ozon.md §6.3 leaves this open; the
    sandbox makes them equal, which is what the FBO method's own docs point to).
    """

    warehouse_id: int
    name: str
    cluster_id: int
    cluster_name: str
    short_name: str
    address: str
    timezone: str = "Europe/Moscow"
    macrolocal_cluster_id: int = 0


@dataclass(frozen=True)
class OzonSellerWarehouse:
    """A seller warehouse from `/v2/warehouse/list`; `is_rfbs` tells FBS from realFBS."""

    warehouse_id: int
    name: str
    is_rfbs: bool
    address: str = ""
    latitude: float = 0.0
    longitude: float = 0.0


@dataclass(frozen=True)
class WbWarehouse:
    """A WB warehouse (FBO) as the stocks-report methods name it: id, name, region."""

    id: int
    name: str
    region: str
    in_russia: bool = True


@dataclass(frozen=True)
class WbSellerWarehouse:
    """A seller warehouse from WB `/api/v3/warehouses`; `delivery_type` labels its stock."""

    id: int
    name: str
    office_id: int
    delivery_type: int = 1
    cargo_type: int = 1
    region: str = "Центральный"


# Two warehouses share the Moscow cluster, so the analytics cluster aggregate rows really sum
# more than one warehouse. Dense slots of the account follow this order.
OZON_FBO_WAREHOUSES: tuple[OzonFboWarehouse, ...] = (
    OzonFboWarehouse(15431806189000, "Хоругвино", 4, "Москва, МО и Дальние регионы", "ХОРУГВИНО_РФЦ",
                     "Московская обл., г.о. Солнечногорск, д. Хоругвино, 23", macrolocal_cluster_id=101),
    OzonFboWarehouse(19262731541000, "Ногинск", 4, "Москва, МО и Дальние регионы", "НОГИНСК_РФЦ",
                     "Московская обл., г.о. Богородский, Ногинск-Технопарк, 12", macrolocal_cluster_id=101),
    OzonFboWarehouse(22316498337000, "Тверь", 154, "Тверь", "ТВЕРЬ_РФЦ",
                     "Тверская обл., Калининский м.о., Эммаусс, 1", macrolocal_cluster_id=102),
    OzonFboWarehouse(17717042926000, "Казань", 147, "Казань", "КАЗАНЬ_РФЦ",
                     "Республика Татарстан, Зеленодольский р-н, Технополис Сколково, 1", macrolocal_cluster_id=103),
    OzonFboWarehouse(18044249781000, "Екатеринбург", 148, "Урал", "ЕКАТЕРИНБУРГ_РФЦ",
                     "Свердловская обл., г. Екатеринбург, ул. Серовский тракт, 11", "Asia/Yekaterinburg", 104),
    OzonFboWarehouse(21908345632000, "Новосибирск", 151, "Сибирь", "НОВОСИБИРСК_РФЦ",
                     "Новосибирская обл., Новосибирский р-н, Толмачевский с/с, 8", "Asia/Novosibirsk", 105),
    OzonFboWarehouse(22429004154000, "Санкт-Петербург", 2, "Санкт-Петербург и СЗО", "СПБ_ШУШАРЫ_РФЦ",
                     "г. Санкт-Петербург, пос. Шушары, Московское ш., 231", macrolocal_cluster_id=106),
)
# Slots 0 and 1 are FBS, slot 2 is realFBS; the stock arrays of the account use this order.
OZON_SELLER_WAREHOUSES: tuple[OzonSellerWarehouse, ...] = (
    OzonSellerWarehouse(1020000031415000, "Склад Подольск (FBS)", False,
                        "Московская обл., г. Подольск, ул. Правды, 20", 55.4312, 37.5447),
    OzonSellerWarehouse(1020000031416000, "Склад Екатеринбург (FBS)", False,
                        "г. Екатеринбург, ул. Фронтовых Бригад, 18", 56.8866, 60.6129),
    OzonSellerWarehouse(1020000089903000, "Мой магазин Москва (rFBS)", True,
                        "г. Москва, ул. Большая Семёновская, 40", 55.7818, 37.7110),
)
# WB warehouses in warehouseId order (the stocks-report rows are sorted by it within a size).
# Минск is outside Russia: the aggregated remains report keeps its name (wildberries.md §1.5).
WB_WAREHOUSES: tuple[WbWarehouse, ...] = (
    WbWarehouse(507, "Коледино", "Центральный"),
    WbWarehouse(117501, "Подольск", "Центральный"),
    WbWarehouse(117986, "Казань", "Приволжский"),
    WbWarehouse(120762, "Электросталь", "Центральный"),
    WbWarehouse(130744, "Краснодар", "Южный"),
    WbWarehouse(168458, "Минск", "Беларусь", in_russia=False),
    WbWarehouse(206348, "Тула", "Центральный"),
)
WB_WAREHOUSE_NAMES: tuple[str, ...] = tuple(w.name for w in WB_WAREHOUSES)
# The seller's own warehouses on WB: one per delivery scheme the stock must be labelled with.
WB_SELLER_WAREHOUSES: tuple[WbSellerWarehouse, ...] = (
    WbSellerWarehouse(1010101, "Мой склад Москва", 15, delivery_type=1),
    WbSellerWarehouse(1020304, "Мой склад Казань", 27, delivery_type=2, region="Приволжский"),
    WbSellerWarehouse(1030507, "Магазин Тверь (самовывоз)", 0, delivery_type=5),
)
# deliveryType of /api/v3/warehouses -> the stock_type the project stores.
WB_DELIVERY_TYPES: dict[int, str] = {1: "FBS", 2: "DBS", 3: "DBW", 5: "C&C", 6: "EDBS"}

# Aggregated places in use since 15 Aug 2026 (wildberries.md §1.5).
WB_AGGREGATE_ID = -999999
WB_AGGREGATE_NAME = "Склад WB"  # wb-warehouses: the only place, warehouseName and regionName
WB_AGGREGATE_RU = "Склад WB РФ"  # remains report: Russian warehouses except those kept named
WB_AGGREGATE_SGT_RU = "Склад WB СГТ РФ"  # remains report, oversized goods (not modelled)
WB_AGGREGATE_NAMES = frozenset({WB_AGGREGATE_NAME, WB_AGGREGATE_RU, WB_AGGREGATE_SGT_RU})
WB_KEPT_NAMED = frozenset({"Коледино"})  # still named in the aggregated remains report
# The pseudo-warehouses of the WB warehouse-remains report: totals, never places.
WB_IN_WAY_TO_CLIENT = "В пути до получателей"
WB_IN_WAY_FROM_CLIENT = "В пути возвраты на склад WB"
WB_TOTAL_ON_WAREHOUSES = "Всего находится на складах"


@dataclass(frozen=True)
class Category:
    """One product kind: its article prefix, noun and the marketplaces' category names."""

    code: str  # three Cyrillic letters, the article prefix
    noun: str
    wb_category: str
    wb_subject: str
    wb_subject_id: int
    ozon_category_id: int
    ozon_type_id: int
    sizes: tuple[str, ...]  # WB techSize values; ("0",) means one size


_CLOTHES = ("XS", "S", "M", "L", "XL", "XXL")
_SHOES = ("38", "39", "40", "41", "42", "43", "44")
CATEGORIES: tuple[Category, ...] = (
    Category("РЮК", "Рюкзак", "Аксессуары", "Рюкзаки", 1543, 17028973, 970672, ("0",)),
    Category("ФУТ", "Футболка", "Одежда", "Футболки", 192, 200000933, 93244, _CLOTHES),
    Category("КРС", "Кроссовки", "Обувь", "Кроссовки", 104, 17028922, 91248, _SHOES),
    Category("КРЖ", "Кружка", "Посуда и инвентарь", "Кружки", 2345, 17027910, 92311, ("0",)),
    Category("ФРМ", "Форма для запекания", "Посуда и инвентарь", "Формы для запекания", 2301, 17027911, 92318, ("0",)),
    Category("ПЛД", "Плед", "Дом", "Пледы", 1377, 17028641, 96174, ("0",)),
    Category("ХУД", "Худи", "Одежда", "Худи", 1724, 200000933, 93246, _CLOTHES),
    Category("ТАП", "Тапочки", "Обувь", "Тапочки", 109, 17028922, 91252, _SHOES),
    Category("ПЛТ", "Платье", "Одежда", "Платья", 69, 200000933, 93251, _CLOTHES),
    Category("ДЖН", "Джинсы", "Одежда", "Джинсы", 180, 200000933, 93248, _CLOTHES),
)
COLORS: tuple[str, ...] = ("черный", "белый", "синий", "красный", "зеленый", "серый", "бежевый", "розовый")
ADJECTIVES: tuple[str, ...] = ("городской", "классический", "спортивный", "уютный", "дорожный", "летний", "базовый")
BRANDS: tuple[str, ...] = ("Север", "Тайга", "Волна", "Заря", "Кедр", "Радуга", "Байкал", "Ладога")
TURNOVER_GRADES: tuple[str, ...] = ("POPULAR", "ACTUAL", "SURPLUS", "DEFICIT", "NO_SALES", "COLLECTING_DATA")


def wb_warehouse_key(name: str) -> str:
    """The stable `warehouse_id` of a WB warehouse, which WB names only: md5 of the name."""
    return hashlib.md5(name.encode("utf-8")).hexdigest()[:16]


def ean13(first12: str) -> str:
    """Append the EAN-13 check digit, so sandbox barcodes look and validate like real ones."""
    total = sum(int(c) * (3 if i % 2 else 1) for i, c in enumerate(first12))
    return first12 + str((10 - total % 10) % 10)


# Weighted digit sum of a two-digit chunk at an even position (weights 1, 3).
_PAIR = [(c // 10) + 3 * (c % 10) for c in range(100)]


def ean13_20(n: int) -> str:
    """`ean13("20" + 10-digit n)` without a per-digit loop: the WB barcode hot path."""
    total, rest = 2, n
    for _ in range(5):
        rest, pair = divmod(rest, 100)
        total += _PAIR[pair]
    return f"20{n:010d}{(10 - total % 10) % 10}"


_DAYS: dict[int, str] = {}


def msk_iso(ts: int) -> str:
    """Moscow wall time without zone, as WB statistics writes `lastChangeDate`.

    Hot path (one call per WB row): the date part is cached per day, the time is arithmetic.
    """
    day, sec = divmod(ts + MSK_OFFSET, 86_400)
    date = _DAYS.get(day)
    if date is None:
        date = _DAYS[day] = time.strftime("%Y-%m-%d", time.gmtime(day * 86_400))
    hours, rest = divmod(sec, 3600)
    return f"{date}T{hours:02d}:{rest // 60:02d}:{rest % 60:02d}"


def utc_iso(ts: int) -> str:
    """UTC time with a `Z`, as Ozon and the WB content API write timestamps."""
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(ts))


def parse_time(value: str, naive_tz: timezone = MSK) -> float:
    """Parse an RFC3339 / ISO date or datetime to epoch seconds.

    A value without a zone is read in `naive_tz` (Moscow for WB statistics, as WB documents);
    a zoned value is converted. Raises ValueError on anything else.
    """
    text = value.strip()
    if not text:
        raise ValueError("empty date")
    if text.endswith(("Z", "z")):
        text = text[:-1] + "+00:00"
    dt = datetime.fromisoformat(text)
    if dt.tzinfo is None:
        dt = dt.replace(tzinfo=naive_tz)
    return dt.timestamp()


def mix(*values: int) -> int:
    """A cheap deterministic hash of a few ints, for secondary fields not worth storing."""
    h = 2166136261
    for v in values:
        h = ((h ^ (v & 0xFFFFFFFF)) * 16777619) & 0xFFFFFFFF
        h ^= h >> 13
    return h


# The article (`offer_id`) every product of the account carries, e.g. `РЮК-000036-белый`:
# read by each marketplace's part of the account (Ozon/WB in account.py, Yandex in ym_account.py).
OFFER_RE = re.compile(r"^([А-ЯЁ]{3})-(\d{6,})-(\w+)$")


def parse_article(offer: str) -> int | None:
    """The product position an article of the account's form names (unchecked), else None."""
    m = OFFER_RE.match(offer)
    return int(m.group(2)) - 1 if m else None


def inventory_row(mp: str, sku: str, pid: str | None, offer: str, wid: str, wname: str, kind: str, stype: str,
                  present: int, reserved: int) -> dict[str, Any]:
    """One `inventory_data` row of the truth, the same shape for every marketplace."""
    return {
        "marketplace": mp, "sku": sku, "marketplace_product_id": pid, "offer_id": offer,
        "warehouse_id": wid, "warehouse_name": wname, "warehouse_kind": kind, "stock_type": stype,
        "quantity_present": present, "quantity_reserved": reserved,
        "quantity_available": present - reserved,
    }
