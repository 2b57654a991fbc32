"""A marketplace is its own modules, its staging models and a registry entry: nothing else knows it.

The registry (`pipelines/marketplaces/`) promises that adding a marketplace touches its own
source module, its dbt staging models and the registry's list. This guard holds the rest of the
project to that promise: it reads every Python, SQL and YAML file outside those places (dbt
models and macros, `dbt_project.yml`, `dagster*.yaml`, `orchestration/*.yaml`) and fails on
marketplace knowledge there (and in the console's templates and script):

- a marketplace's name (`ozon`, `wb`, `wildberries`, any case) as an identifier or inside a
  string: `OZON`, `ozon_enabled`, `"wb"`, `stg_ozon__stocks`, `raw_wb`, "Wildberries units";
- a field name that only one marketplace's API has (`MARKETPLACE_FIELDS` below).

Prose is not knowledge: comments, docstrings, the text of `description=`/`summary=`/`help=`
arguments (OpenAPI, argparse) and `description:` in YAML are not read.

`ALLOWED` lists, per file, today's unavoidable exceptions and the words each may use, with why.
It guards against new leaks: a file not listed, or a listed file using a word it is not allowed,
fails. When a leak moves into a marketplace's own modules, strike its entry (the test says which
entries allow more than is used, so the list only shrinks). Issue 23, item 4.
"""

from __future__ import annotations

import io
import re
import tokenize
from pathlib import Path
from typing import Any, Iterator

import yaml

from pipelines.marketplaces import MARKETPLACES

ROOT = Path(__file__).resolve().parent.parent

# Every registered marketplace's name, and the long forms people write.
NAMES = frozenset({m.name for m in MARKETPLACES} | {"wildberries", "yandex"})

# Field names of one marketplace's API (raw columns, JSON keys, their snake_case twins): knowing
# them is knowing the marketplace. Generic columns of the data contract (sku, offer_id, barcode,
# warehouse_id, stock_type, quantity_*) are not here.
MARKETPLACE_FIELDS = frozenset({
    # Wildberries
    "nmid", "nm_id", "chrtid", "chrt_id", "vendorcode", "vendor_code", "techsize", "tech_size",
    "inwaytoclient", "in_way_to_client", "inwayfromclient", "in_way_from_client",
    "deliverytype", "delivery_type", "supplierarticle", "supplier_article",
    "warehouse_remains", "warehouseremains",
    # Ozon
    "realfbs", "rfbs", "is_rfbs", "total_items", "available_stock_count", "requested_stock_count",
    "stocks_by_warehouse_fbo", "stocks_by_warehouse_fbs", "fbo_stocks", "fbs_stocks", "analytics_stocks",
    # Yandex Market
    "campaignid", "campaign_id", "businessid", "business_id", "placementtype", "placement_type",
    "marketsku", "market_sku", "offer_stocks", "fby_warehouses", "apiavailability", "api_availability",
})

# Where marketplace knowledge belongs: the registry with one package per marketplace under it,
# each marketplace's dbt folders (staging and intermediate models, macros, singular tests; from
# the registry, so a new marketplace's home needs no entry here), and the emulator. Paths relative to the project root; a folder covers everything under it.
HOME = (
    "pipelines/marketplaces/",  # the registry and, under it, one package per marketplace
    *(f"dbt_project/{folder}/{m.name}/" for m in MARKETPLACES
      for folder in ("models/staging", "models/intermediate", "macros", "tests")),
    "pipelines/sandbox/",  # the emulator of the marketplaces' APIs: it is the marketplaces, by construction
)

