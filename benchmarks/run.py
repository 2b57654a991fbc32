"""Benchmarks: how fast a large account syncs, against a baseline measured in the same run.

(Over 400 lines on purpose: one script a person runs and reads top to bottom; each scenario is
a small function, and splitting them into modules would only add imports.)

    make bench                                   # 100,000 products (about a million stock rows)
    make bench BENCH_ARGS="--products 20000 --series 5000,20000"   # smaller

What it does, each measurement in a fresh child process (so peak memory is that scenario's):
1. full sync into a new DuckDB file: landing (dlt), staging (dbt), audit (GE), publish (dbt),
   each phase and the total;
2. incremental sync after the sandbox changed 1% of the stock;
3. the baseline: DuckDB bulk-loading the same raw API pages from JSON files (`read_json` into
   tables, then one SQL upsert into a mart table) — the floor we compare against;
4. the legacy approach for contrast: row-by-row `INSERT ... ON DUPLICATE KEY UPDATE` into
   MariaDB, timed on a sample and extrapolated to all rows (said so in the table);
5. `invsync serve` on the synced warehouse: the latency of `GET /api/v1/inventory` for the
   first page, a deep page (a keyset cursor 90% into the table) and a filtered page, over HTTP;
6. the scale series (`--series`, default 10k, 50k, 100k, 200k products): 1-3 at each size, with
   rows per second, cost per row and peak memory, so anyone can see whether cost grows linearly.
The sandbox runs in its own process with rate limits off (we measure our code). API requests
per 1,000 products are reported separately: against the real APIs the rate limits are the bound.
Results are printed and written to benchmarks/results.md (its hand-written `## Notes` and what follows are kept).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import resource
import shutil
import socket
import subprocess
import sys
import tempfile
import threading
import time
from datetime import timedelta
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
PY = sys.executable


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def peak_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def tree_rss_mb(root: int) -> float:
    """Resident memory of `root` and all its descendants now, in MB (Linux /proc)."""
    children: dict[int, list[int]] = {}
    for entry in os.scandir("/proc"):
        if not entry.name.isdigit():
            continue
        try:
            with open(f"/proc/{entry.name}/stat") as f:
                ppid = int(f.read().rsplit(")", 1)[1].split()[1])
        except (OSError, IndexError, ValueError):
            continue
        children.setdefault(ppid, []).append(int(entry.name))
    total, todo = 0, [root]
    while todo:
        pid = todo.pop()
        todo.extend(children.get(pid, []))
        try:
            with open(f"/proc/{pid}/statm") as f:
                total += int(f.read().split()[1]) * resource.getpagesize()
        except (OSError, IndexError, ValueError):
            pass
    return total / 2**20


class PeakTreeMemory:
    """The peak of this process's plus its child processes' memory (a sync lands in children).

    `ru_maxrss` would see only this process, or only the largest child; this samples the sum
    every `interval` seconds in a background thread.
    """

    def __init__(self, interval: float = 0.1) -> None:
        self.interval, self.peak_mb = interval, 0.0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._sample, daemon=True)

    def _sample(self) -> None:
        while not self._stop.is_set():
            self.peak_mb = max(self.peak_mb, tree_rss_mb(os.getpid()))
            self._stop.wait(self.interval)

    def __enter__(self) -> "PeakTreeMemory":
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()
        self.peak_mb = max(self.peak_mb, peak_rss_mb())


# -- child scenarios ---------------------------------------------------------------------------
def sandbox_env(url: str) -> dict[str, str]:
    """The sandbox account's credentials (its own constants) with every API pointed at `url`."""
    from pipelines.sandbox.auth import OZON_API_KEY, OZON_CLIENT_ID, WB_API_TOKEN

    return {"OZON_CLIENT_ID": OZON_CLIENT_ID, "OZON_API_KEY": OZON_API_KEY, "WB_API_TOKEN": WB_API_TOKEN,
            **{name: url for name in ("OZON_API_URL", "WB_STATISTICS_API_URL", "WB_ANALYTICS_API_URL",
                                      "WB_MARKETPLACE_API_URL", "WB_CONTENT_API_URL")}}


