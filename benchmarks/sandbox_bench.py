"""Benchmark: a 100,000-product sandbox, limits off, paged fully over real loopback HTTP.

Why: the sandbox must never be the bottleneck of a sync benchmark. This prints the time to
generate the account, its memory, and rows/s and per-page latency for Ozon
`/v4/product/info/stocks` (1000 per page) and WB `/api/v1/supplier/stocks` (row-capped).

    .venv/bin/python benchmarks/sandbox_bench.py [--products 100000] [--seed 42] [--wb-row-cap 60000]
"""

from __future__ import annotations

import argparse
import resource
import statistics
import sys
import time
import tracemalloc
from pathlib import Path

import requests

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from pipelines.sandbox import (  # noqa: E402
    OZON_API_KEY,
    OZON_CLIENT_ID,
    WB_API_TOKEN,
    Account,
    Sandbox,
    SandboxOptions,
)


def rss_mb() -> float:
    """Current resident set size of this process, in MB (Linux /proc)."""
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * resource.getpagesize() / 1e6


def measure_memory(products: int, seed: int) -> float:
    """MB held by a freshly generated account (tracemalloc: exact but ~20x slower)."""
    tracemalloc.start()
    account = Account(products, seed)
    current, _peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    del account
    return current / 1e6


def page_ozon(sb: Sandbox) -> tuple[int, int, list[float]]:
    session = requests.Session()
    session.headers.update({"Client-Id": OZON_CLIENT_ID, "Api-Key": OZON_API_KEY})
    cursor, items, rows, latencies = "", 0, 0, []
    while True:
        started = time.perf_counter()
        resp = session.post(f"{sb.url}/v4/product/info/stocks",
                            json={"filter": {"visibility": "ALL"}, "limit": 1000, "cursor": cursor})
        resp.raise_for_status()
        page = resp.json()
        latencies.append(time.perf_counter() - started)
        if not page["items"] or page["cursor"] == cursor:
            break
        items += len(page["items"])
        rows += sum(len(item["stocks"]) for item in page["items"])
        cursor = page["cursor"]
    return items, rows, latencies


def page_wb(sb: Sandbox) -> tuple[int, list[float], list[int]]:
    session = requests.Session()
    session.headers["Authorization"] = WB_API_TOKEN
    cap = sb.options.wb_row_cap
    date_from, seen, latencies, sizes = "2019-06-20T00:00:00", set(), [], []
    while True:
        started = time.perf_counter()
        resp = session.get(f"{sb.url}/api/v1/supplier/stocks", params={"dateFrom": date_from})
        resp.raise_for_status()
        rows = resp.json()
        latencies.append(time.perf_counter() - started)
        sizes.append(len(rows))
        seen.update((r["barcode"], r["warehouseName"]) for r in rows)
        if len(rows) < cap:
            break
        date_from = rows[-1]["lastChangeDate"]
    return len(seen), latencies, sizes


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--products", type=int, default=100_000)
    parser.add_argument("--seed", type=int, default=42)
    parser.add_argument("--wb-row-cap", type=int, default=60_000)
    parser.add_argument("--tracemalloc", action="store_true", help="also measure the account exactly (slow)")
    args = parser.parse_args()

    rss_before = rss_mb()
    started = time.perf_counter()
    sb = Sandbox(SandboxOptions(products=args.products, seed=args.seed, rate_limit_scale=0,
                                wb_row_cap=args.wb_row_cap))
    generated = time.perf_counter() - started
    summary = sb.account.summary()
    print(f"account: {args.products} products generated in {generated:.2f} s; "
          f"ozon rows {summary['ozon']['rows']}, wb rows {summary['wb']['rows']}, "
          f"RSS grew by {rss_mb() - rss_before:.0f} MB")
    with sb:
        started = time.perf_counter()
        items, stock_rows, lat = page_ozon(sb)
        took = time.perf_counter() - started
        print(f"ozon v4: {items} items ({stock_rows} stock entries) in {len(lat)} pages, {took:.2f} s, "
              f"{items / took:,.0f} items/s; page latency median {statistics.median(lat) * 1000:.1f} ms, "
              f"max {max(lat) * 1000:.1f} ms (request + JSON parse on the client)")
        assert items == summary["ozon"]["products"], (items, summary["ozon"]["products"])

        started = time.perf_counter()
        distinct, lat, sizes = page_wb(sb)
        took = time.perf_counter() - started
        fetched = sum(sizes)
        print(f"wb supplier/stocks: {fetched} rows ({distinct} distinct) in {len(lat)} pages of <= "
              f"{args.wb_row_cap}, {took:.2f} s, {fetched / took:,.0f} rows/s; page latency median "
              f"{statistics.median(lat) * 1000:.0f} ms")
        wb_fbo = sum(1 for _ in sb.account.iter_expected_inventory("wb")) - sb.account.wbf_on.count(1)
        assert distinct == wb_fbo, (distinct, wb_fbo)

        # Serving cost without the client's JSON parsing: raw bytes of full-size pages.
        session = requests.Session()
        session.headers["Authorization"] = WB_API_TOKEN
        started = time.perf_counter()
        body = session.get(f"{sb.url}/api/v1/supplier/stocks", params={"dateFrom": "2019-06-20"}).content
        took = time.perf_counter() - started
        print(f"wb supplier/stocks one {args.wb_row_cap}-row page, raw bytes only: {took * 1000:.0f} ms "
              f"({len(body) / 1e6:.1f} MB, {args.wb_row_cap / took:,.0f} rows/s)")

        session = requests.Session()
        session.headers.update({"Client-Id": OZON_CLIENT_ID, "Api-Key": OZON_API_KEY})
        raw = []
        for _ in range(20):
            started = time.perf_counter()
            session.post(f"{sb.url}/v4/product/info/stocks", json={"limit": 1000, "cursor": ""}).content
            raw.append(time.perf_counter() - started)
        print(f"ozon v4 1000-item page, raw bytes only: median {statistics.median(raw) * 1000:.1f} ms")
    print(f"process max RSS after paging everything: {resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024:.0f} MB")
    if args.tracemalloc:
        print(f"account memory (tracemalloc): {measure_memory(args.products, args.seed):.1f} MB")


if __name__ == "__main__":
    main()
