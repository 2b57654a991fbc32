"""Masking secrets: the one rule for keeping credentials out of logs, errors and e-mails.

Why a module of its own: the HTTP client, the configuration, the sync core, the web service and
the Dagster definitions all mask, and the rule must not depend on any of them (it used to live in
`config`, which tied the API client to the configuration and the registry in an import circle).

Which values are secret is said where each value is declared: a dataclass field built with
`secret_field()` (or carrying `SECRET` in its metadata). `secret_values()` collects them from a
configuration object and the groups nested in it, so a new credential (a third marketplace's
key, say) is masked by being declared, with no list to keep in step. This module imports
nothing of the project.
"""

from __future__ import annotations

import re
from dataclasses import field, fields, is_dataclass
from typing import Any, Iterable

# Field metadata that marks a value as secret (masked everywhere, excluded from repr).
SECRET: dict[str, bool] = {"secret": True}

# A password inside a URL (`scheme://user:password@host`), masked even when nobody declared it.
_URL_PASSWORD = re.compile(r"(://[^:/@\s]+):[^@\s]+@")


def secret_field(default: str = "") -> Any:
    """A dataclass field holding a secret: left out of repr, collected by `secret_values()`."""
    return field(default=default, repr=False, metadata=SECRET)


def is_secret(f: Any) -> bool:
    """Whether a dataclass field was declared secret."""
    return bool(f.metadata.get("secret"))


def secret_values(config: Any) -> list[str]:
    """Every non-empty secret held by `config` (a dataclass) and the dataclasses nested in it."""
    found: list[str] = []
    for f in fields(config):
        value = getattr(config, f.name)
        if is_secret(f):
            if value:
                found.append(str(value))
        elif is_dataclass(value) and not isinstance(value, type):
            found.extend(secret_values(value))
    return found


def mask_value(value: str) -> str:
    """Show that a secret is set without showing it (its last two characters when it is long)."""
    if not value:
        return "<not set>"
    return "***" + (value[-2:] if len(value) >= 12 else "")


def mask_secrets(text: str, secrets: Iterable[str]) -> str:
    """Replace every secret that appears in `text` with `***`, and any password inside a URL.

    Longest first, so a secret that contains another is masked whole, not in pieces."""
    for secret in sorted(secrets, key=len, reverse=True):
        if secret:
            text = text.replace(secret, "***")
    # Belt and braces: never print a password that sits in a URL.
    return _URL_PASSWORD.sub(r"\1:***@", text)
