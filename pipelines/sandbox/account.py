"""The sandbox seller account: a deterministic catalogue with stock on both marketplaces.

(Over 400 lines on purpose: the account is one model — catalogue, stock, movements and the
truth the tests compare with — that both APIs' handlers read.)

Why it looks like this:
- Determinism. Everything comes from `random.Random(seed)` (and, for each time step, a Random
  seeded from the seed and the step number), never from the global generator or the wall
  clock, so the same seed and product count give byte-identical API answers.
- Size. 100,000 products make about a million stock rows. A dict per row would cost about a
  gigabyte, so the state is kept as flat `array`/`bytearray` columns indexed by position
  ("dense slots": product * number_of_warehouses + warehouse). JSON is built only for the page
  being served. Slots without a placement always hold zeros, so totals are plain `sum()`s.
- One truth. The endpoint handlers read these columns and `expected_inventory()` derives the
  warehouse table from the same columns with the project's mapping rules, so a pipeline that
  maps correctly must end with exactly `expected_inventory()`.

The stock model (what each column means, independent of any API's field names):
- Ozon, per (product, Ozon FBO warehouse): `fbo_pr` present (units physically there),
  `fbo_res` reserved by buyers (<= present), `fbo_req` units listed in supply requests
  (planned inbound: NOT stock), `fbo_tr` units in supplies on the way (NOT stock).
- Ozon, per (product, seller warehouse): `fbs_pr` present, `fbs_res` reserved (<= present).
- WB, per size (chrtId / barcode slot) x WB warehouse: `wb_q` quantity (sellable now),
  `wb_to` inWayToClient, `wb_from` inWayFromClient.
- WB, per size x seller warehouse: `wbf_amt` amount (what the seller set).
`*_on` flags say a stock record exists (a placement); slots without one hold zeros.

Yandex Market lives in `self.ym` (ym_account.py): its own columns and Random, the same seed
and product count, moved by the same `tick()`.

Two view switches change how the APIs present the same stock, and `expected_inventory()`
follows them: `wb_aggregated` (WB's "Склад WB" aggregation since 15 Aug 2026) and
`ozon_fbo_zero_rows` (whether the Ozon FBO method lists placements with present = reserved = 0).
"""

from __future__ import annotations

import copy
import random
import threading
from array import array
from bisect import bisect_left, bisect_right
from itertools import combinations, compress
from typing import Any, Iterable, Iterator

from .reference import (
    ADJECTIVES,
    BRANDS,
    CATEGORIES,
    CLOCK_START,
    COLORS,
    HISTORY_SECONDS,
    OZON_FBO_WAREHOUSES,
    OZON_SELLER_WAREHOUSES,
    TICK_SECONDS,
    WB_AGGREGATE_ID,
    WB_AGGREGATE_NAME,
    WB_AGGREGATE_NAMES,
    WB_DELIVERY_TYPES,
    WB_SELLER_WAREHOUSES,
    WB_WAREHOUSES,
    Category,
    ean13_20,
    inventory_row,
    mix,
    parse_article,
    utc_iso,
    wb_warehouse_key,
)
from .ym_account import YmAccount

# Marketplace keys of the truth rows, in the order `iter_expected_inventory` yields them.
MARKETPLACES = ("ozon", "wb", "ym")
# What `expected_inventory()` without a marketplace gives: every marketplace the sandbox
# serves. A caller that compares it with a sync of fewer marketplaces passes the ones it
# synced, e.g. `expected_inventory(("ozon", "wb"))`.
DEFAULT_TRUTH = MARKETPLACES

N_OZ_FBO = len(OZON_FBO_WAREHOUSES)
N_OZ_SELLER = len(OZON_SELLER_WAREHOUSES)
N_WB = len(WB_WAREHOUSES)
N_WB_SELLER = len(WB_SELLER_WAREHOUSES)

# Ozon `visibility` filter values the sandbox knows. Values not given a meaning here behave
# like ALL (they are valid on Ozon but describe moderation states the sandbox does not model).
VISIBILITIES = (
    "ALL", "VISIBLE", "INVISIBLE", "EMPTY_STOCK", "ARCHIVED", "IN_SALE", "NOT_MODERATED",
    "MODERATED", "DISABLED", "STATE_FAILED", "READY_TO_SUPPLY", "VALIDATION_STATE_PENDING",
    "VALIDATION_STATE_FAIL", "VALIDATION_STATE_SUCCESS", "TO_SUPPLY", "REMOVED_FROM_SALE",
    "BANNED", "OVERPRICED", "CRITICALLY_OVERPRICED", "EMPTY_BARCODE", "BARCODE_EXISTS",
    "QUARANTINE", "OVERPRICED_WITH_STOCK", "PARTIAL_APPROVED", "IMAGE_ABSENT", "MODERATION_BLOCK",
)

# Product roles (Ozon side): most products are normal; a few are archived (no stock anywhere,
# hidden from visibility ALL), have an empty v4 `stocks` array (never placed), or are placed
# with zero units everywhere.
NORMAL, ARCHIVED, EMPTY, ZERO = 0, 1, 2, 3

# Zero blocks to grow the columns with, by block length.
_Z = {n: bytes(n) for n in range(1, 8)}
_ZI = {n: array("i", bytes(4 * n)) for n in range(1, 8)}
_ZQ = {n: array("q", bytes(8 * n)) for n in range(1, 8)}