def child_sync(url: str, warehouse: str, full: bool) -> dict[str, Any]:
    from pipelines.config import load_settings
    from pipelines.sync import run_sync

    env = {**os.environ, **sandbox_env(url), "WAREHOUSE_URL": f"duckdb:///{warehouse}", "INVSYNC_RATE_LIMIT_SCALE": "0"}
    settings = load_settings(env)
    with PeakTreeMemory() as memory:
        started = time.perf_counter()
        result = run_sync(settings, full=full)
        total = time.perf_counter() - started
    # The phase timings come from the sync core itself (`SyncResult.timings`).
    names = {"landing": "landing", "staging": "dbt staging", "audit": "checks (GE)", "publish": "dbt publish"}
    phases = {names[k]: v for k, v in result.timings.items()}
    phases["total"] = total
    records = {n: r.record for n, r in result.results.items() if r.record}
    return {
        "history": history_stats(settings),
        "ok": result.ok,
        "summary": result.summary(),
        "phases": phases,
        "peak_rss_mb": memory.peak_mb,
        "requests": {n: rec.api_requests for n, rec in records.items()},
        "by_endpoint": {n: rec.details.get("requests_by_endpoint", {}) for n, rec in records.items()},
        "rows_fetched": {n: rec.records_fetched for n, rec in records.items()},
        "rows_written": {n: rec.records_written for n, rec in records.items()},
    }


def fetch_raw_pages(url: str, folder: Path) -> int:
    """Save the raw API pages the sync reads (Ozon v4 + per-warehouse, WB stocks) as JSON files."""
    import requests

    env = sandbox_env(url)
    ozon = {"Client-Id": env["OZON_CLIENT_ID"], "Api-Key": env["OZON_API_KEY"]}
    wb = {"Authorization": env["WB_API_TOKEN"]}
    s = requests.Session()
    pages = 0

    def save(name: str, rows: list[dict]) -> None:
        nonlocal pages
        (folder / f"{name}_{pages:05d}.json").write_text(json.dumps(rows, ensure_ascii=False))
        pages += 1

    cursor, fbo_skus = "", []
    while True:
        a = s.post(url + "/v4/product/info/stocks", headers=ozon,
                   json={"filter": {"visibility": "ALL"}, "limit": 1000, "cursor": cursor}).json()
        if not a["items"]:
            break
        save("ozon_stocks", [{"product_id": i["product_id"], "offer_id": i["offer_id"], **st}
                             for i in a["items"] for st in i["stocks"]])
        fbo_skus += [str(st["sku"]) for i in a["items"] for st in i["stocks"] if st["type"] == "fbo"]
        if not a["cursor"] or a["cursor"] == cursor:
            break
        cursor = a["cursor"]

    def cursor_pages(name: str, path: str, key: str, body: dict) -> None:
        cursor = ""
        while True:
            a = s.post(url + path, headers=ozon, json={**body, "cursor": cursor}).json()
            if a[key]:
                save(name, a[key])
            if not a.get("has_next") or not a.get("cursor"):
                return
            cursor = a["cursor"]

    for start in range(0, len(fbo_skus), 1000):
        cursor_pages("ozon_fbo", "/v1/product/info/stocks-by-warehouse/fbo", "products", {"limit": 1000, "skus": fbo_skus[start:start + 1000]})
    for warehouse in s.post(url + "/v2/warehouse/list", headers=ozon, json={"limit": 200}).json()["warehouses"]:
        cursor_pages("ozon_fbs", "/v1/product/info/warehouse/stocks", "stocks", {"limit": 1000, "warehouse_id": warehouse["warehouse_id"]})
    offset = 0
    while True:
        a = s.post(url + "/api/analytics/v1/stocks-report/wb-warehouses", headers=wb, json={"limit": 250_000, "offset": offset})
        rows = a.json()["data"]["items"] if a.status_code == 200 else []
        if rows:
            save("wb_stocks", rows)
        if len(rows) < 250_000:
            break
        offset += len(rows)
    return pages


