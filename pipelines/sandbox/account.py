"""The sandbox seller account: a deterministic catalogue with stock on both marketplaces.

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
"""

from __future__ import annotations

import random
import re
import threading
from array import array
from bisect import bisect_left, bisect_right
from itertools import combinations, compress
from typing import Any, Iterator

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
    WB_SELLER_WAREHOUSES,
    WB_WAREHOUSES,
    Category,
    ean13_20,
    utc_iso,
    wb_warehouse_key,
)

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

_OFFER_RE = re.compile(r"^([А-ЯЁ]{3})-(\d{6,})-(\w+)$")

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


class Account:
    """A seller with `products` products on Ozon and WB, reproducible from `seed`.

    Public: `tick()`, `expected_inventory()` / `iter_expected_inventory()`, `summary()`,
    `clock`, `ticks`, `lock`, the lookup helpers and the text helpers (`offer_id`, `name`,
    `barcode`). The column attributes are read by the endpoint handlers of this package.
    """

    def __init__(self, products: int = 200, seed: int = 42, tick_changes: float = 0.05) -> None:
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
        self.fbo_av = array("i")  # available_stock_count
        self.fbo_req = array("i")  # requested_stock_count (reserved)
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
        fbo_on, fbo_av, fbo_req = self.fbo_on, self.fbo_av, self.fbo_req
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
            # zeros (fast), then only the placed slots are written.
            placed = role not in (ARCHIVED, EMPTY)
            k = _pick(r, _OZ_FBO_K) if placed else 0
            if born and k == 0:
                k = 1
            a = len(fbo_on)
            fbo_on.extend(z_fbo)
            fbo_av.extend(zi_fbo)
            fbo_req.extend(zi_fbo)
            for w in _slots(r, N_OZ_FBO, k):
                fbo_on[a + w] = 1
                if role != ZERO and r() >= 0.08:
                    fbo_av[a + w] = int(r() * r() * 120)
                    fbo_req[a + w] = int(r() * r() * r() * 8)
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
                for w, p in enumerate((0.35, 0.2)):
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
        for w_on, a, b in ((self.fbo_on, self.fbo_av, self.fbo_req), (self.fbs_on, self.fbs_pr, self.fbs_res)):
            for j, s in enumerate(self._sample_slots(r, w_on, share)):
                a[s], b[s] = _change_pair(r, a[s], b[s], b is self.fbo_req, j == 0 or r() < 0.1)
        changed: list[int] = []
        for j, s in enumerate(self._sample_slots(r, self.wb_on, share)):
            q, inway = _change_pair(r, self.wb_q[s], self.wb_to[s] + self.wb_from[s], True, j == 0 or r() < 0.1)
            fr = min(inway, int(r() * 2))  # split the in-way units between the two directions
            self.wb_q[s], self.wb_to[s], self.wb_from[s] = q, inway - fr, fr
            changed.append(s)
        for j, s in enumerate(self._sample_slots(r, self.wbf_on, share)):
            self.wbf_amt[s] = _change_pair(r, self.wbf_amt[s], 0, False, j == 0 or r() < 0.1)[0]

        first_new_bc = len(self.bc_prod)
        self._add_products(r, 1 + int(r() * 3), {}, (prev, self.clock))
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

        For anomaly tests: a warehouse that suddenly loses most of its stock. WB rows that
        change get a new `lastChangeDate` (the clock moves one step) so incremental syncs see
        them. Returns how many rows changed.
        """
        if factor < 0:
            raise ValueError("factor must be >= 0")
        with self.lock:
            if marketplace == "ozon":
                names = [w.name for w in OZON_FBO_WAREHOUSES]
                w, width, cols, on = names.index(warehouse_name), N_OZ_FBO, (self.fbo_av, self.fbo_req), self.fbo_on
            elif marketplace == "wb":
                names = list(WB_WAREHOUSES)
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
        m = _OFFER_RE.match(offer)
        if not m:
            return None
        i = int(m.group(2)) - 1
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
        return (sum(self.fbo_av[a:a + N_OZ_FBO]) + sum(self.fbo_req[a:a + N_OZ_FBO])
                + sum(self.fbs_pr[b:b + N_OZ_SELLER]))

    def ozon_stock_totals(self, i: int) -> list[tuple[str, int, int, list[int]]]:
        """The v4 `stocks` of product `i`: (type, present, reserved, seller warehouse ids).

        One entry per type the product is placed in: `fbo` = sum over its Ozon warehouses
        (present = available + requested), `fbs` / `rfbs` = sums over its seller warehouses.
        """
        out: list[tuple[str, int, int, list[int]]] = []
        a = i * N_OZ_FBO
        if any(self.fbo_on[a:a + N_OZ_FBO]):
            req = sum(self.fbo_req[a:a + N_OZ_FBO])
            out.append(("fbo", sum(self.fbo_av[a:a + N_OZ_FBO]) + req, req, []))
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
        """A value derived from the state, rebuilt after every change (tick)."""
        with self.lock:
            if key not in self._cache:
                self._cache[key] = build()
            return self._cache[key]

    def ozon_count(self, visibility: str) -> int:
        return self.cached(f"count:{visibility}", lambda: sum(
            1 for i in range(self.n_products) if self.ozon_matches(i, visibility)))

    def _wb_products_with_rows(self) -> int:
        on, onf, prod = self.wb_on, self.wbf_on, self.bc_prod
        found = {prod[bc] for bc in range(len(prod))
                 if on.find(1, bc * N_WB, (bc + 1) * N_WB) >= 0
                 or onf.find(1, bc * N_WB_SELLER, (bc + 1) * N_WB_SELLER) >= 0}
        return len(found)

    # ------------------------------------------------------------------ truth
    def iter_expected_inventory(self, marketplace: str | None = None) -> Iterator[dict[str, Any]]:
        """Yield the rows of `inventory_data` a correct sync must end with (see `expected_inventory`)."""
        with self.lock:
            if marketplace in (None, "ozon"):
                yield from self._expected_ozon()
            if marketplace in (None, "wb"):
                yield from self._expected_wb()

    def expected_inventory(self, marketplace: str | None = None) -> list[dict[str, Any]]:
        """The truth in the shape of `inventory_data`, one dict per (marketplace, sku, warehouse_id, stock_type).

        Keys: marketplace, sku, marketplace_product_id, offer_id, warehouse_id, warehouse_name,
        stock_type, quantity_present, quantity_reserved, quantity_available (all ids strings).
        Rows included, each exactly once, zero quantities included:
        - Ozon FBO: one row per (product, Ozon warehouse) that `/v1/analytics/stocks` returns,
          i.e. every placement of a non-archived product; warehouse_id = str(analytics
          warehouse_id); present = available_stock_count + requested_stock_count,
          reserved = requested_stock_count.
        - Ozon FBS / realFBS: one row per row of `/v2/product/info/stocks-by-warehouse/fbs`
          (every placement on a seller warehouse); stock_type realFBS when the warehouse's
          `is_rfbs` is true; warehouse_id = str(warehouse_id).
        - WB FBO: one row per row of `/api/v1/supplier/stocks` with an old `dateFrom`
          (every (barcode, WB warehouse) row, all-zero rows too); warehouse_id = first 16 hex
          chars of md5(warehouse name); present = quantityFull, reserved = inWayToClient +
          inWayFromClient, available = quantity.
        - WB FBS: one row per (barcode, seller warehouse) that `POST /api/v3/stocks/{id}`
          returns for the account's barcodes; present = available = amount, reserved = 0.
        Excluded: archived Ozon products (they hold no stock anyway), products with an empty
        v4 `stocks` array (no placement), v4 per-type totals (they are not warehouse rows).
        sku is the Ozon sku as a string / the WB barcode; marketplace_product_id is the Ozon
        product_id / the WB nmId.
        """
        return list(self.iter_expected_inventory(marketplace))

    def _expected_ozon(self) -> Iterator[dict[str, Any]]:
        for i in range(self.n_products):
            if self.archived[i]:
                continue
            sku, pid, offer = str(self.oz_sku[i]), str(self.oz_pid[i]), self.offer_id(i)
            a = i * N_OZ_FBO
            for w, wh in enumerate(OZON_FBO_WAREHOUSES):
                if self.fbo_on[a + w]:
                    av, req = self.fbo_av[a + w], self.fbo_req[a + w]
                    yield _row("ozon", sku, pid, offer, str(wh.warehouse_id), wh.name, "FBO", av + req, req)
            b = i * N_OZ_SELLER
            for w, wh in enumerate(OZON_SELLER_WAREHOUSES):
                if self.fbs_on[b + w]:
                    yield _row("ozon", sku, pid, offer, str(wh.warehouse_id), wh.name,
                               "realFBS" if wh.is_rfbs else "FBS", self.fbs_pr[b + w], self.fbs_res[b + w])

    def _expected_wb(self) -> Iterator[dict[str, Any]]:
        keys = [wb_warehouse_key(n) for n in WB_WAREHOUSES]
        for bc in range(len(self.bc_prod)):
            i = self.bc_prod[bc]
            barcode, nm, offer = self.barcode(bc), str(self.wb_nm[i]), self.offer_id(i)
            a = bc * N_WB
            for w, name in enumerate(WB_WAREHOUSES):
                if self.wb_on[a + w]:
                    q, inway = self.wb_q[a + w], self.wb_to[a + w] + self.wb_from[a + w]
                    yield _row("wb", barcode, nm, offer, keys[w], name, "FBO", q + inway, inway)
            b = bc * N_WB_SELLER
            for w, wh in enumerate(WB_SELLER_WAREHOUSES):
                if self.wbf_on[b + w]:
                    yield _row("wb", barcode, nm, offer, str(wh.id), wh.name, "FBS", self.wbf_amt[b + w], 0)

    def summary(self) -> dict[str, Any]:
        """Totals per marketplace over `expected_inventory()` rows, plus the clock.

        ozon.products = non-archived products (= v4 `total_items` for visibility ALL);
        wb.products = distinct nmId that have at least one stock row (FBO or FBS).
        """
        with self.lock:
            oz_present = sum(self.fbo_av) + sum(self.fbo_req) + sum(self.fbs_pr)
            oz_reserved = sum(self.fbo_req) + sum(self.fbs_res)
            wb_inway = sum(self.wb_to) + sum(self.wb_from)
            wb_present = sum(self.wb_q) + wb_inway + sum(self.wbf_amt)
            with_rows = self.cached("wb_products_with_rows", self._wb_products_with_rows)
            return {
                "ozon": {
                    "products": self.n_products - self.archived.count(1),
                    "archived": self.archived.count(1),
                    "rows": self.fbo_on.count(1) + self.fbs_on.count(1),
                    "present": oz_present,
                    "reserved": oz_reserved,
                    "available": oz_present - oz_reserved,
                },
                "wb": {
                    "products": with_rows,
                    "cards": self.n_products,
                    "barcodes": len(self.bc_prod),
                    "rows": self.wb_on.count(1) + self.wbf_on.count(1),
                    "present": wb_present,
                    "reserved": wb_inway,
                    "available": wb_present - wb_inway,
                },
                "clock": utc_iso(self.clock),
                "ticks": self.ticks,
            }


def seed_key(seed: int, purpose: str) -> str:
    """A string seed for random.Random: hashed with SHA-512 by Python, so stable across runs."""
    return f"invsync-sandbox:{seed}:{purpose}"


def _find(arr: array, value: int) -> int | None:
    j = bisect_left(arr, value)
    return j if j < len(arr) and arr[j] == value else None


def _change_pair(r: Any, units: int, held: int, free_held: bool, sell_out: bool) -> tuple[int, int]:
    """A new (units, held) that differs from the old one; never negative.

    For Ozon FBO `units` is the available count and `held` the requested count (independent,
    `free_held`); for FBS `units` is present and `held` reserved (held <= units). `sell_out`
    takes both to zero (when there was anything), otherwise stock goes up or down.
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


def _row(mp: str, sku: str, pid: str, offer: str, wid: str, wname: str, stype: str,
         present: int, reserved: int) -> dict[str, Any]:
    return {
        "marketplace": mp, "sku": sku, "marketplace_product_id": pid, "offer_id": offer,
        "warehouse_id": wid, "warehouse_name": wname, "stock_type": stype,
        "quantity_present": present, "quantity_reserved": reserved,
        "quantity_available": present - reserved,
    }
