"""Benchmark: a 100,000-product sandbox, limits off, paged fully over real loopback HTTP.

Why: the sandbox must never be the bottleneck of a sync benchmark. This prints the time to
generate the account, its memory, and rows/s and per-page latency for Ozon
`/v4/product/info/stocks` (1000 per page), the Ozon FBO method
`/v1/product/info/stocks-by-warehouse/fbo` (1000-sku chunks) and the WB stocks report
`/api/analytics/v1/stocks-report/wb-warehouses` (offset paging, `--wb-limit` rows per page).

    .venv/bin/python benchmarks/sandbox_bench.py [--products 100000] [--seed 42] [--wb-limit 250000]
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
        if not page["items"] or not page["cursor"]:
            break
        items += len(page["items"])
        rows += sum(len(item["stocks"]) for item in page["items"])
        cursor = page["cursor"]
    return items, rows, latencies


def page_fbo(sb: Sandbox, skus: list[int]) -> tuple[int, list[float]]:
    session = requests.Session()
    session.headers.update({"Client-Id": OZON_CLIENT_ID, "Api-Key": OZON_API_KEY})
    rows, latencies = 0, []
    for j in range(0, len(skus), 1000):
        cursor = ""
        while True:
            started = time.perf_counter()
            resp = session.post(f"{sb.url}/v1/product/info/stocks-by-warehouse/fbo",
                                json={"skus": [str(x) for x in skus[j:j + 1000]], "limit": 1000, "cursor": cursor})
            resp.raise_for_status()
            page = resp.json()
            latencies.append(time.perf_counter() - started)
            rows += len(page["products"])
            if not page["has_next"]:
                break
            cursor = page["cursor"]
    return rows, latencies


def page_wb(sb: Sandbox, limit: int) -> tuple[int, list[float], list[int]]:
    session = requests.Session()
    session.headers["Authorization"] = WB_API_TOKEN
    offset, seen, latencies, sizes = 0, set(), [], []
    while True:
        started = time.perf_counter()
        resp = session.post(f"{sb.url}/api/analytics/v1/stocks-report/wb-warehouses",
                            json={"limit": limit, "offset": offset})
        resp.raise_for_status()
        if resp.status_code == 204:
            latencies.append(time.perf_counter() - started)
            break
        rows = resp.json()["data"]["items"]
        latencies.append(time.perf_counter() - started)
        sizes.append(len(rows))
        seen.update((r["chrtId"], r["warehouseId"]) for r in rows)
        if len(rows) < limit:
            break
        offset += limit
    return len(seen), latencies, sizes


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--products", type=int, default=100_000)
    parser.add_argument("--seed", type=int, default=42)
    parser.add_argument("--wb-limit", type=int, default=250_000, help="rows per wb-warehouses page")
    parser.add_argument("--tracemalloc", action="store_true", help="also measure the account exactly (slow)")
    args = parser.parse_args()

    rss_before = rss_mb()
    started = time.perf_counter()
    sb = Sandbox(SandboxOptions(products=args.products, seed=args.seed, rate_limit_scale=0))
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

        skus = [sb.account.oz_sku[i] for i in range(sb.account.n_products) if not sb.account.archived[i]]
        started = time.perf_counter()
        fbo_rows, lat = page_fbo(sb, skus)
        took = time.perf_counter() - started
        print(f"ozon fbo method: {fbo_rows} rows in {len(lat)} pages, {took:.2f} s, {fbo_rows / took:,.0f} rows/s; "
              f"page latency median {statistics.median(lat) * 1000:.1f} ms")
        expected_fbo = sum(1 for r in sb.account.iter_expected_inventory("ozon") if r["stock_type"] == "FBO")
        assert fbo_rows == expected_fbo, (fbo_rows, expected_fbo)

        started = time.perf_counter()
        distinct, lat, sizes = page_wb(sb, args.wb_limit)
        took = time.perf_counter() - started
        fetched = sum(sizes)
        print(f"wb stocks-report/wb-warehouses: {fetched} rows ({distinct} distinct) in {len(lat)} requests of <= "
              f"{args.wb_limit}, {took:.2f} s, {fetched / took:,.0f} rows/s; request latency median "
              f"{statistics.median(lat) * 1000:.0f} ms")
        wb_fbo = sum(1 for r in sb.account.iter_expected_inventory("wb") if r["stock_type"] == "FBO")
        assert distinct == wb_fbo, (distinct, wb_fbo)

        # Serving cost without the client's JSON parsing: raw bytes of one full-size page.
        session = requests.Session()
        session.headers["Authorization"] = WB_API_TOKEN
        started = time.perf_counter()
        body = session.post(f"{sb.url}/api/analytics/v1/stocks-report/wb-warehouses", json={"limit": args.wb_limit}).content
        took = time.perf_counter() - started
        print(f"wb stocks-report one page of <= {args.wb_limit} rows, raw bytes only: {took * 1000:.0f} ms "
              f"({len(body) / 1e6:.1f} MB)")

        session = requests.Session()
        session.headers.update({"Client-Id": OZON_CLIENT_ID, "Api-Key": OZON_API_KEY})
        raw = []
        for _ in range(20):
            started = time.perf_counter()
            session.post(f"{sb.url}/v4/product/info/stocks", json={"filter": {}, "limit": 1000, "cursor": ""}).content
            raw.append(time.perf_counter() - started)
        print(f"ozon v4 1000-item page, raw bytes only: median {statistics.median(raw) * 1000:.1f} ms")
    print(f"process max RSS after paging everything: {resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024:.0f} MB")
    if args.tracemalloc:
        print(f"account memory (tracemalloc): {measure_memory(args.products, args.seed):.1f} MB")


if __name__ == "__main__":
    main()