BASELINE_UPSERT = """
insert or replace into mart
select 'ozon', cast(sku as varchar), cast(warehouse_id as varchar), 'FBO', present, reserved, now()
from ozon_fbo
union all
select 'ozon', cast(sku as varchar), cast(warehouse_id as varchar), 'FBS', present, reserved, now() from ozon_fbs
union all
select 'wb', cast(chrtId as varchar), substr(md5(warehouseName), 1, 16), 'FBO',
       quantity + inWayToClient + inWayFromClient, inWayToClient + inWayFromClient, now()
from wb_stocks
"""


def child_baseline(url: str, workdir: Path) -> dict[str, Any]:
    import duckdb

    pages_dir = workdir / "pages"
    pages_dir.mkdir(parents=True, exist_ok=True)
    pages = fetch_raw_pages(url, pages_dir)  # not timed: the baseline starts from files
    con = duckdb.connect(str(workdir / "baseline.duckdb"))
    con.execute("create table mart (marketplace varchar, sku varchar, warehouse_id varchar, stock_type varchar, "
                "present bigint, reserved bigint, synced_at timestamp, primary key (marketplace, sku, warehouse_id, stock_type))")
    t = time.perf_counter()
    for name in ("ozon_stocks", "ozon_fbo", "ozon_fbs", "wb_stocks"):
        con.execute(f"create or replace table {name} as select * from read_json('{pages_dir}/{name}_*.json', format='array')")
    loaded = time.perf_counter() - t
    t = time.perf_counter()
    con.execute(BASELINE_UPSERT)
    upsert = time.perf_counter() - t
    rows = con.execute("select count(*) from mart").fetchone()[0]
    con.close()
    return {"phases": {"read_json": loaded, "upsert": upsert, "total": loaded + upsert}, "rows": rows,
            "pages": pages, "peak_rss_mb": peak_rss_mb()}


def child_legacy(warehouse: str, sample: int) -> dict[str, Any]:
    import duckdb
    import pymysql

    con = duckdb.connect(warehouse, read_only=True)
    rows = con.execute(
        "select marketplace, sku, warehouse_name, stock_type, quantity_present, quantity_reserved, product_id "
        f"from inventory_data limit {sample}").fetchall()
    total = con.execute("select count(*) from inventory_data").fetchone()[0]
    con.close()
    db = f"bench_legacy_{os.getpid()}"
    conn = pymysql.connect(host="127.0.0.1", port=3306, user="root", password="", autocommit=True)
    cur = conn.cursor()
    cur.execute(f"create database {db}")
    try:
        cur.execute(f"""create table {db}.inventory_data (product_id varchar(64), sku varchar(64) not null,
            source varchar(16) not null, warehouse_name varchar(255) not null, stock_type varchar(16) not null,
            quantity_present int not null, quantity_reserved int not null, snapshot_date date, last_sync_at datetime,
            primary key (sku, source, warehouse_name, stock_type))""")
        sql = (f"insert into {db}.inventory_data values (%s, %s, %s, %s, %s, %s, %s, curdate(), now()) "
               "on duplicate key update quantity_present = values(quantity_present), "
               "quantity_reserved = values(quantity_reserved), last_sync_at = values(last_sync_at)")
        t = time.perf_counter()
        for m, sku, wname, stype, present, reserved, pid in rows:
            cur.execute(sql, (pid, sku, m, wname, stype, present, reserved))  # one statement, one commit per row
        elapsed = time.perf_counter() - t
    finally:
        cur.execute(f"drop database {db}")
        conn.close()
    per_row = elapsed / max(1, len(rows))
    return {"phases": {"sample": elapsed, "total": per_row * total}, "sample_rows": len(rows), "rows": total,
            "peak_rss_mb": peak_rss_mb()}