def _cumulative(weights: tuple[float, ...]) -> tuple[float, ...]:
    out, total = [], 0.0
    for w in weights[:-1]:
        total += w
        out.append(total)
    return tuple(out)


def _pick(r: Any, cumulative: tuple[float, ...]) -> int:
    """Index drawn with one random number from cumulative weights (see `_cumulative`)."""
    return bisect_right(cumulative, r())


# All ascending k-subsets of n warehouse slots, so a placement costs one random number.
_COMBOS = {n: [list(combinations(range(n), k)) for k in range(n + 1)] for n in range(1, 8)}


def _slots(r: Any, n: int, k: int) -> tuple[int, ...]:
    """k distinct warehouse slots out of n, ascending."""
    combos = _COMBOS[n][k]
    return combos[int(r() * len(combos))]


# Distributions (cumulative): product roles, Ozon FBO placement count, WB sizes per
# multi-size product (1..3), WB FBO placement count per barcode.
_ROLES = _cumulative((0.87, 0.03, 0.05, 0.05))
_OZ_FBO_K = _cumulative((0.12, 0.2, 0.3, 0.22, 0.16))
_WB_SIZES = _cumulative((0.2, 0.3, 0.5))
_WB_FBO_K = _cumulative((0.05, 0.15, 0.25, 0.3, 0.25))
# Chance that a size has a stock record on each seller warehouse (FBS, DBS, C&C).
_WB_SELLER_P = (0.35, 0.2, 0.15)
assert len(_WB_SELLER_P) == len(WB_SELLER_WAREHOUSES)


