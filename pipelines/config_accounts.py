"""Seller accounts: which credentials each marketplace's syncs use (INVSYNC_ACCOUNTS_FILE).

A seller with several cabinets on one marketplace (one per legal entity), or an agency with
its clients' cabinets, lists them in an accounts file (TOML, `accounts.example.toml`). Each
account has a short id, its marketplace, a label for people, and where its credentials come
from: environment variables it names (`env`), or a secrets file readable by its owner only
(`secrets_file`). The single-account variables of a marketplace (its credentials, as its
package declares them) stay what they were: the account `default` of that marketplace.

Part of the one reader of configuration: `pipelines.config` hands this module the variables it
read and keeps the accounts on `Settings.accounts`. Every mistake is one line naming the file,
the account and the fix, raised before any work; no message ever repeats a credential.
"""

from __future__ import annotations

import os
import re
import stat
import tomllib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Mapping

from pipelines.config_sections import ACCOUNT_ID, ACCOUNT_ID_RULE, ConfigError
from pipelines.marketplaces import MARKETPLACES, Marketplace
from pipelines.marketplaces.base import DEFAULT_ACCOUNT

_ENV_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
_KEYS = {"id", "marketplace", "label", "env", "secrets_file"}


def account_key(marketplace: str, account: str = DEFAULT_ACCOUNT) -> str:
    """How people and results name one account: the marketplace alone for its `default` account,
    as before accounts existed (`ozon`), `ozon/acme` for another. The sync's results, status,
    findings, alerts and the weekly mail all say it this way."""
    return marketplace if account == DEFAULT_ACCOUNT else f"{marketplace}/{account}"


@dataclass(frozen=True)
class Account:
    """One seller account on one marketplace, with the values of its credential variables."""

    id: str  # unique in the installation; `default` is the single-account variables' account
    marketplace: str  # a registered marketplace's name
    label: str  # for people: reports, e-mails, the console
    # The marketplace's credential variables (its required and secret ones) -> this account's values.
    credentials: Mapping[str, str] = field(default_factory=dict, repr=False)
    origin: str = "environment"  # where the credentials come from, for people (never a value)

    @property
    def is_default(self) -> bool:
        return self.id == DEFAULT_ACCOUNT


def credential_variables(market: Marketplace) -> tuple[str, ...]:
    """The variables an account brings (its credentials); the rest (API hosts, options) are the
    installation's and shared by every account of the marketplace."""
    return tuple(v.name for v in market.variables if v.required or v.secret)


def default_accounts(values: Mapping[str, str]) -> list[Account]:
    """The account `default` of every marketplace, from the single-account variables (`values`,
    as `pipelines.config` read them). It exists even when they are empty: the marketplace is then
    "not configured", as before accounts existed."""
    return [Account(DEFAULT_ACCOUNT, m.name, m.label, {n: values.get(n, "") for n in credential_variables(m)})
            for m in MARKETPLACES]


def read_accounts_file(path: Path, env: Mapping[str, str], values: Mapping[str, str]) -> list[Account]:
    """The accounts listed in `path`, each checked: a known marketplace, a unique id, every
    credential present (and passing the marketplace's own checks), no cabinet listed twice."""
    if not path.is_file():
        raise ConfigError(f"INVSYNC_ACCOUNTS_FILE {path} does not exist (or is not a file)")
    try:
        document = tomllib.loads(path.read_text(encoding="utf-8"))
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
        raise ConfigError(f"accounts file {path} is not valid TOML: {exc}") from None
    unknown = set(document) - {"account"}
    if unknown:
        raise ConfigError(f"accounts file {path}: unknown section(s) {', '.join(sorted(unknown))}; "
                          "list each account as an [[account]] table")
    entries = document.get("account", [])
    if not isinstance(entries, list):
        raise ConfigError(f"accounts file {path}: write each account as an [[account]] table")
    accounts: list[Account] = []
    for number, entry in enumerate(entries, start=1):
        account = _account(path, number, entry, env, values)
        if any(a.id == account.id for a in accounts):
            raise ConfigError(f"accounts file {path}: account id '{account.id}' is listed twice")
        accounts.append(account)
    return accounts


def check_distinct(accounts: list[Account]) -> None:
    """Two accounts of a marketplace with the same credentials would sync one cabinet twice
    (and each would look like the other's changes)."""
    seen: dict[tuple[str, tuple[tuple[str, str], ...]], str] = {}
    for account in accounts:
        creds = tuple(sorted(account.credentials.items()))
        if not any(v for _, v in creds):
            continue
        key = (account.marketplace, creds)
        if key in seen:
            raise ConfigError(f"accounts '{seen[key]}' and '{account.id}' ({account.marketplace}) have the same "
                              "credentials: one cabinet would be synced twice; list it once")
        seen[key] = account.id