# Today's unavoidable exceptions: path -> (the words it may use, why). Each is a leak that item 1
# of issue 23 (one package per marketplace) moves home; strike an entry when its file is clean.
ALLOWED: dict[str, tuple[frozenset[str], str]] = {
    # -- the console: sizes have names only on WB cards
    "pipelines/web/stock_reads.py": (frozenset({"wb", "tech_size"}),
                                     "the product page joins WB's size names (stg_wb__cards.tech_size): no "
                                     "generic model carries a size name yet"),
    # -- migrations: history does not change
    "migrations/legacy.py": (frozenset({"ozon", "wb", "wildberries"}),
                             "maps the `source` labels (Ozon, Wildberries) of tables written by earlier versions; "
                             "a migration describes the past, which named two marketplaces"),
    # -- the benchmark drives the sandbox of both APIs and times each source
    "benchmarks/run.py": (frozenset({"ozon", "wb", "wildberries", "chrtid", "inwayfromclient", "inwaytoclient"}),
                          "sets the sandbox's credentials and times each marketplace's parsers on answers it "
                          "builds in their shape"),
    "benchmarks/sandbox_bench.py": (frozenset({"ozon", "wb", "chrtid"}),
                                    "loads the sandbox's endpoints of both APIs"),
    # -- dbt: the registry's lists for dbt
    "dbt_project/dbt_project.yml": (frozenset({"ozon", "wb", "wildberries", "realfbs", "ym", "yandex"}),
                                    "the `marketplaces` and `stock_types` vars: the registry's lists for dbt, which "
                                    "cannot import Python (test_one_sync_path holds them equal)"),
    # -- Dagster instance configuration: YAML read by the Dagster daemon, not by our code
    "dagster.yaml": (frozenset({"ozon", "wb", "ym"}),
                     "one concurrency limit per marketplace tag (`invsync/<name>`): a full resync carries one tag per "
                     "marketplace, so a single per-value limit cannot express it"),
    "orchestration/dagster.prod.yaml": (frozenset({"ozon", "wb", "ym"}), "as dagster.yaml, for production"),
}


def _home(rel: str) -> bool:
    return any(rel == h or (h.endswith("/") and rel.startswith(h)) for h in HOME)


def _words(text: str) -> Iterator[str]:
    """The words of an identifier or a string: split on anything not a letter or digit
    (`stg_ozon__stocks` -> stg, ozon, stocks), whole snake_case names kept too for the field list."""
    for token in re.findall(r"[A-Za-z0-9_]+", text):
        low = token.lower()
        yield low
        yield from (part for part in low.split("_") if part)
        # camelCase: inWayToClient -> inwaytoclient (whole, above) is what the field list holds


def _knowledge(words: Iterator[str]) -> set[str]:
    return {w for w in words if w in NAMES or w in MARKETPLACE_FIELDS}


# Keyword arguments whose strings are text for people (OpenAPI and argparse help): prose, as a
# docstring is.
PROSE_KEYWORDS = frozenset({"description", "summary", "help"})


def python_terms(path: Path) -> dict[str, int]:
    """Marketplace words in a Python file's identifiers and strings (not comments, docstrings or
    the text of `description=` / `summary=` / `help=` arguments)."""
    found: dict[str, int] = {}
    source = path.read_text()
    lines = source.splitlines()
    previous, before = tokenize.NEWLINE, ""  # the last significant token's type, the keyword before an `=`
    prose = False  # inside the strings of a prose keyword argument
    for tok in tokenize.generate_tokens(io.StringIO(source).readline):
        if tok.type in (tokenize.COMMENT, tokenize.NL):
            continue
        if tok.type == tokenize.OP and tok.string == "=" and before in PROSE_KEYWORDS:
            prose = True
        elif tok.type != tokenize.STRING:
            prose = False
        if tok.type in (tokenize.NAME, tokenize.STRING) and not prose:
            docstring = tok.type == tokenize.STRING and previous in (tokenize.NEWLINE, tokenize.INDENT,
                                                                      tokenize.DEDENT)
            file_mode = tok.type == tokenize.STRING and tok.string.strip("\"'") in ("wb", "wb+") \
                and "open(" in lines[tok.start[0] - 1]  # "wb" is also a file mode
            if not docstring and not file_mode:
                for term in _knowledge(_words(tok.string)):
                    found.setdefault(term, tok.start[0])
        before = tok.string if tok.type == tokenize.NAME else ""
        previous = tok.type
    return found


def sql_terms(path: Path) -> dict[str, int]:
    """Marketplace words in a SQL (dbt) file, its `--` and `{# #}` comments left out."""
    text = re.sub(r"\{#.*?#\}", lambda m: "\n" * m.group(0).count("\n"), path.read_text(), flags=re.S)
    found: dict[str, int] = {}
    for n, line in enumerate(text.splitlines(), 1):
        for term in _knowledge(_words(line.split("--", 1)[0])):
            found.setdefault(term, n)
    return found


def template_terms(path: Path) -> dict[str, int]:
    """Marketplace words in a console template or script, its `{# #}`, `<!-- -->` and `//` comments left out."""
    text = re.sub(r"\{#.*?#\}|<!--.*?-->", lambda m: "\n" * m.group(0).count("\n"), path.read_text(), flags=re.S)
    found: dict[str, int] = {}
    for n, line in enumerate(text.splitlines(), 1):
        code = re.sub(r"(^|\s)//.*", "", line) if path.suffix == ".js" else line
        for term in _knowledge(_words(code)):
            found.setdefault(term, n)
    return found


