"""The `invsync` command line. Each subcommand is a thin shell over a module that does the work."""

from __future__ import annotations

import argparse
import json
import sys
from typing import TYPE_CHECKING, Callable

from pipelines import logs
from pipelines.config import ConfigError, Settings, load_settings
from pipelines.exits import Exit, exit_for
from pipelines.marketplaces import MARKETPLACES, NAMES, selected

if TYPE_CHECKING:
    from pipelines.sandbox import SandboxOptions


def _settings() -> Settings:
    return load_settings()


def nothing_to_sync(settings: Settings, which: str) -> str | None:
    """Why a sync of `which` would do nothing (no account of a selected marketplace has
    credentials), else None."""
    markets = selected(which)
    if any(settings.syncable_accounts(m) for m in markets):
        return None
    missing = "; ".join(f"{m.name}: {m.skip_reason(settings)}" for m in markets)
    return f"nothing to sync: no marketplace has credentials ({missing})"


def new_warehouse_notice(settings: Settings) -> str | None:
    """The line a sync says before it creates a DuckDB warehouse (a typo in WAREHOUSE_URL shows here)."""
    path = settings.warehouse.path
    if not settings.warehouse.is_duckdb or path is None or path.exists():
        return None
    return f"no DuckDB warehouse at {path} yet: creating a new one (if you expected data there, check WAREHOUSE_URL)"


def account_rows(settings: Settings) -> list[dict[str, str]]:
    """Each seller account, where its credentials come from and whether a sync reads it."""
    from pipelines.marketplaces import get

    rows = []
    for account in settings.accounts:
        reason = get(account.marketplace).skip_reason(settings.for_account(account))
        state = "syncs" if reason is None else f"not configured ({reason})"
        rows.append({"marketplace": account.marketplace, "account": account.id, "label": account.label,
                     "credentials": account.origin, "state": state})
    return rows


def cmd_accounts(args: argparse.Namespace) -> int:
    rows = account_rows(_settings())
    if args.json:
        print(json.dumps(rows, ensure_ascii=False, indent=2))
        return Exit.OK
    for row in rows:
        print(f"{row['marketplace']:<6} {row['account']:<16} {row['label']:<24} {row['state']}\n"
              f"{'':<24}credentials: {row['credentials']}")
    return Exit.OK


def cmd_sync(args: argparse.Namespace) -> int:
    import getpass

    from pipelines.sync import run_sync

    settings = _settings()
    idle = nothing_to_sync(settings, args.marketplace)
    if idle:
        if args.allow_unconfigured:
            print(idle)
            return Exit.OK
        print(f"invsync: {idle}. Set them (environment or .env), or add --allow-unconfigured "
              "when nothing to do is what you mean", file=sys.stderr)
        return Exit.NOTHING_TO_SYNC
    notice = new_warehouse_notice(settings)
    if notice:
        print(f"invsync: {notice}", file=sys.stderr)
    override = f"{getpass.getuser()}: {args.force_publish}" if args.force_publish else None
    accounts = [a for value in args.account for a in value.split(",") if a] if args.account else None
    result = run_sync(settings, which=args.marketplace, full=args.full, override=override, accounts=accounts)
    print(result.summary())
    if result.timings:
        print("  steps: " + ", ".join(f"{phase} {seconds:.1f} s" for phase, seconds in result.timings.items()))
    return Exit.OK if result.ok else Exit.FAILED


def cmd_demo(args: argparse.Namespace) -> int:
    from pipelines.demo import run_demo

    return run_demo(products=args.products, seed=args.seed)


def cmd_sandbox(args: argparse.Namespace) -> int:
    from pipelines.sandbox import serve_forever

    serve_forever(args.host, args.port, sandbox_options(args))
    return 0


def sandbox_options(args: argparse.Namespace) -> "SandboxOptions":
    """The sandbox the command line asks for; a bad option is a configuration error (exit 2)."""
    from pipelines.sandbox import SandboxOptions

    accounts = tuple(a.strip() for a in args.accounts.split(",") if a.strip())
    try:
        return SandboxOptions(products=args.products, seed=args.seed, rate_limit_scale=args.rate_limit_scale,
                              tick_changes=args.tick_changes, accounts=accounts)
    except ValueError as exc:
        raise ConfigError(f"--accounts: {exc}") from None