def history_stats(settings: Any) -> dict[str, Any]:
    """The stock history after a sync: rows per table, and the seconds its models took in the
    publish (dbt's run_results.json of the sync's last invocation, the publish)."""
    from pipelines.sync.dbt import target_dir
    from pipelines.sync.wap import HISTORY_MODELS
    from pipelines.warehouse import warehouse_for

    wh = warehouse_for(settings.warehouse)
    rows = {t: int(wh.query(f"select count(*) as n from {t}")[0]["n"]) if wh.table_exists(t) else 0
            for t in sorted(HISTORY_MODELS)}
    results_file = target_dir(settings) / "run_results.json"
    results = json.loads(results_file.read_text())["results"] if results_file.exists() else []
    seconds = sum(float(r.get("execution_time") or 0) for r in results
                  if r["unique_id"].split(".")[0] == "model" and r["unique_id"].split(".")[-1] in HISTORY_MODELS)
    return {"rows": rows, "build_s": seconds}


def child_api(warehouse: str, samples: int = 30) -> dict[str, Any]:
    """Latency of GET /api/v1/inventory over real HTTP against `invsync serve` on the warehouse."""
    import statistics

    import duckdb
    import requests

    from pipelines.web.reads import KEY_COLUMNS, encode_cursor
    from pipelines.web.security import hash_token, new_token

    with duckdb.connect(warehouse, read_only=True) as conn:
        rows = conn.execute("select count(*) from inventory_data").fetchone()[0]
        key = conn.execute(f"select {', '.join(KEY_COLUMNS)} from inventory_data order by {', '.join(KEY_COLUMNS)} "
                           "limit 1 offset ?", [int(rows * 0.9)]).fetchone()
        product = conn.execute("select marketplace, marketplace_product_id, max(last_sync_at) from inventory_data "
                               "group by 1, 2 order by 1, 2 limit 1 offset ?", [int(rows * 0.1)]).fetchone()
    deep = encode_cursor(dict(zip(KEY_COLUMNS, key)))
    token, port = new_token(), free_port()
    env = {**os.environ, "WAREHOUSE_URL": f"duckdb:///{Path(warehouse).resolve()}",
           "INVSYNC_API_TOKENS": f"viewer:{hash_token(token)}", "INVSYNC_SESSION_SECRET": "b" * 48}
    server = subprocess.Popen([PY, "-m", "pipelines.cli", "serve", "--port", str(port)], cwd=ROOT, env=env,
                              stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.time() + 60
        while True:
            try:
                requests.get(base + "/healthz", timeout=2)
                break
            except requests.RequestException:
                if time.time() > deadline:
                    raise SystemExit("invsync serve did not start")
                time.sleep(0.2)
        session = requests.Session()
        session.headers["Authorization"] = f"Bearer {token}"
        cases = {
            "first page (100 rows)": {"limit": 100},
            "deep page (100 rows, 90% in)": {"limit": 100, "after": deep},
            "filtered: wb, in stock (100 rows)": {"limit": 100, "marketplace": "wb", "in_stock": "true"},
            "first page (1000 rows)": {"limit": 1000},
            # the stock history of one product over 90 days (GET /api/v1/inventory/history)
            "history: one product, 90 days": {"path": "/inventory/history", "marketplace": product[0],
                                              "product": product[1], "limit": 1000,
                                              "since": (product[2] - timedelta(days=90)).isoformat()},
        }
        latency = {}
        for name, params in cases.items():
            path = "/api/v1" + params.pop("path", "/inventory")
            session.get(base + path, params=params).raise_for_status()  # warm
            times = []
            for _ in range(samples):
                t = time.perf_counter()
                answer = session.get(base + path, params=params)
                times.append((time.perf_counter() - t) * 1000)
                answer.raise_for_status()
            times.sort()
            latency[name] = {"median_ms": statistics.median(times), "p95_ms": times[int(0.95 * (len(times) - 1))],
                             "items": len(answer.json()["items"])}
    finally:
        server.terminate()
        server.wait(timeout=30)
    return {"rows": rows, "samples": samples, "latency": latency}


# -- the parent: orchestrate, print, write results.md -----------------------------------------
def run_child(*args: str) -> dict[str, Any]:
    out = subprocess.run([PY, __file__, "--child", *args], capture_output=True, text=True, cwd=ROOT)
    if out.returncode != 0:
        raise SystemExit(f"benchmark child {args[0]} failed:\n{out.stderr[-4000:]}")
    return json.loads(out.stdout.strip().splitlines()[-1])


def wait_for(url: str, timeout: float = 600) -> None:
    import requests

    deadline = time.time() + timeout
    while time.time() < deadline:
        try:
            requests.get(url + "/sandbox/account", timeout=5)
            return
        except requests.RequestException:
            time.sleep(1)
    raise SystemExit("the sandbox did not start")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--products", type=int, default=100_000)
    parser.add_argument("--legacy-sample", type=int, default=20_000)
    parser.add_argument("--skip-legacy", action="store_true", help="no MariaDB here")
    parser.add_argument("--output", default=str(ROOT / "benchmarks" / "results.md"))
    parser.add_argument("--series", type=lambda text: [int(n) for n in text.split(",") if n], metavar="N,N,...",
                        default=[10_000, 50_000, 100_000, 200_000],
                        help="account sizes of the scale series (empty: none); the main size's run is reused")
    parser.add_argument("--child", nargs="+", help=argparse.SUPPRESS)
    args = parser.parse_args()

    if args.child:
        kind, *rest = args.child
        if kind == "sync":
            result = child_sync(rest[0], rest[1], full=rest[2] == "full")
        elif kind == "api":
            result = child_api(rest[0])
        elif kind == "baseline":
            result = child_baseline(rest[0], Path(rest[1]))
        else:
            result = child_legacy(rest[0], int(rest[1]))
        print(json.dumps(result, default=str))
        return

    main_run = measure(args.products, extras=True, legacy_sample=None if args.skip_legacy else args.legacy_sample)
    series = [main_run if size == args.products else measure(size) for size in args.series]
    report = render(args.products, main_run["stock_rows"], main_run["full"], main_run["incremental"],
                    main_run["baseline"], main_run.get("legacy"), main_run.get("api"))
    report += render_series(series)
    print(report)
    output = Path(args.output)
    output.write_text(report + kept_notes(output), encoding="utf-8")
    print(f"written to {args.output}")


# The hand-written part of results.md starts at this heading: what single changes measured, the
# profiles, benchmarks/accounts.py's section. A new run replaces what is above it, never that.
NOTES_HEADING = "## Notes"


def kept_notes(output: Path) -> str:
    """`NOTES_HEADING` and everything after it in the current results file ("" if none)."""
    text = output.read_text(encoding="utf-8") if output.exists() else ""
    start = text.find("\n" + NOTES_HEADING + "\n")
    return "\n" + text[start + 1:] if start >= 0 else ""


def measure(products: int, extras: bool = False, legacy_sample: int | None = None) -> dict[str, Any]:
    """One account size: a sandbox of `products`, a full sync, 1% changed, an incremental sync,
    and the floor on the same pages; with `extras`, the API latency and the legacy contrast too."""
    workdir = Path(tempfile.mkdtemp(prefix="invsync-bench-"))
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    sandbox = subprocess.Popen(
        [PY, "-c", "from pipelines.sandbox import serve_forever, SandboxOptions; "
                   f"serve_forever('127.0.0.1', {port}, SandboxOptions(products={products}, seed=42, "
                   "rate_limit_scale=0, tick_changes=0.01))"],
        cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    out: dict[str, Any] = {"products": products}
    try:
        t = time.perf_counter()
        wait_for(url)
        print(f"sandbox: {products} products ready in {time.perf_counter() - t:.1f}s at {url}")
        import requests

        account = requests.get(url + "/sandbox/account").json()
        out["stock_rows"] = account["ozon"]["rows"] + account["wb"]["rows"]
        warehouse = str(workdir / "bench.duckdb")
        out["full"] = full = run_child("sync", url, warehouse, "full")
        print(f"{products}: full sync:", {k: round(v, 2) for k, v in full["phases"].items()})
        requests.post(url + "/sandbox/tick", json={"steps": 1})
        out["incremental"] = incremental = run_child("sync", url, warehouse, "incremental")
        print(f"{products}: incremental sync:", {k: round(v, 2) for k, v in incremental["phases"].items()})
        if extras:
            out["api"] = api = run_child("api", warehouse)
            print("GET /api/v1/inventory:", {k: round(v["median_ms"], 1) for k, v in api["latency"].items()})
        out["baseline"] = baseline = run_child("baseline", url, str(workdir))
        print(f"{products}: baseline:", {k: round(v, 2) for k, v in baseline["phases"].items()})
        if extras and legacy_sample:
            out["legacy"] = legacy = run_child("legacy", warehouse, str(legacy_sample))
            print("legacy:", {k: round(v, 2) for k, v in legacy["phases"].items()})
    finally:
        sandbox.terminate()
        sandbox.wait(timeout=30)
        shutil.rmtree(workdir, ignore_errors=True)
    return out


def render_series(series: list[dict[str, Any]]) -> str:
    """How cost grows with the catalogue: the same measurements at each size, per row too."""
    lines = ["", "## Scale series", "",
             "Each size in its own sandbox and warehouse (rate limits off); the floor is measured at the same size. "
             "Cost per row that stays flat as the catalogue grows means linear cost.", "",
             "| products | stock rows | full sync (s) | floor (s) | full / floor | incremental (s) | incremental / full "
             "| full: rows per second | full: µs per row | peak memory full / incremental (MB) |",
             "| ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |"]
    for run in series:
        full, incr, floor = run["full"]["phases"]["total"], run["incremental"]["phases"]["total"], \
            run["baseline"]["phases"]["total"]
        rows = run["stock_rows"]
        lines.append(f"| {run['products']:,} | {rows:,} | {full:.2f} | {floor:.2f} | {full / floor:.1f}x | {incr:.2f} "
                     f"| {100 * incr / full:.0f}% | {rows / full:,.0f} | {1e6 * full / rows:.1f} "
                     f"| {run['full']['peak_rss_mb']:.0f} / {run['incremental']['peak_rss_mb']:.0f} |")
    return "\n".join(lines) + "\n"


def render(products: int, stock_rows: int, full: dict, incr: dict, base: dict, legacy: dict | None,
           api: dict | None = None) -> str:
    floor = base["phases"]["total"]
    lines = [
        "# Benchmark results", "",
        f"Machine: {platform.machine()}, {os.cpu_count()} cores, Python {platform.python_version()}. "
        f"Account: {products:,} products, {stock_rows:,} stock rows in the sandbox (rate limits off).",
        "Reproduce: `make bench` (or `make bench BENCH_ARGS=\"--products 20000 --series 5000,20000\"`).", "",
        "| scenario | phase | wall time (s) | ours / baseline | peak memory (MB), all processes |",
        "| --- | --- | ---: | ---: | ---: |",
    ]
    for name, res in (("full sync → DuckDB", full), ("incremental sync, 1% changed", incr)):
        for phase, seconds in res["phases"].items():
            ratio = f"{seconds / floor:.1f}x" if phase == "total" else ""
            mem = f"{res['peak_rss_mb']:.0f}" if phase == "total" else ""
            lines.append(f"| {name} | {phase} | {seconds:.2f} | {ratio} | {mem} |")
    lines.append(f"| baseline: DuckDB read_json + one upsert | total ({base['rows']:,} rows from {base['pages']} page files) "
                 f"| {floor:.2f} | 1.0x | {base['peak_rss_mb']:.0f} |")
    if legacy:
        lines.append(f"| legacy: row-by-row INSERT … ON DUPLICATE KEY UPDATE (MariaDB) | extrapolated to {legacy['rows']:,} rows "
                     f"from {legacy['sample_rows']:,} | {legacy['phases']['total']:.1f} | {legacy['phases']['total'] / floor:.1f}x | |")
    lines += ["", "API requests per 1,000 products (the bound against the real APIs, whose limits we obey):", ""]
    for marketplace, count in full["requests"].items():
        lines.append(f"- full sync, {marketplace}: {count} requests → {1000 * count / products:.1f} per 1,000 products")
    for marketplace, count in incr["requests"].items():
        lines.append(f"- incremental sync, {marketplace}: {count} requests → {1000 * count / products:.1f} per 1,000 products")
    lines += method_bounds(products, full, incr)
    if "history" in full:
        lines += ["", "Stock history (written by each publish; README, \"Stock history\"): rows after each sync, and "
                      "the seconds its models took within the publish:", "",
                  "| after | " + " | ".join(full["history"]["rows"]) + " | history build (s) |",
                  "| --- |" + " ---: |" * (len(full["history"]["rows"]) + 1)]
        for name, res in (("full sync", full), ("incremental sync, 1% changed", incr)):
            lines.append(f"| {name} | " + " | ".join(f"{n:,}" for n in res["history"]["rows"].values())
                         + f" | {res['history']['build_s']:.2f} |")
    if api:
        lines += ["", f"`invsync serve`: `GET /api/v1/inventory` (and one product's history) over HTTP on loopback, {api['rows']:,} rows in "
                      f"`inventory_data` (DuckDB, read-only), {api['samples']} requests each; pages are keyset "
                      "pages (the deep one starts 90% into the table):", "",
                  "| request | median (ms) | p95 (ms) | rows |", "| --- | ---: | ---: | ---: |"]
        for name, r in api["latency"].items():
            lines.append(f"| {name} | {r['median_ms']:.1f} | {r['p95_ms']:.1f} | {r['items']} |")
    lines += ["", "Targets (issue 21): full sync within 6x the floor (next 3x); incremental within 60% of the full sync; peak memory within 1 GB, all processes.", ""]
    return "\n".join(lines)


def method_bounds(products: int, full: dict, incr: dict) -> list[str]:
    """Per method: requests per 1,000 products, and the wall time of a 100,000-product sync at
    the method's published limit (the client's pacing interval for its group, the one place the
    limits are written down: `PACING` in pipelines/marketplaces/ozon/source.py and pipelines/marketplaces/wb/source.py).
    Methods of different groups are paced independently; the slowest group bounds the sync."""
    from pipelines.marketplaces.ozon import source as ozon
    from pipelines.marketplaces.wb import source as wildberries

    sources = {"ozon": ozon, "wb": wildberries}
    lines = ["", "Per method, and the wall time of a 100,000-product sync at each method's published limit "
             "(requests scaled linearly from this run):", "",
             "| sync | marketplace | method | requests | per 1,000 products | interval at the limit (s) | 100,000 products at the limit |",
             "| --- | --- | --- | ---: | ---: | ---: | ---: |"]
    bounds: dict[str, float] = {}  # per sync: the slowest marketplace's bound (they land in parallel)
    for name, res in (("full", full), ("incremental", incr)):
        for marketplace, by_endpoint in res.get("by_endpoint", {}).items():
            module = sources[marketplace]
            per_group: dict[str, float] = {}
            for endpoint, count in sorted(by_endpoint.items()):
                group = module.endpoint_group(endpoint)
                interval = module.PACING.get(group, 0.0)
                at_100k = count * 100_000 / products * interval
                per_group[group] = per_group.get(group, 0.0) + at_100k
                lines.append(f"| {name} | {marketplace} | `{endpoint}` | {count} | {1000 * count / products:.1f} "
                             f"| {interval:.3g} | {at_100k / 60:.1f} min |")
            slowest = max(per_group.items(), key=lambda kv: kv[1], default=("-", 0.0))
            lines.append(f"| {name} | {marketplace} | **bound** (slowest group: {slowest[0]}) | | | | "
                         f"**{slowest[1] / 60:.1f} min** |")
            bounds[name] = max(bounds.get(name, 0.0), slowest[1])
    lines += ["", "Against the real limits a sync takes the slowest marketplace's bound (marketplaces land in "
                  "parallel; the landing's own CPU work is spread over the waits between requests) plus the tail after the "
                  f"last answer: dlt's load of the pages (inside this run's landing time) and then dbt staging, the "
                  f"checks and dbt publish, measured in this run at {products:,} products:", ""]
    for name, res in (("full", full), ("incremental", incr)):
        tail = sum(res["phases"].get(phase, 0.0) for phase in ("dbt staging", "checks (GE)", "dbt publish"))
        lines.append(f"- {name} sync of 100,000 products: {bounds.get(name, 0.0) / 60:.1f} min at the limits "
                     f"+ a tail of {tail:.1f} s (dbt staging, checks, dbt publish)")
    return lines


if __name__ == "__main__":
    main()
