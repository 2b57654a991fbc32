"""Alert incidents: what to tell people, and telling them once.

An incident has a key (e.g. `run:ozon:land_ozon:<error signature>`, `freshness:wb:stale`).
The open incidents live in the sensor's cursor: an incident that is already open is not
mailed again, however many ticks or failed runs repeat it, until the condition clears (a
successful run, a fresh sync, a passing check). That is what keeps a 401 that fails every
6 hours from becoming a mail storm, while a different error, step or escalation (stale →
critical) is a new incident and is mailed.
"""

from __future__ import annotations

import html as html_lib
import json
import re
from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import Any, Callable

from orchestration.mailer import AlertMailer, MailError


@dataclass
class Incident:
    key: str
    severity: str  # ERROR | WARNING
    title: str
    marketplace: str  # ozon | wb | all | -
    step: str
    error: str
    details: dict[str, str] = field(default_factory=dict)
    hint: str = ""


def error_signature(message: str) -> str:
    """The error without what changes between repeats, for incident keys: ids, long numbers,
    and the endpoint (a revoked key fails on whichever endpoint dlt happens to call first)."""
    text = re.sub(r"[0-9a-f]{8}-[0-9a-f-]{27,}", "<id>", message.lower())
    text = re.sub(r"(?<![\w.])/[\w./{}-]+", "<path>", text)
    text = re.sub(r"\d{4,}(?:\.\d+)?", "<n>", text)
    return re.sub(r"\s+", " ", text).strip()[:160]


class Ledger:
    """The sensor cursor: open incidents plus the sensor's own read positions."""

    def __init__(self, cursor: str | None):
        data = json.loads(cursor) if cursor else {}
        self.open: dict[str, dict[str, Any]] = data.get("open", {})
        self.position: dict[str, Any] = data.get("position", {})

    def dumps(self) -> str:
        return json.dumps({"open": self.open, "position": self.position}, sort_keys=True)

    def is_open(self, key: str) -> bool:
        return key in self.open

    def resolve(self, predicate: Callable[[str, dict[str, Any]], bool]) -> list[str]:
        closed = [key for key, info in self.open.items() if predicate(key, info)]
        for key in closed:
            del self.open[key]
        return closed


def render(incident: Incident, mask: Callable[[str], str]) -> tuple[str, str, str]:
    """(subject, text, html) of an alert; every part passes through `Settings.mask`."""
    subject = mask(f"[invsync] {incident.severity} {incident.marketplace}: {incident.title}")
    rows = {"Marketplace": incident.marketplace, "Step": incident.step, "Error": incident.error,
            **incident.details, "Detected at": datetime.now(timezone.utc).strftime("%Y-%m-%d %H:%M UTC")}
    rows = {k: mask(str(v)) for k, v in rows.items()}
    hint = mask(incident.hint)
    text = "\n".join(f"{k}: {v}" for k, v in rows.items()) + (f"\n\n{hint}\n" if hint else "\n")
    cells = "".join(f"<tr><th align='left'>{html_lib.escape(k)}</th><td>{html_lib.escape(v)}</td></tr>"
                    for k, v in rows.items())
    body = (f"<html><body><h3>{html_lib.escape(subject)}</h3><table cellpadding='4'>{cells}</table>"
            + (f"<p>{html_lib.escape(hint)}</p>" if hint else "") + "</body></html>")
    return subject, text, body


def notify(ledger: Ledger, incident: Incident, mailer: AlertMailer, mask: Callable[[str], str], log: Any) -> bool:
    """Mail a new incident once. Returns True when it was opened now.

    When SMTP is not configured the incident is still opened (and logged), so the log is not
    flooded either; when sending fails it stays closed and is retried on the next tick.
    """
    if ledger.is_open(incident.key):
        return False
    subject, text, body = render(incident, mask)
    try:
        sent = mailer.send(subject, text, body)
    except MailError as exc:
        log.error(f"alert not sent, will retry: {exc}")
        return False
    if not sent:
        log.warning(f"alert (SMTP_HOST/ALERT_EMAIL_TO not set, not mailed): {subject}")
    ledger.open[incident.key] = {"marketplace": incident.marketplace, "step": incident.step,
                                 "since": datetime.now(timezone.utc).isoformat(timespec="seconds")}
    return True