class Account:
    """A seller with `products` products on Ozon and WB, reproducible from `seed`.

    Public: `tick()`, `expected_inventory()` / `iter_expected_inventory()`, `summary()`,
    `clock`, `ticks`, `lock`, the lookup helpers and the text helpers (`offer_id`, `name`,
    `barcode`). The column attributes are read by the endpoint handlers of this package.
    """

    def __init__(self, products: int = 200, seed: int = 42, tick_changes: float = 0.05, *,
                 wb_aggregated: bool = False, ozon_fbo_zero_rows: bool = False) -> None:
        if products < 0:
            raise ValueError("products must be >= 0")
        if not 0.0 <= tick_changes <= 1.0:
            raise ValueError("tick_changes must be between 0 and 1")
        self.seed = seed
        self.tick_changes = tick_changes
        self.lock = threading.RLock()
        self.clock = CLOCK_START
        self.ticks = 0
        self.version = 0  # bumped by every change; page caches are keyed on it
        self.wb_aggregated = wb_aggregated
        self.ozon_fbo_zero_rows = ozon_fbo_zero_rows
        self._cache: dict[str, Any] = {}
        base = seed % 89
        self.barcode_base = 1_000_000_000 + base * 50_000_000
        self.chrt_base = 300_000_000 + base * 1_000_000
        # Per product.
        self.cat = bytearray()
        self.color = bytearray()
        self.adj = bytearray()
        self.brand = bytearray()
        self.archived = bytearray()
        self.visible = bytearray()
        self.oz_pid = array("q")
        self.oz_sku = array("q")
        self.price = array("i")
        self.discount = bytearray()
        self.created = array("q")
        self.card_updated = array("q")
        self.wb_nm = array("q")
        self.wb_imt = array("q")
        self.bc_start = array("i")
        self.bc_count = bytearray()
        # Ozon stock, dense slots: product * N_OZ_FBO + w and product * N_OZ_SELLER + w.
        self.fbo_on = bytearray()
        self.fbo_pr = array("i")  # present: units physically in the warehouse
        self.fbo_res = array("i")  # reserved by buyers (<= present)
        self.fbo_req = array("i")  # in supply requests: planned inbound, not stock
        self.fbo_tr = array("i")  # in supplies on the way: not stock
        self.fbs_on = bytearray()
        self.fbs_pr = array("i")  # present
        self.fbs_res = array("i")  # reserved
        # WB per barcode, and dense slots barcode * N_WB + w / barcode * N_WB_SELLER + w.
        self.bc_prod = array("i")
        self.bc_size = bytearray()  # index into the category's sizes
        self.wb_on = bytearray()
        self.wb_q = array("i")
        self.wb_to = array("i")
        self.wb_from = array("i")
        self.wb_ts = array("q")  # lastChangeDate, epoch seconds
        self.wbf_on = bytearray()
        self.wbf_amt = array("i")
        # WB FBO rows (slot ids) sorted by (lastChangeDate, slot) for `dateFrom` paging.
        self.wb_order = array("i")
        self.wb_order_ts = array("q")
        self._generate(products)
        # Yandex Market: its own module and Random, so Ozon/WB answers are unchanged by it.
        self.ym = YmAccount(seed, products, self.offer_id, self.name, self.brand_name, self.category, tick_changes)

    # ------------------------------------------------------------------ generation
    def _generate(self, products: int) -> None:
        rng = random.Random(seed_key(self.seed, "account"))
        forced: dict[int, int] = {}
        if products >= 8:  # small accounts still show every special case
            picks = rng.sample(range(products), 3)
            forced = {picks[0]: ARCHIVED, picks[1]: EMPTY, picks[2]: ZERO}
        self._add_products(rng.random, products, forced, None)
        self._rebuild_order()

    def _add_products(self, r: Any, count: int, forced: dict[int, int],
                      born: tuple[int, int] | None) -> None:
        """Append `count` products with their stock on both marketplaces.

        `forced` maps product index -> role; `born` = (after, until) for products added by a
        tick (always a normal role, placed somewhere, WB rows stamped inside that window).
        Written as one loop with local aliases: it runs 100,000 times for a big account.
        """
        ncat, ncol, nadj, nbr = len(CATEGORIES), len(COLORS), len(ADJECTIVES), len(BRANDS)
        seed_base = self.seed % 89
        fbo_on, fbo_pr, fbo_res, fbo_req, fbo_tr = self.fbo_on, self.fbo_pr, self.fbo_res, self.fbo_req, self.fbo_tr
        fbs_on, fbs_pr, fbs_res = self.fbs_on, self.fbs_pr, self.fbs_res
        wb_on, wb_q, wb_to, wb_from, wb_ts = self.wb_on, self.wb_q, self.wb_to, self.wb_from, self.wb_ts
        wbf_on, wbf_amt = self.wbf_on, self.wbf_amt
        bc_prod, bc_size = self.bc_prod, self.bc_size
        z_fbo, zi_fbo, z_sel, zi_sel = _Z[N_OZ_FBO], _ZI[N_OZ_FBO], _Z[N_OZ_SELLER], _ZI[N_OZ_SELLER]
        z_wb, zi_wb, zq_wb, z_wbs, zi_wbs = _Z[N_WB], _ZI[N_WB], _ZQ[N_WB], _Z[N_WB_SELLER], _ZI[N_WB_SELLER]
        pid = self.oz_pid[-1] if self.oz_pid else 214_000_000 + seed_base * 1_000_000
        sku = self.oz_sku[-1] if self.oz_sku else 1_480_000_000 + seed_base * 2_000_000
        nm = self.wb_nm[-1] if self.wb_nm else 150_000_000 + seed_base * 1_000_000
        first_i = len(self.cat)
        for i in range(first_i, first_i + count):
            cat_i = int(r() * ncat)
            sizes = CATEGORIES[cat_i].sizes
            self.cat.append(cat_i)
            self.color.append(int(r() * ncol))
            self.adj.append(int(r() * nadj))
            self.brand.append(int(r() * nbr))
            role = forced.get(i - first_i)
            if role is None:
                role = NORMAL if born else _pick(r, _ROLES)
            self.archived.append(1 if role == ARCHIVED else 0)
            self.visible.append(1 if r() < 0.92 else 0)
            pid += 1 + int(r() * 40)
            sku += 1 + int(r() * 90)
            nm += 1 + int(r() * 500)
            self.oz_pid.append(pid)
            self.oz_sku.append(sku)
            self.wb_nm.append(nm)
            self.wb_imt.append(nm + 40_000_000 - int(r() * 3) * 7)
            self.price.append(290 + int(r() * 60) * 100)
            self.discount.append(int(r() * 7) * 5)
            if born:
                created = updated = born[1]
            else:
                created = CLOCK_START - 86_400 * 30 - int(r() * 86_400 * 400)
                updated = created + int(r() * (CLOCK_START - created))
            self.created.append(created)
            self.card_updated.append(updated)

            # Ozon FBO: placed in 0-4 of the Ozon warehouses. Columns grow by a block of
            # zeros (fast), then only the placed slots are written. Supply-request and transit
            # units come independently of the stock (a placement can hold only planned units).
            placed = role not in (ARCHIVED, EMPTY)
            k = _pick(r, _OZ_FBO_K) if placed else 0
            if born and k == 0:
                k = 1
            a = len(fbo_on)
            fbo_on.extend(z_fbo)
            fbo_pr.extend(zi_fbo)
            fbo_res.extend(zi_fbo)
            fbo_req.extend(zi_fbo)
            fbo_tr.extend(zi_fbo)
            for w in _slots(r, N_OZ_FBO, k):
                fbo_on[a + w] = 1
                if role != ZERO and r() >= 0.08:
                    pr = int(r() * r() * 120)
                    fbo_pr[a + w] = pr
                    fbo_res[a + w] = min(pr, int(r() * r() * r() * 8))
                if r() < 0.3:
                    fbo_req[a + w] = 1 + int(r() * r() * 40)
                if r() < 0.2:
                    fbo_tr[a + w] = 1 + int(r() * r() * 30)
            # Ozon FBS (slots 0, 1) and realFBS (slot 2) on the seller's warehouses.
            b = len(fbs_on)
            fbs_on.extend(z_sel)
            fbs_pr.extend(zi_sel)
            fbs_res.extend(zi_sel)
            if placed:
                for w, p in enumerate((0.45, 0.25, 0.2)):
                    if r() < p:
                        fbs_on[b + w] = 1
                        if role != ZERO and r() >= 0.1:
                            pr = int(r() * r() * 60)
                            fbs_pr[b + w] = pr
                            fbs_res[b + w] = min(pr, int(r() * r() * 4))

            # WB: 1-3 sizes with one barcode each; FBO rows on 0-4 WB warehouses (some all
            # zero); FBS stock on the seller's warehouses.
            n_sizes = 1 if len(sizes) == 1 else 1 + _pick(r, _WB_SIZES)
            first = int(r() * (len(sizes) - n_sizes + 1))
            self.bc_start.append(len(bc_prod))
            self.bc_count.append(n_sizes)
            for size in range(first, first + n_sizes):
                bc_prod.append(i)
                bc_size.append(size)
                k = _pick(r, _WB_FBO_K)
                if born and k == 0:
                    k = 1
                a = len(wb_on)
                wb_on.extend(z_wb)
                wb_q.extend(zi_wb)
                wb_to.extend(zi_wb)
                wb_from.extend(zi_wb)
                wb_ts.extend(zq_wb)
                for w in _slots(r, N_WB, k):
                    wb_on[a + w] = 1
                    if r() >= 0.08:
                        wb_q[a + w] = int(r() * r() * 150)
                        wb_to[a + w] = int(r() * r() * 5)
                        wb_from[a + w] = int(r() * r() * r() * 3)
                    if born:
                        wb_ts[a + w] = born[0] + 1 + int(r() * (born[1] - born[0]))
                    else:
                        wb_ts[a + w] = CLOCK_START - 1 - int(r() * HISTORY_SECONDS)
                b = len(wbf_on)
                wbf_on.extend(z_wbs)
                wbf_amt.extend(zi_wbs)
                for w, p in enumerate(_WB_SELLER_P):
                    if r() < p:
                        wbf_on[b + w] = 1
                        if r() >= 0.1:
                            wbf_amt[b + w] = int(r() * r() * 40)

    def _rebuild_order(self, changed: list[int] | None = None) -> None:
        """Keep WB FBO rows sorted by (lastChangeDate, slot).

        Initially a full sort; after a tick the changed rows (all newer than anything else)
        move to the end, which keeps the order without sorting again.
        """
        ts = self.wb_ts
        if changed is None:
            placed = compress(range(len(self.wb_on)), self.wb_on)
            self.wb_order = array("i", sorted(placed, key=ts.__getitem__))  # stable: ties by slot
        else:
            flag = bytearray(len(self.wb_on))
            for s in changed:
                flag[s] = 1
            kept = array("i", (s for s in self.wb_order if not flag[s]))
            kept.extend(sorted(set(changed), key=lambda s: (ts[s], s)))
            self.wb_order = kept
        self.wb_order_ts = array("q", map(ts.__getitem__, self.wb_order))

    # ------------------------------------------------------------------ time moves
    def tick(self, steps: int = 1) -> None:
        """Move the virtual clock by `steps` x 30 minutes, changing stock deterministically.

        Each step: a share `tick_changes` of the Ozon rows, the WB FBO rows and the WB FBS rows
        change (mostly up or down by a few units, about one in ten sells out to zero); one to
        three new products appear on both marketplaces. Every WB FBO row that changed or
        appeared gets a `lastChangeDate` inside (previous clock, new clock], strictly later than
        every earlier value, so `dateFrom` = the previous clock finds exactly those rows.
        """
        if steps < 0:
            raise ValueError("steps must be >= 0")
        with self.lock:
            for _ in range(steps):
                self._tick_once()

    def _tick_once(self) -> None:
        self.ticks += 1
        rng = random.Random(seed_key(self.seed, f"tick:{self.ticks}"))
        r = rng.random
        prev, self.clock = self.clock, self.clock + TICK_SECONDS
        share = self.tick_changes

        # In every group the first change and about one in ten of the others sell out.
        for w_on, a, b in ((self.fbo_on, self.fbo_pr, self.fbo_res), (self.fbs_on, self.fbs_pr, self.fbs_res)):
            for j, s in enumerate(self._sample_slots(r, w_on, share)):
                a[s], b[s] = _change_pair(r, a[s], b[s], j == 0 or r() < 0.1)
                if w_on is self.fbo_on and r() < 0.3:  # supplies are planned, arrive, leave
                    self.fbo_req[s] = 1 + int(r() * r() * 40) if r() < 0.5 else 0
                    self.fbo_tr[s] = int(r() * r() * 30) if r() < 0.3 else 0
        changed: list[int] = []
        for j, s in enumerate(self._sample_slots(r, self.wb_on, share)):
            q, inway = _change_pair(r, self.wb_q[s], self.wb_to[s] + self.wb_from[s], j == 0 or r() < 0.1, free_held=True)
            fr = min(inway, int(r() * 2))  # split the in-way units between the two directions
            self.wb_q[s], self.wb_to[s], self.wb_from[s] = q, inway - fr, fr
            changed.append(s)
        for j, s in enumerate(self._sample_slots(r, self.wbf_on, share)):
            self.wbf_amt[s] = _change_pair(r, self.wbf_amt[s], 0, j == 0 or r() < 0.1)[0]

        first_new_bc = len(self.bc_prod)
        first_new = self.n_products
        self._add_products(r, 1 + int(r() * 3), {}, (prev, self.clock))
        self.ym.tick(self.ticks, self.clock, self.n_products - first_new)
        changed.extend(s for s in range(first_new_bc * N_WB, len(self.wb_on)) if self.wb_on[s])
        # Spread the new lastChangeDate values over the step, in slot order.
        uniq = sorted(set(changed))
        span = TICK_SECONDS - 1
        for j, s in enumerate(uniq):
            self.wb_ts[s] = prev + 1 + (j * span) // max(1, len(uniq))
        self._rebuild_order(uniq)
        self.version += 1
        self._cache.clear()

    def scale_warehouse(self, marketplace: str, warehouse_name: str, factor: float) -> int:
        """Multiply the FBO stock held in one warehouse by `factor` (0.4 = a 60% drop).

        Ozon: present and reserved (reserved stays <= present); WB: quantity and both in-way
        counts. `warehouse_name` is the physical warehouse, also while WB aggregation is on.

        For anomaly tests: a warehouse that suddenly loses most of its stock. WB rows that
        change get a new `lastChangeDate` (the clock moves one step) so incremental syncs see
        them. Returns how many rows changed.
        """
        if factor < 0:
            raise ValueError("factor must be >= 0")
        with self.lock:
            if marketplace == "ozon":
                names = [w.name for w in OZON_FBO_WAREHOUSES]
                w, width, cols, on = names.index(warehouse_name), N_OZ_FBO, (self.fbo_pr, self.fbo_res), self.fbo_on
            elif marketplace == "wb":
                names = [w.name for w in WB_WAREHOUSES]
                w, width, cols, on = names.index(warehouse_name), N_WB, (self.wb_q, self.wb_to, self.wb_from), self.wb_on
            else:
                raise ValueError(f"unknown marketplace {marketplace}")
            prev, self.clock = self.clock, self.clock + TICK_SECONDS
            changed = []
            for s in range(w, len(on), width):
                if on[s] and any(col[s] for col in cols):
                    for col in cols:
                        col[s] = int(col[s] * factor)
                    changed.append(s)
            if marketplace == "wb":
                for j, s in enumerate(changed):
                    self.wb_ts[s] = prev + 1 + (j * (TICK_SECONDS - 1)) // max(1, len(changed))
                self._rebuild_order(changed)
            self.version += 1
            self._cache.clear()
            return len(changed)

    @staticmethod
    def _sample_slots(r: Any, on: bytearray, share: float) -> list[int]:
        """About `share` of the placed slots, by rejection sampling over the dense slot space."""
        placed = on.count(1)
        if not placed or share <= 0:
            return []
        want = max(1, round(share * placed))
        picked: set[int] = set()
        n = len(on)
        tries = 0
        while len(picked) < want and tries < want * 50:
            tries += 1
            s = int(r() * n)
            if on[s]:
                picked.add(s)
        return sorted(picked)

    # ------------------------------------------------------------------ text and lookups
    @property
    def n_products(self) -> int:
        return len(self.cat)

    def category(self, i: int) -> Category:
        return CATEGORIES[self.cat[i]]

    def offer_id(self, i: int) -> str:
        """The seller's article, the same on both marketplaces, e.g. `РЮК-000123-черный`."""
        return f"{CATEGORIES[self.cat[i]].code}-{i + 1:06d}-{COLORS[self.color[i]]}"

    def name(self, i: int) -> str:
        return f"{CATEGORIES[self.cat[i]].noun} {ADJECTIVES[self.adj[i]]} {BRANDS[self.brand[i]]}, {COLORS[self.color[i]]}"

    def brand_name(self, i: int) -> str:
        return BRANDS[self.brand[i]]

    def barcode(self, bc: int) -> str:
        """The 13-digit WB barcode of barcode slot `bc` (EAN-13, prefix 20)."""
        return ean13_20(self.barcode_base + bc * 7)

    def chrt_id(self, bc: int) -> int:
        return self.chrt_base + bc * 3

    def tech_size(self, bc: int) -> str:
        return CATEGORIES[self.cat[self.bc_prod[bc]]].sizes[self.bc_size[bc]]

    def barcodes_of(self, i: int) -> range:
        start = self.bc_start[i]
        return range(start, start + self.bc_count[i])

    def index_by_offer(self, offer: str) -> int | None:
        i = parse_article(offer)
        if i is None:
            return None
        return i if 0 <= i < self.n_products and self.offer_id(i) == offer else None

    def index_by_pid(self, pid: int) -> int | None:
        return _find(self.oz_pid, pid)

    def index_by_sku(self, sku: int) -> int | None:
        return _find(self.oz_sku, sku)

    def index_by_nm(self, nm: int) -> int | None:
        return _find(self.wb_nm, nm)

    def bc_by_barcode(self, barcode: str) -> int | None:
        if len(barcode) != 13 or not barcode.isdigit() or not barcode.startswith("20"):
            return None
        n = int(barcode[2:12]) - self.barcode_base
        if n < 0 or n % 7:
            return None
        bc = n // 7
        return bc if bc < len(self.bc_prod) and self.barcode(bc) == barcode else None

    def bc_by_chrt(self, chrt: int) -> int | None:
        n = chrt - self.chrt_base
        if n < 0 or n % 3 or n // 3 >= len(self.bc_prod):
            return None
        return n // 3

    # ------------------------------------------------------------------ Ozon views
    def ozon_matches(self, i: int, visibility: str) -> bool:
        """Whether product `i` passes an Ozon `visibility` filter (see VISIBILITIES)."""
        if visibility == "ARCHIVED":
            return bool(self.archived[i])
        if self.archived[i]:
            return False
        if visibility == "VISIBLE":
            return bool(self.visible[i])
        if visibility in ("INVISIBLE", "REMOVED_FROM_SALE"):
            return not self.visible[i]
        if visibility == "EMPTY_STOCK":
            return self.ozon_present(i) == 0
        if visibility == "IN_SALE":
            return bool(self.visible[i]) and self.ozon_present(i) > 0
        return True

    def ozon_present(self, i: int) -> int:
        a, b = i * N_OZ_FBO, i * N_OZ_SELLER
        return sum(self.fbo_pr[a:a + N_OZ_FBO]) + sum(self.fbs_pr[b:b + N_OZ_SELLER])

    def ozon_stock_totals(self, i: int) -> list[tuple[str, int, int, list[int]]]:
        """The v4 `stocks` of product `i`: (type, present, reserved, seller warehouse ids).

        One entry per type the product is placed in: `fbo` = sums of present / reserved over
        its Ozon warehouses (supply-request and transit units are not stock), `fbs` / `rfbs` =
        sums over its seller warehouses.
        """
        out: list[tuple[str, int, int, list[int]]] = []
        a = i * N_OZ_FBO
        if any(self.fbo_on[a:a + N_OZ_FBO]):
            out.append(("fbo", sum(self.fbo_pr[a:a + N_OZ_FBO]), sum(self.fbo_res[a:a + N_OZ_FBO]), []))
        b = i * N_OZ_SELLER
        for kind, rfbs in (("fbs", False), ("rfbs", True)):
            pr = res = 0
            ids: list[int] = []
            for w, wh in enumerate(OZON_SELLER_WAREHOUSES):
                if wh.is_rfbs == rfbs and self.fbs_on[b + w]:
                    pr += self.fbs_pr[b + w]
                    res += self.fbs_res[b + w]
                    ids.append(wh.warehouse_id)
            if ids:
                out.append((kind, pr, res, ids))
        return out

    def cached(self, key: str, build: Any) -> Any:
        """A value derived from the state, rebuilt after every change (tick, view switch)."""
        with self.lock:
            if key not in self._cache:
                self._cache[key] = build()
            return self._cache[key]

    def changed(self) -> None:
        """Something the answers depend on changed: drop every derived value."""
        with self.lock:
            self.version += 1
            self._cache.clear()

    def set_wb_aggregation(self, enabled: bool) -> None:
        """Switch WB's aggregated places on or off (takes effect on the next request)."""
        with self.lock:
            self.wb_aggregated = bool(enabled)
            self.changed()

    def ozon_count(self, visibility: str) -> int:
        return self.cached(f"count:{visibility}", lambda: sum(
            1 for i in range(self.n_products) if self.ozon_matches(i, visibility)))

    def fbo_listed(self, slot: int) -> bool:
        """Whether the Ozon FBO method lists this (product, warehouse) slot."""
        if not self.fbo_on[slot]:
            return False
        return self.ozon_fbo_zero_rows or self.fbo_pr[slot] > 0 or self.fbo_res[slot] > 0

    # ------------------------------------------------------------------ WB views
    def size_barcodes(self, bc: int) -> list[str]:
        """`sizes[].skus` of a card: the size's barcode, for about one size in eight followed
        by a second (older) barcode that no stock method knows. The first one is the key."""
        first = self.barcode(bc)
        if mix(self.seed, bc, 11) % 8 == 0:
            return [first, ean13_20(self.barcode_base + bc * 7 + 3)]
        return [first]

    def wb_places(self, bc: int) -> list[tuple[int, int, int, int]]:
        """The wb-warehouses rows of size `bc`: (warehouse slot or -1 for "Склад WB", quantity,
        inWayToClient, inWayFromClient), only places with something non-zero, in warehouseId
        order. With aggregation on, at most one place summing every WB warehouse."""
        a = bc * N_WB
        q_, to_, fr_ = self.wb_q, self.wb_to, self.wb_from
        if self.wb_aggregated:
            q, to, fr = sum(q_[a:a + N_WB]), sum(to_[a:a + N_WB]), sum(fr_[a:a + N_WB])
            return [(-1, q, to, fr)] if q or to or fr else []
        return [(w, q_[a + w], to_[a + w], fr_[a + w]) for w in range(N_WB)
                if q_[a + w] or to_[a + w] or fr_[a + w]]

    def wb_place_count(self, bc: int) -> int:
        a = bc * N_WB
        q_, to_, fr_ = self.wb_q, self.wb_to, self.wb_from
        n = sum(1 for s in range(a, a + N_WB) if q_[s] or to_[s] or fr_[s])
        return min(n, 1) if self.wb_aggregated else n

    def wb_seller_places(self, bc: int) -> list[tuple[int, int]]:
        """The seller-warehouses report rows of size `bc`: (seller slot, quantity > 0)."""
        b = bc * N_WB_SELLER
        return [(w, self.wbf_amt[b + w]) for w in range(N_WB_SELLER) if self.wbf_amt[b + w] > 0]

    def wb_fbo_cumulative(self) -> array:
        """cum[bc] = wb-warehouses rows of the sizes before `bc` (for offset paging)."""
        def build() -> array:
            cum = array("i", bytes(4 * (len(self.bc_prod) + 1)))
            total = 0
            for bc in range(len(self.bc_prod)):
                cum[bc] = total
                total += self.wb_place_count(bc)
            cum[len(self.bc_prod)] = total
            return cum
        return self.cached("wb_fbo_cum", build)

    def wb_seller_cumulative(self) -> array:
        """cum[bc] = seller-warehouses report rows of the sizes before `bc`."""
        def build() -> array:
            n = len(self.bc_prod)
            cum = array("i", bytes(4 * (n + 1)))
            amt, total = self.wbf_amt, 0
            for bc in range(n):
                cum[bc] = total
                b = bc * N_WB_SELLER
                total += sum(1 for s in range(b, b + N_WB_SELLER) if amt[s] > 0)
            cum[n] = total
            return cum
        return self.cached("wb_seller_cum", build)

    def _wb_products_with_rows(self) -> int:
        onf, prod = self.wbf_on, self.bc_prod
        q_, to_, fr_ = self.wb_q, self.wb_to, self.wb_from
        found = set()
        for bc in range(len(prod)):
            a = bc * N_WB
            if (onf.find(1, bc * N_WB_SELLER, (bc + 1) * N_WB_SELLER) >= 0
                    or any(q_[s] or to_[s] or fr_[s] for s in range(a, a + N_WB))):
                found.add(prod[bc])
        return len(found)

    # ------------------------------------------------------------------ truth
    def iter_expected_inventory(self, marketplace: str | Iterable[str] | None = None) -> Iterator[dict[str, Any]]:
        """Yield the rows of `inventory_data` a correct sync must end with (see `expected_inventory`)."""
        wanted = set(DEFAULT_TRUTH) if marketplace is None else {marketplace} if isinstance(marketplace, str) else set(marketplace)
        unknown = wanted - set(MARKETPLACES)
        if unknown:
            raise ValueError(f"unknown marketplace(s) {', '.join(sorted(unknown))}; one of {', '.join(MARKETPLACES)}")
        with self.lock:
            if "ozon" in wanted:
                yield from self._expected_ozon()
            if "wb" in wanted:
                yield from self._expected_wb()
            if "ym" in wanted:
                yield from self.ym.iter_expected()

    def expected_inventory(self, marketplace: str | Iterable[str] | None = None) -> list[dict[str, Any]]:
        """The truth in the shape of `inventory_data`, one dict per (marketplace, sku, warehouse_id, stock_type).

        Keys: marketplace, sku, marketplace_product_id, offer_id, warehouse_id, warehouse_name,
        warehouse_kind, stock_type, quantity_present, quantity_reserved, quantity_available
        (ids are strings; available = present - reserved). These are the rows a correct client
        publishes when it reads the PREFERRED methods, exactly the rows their answers contain:
        - Ozon FBO: one row per row of `/v1/product/info/stocks-by-warehouse/fbo` (placements
          with present or reserved > 0; every placement when `ozon_fbo_zero_rows`).
          sku = str(sku), marketplace_product_id = str(product_id), warehouse_id =
          str(warehouse_id), warehouse_name from `/v1/warehouse/ozon/list`, kind "physical",
          stock_type "FBO", present / reserved as the method gives them. Supply-request and
          transit units never count.
        - Ozon FBS / realFBS: one row per row of `/v1/product/info/warehouse/stocks` (every
          placement on a seller warehouse, zeros included); stock_type "realFBS" when the
          warehouse's `is_rfbs` is true, else "FBS"; kind "physical".
        - WB FBO: one row per row of `/api/analytics/v1/stocks-report/wb-warehouses` (only
          places with something non-zero). sku = the size's first barcode (`sizes[].skus[0]` of
          its card), marketplace_product_id = str(nmId), offer_id = vendorCode, warehouse_name
          = warehouseName, warehouse_id = `wb_warehouse_key(warehouseName)` (also for "Склад
          WB"), kind "aggregate" for the aggregated names else "physical", stock_type "FBO",
          present = quantity + inWayToClient + inWayFromClient, reserved = both in-way counts,
          available = quantity. Follows the aggregation switch.
        - WB seller warehouses: one row per `{chrtId, amount}` of `POST /api/v3/stocks/{id}`
          (sizes with a stock record, zeros included); warehouse_id = str(id), stock_type by
          the warehouse's deliveryType (1 FBS, 2 DBS, 3 DBW, 5 C&C, 6 EDBS), present =
          available = amount, reserved 0, kind "physical".
        - Yandex Market (yandex_market.md §7): one row per (campaign, `warehouseId`, `offerId`)
          of `POST /v2/campaigns/{campaignId}/offers/stocks` with body `{}` (non-archived
          offers, every page, a warehouse split over pages merged) for every campaign whose
          `apiAvailability` is AVAILABLE (the disabled campaign's stock is not read, so not
          here); all-zero records included. sku = offer_id = offerId (exact string),
          marketplace_product_id = str(marketSku) of offer-mappings, None without a card;
          warehouse_id = str(warehouseId), warehouse_name from `GET /v2/warehouses` or `POST
          /v2/businesses/{businessId}/warehouses`, `warehouse <id>` for the FBS returns
          warehouse that neither lists; kind "physical"; stock_type = the campaign's
          placementType (FBY, FBS, DBS), EXPRESS on an `express: true` seller warehouse of an
          FBS campaign; available = AVAILABLE, reserved = FREEZE + QUARANTINE + DEFECT +
          EXPIRED + UTILIZATION, present = available + reserved. The same whichever reading
          of §5 the answers play (`ym_*` options): seller warehouses never hold FREEZE units.

        `marketplace`: one key ("ozon", "wb", "ym"), several (an iterable, e.g. the ones a
        sync was configured for), or None for `DEFAULT_TRUTH`.
        """
        return list(self.iter_expected_inventory(marketplace))

    def _expected_ozon(self) -> Iterator[dict[str, Any]]:
        for i in range(self.n_products):
            if self.archived[i]:
                continue
            sku, pid, offer = str(self.oz_sku[i]), str(self.oz_pid[i]), self.offer_id(i)
            a = i * N_OZ_FBO
            for w, wh in enumerate(OZON_FBO_WAREHOUSES):
                if self.fbo_listed(a + w):
                    yield inventory_row("ozon", sku, pid, offer, str(wh.warehouse_id), wh.name, "physical", "FBO",
                                        self.fbo_pr[a + w], self.fbo_res[a + w])
            b = i * N_OZ_SELLER
            for w, wh in enumerate(OZON_SELLER_WAREHOUSES):
                if self.fbs_on[b + w]:
                    yield inventory_row("ozon", sku, pid, offer, str(wh.warehouse_id), wh.name, "physical",
                                        "realFBS" if wh.is_rfbs else "FBS", self.fbs_pr[b + w], self.fbs_res[b + w])

    def _expected_wb(self) -> Iterator[dict[str, Any]]:
        names = [w.name for w in WB_WAREHOUSES]
        keys = [wb_warehouse_key(n) for n in names]
        agg_key = wb_warehouse_key(WB_AGGREGATE_NAME)
        for bc in range(len(self.bc_prod)):
            i = self.bc_prod[bc]
            barcode, nm, offer = self.barcode(bc), str(self.wb_nm[i]), self.offer_id(i)
            for w, q, to, fr in self.wb_places(bc):
                name, key = (WB_AGGREGATE_NAME, agg_key) if w < 0 else (names[w], keys[w])
                kind = "aggregate" if name in WB_AGGREGATE_NAMES else "physical"
                yield inventory_row("wb", barcode, nm, offer, key, name, kind, "FBO", q + to + fr, to + fr)
            b = bc * N_WB_SELLER
            for w, wh in enumerate(WB_SELLER_WAREHOUSES):
                if self.wbf_on[b + w]:
                    yield inventory_row("wb", barcode, nm, offer, str(wh.id), wh.name, "physical",
                                        WB_DELIVERY_TYPES[wh.delivery_type], self.wbf_amt[b + w], 0)

    def summary(self) -> dict[str, Any]:
        """Totals per marketplace over `expected_inventory()` rows, plus the clock.

        ozon.products = non-archived products (= v4 `total_items` for visibility ALL);
        wb.products = distinct nmId that have at least one expected row (FBO or seller).
        """
        with self.lock:
            return copy.deepcopy(self.cached("summary", self._summary))

    def _summary(self) -> dict[str, Any]:
        if self.ozon_fbo_zero_rows:
            fbo_rows = self.fbo_on.count(1)
        else:
            fbo_rows = sum(1 for p, r in zip(self.fbo_pr, self.fbo_res) if p or r)
        oz_present = sum(self.fbo_pr) + sum(self.fbs_pr)
        oz_reserved = sum(self.fbo_res) + sum(self.fbs_res)
        wb_inway = sum(self.wb_to) + sum(self.wb_from)
        wb_present = sum(self.wb_q) + wb_inway + sum(self.wbf_amt)
        wb_fbo_rows = self.wb_fbo_cumulative()[-1]
        return {
            "ozon": {
                "products": self.n_products - self.archived.count(1),
                "archived": self.archived.count(1),
                "rows": fbo_rows + self.fbs_on.count(1),
                "present": oz_present,
                "reserved": oz_reserved,
                "available": oz_present - oz_reserved,
            },
            "wb": {
                "products": self._wb_products_with_rows(),
                "cards": self.n_products,
                "barcodes": len(self.bc_prod),
                "rows": wb_fbo_rows + self.wbf_on.count(1),
                "present": wb_present,
                "reserved": wb_inway,
                "available": wb_present - wb_inway,
                "aggregated": self.wb_aggregated,
            },
            "ym": self.ym.summary(),
            "clock": utc_iso(self.clock),
            "ticks": self.ticks,
        }


def seed_key(seed: int, purpose: str) -> str:
    """A string seed for random.Random: hashed with SHA-512 by Python, so stable across runs."""
    return f"invsync-sandbox:{seed}:{purpose}"


def _find(arr: array, value: int) -> int | None:
    j = bisect_left(arr, value)
    return j if j < len(arr) and arr[j] == value else None


def _change_pair(r: Any, units: int, held: int, sell_out: bool, free_held: bool = False) -> tuple[int, int]:
    """A new (units, held) that differs from the old one; never negative.

    For Ozon (FBO and FBS) `units` is present and `held` reserved (held <= units); for WB FBO
    `units` is the sellable quantity and `held` the in-way units (independent, `free_held`).
    `sell_out` takes both to zero (when there was anything), otherwise stock goes up or down.
    """
    if sell_out and units + held > 0:
        return 0, 0
    if r() < 0.5 or units == 0:
        units += 1 + int(r() * 20)
    else:
        units -= 1 + int(r() * min(10, units))
    held = int(r() * r() * 5)
    if not free_held:
        held = min(held, units)
    return units, held
