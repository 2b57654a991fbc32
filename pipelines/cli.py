"""The `invsync` command line. Each subcommand is a thin shell over a module that does the work."""

from __future__ import annotations

import argparse
import logging
import sys
from typing import Callable

from pipelines.config import ConfigError, Settings, load_settings
from pipelines.marketplaces import NAMES


def _settings() -> Settings:
    return load_settings()


def cmd_sync(args: argparse.Namespace) -> int:
    import getpass

    from pipelines.sync import run_sync

    override = f"{getpass.getuser()}: {args.force_publish}" if args.force_publish else None
    result = run_sync(_settings(), which=args.marketplace, full=args.full, override=override)
    print(result.summary())
    return 0 if result.ok else 1


def cmd_demo(args: argparse.Namespace) -> int:
    from pipelines.demo import run_demo

    return run_demo(products=args.products, seed=args.seed)


def cmd_sandbox(args: argparse.Namespace) -> int:
    from pipelines.sandbox import SandboxOptions, serve_forever

    options = SandboxOptions(products=args.products, seed=args.seed, rate_limit_scale=args.rate_limit_scale,
                             tick_changes=args.tick_changes)
    serve_forever(args.host, args.port, options)
    return 0


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


def cmd_serve(args: argparse.Namespace) -> int:
    from pipelines.web.security import hash_token, new_token

    if args.new_token:
        token = new_token()
        print(f"token (give it to its holder; it is shown only now): {token}")
        print(f"INVSYNC_API_TOKENS entry: {args.new_token}:{hash_token(token)}")
        return 0
    if args.hash_token:
        # From standard input, never from the command line (shell history, `ps`).
        token = sys.stdin.readline().strip()
        if not token:
            print("invsync: --hash-token reads the token from standard input; got none", file=sys.stderr)
            return 2
        print(hash_token(token))
        return 0
    from pipelines.web import serve

    serve(_settings(), host=args.host, port=args.port)
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="invsync", description="Marketplace inventory sync for Ozon and Wildberries.")
    parser.add_argument("-v", "--verbose", action="store_true", help="log progress and retries")
    sub = parser.add_subparsers(dest="command", required=True)

    p = sub.add_parser("demo", help="start the sandbox, run a full sync into DuckDB, print a summary")
    p.add_argument("--products", type=int, default=300)
    p.add_argument("--seed", type=int, default=42)
    p.set_defaults(func=cmd_demo)

    p = sub.add_parser("sync", help="land raw data, build inventory_data, run the checks")
    p.add_argument("--marketplace", choices=[*NAMES, "all"], default="all")
    p.add_argument("--full", action="store_true", help="full resync: re-read complete snapshots")
    p.add_argument("--force-publish", metavar="REASON", help="publish even if a critical check fails (recorded with your user name)")
    p.set_defaults(func=cmd_sync)

    p = sub.add_parser("status", help="freshness and last outcome per marketplace (exit 0 fresh, 1 stale, 2 critical)")
    p.add_argument("--json", action="store_true")
    p.set_defaults(func=cmd_status)

    p = sub.add_parser("report", help="stock report (text, or a self-contained HTML page)")
    p.add_argument("--html", metavar="PATH")
    p.set_defaults(func=cmd_report)

    p = sub.add_parser("sandbox", help="serve the local emulator of the Ozon and WB APIs")
    p.add_argument("--host", default="127.0.0.1")
    p.add_argument("--port", type=int, default=8765)
    p.add_argument("--products", type=int, default=1000)
    p.add_argument("--seed", type=int, default=42)
    p.add_argument("--rate-limit-scale", type=float, default=1.0, help="scale the emulated rate limits (0 = off)")
    p.add_argument("--tick-changes", type=float, default=0.05, help="share of stock rows changed per time step")
    p.set_defaults(func=cmd_sandbox)

    p = sub.add_parser("serve", help="the REST API and web console (tokens in INVSYNC_API_TOKENS)")
    p.add_argument("--host", default="127.0.0.1", help="address to listen on (default loopback; use a TLS proxy beyond it)")
    p.add_argument("--port", type=int, default=8080)
    p.add_argument("--hash-token", action="store_true", help="print the SHA-256 of a token read from standard input")
    p.add_argument("--new-token", choices=["viewer", "operator"], metavar="ROLE",
                   help="print a new random token and its INVSYNC_API_TOKENS entry (viewer or operator)")
    p.set_defaults(func=cmd_serve)

    p = sub.add_parser("migrate", help="versioned schema migrations of the warehouse's own tables (adopts a legacy importer's tables)")
    p.add_argument("action", choices=["up", "down", "status"])
    p.add_argument("--target", type=int, default=None, help="version to migrate up or down to")
    p.add_argument("--drop-data", action="store_true",
                   help="let `down` drop tables that hold rows (sync history, validation results); without it, it refuses")
    p.set_defaults(func=cmd_migrate)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    logging.basicConfig(
        level=logging.INFO if args.verbose else logging.WARNING,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
    )
    func: Callable[[argparse.Namespace], int] = args.func
    try:
        return func(args)
    except ConfigError as exc:
        print(f"invsync: configuration error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("invsync: interrupted", file=sys.stderr)
        return 130
    except Exception as exc:  # noqa: BLE001 - one-line reason, secrets masked
        try:
            message = load_settings().mask(str(exc))
        except ConfigError:
            message = str(exc)
        print(f"invsync: {type(exc).__name__}: {message}", file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())
