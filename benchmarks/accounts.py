"""Benchmark: several seller accounts in one warehouse, in one sync vs one sync per account.

    .venv/bin/python benchmarks/accounts.py [--accounts 5] [--products 20000] [--marketplaces M,M]

A sandbox serves `--accounts` sellers (the default one and `s1`, `s2`, ...), each with
`--products` products on each marketplace, rate limits off (we measure our code). Two ways to
sync all of them into a new DuckDB file, each measured in a fresh child process (so its peak
memory, all processes counted, is that scenario's):

- together: one `run_sync` over every account: accounts land in parallel (at most
  INVSYNC_PARALLEL_LANDINGS at once, 4 by default), then one dbt build stages, audits and
  publishes them all;
- one after another: one `run_sync(accounts=[id])` per account, as a loop of `invsync sync
  --account ID` would (helpers kept between them, INVSYNC_KEEP_HELPERS=1, as such a loop should).

Both must publish the same rows; the script checks it. Results are printed and appended to
benchmarks/results.md under "Several accounts" (replacing that section if present).
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from benchmarks.run import PY, PeakTreeMemory, free_port, wait_for  # noqa: E402

SECTION = "## Several accounts"


def benchmarked_marketplaces() -> list[str]:
    """The marketplaces `benchmarks/run.py` measures: those whose credentials its `sandbox_env` sets."""
    from benchmarks.run import sandbox_env
    from pipelines.config_accounts import credential_variables
    from pipelines.marketplaces import MARKETPLACES

    given = set(sandbox_env(""))
    return [m.name for m in MARKETPLACES if set(credential_variables(m)) <= given]


def account_ids(count: int) -> list[str]:
    return ["default"] + [f"s{i}" for i in range(1, count)]


def accounts_file(folder: Path, ids: list[str], marketplaces: list[str]) -> tuple[Path, dict[str, str]]:
    """The accounts file for every extra seller (each marketplace's), and the variables it names."""
    from pipelines.config_accounts import credential_variables
    from pipelines.marketplaces import get
    from pipelines.sandbox.auth import account_credentials

    lines, env = [], {}
    for account in ids[1:]:
        creds = account_credentials(account)
        for marketplace in marketplaces:
            mapping = {name: f"{account.upper()}_{name}" for name in credential_variables(get(marketplace))}
            env.update({var: creds[name] for name, var in mapping.items()})
            pairs = ", ".join(f'{name} = "{var}"' for name, var in mapping.items())
            lines.append(f'[[account]]\nid = "{account}_{marketplace}"\nmarketplace = "{marketplace}"\n'
                         f'label = "{account}"\nenv = {{ {pairs} }}\n')
    path = folder / "accounts.toml"
    path.write_text("\n".join(lines), encoding="utf-8")
    return path, env


def child(url: str, warehouse: str, folder: str, mode: str, count: int, marketplaces: str) -> dict[str, Any]:
    from benchmarks.run import sandbox_env
    from pipelines.config import load_settings
    from pipelines.config_accounts import credential_variables
    from pipelines.marketplaces import MARKETPLACES
    from pipelines.sync import run_sync
    from pipelines.warehouse import warehouse_for

    ids, markets = account_ids(count), marketplaces.split(",")
    path, extra = accounts_file(Path(folder), ids, markets)
    env = {**os.environ, **sandbox_env(url), **extra, "INVSYNC_ACCOUNTS_FILE": str(path),
           "WAREHOUSE_URL": f"duckdb:///{warehouse}", "INVSYNC_RATE_LIMIT_SCALE": "0",
           "INVSYNC_KEEP_HELPERS": "1" if mode == "sequential" else "0"}
    for market in MARKETPLACES:  # the default seller's credentials of the other marketplaces: none
        if market.name not in markets:
            env.update({name: "" for name in credential_variables(market)})
    settings = load_settings(env)
    which = markets[0] if len(markets) == 1 else "all"
    with PeakTreeMemory() as memory:
        started = time.perf_counter()
        if mode == "together":
            results = [run_sync(settings, which=which, full=True)]
        else:
            results = [run_sync(settings, which=a.marketplace, full=True, accounts=[a.id])
                       for a in settings.accounts if a.marketplace in markets]
        total = time.perf_counter() - started
    rows = warehouse_for(settings.warehouse).query(
        "select marketplace, account, count(*) as n, sum(quantity_present) as units from inventory_data "
        "group by marketplace, account order by marketplace, account")
    return {"seconds": total, "peak_mb": memory.peak_mb, "ok": all(r.clean for r in results),
            "syncs": len(results), "published": [[r["marketplace"], r["account"], int(r["n"]), int(r["units"])] for r in rows],
            "summary": "\n".join(r.summary() for r in results)}


def run_child(*args: str) -> dict[str, Any]:
    out = subprocess.run([PY, __file__, "--child", *args], capture_output=True, text=True, cwd=ROOT)
    if out.returncode != 0:
        raise SystemExit(f"benchmark child failed:\n{out.stderr[-4000:]}")
    return json.loads(out.stdout.strip().splitlines()[-1])


def render(count: int, products: int, marketplaces: str, parallel: int, together: dict, sequential: dict) -> str:
    units = len(together["published"])
    rows = sum(n for _, _, n, _ in together["published"])
    ratio = sequential["seconds"] / together["seconds"]
    return "\n".join([
        SECTION, "",
        f"{count} sellers × {products:,} products on {marketplaces.replace(',', ' and ')} ({units} accounts, "
        f"{rows:,} stock rows), full syncs into a new DuckDB file, rate limits off, {os.cpu_count()} cores "
        f"(`benchmarks/accounts.py`). Both ways publish the same rows (checked).", "",
        "| | syncs | wall time | peak memory (all processes) |",
        "| --- | --- | --- | --- |",
        f"| together: one sync, {parallel} accounts land at once | 1 | {together['seconds']:.1f} s | "
        f"{together['peak_mb']:,.0f} MB |",
        f"| one after another: a sync per account | {sequential['syncs']} | {sequential['seconds']:.1f} s | "
        f"{sequential['peak_mb']:,.0f} MB |",
        "", f"Together is {ratio:.2f}× as fast: one dbt build and one audit for every account instead of one per "
        "account, and the landings overlap (API waits and parsing on both cores). Its memory grows with the "
        "accounts landing at once (INVSYNC_PARALLEL_LANDINGS) and the catalogue the one dbt build holds.", ""])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--accounts", type=int, default=5)
    parser.add_argument("--products", type=int, default=20_000)
    parser.add_argument("--marketplaces", default=",".join(benchmarked_marketplaces()),
                        help="comma-separated; default: those `make bench` measures")
    parser.add_argument("--output", default=str(ROOT / "benchmarks" / "results.md"))
    parser.add_argument("--child", nargs="+", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        print(json.dumps(child(*args.child[:4], int(args.child[4]), args.child[5]), default=str))
        return

    workdir = Path(tempfile.mkdtemp(prefix="invsync-accounts-"))
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    extra = tuple(account_ids(args.accounts)[1:])
    sandbox = subprocess.Popen(
        [PY, "-c", "from pipelines.sandbox import serve_forever, SandboxOptions; "
                   f"serve_forever('127.0.0.1', {port}, SandboxOptions(products={args.products}, seed=42, "
                   f"rate_limit_scale=0, accounts={extra!r}))"],
        cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        started = time.perf_counter()
        wait_for(url)
        print(f"sandbox: {args.accounts} sellers × {args.products} products ready in {time.perf_counter() - started:.1f} s")
        results = {}
        for mode in ("together", "sequential"):
            folder = workdir / mode
            folder.mkdir()
            results[mode] = run_child(url, str(folder / "bench.duckdb"), str(folder), mode, str(args.accounts),
                                      args.marketplaces)
            print(f"{mode}: {results[mode]['seconds']:.1f} s, peak {results[mode]['peak_mb']:.0f} MB, "
                  f"{results[mode]['syncs']} sync(s)")
            if not results[mode]["ok"]:
                raise SystemExit(f"{mode}: a sync did not succeed cleanly:\n{results[mode]['summary']}")
        if results["together"]["published"] != results["sequential"]["published"]:
            raise SystemExit("the two ways published different rows: "
                             f"{results['together']['published']} vs {results['sequential']['published']}")
    finally:
        sandbox.terminate()
        sandbox.wait(timeout=30)
        shutil.rmtree(workdir, ignore_errors=True)

    from pipelines.config import Settings

    section = render(args.accounts, args.products, args.marketplaces, Settings.parallel_landings,
                     results["together"], results["sequential"])
    print(section)
    output = Path(args.output)
    text = output.read_text(encoding="utf-8") if output.exists() else ""
    if SECTION in text:  # replace the section (up to the next `## ` heading or the end)
        before, rest = text.split(SECTION, 1)
        after = rest[rest.find("\n## ") + 1:] if "\n## " in rest else ""
        text = before + section + ("\n" + after if after else "")
    else:
        text = text.rstrip("\n") + "\n\n" + section
    output.write_text(text, encoding="utf-8")
    print(f"written to {output}")


if __name__ == "__main__":
    main()