def _account(path: Path, number: int, entry: Any, env: Mapping[str, str], values: Mapping[str, str]) -> Account:
    where = f"accounts file {path}, account {number}"
    if not isinstance(entry, dict):
        raise ConfigError(f"{where}: write it as an [[account]] table")
    unknown = set(entry) - _KEYS
    if unknown:
        raise ConfigError(f"{where}: unknown key(s) {', '.join(sorted(unknown))} (known: {', '.join(sorted(_KEYS))})")
    account_id = str(entry.get("id", "")).strip()
    if not ACCOUNT_ID.fullmatch(account_id):
        raise ConfigError(f"{where}: id '{account_id}' must be {ACCOUNT_ID_RULE}")
    where = f"accounts file {path}, account '{account_id}'"
    if account_id == DEFAULT_ACCOUNT:
        single = ", ".join(m.credentials_hint for m in MARKETPLACES)
        raise ConfigError(f"{where}: 'default' is the account of the single-account variables "
                          f"({single}); give this one another id")
    names = {m.name: m for m in MARKETPLACES}
    market = names.get(str(entry.get("marketplace", "")).strip())
    if market is None:
        raise ConfigError(f"{where}: marketplace '{entry.get('marketplace', '')}' is not one of: {', '.join(names)}")
    label = str(entry.get("label", "")).strip() or account_id
    if ("env" in entry) == ("secrets_file" in entry):
        raise ConfigError(f"{where}: name where its credentials come from, either `env` (the environment "
                          "variables holding them) or `secrets_file`, not both")
    wanted = credential_variables(market)
    if "env" in entry:
        credentials = _from_env(where, entry["env"], wanted, env)
        origin = "environment variables " + ", ".join(str(entry["env"][n]).strip() for n in wanted)
    else:
        secrets = Path(str(entry["secrets_file"]))
        secrets = secrets if secrets.is_absolute() else path.parent / secrets
        credentials, origin = _from_secrets_file(where, secrets, wanted), f"secrets file {secrets}"
    if market.check_values:  # the marketplace's own checks, on this account's values over the installation's
        shared = {v.name: values.get(v.name, v.default) for v in market.variables}
        try:
            market.check_values({**shared, **credentials})
        except ConfigError as exc:
            raise ConfigError(f"{where}: {exc}") from None
    return Account(account_id, market.name, label, credentials, origin)


def _from_env(where: str, names: Any, wanted: tuple[str, ...], env: Mapping[str, str]) -> dict[str, str]:
    if not isinstance(names, dict):
        raise ConfigError(f"{where}: `env` maps each credential to a variable, e.g. "
                          f"env = {{ {wanted[0]} = \"ACME_{wanted[0]}\" }}")
    _only_credentials(where, names, wanted)
    credentials = {}
    for name in wanted:
        variable = str(names.get(name, "")).strip()
        if not variable:
            raise ConfigError(f"{where}: `env` names no variable for {name}")
        if not _ENV_NAME.fullmatch(variable):
            raise ConfigError(f"{where}: `env` {name} = '{variable}' is not an environment variable name")
        value = env.get(variable, "").strip()
        if not value:
            raise ConfigError(f"{where}: {name}: the environment variable {variable} is not set")
        credentials[name] = value
    return credentials


def _from_secrets_file(where: str, path: Path, wanted: tuple[str, ...]) -> dict[str, str]:
    try:
        info = path.stat()
    except OSError:
        raise ConfigError(f"{where}: secrets file {path} does not exist") from None
    if not stat.S_ISREG(info.st_mode):
        raise ConfigError(f"{where}: secrets file {path} is not a file")
    if info.st_mode & 0o077:
        raise ConfigError(f"{where}: secrets file {path} can be read by others (mode {stat.S_IMODE(info.st_mode):o}): "
                          f"chmod 600 {path}")
    if not os.access(path, os.R_OK):
        raise ConfigError(f"{where}: secrets file {path} cannot be read by this user")
    try:
        document = tomllib.loads(path.read_text(encoding="utf-8"))
    except (tomllib.TOMLDecodeError, UnicodeDecodeError):
        # the parser's message may quote a line of the file, that is, a credential
        raise ConfigError(f"{where}: secrets file {path} is not valid TOML (NAME = \"value\" lines)") from None
    _only_credentials(where, document, wanted)
    credentials = {}
    for name in wanted:
        value = document.get(name)
        if not isinstance(value, (str, int)) or not str(value).strip():
            raise ConfigError(f"{where}: secrets file {path} has no {name}")
        credentials[name] = str(value).strip()
    return credentials


def _only_credentials(where: str, given: Mapping[str, Any], wanted: tuple[str, ...]) -> None:
    extra = set(given) - set(wanted)
    if extra:
        raise ConfigError(f"{where}: {', '.join(sorted(extra))} is not a credential of this marketplace "
                          f"(its credentials: {', '.join(wanted)}; hosts and options are the installation's)")