def cmd_migrate(args: argparse.Namespace) -> int:
    from migrations import runner
    from pipelines.warehouse import warehouse_for

    wh = warehouse_for(_settings().warehouse)
    if args.action == "status":
        print(runner.status(wh))
        return 0
    if args.drop_data and args.action != "down":
        print(f"invsync: --drop-data only applies to `migrate down`, not `migrate {args.action}`", file=sys.stderr)
        return 2
    try:
        if args.action == "up":
            report = runner.up(wh, args.target)
        else:
            report = runner.down(wh, args.target, drop_data=args.drop_data)
    except runner.MigrationRefused as exc:
        # What was done before the refusal (usually nothing: every step is checked first), then why.
        if exc.report is not None:
            print(exc.report)
        print(f"migrate {args.action} refused, nothing more was changed:")
        for problem in exc.problems:
            print(f"  - {problem}")
        for line in exc.advice:
            print(line)
        if exc.losses and len(exc.problems) == len(exc.losses):
            total = sum(exc.losses.values())
            lost = ", ".join(f"{table} {n}" for table, n in exc.losses.items())
            reason = f"it would delete {total} row(s) ({lost}); back them up, then add --drop-data to drop them"
        else:
            reason = f"{len(exc.problems)} problem(s), see above"
        print(f"invsync: migrate {args.action} refused: {reason}", file=sys.stderr)
        return 1
    print(report)
    return 0


def cmd_status(args: argparse.Namespace) -> int:
    from pipelines.status import run_status

    return run_status(_settings(), as_json=args.json)


def cmd_report(args: argparse.Namespace) -> int:
    from pipelines.report import run_report

    return run_report(_settings(), html_path=args.html)


def token_entry(role: str, digest: str, accounts: str | None) -> str:
    """The INVSYNC_API_TOKENS entry of a new token, limited to `accounts` (`ID,ID`) when given;
    checked by the parser `invsync serve` reads it with, so a bad id fails here (exit 2), before
    a token is shown."""
    from pipelines.config import parse_api_tokens

    entry = f"{role}:{digest}"
    if accounts is not None:
        entry += ":accounts=" + "+".join(a.strip() for a in accounts.split(","))
    try:
        parse_api_tokens(entry)
    except ConfigError as exc:
        raise ConfigError(f"--accounts: {exc}") from None
    return entry


def cmd_serve(args: argparse.Namespace) -> int:
    from pipelines.web.security import hash_token, new_token

    if args.accounts is not None and not args.new_token:
        raise ConfigError("--accounts goes with --new-token ROLE: it limits the new token to those accounts")
    if args.new_token:
        token = new_token()
        entry = token_entry(args.new_token, hash_token(token), args.accounts)
        print(f"token (give it to its holder; it is shown only now): {token}")
        print(f"INVSYNC_API_TOKENS entry: {entry}")
        return 0
    if args.hash_token:
        # From standard input, never from the command line (shell history, `ps`).
        token = sys.stdin.readline().strip()
        if not token:
            print("invsync: --hash-token reads the token from standard input; got none", file=sys.stderr)
            return 2
        print(hash_token(token))
        return 0
    from pipelines.warehouse import WarehouseBusy, warehouse_for
    from pipelines.web import serve
    from pipelines.web.app import check_can_serve

    settings = _settings()
    check_can_serve(settings)
    try:  # a reader: a missing warehouse or an unreachable server stops it here, with its exit code
        warehouse_for(settings.warehouse, read_only=True).table_exists("sync_logs")
    except WarehouseBusy:
        pass  # a sync is writing the DuckDB file: the service reads after it
    serve(settings, host=args.host, port=args.port)
    return 0