def yaml_terms(path: Path) -> dict[str, int]:
    """Marketplace words in a YAML file's keys and values (`description:` is prose: not read)."""
    found: dict[str, int] = {}

    def walk(node: Any) -> None:
        if isinstance(node, dict):
            for key, value in node.items():
                for term in _knowledge(_words(str(key))):
                    found.setdefault(term, 0)
                if key != "description":
                    walk(value)
        elif isinstance(node, list):
            for value in node:
                walk(value)
        elif isinstance(node, str):
            for term in _knowledge(_words(node)):
                found.setdefault(term, 0)

    for document in yaml.safe_load_all(path.read_text()):
        walk(document)
    return found


def scanned() -> Iterator[Path]:
    """Every source and configuration file of the project outside the marketplaces' homes."""
    globs = ["pipelines/**/*.py", "orchestration/**/*.py", "expectations/**/*.py", "migrations/**/*.py",
             "benchmarks/**/*.py", "dbt_project/models/**/*.sql", "dbt_project/macros/**/*.sql",
             "dbt_project/tests/**/*.sql", "dbt_project/models/**/*.yml", "dbt_project/*.yml",
             "dagster*.yaml", "orchestration/*.yaml", "pipelines/web/templates/**/*.html",
             "pipelines/web/static/**/*.js"]
    for pattern in globs:
        for path in sorted(ROOT.glob(pattern)):
            rel = path.relative_to(ROOT).as_posix()
            if path.is_file() and not _home(rel):
                yield path


def terms(path: Path) -> dict[str, int]:
    if path.suffix == ".py":
        return python_terms(path)
    if path.suffix == ".sql":
        return sql_terms(path)
    if path.suffix in (".html", ".js"):
        return template_terms(path)
    return yaml_terms(path)


def test_no_marketplace_knowledge_outside_its_modules_and_the_registry() -> None:
    leaks = []
    for path in scanned():
        rel = path.relative_to(ROOT).as_posix()
        allowed = ALLOWED.get(rel, (frozenset(), ""))[0]
        for term, line in sorted(terms(path).items()):
            if term not in allowed:
                leaks.append(f"{rel}:{line}: {term}")
    assert leaks == [], ("marketplace knowledge outside its modules, staging models and the registry "
                         "(move it home, or, if unavoidable, add it to ALLOWED with why):\n" + "\n".join(leaks))


def test_the_allow_list_only_shrinks() -> None:
    """An entry that allows a word its file no longer uses (or a file that is gone) must be narrowed."""
    stale = []
    for rel, (allowed, why) in ALLOWED.items():
        assert why, f"{rel}: say why it is allowed"
        path = ROOT / rel
        used = set(terms(path)) if path.is_file() else set()
        if allowed - used:
            stale.append(f"{rel}: {sorted(allowed - used)} no longer used")
    assert stale == [], "strike from ALLOWED:\n" + "\n".join(stale)


def test_the_guard_sees_a_leak() -> None:
    """The scanner itself: names and fields found in code and strings, not in comments or docstrings."""
    import tempfile

    with tempfile.TemporaryDirectory() as tmp:
        py = Path(tmp) / "leak.py"
        py.write_text('"""Ozon and WB are fine in a docstring."""\n# wb in a comment\n'
                      'x = "wb"\nif m.name == "ozon": pass\nstg = f"stg_wildberries__{y}"\nz = row["nmID"]\n'
                      'open(p, "wb")\nq = Query(description="Ozon product_id, WB nmId")\n'
                      'p = parser.add_argument("--x", help="Ozon " "or WB", default="wb")\n')
        assert set(python_terms(py)) == {"wb", "ozon", "wildberries", "nmid"}
        sql = Path(tmp) / "leak.sql"
        sql.write_text("-- ozon here is a comment\n{# and wb here #}\nselect chrt_id from {{ ref('stg_wb__cards') }}\n")
        assert set(sql_terms(sql)) == {"chrt_id", "wb"}
        yml = Path(tmp) / "leak.yml"
        yml.write_text("models:\n  - name: x\n    description: Ozon and WB\n    tests:\n"
                       "      - accepted_values: {values: ['ozon', 'wb']}\n")
        assert set(yaml_terms(yml)) == {"ozon", "wb"}
