"""Email over SMTP for alerts and the weekly report.

The SMTP settings are `Settings.smtp` (SMTP_HOST, SMTP_PORT, SMTP_USER, SMTP_PASSWORD,
SMTP_TLS = none|starttls|ssl, ALERT_EMAIL_FROM, ALERT_EMAIL_TO comma-separated; validated by
`pipelines.config`), read when a mail is sent, so a password never sits in Dagster's resource
config or UI. Without SMTP_HOST or ALERT_EMAIL_TO nothing is sent and the caller logs that
alerts are off.
"""

from __future__ import annotations

import smtplib
import ssl
from email import policy
from email.message import EmailMessage
from email.utils import formatdate, make_msgid
from typing import Mapping

from dagster import ConfigurableResource

from pipelines.config import Settings, SmtpSettings, load_settings


class MailError(RuntimeError):
    """Sending failed; the message never contains the SMTP password."""


def build_message(smtp: SmtpSettings, subject: str, text: str, html: str | None = None,
                  images: Mapping[str, bytes] | None = None, attachments: Mapping[str, str] | None = None) -> EmailMessage:
    """A text/HTML message; `images` (content id -> PNG) are attached inline for `cid:` links,
    `attachments` (file name -> HTML page) as files."""
    # Headers fold only beyond RFC 5322's 998 characters: Python folds a long subject before
    # its first word, and many clients then show it with a leading space.
    msg = EmailMessage(policy=policy.default.clone(max_line_length=998))
    msg["Subject"] = subject
    msg["From"] = smtp.sender
    msg["To"] = ", ".join(smtp.recipients)
    msg["Date"] = formatdate(localtime=False)
    msg["Message-ID"] = make_msgid(domain="invsync")
    msg.set_content(text)
    if html is not None:
        msg.add_alternative(html, subtype="html")
        html_part = msg.get_payload()[-1]
        for cid, png in (images or {}).items():
            html_part.add_related(png, maintype="image", subtype="png", cid=f"<{cid}>", filename=f"{cid}.png")
    for name, page in (attachments or {}).items():
        msg.add_attachment(page, subtype="html", filename=name)
    return msg


def send_message(smtp: SmtpSettings, msg: EmailMessage, timeout: float = 30.0) -> None:
    try:
        if smtp.tls == "ssl":
            client: smtplib.SMTP = smtplib.SMTP_SSL(smtp.host, smtp.port, timeout=timeout,
                                                    context=ssl.create_default_context())
        else:
            client = smtplib.SMTP(smtp.host, smtp.port, timeout=timeout)
        with client:
            if smtp.tls == "starttls":
                client.starttls(context=ssl.create_default_context())
            if smtp.user:
                client.login(smtp.user, smtp.password)
            client.send_message(msg)
    except (OSError, smtplib.SMTPException) as exc:
        reason = str(exc).replace(smtp.password, "***") if smtp.password else str(exc)
        raise MailError(f"cannot send mail via {smtp.host}:{smtp.port} ({smtp.tls}): {reason}") from None


class AlertMailer(ConfigurableResource):
    """Sends alert and report mail with the SMTP settings of the configuration."""

    def settings(self) -> SmtpSettings:
        """`Settings.smtp` of the configuration now (it may have changed since the code location loaded)."""
        return load_settings().smtp

    def send(self, subject: str, text: str, html: str | None = None, images: Mapping[str, bytes] | None = None,
             attachments: Mapping[str, str] | None = None, settings: Settings | None = None) -> bool:
        """Send to ALERT_EMAIL_TO; False when SMTP is not configured; MailError when sending fails.
        `settings`: the caller's settings, else they are read now."""
        smtp = settings.smtp if settings is not None else self.settings()
        if not smtp.configured:
            return False
        send_message(smtp, build_message(smtp, subject, text, html, images, attachments))
        return True
