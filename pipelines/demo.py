"""`invsync demo`: the whole product against the sandbox, in one command.

Starts the sandbox in-process on a free port, points the configuration at it (real
credentials in the environment are ignored, so the demo never calls a real marketplace),
runs a full sync into the embedded DuckDB warehouse and prints what landed where.
"""

from __future__ import annotations

from pipelines.config import DEFAULT_WAREHOUSE_URL, Settings, environment, load_settings
from pipelines.marketplaces import NAMES
from pipelines.warehouse import warehouse_for

# The demo's sandbox account, and the default of `invsync sandbox`: the same account, so the
# first `invsync sync` against a sandbox after `make run` continues the demo's data instead of
# meeting 700 unknown products (their WB sizes without cards: `chrt:` placeholders until --full).
DEMO_PRODUCTS = 300
DEMO_SEED = 42


def demo_settings(sandbox_env: dict[str, str]) -> Settings:
    """Settings from the environment, with the APIs and credentials of the sandbox."""
    env = environment()
    env.update(sandbox_env)
    if not env.get("WAREHOUSE_URL", "").startswith("duckdb:"):
        env["WAREHOUSE_URL"] = DEFAULT_WAREHOUSE_URL
    env.setdefault("INVSYNC_RATE_LIMIT_SCALE", "0")
    return load_settings(env)


def totals(settings: Settings) -> list[dict]:
    wh = warehouse_for(settings.warehouse)
    if not wh.table_exists("inventory_data"):
        return []
    return wh.query(
        "select marketplace, stock_type, count(*) as rows_, count(distinct sku) as skus, "
        "sum(quantity_present) as present, sum(quantity_reserved) as reserved, "
        "sum(quantity_available) as available "
        "from inventory_data group by marketplace, stock_type order by marketplace, stock_type"
    )


def run_demo(products: int = DEMO_PRODUCTS, seed: int = DEMO_SEED) -> int:
    from pipelines.sandbox import Sandbox, SandboxOptions
    from pipelines.sync import run_sync  # dlt, dbt and GE: loaded only for the demo itself

    with Sandbox(SandboxOptions(products=products, seed=seed, rate_limit_scale=0)) as sandbox:
        settings = demo_settings(sandbox.env())
        print(f"sandbox: {products} products (seed {seed}) at {sandbox.url}")
        print(f"warehouse: {settings.warehouse.display()}")
        result = run_sync(settings, full=True)
        print(result.summary())
        truth = sandbox.account.summary()

    rows = totals(settings)
    if rows:
        print("\ninventory_data")
        print(f"  {'marketplace':11} {'type':8} {'rows':>7} {'skus':>7} {'present':>9} {'reserved':>9} {'available':>9}")
        for r in rows:
            print(
                f"  {r['marketplace']:11} {r['stock_type']:8} {r['rows_']:>7} {r['skus']:>7} "
                f"{int(r['present']):>9} {int(r['reserved']):>9} {int(r['available']):>9}"
            )
        for name in NAMES:
            got = sum(int(r["present"]) for r in rows if r["marketplace"] == name)
            want = truth.get(name, {}).get("present")
            mark = "matches" if got == want else "DIFFERS from"
            print(f"  {name}: {got} units present, {mark} the sandbox account ({want})")
    path = settings.warehouse.path
    print(
        "\nQuery it:\n"
        f"  .venv/bin/python -c \"import duckdb; print(duckdb.connect('{path}', read_only=True)"
        ".sql('select * from inventory_data limit 10'))\"\n"
        "  dbt build --project-dir dbt_project --profiles-dir dbt_project   # with .venv activated\n"
        "  invsync status\n"
        "Sync the same sandbox account again (its stock moves as time passes):\n"
        "  invsync sandbox                      # in another terminal; its defaults are this demo's account\n"
        "  export ...                           # the lines it prints (API URLs and sandbox credentials)\n"
        "  invsync sync                         # incremental; `--full` only after changing --products/--seed"
    )
    return 0 if result.ok else 1