def build_parser() -> argparse.ArgumentParser:
    from pipelines.demo import DEMO_PRODUCTS, DEMO_SEED  # light: the sandbox and the sync load on use

    labels = " and ".join(m.label for m in MARKETPLACES)  # the registry's: no marketplace is named here
    parser = argparse.ArgumentParser(prog="invsync", description=f"Marketplace inventory sync for {labels}.")
    parser.add_argument("-v", "--verbose", action="store_true",
                        help="log everything, the libraries' own messages (dbt, dlt, Great Expectations) included")
    sub = parser.add_subparsers(dest="command", required=True)

    p = sub.add_parser("demo", help="start the sandbox, run a full sync into DuckDB, print a summary")
    p.add_argument("--products", type=int, default=DEMO_PRODUCTS)
    p.add_argument("--seed", type=int, default=DEMO_SEED)
    p.set_defaults(func=cmd_demo)

    p = sub.add_parser("sync", help="land raw data, build inventory_data, run the checks")
    p.add_argument("--marketplace", choices=[*NAMES, "all"], default="all")
    p.add_argument("--account", action="append", metavar="ID",
                   help="sync only these seller accounts (repeat, or ID,ID; INVSYNC_ACCOUNTS_FILE); default: every account")
    p.add_argument("--full", action="store_true", help="full resync: re-read complete snapshots")
    p.add_argument("--force-publish", metavar="REASON", help="publish even if a critical check fails (recorded with your user name)")
    p.add_argument("--allow-unconfigured", action="store_true",
                   help="exit 0 when no selected marketplace has credentials (else exit 3: a lost .env is an error)")
    p.set_defaults(func=cmd_sync)

    p = sub.add_parser("status", help="freshness and last outcome per marketplace (exit 0 fresh, 1 stale, 2 critical)")
    p.add_argument("--json", action="store_true")
    p.set_defaults(func=cmd_status)

    p = sub.add_parser("accounts", help="the seller accounts (INVSYNC_ACCOUNTS_FILE and the single-account variables)")
    p.add_argument("--json", action="store_true")
    p.set_defaults(func=cmd_accounts)

    p = sub.add_parser("report", help="stock report (text, or a self-contained HTML page)")
    p.add_argument("--html", metavar="PATH")
    p.set_defaults(func=cmd_report)

    p = sub.add_parser("sandbox", help=f"serve the local emulator of the {labels} APIs")
    p.add_argument("--host", default="127.0.0.1")
    p.add_argument("--port", type=int, default=8765)
    # The demo's account by default: `invsync sync` against it continues what `make run` synced.
    p.add_argument("--products", type=int, default=DEMO_PRODUCTS)
    p.add_argument("--seed", type=int, default=DEMO_SEED)
    p.add_argument("--rate-limit-scale", type=float, default=1.0, help="scale the emulated rate limits (0 = off)")
    p.add_argument("--tick-changes", type=float, default=0.05, help="share of stock rows changed per time step")
    p.add_argument("--accounts", default="", metavar="ID,ID",
                   help="extra seller accounts besides the default one (their credentials are printed)")
    p.set_defaults(func=cmd_sandbox)

    p = sub.add_parser("serve", help="the REST API and web console (tokens in INVSYNC_API_TOKENS)")
    p.add_argument("--host", default="127.0.0.1", help="address to listen on (default loopback; use a TLS proxy beyond it)")
    p.add_argument("--port", type=int, default=8080)
    p.add_argument("--hash-token", action="store_true", help="print the SHA-256 of a token read from standard input")
    p.add_argument("--new-token", choices=["viewer", "operator"], metavar="ROLE",
                   help="print a new random token and its INVSYNC_API_TOKENS entry (viewer or operator)")
    p.add_argument("--accounts", default=None, metavar="ID,ID",
                   help="with --new-token: the token sees only these seller accounts (entry ends `:accounts=ID+ID`; "
                        "such a token may not start syncs)")
    p.set_defaults(func=cmd_serve)

    p = sub.add_parser("migrate", help="versioned schema migrations of the warehouse's own tables (adopts a legacy importer's tables)")
    p.add_argument("action", choices=["up", "down", "status"])
    p.add_argument("--target", type=int, default=None, help="version to migrate up or down to")
    p.add_argument("--drop-data", action="store_true",
                   help="let `down` drop tables that hold rows (sync history, validation results); without it, it refuses")
    p.set_defaults(func=cmd_migrate)
    return parser


def fail(args: argparse.Namespace, code: int, message: str, kind: str | None = None) -> int:
    """One line on standard error; with `--json`, the same as JSON on standard output (scripts parse it)."""
    print(f"invsync: {message}", file=sys.stderr)
    if getattr(args, "json", False):
        kind = kind or (Exit(code).kind if code in Exit._value2member_map_ else "error")
        print(json.dumps({"exit_code": code, "error": message, "error_kind": kind, "marketplaces": []},
                         ensure_ascii=False))
    return code


def _masked(exc: BaseException) -> str:
    try:
        return load_settings().mask(str(exc))
    except ConfigError:
        return str(exc)


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    restore_logging = logs.setup(args.verbose)
    try:
        return _run(args)
    finally:
        restore_logging()


def _run(args: argparse.Namespace) -> int:
    """The command, with every failure turned into its exit code and one line (README, Exit codes)."""
    func: Callable[[argparse.Namespace], int] = args.func
    try:
        return int(func(args))
    except (Exception, KeyboardInterrupt) as exc:  # noqa: BLE001 - one-line reason, secrets masked
        code = exit_for(exc)
        if isinstance(exc, ConfigError):
            return fail(args, Exit.CRITICAL, f"configuration error: {exc}", kind="configuration_error")
        if code == Exit.INTERRUPTED:
            return fail(args, code, "interrupted")
        if code is not None:
            return fail(args, code, _masked(exc))
        # Anything else: a failure, and for `status` critical (1 would read as merely stale).
        generic = Exit.CRITICAL if args.command == "status" else Exit.FAILED
        return fail(args, generic, f"{type(exc).__name__}: {_masked(exc)}", kind="error")


if __name__ == "__main__":
    sys.exit(main())
