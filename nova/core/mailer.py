"""One mailer for every message Nova sends (reset codes, call result briefs).

SMTP when ``NOVA_SMTP_HOST`` is set; otherwise the message is written to the log
(development default) — the log line never includes the body of a message marked secret,
except with ``NOVA_ENV=development``, where it is shown under a clear DEVELOPMENT ONLY mark
so that a password reset can be tried locally.
Every message sent in this process is also kept in ``outbox`` (bounded) for tests.
"""

from __future__ import annotations

import asyncio
import logging
import smtplib
from collections import deque
from dataclasses import dataclass
from email.message import EmailMessage

from nova.core.settings import Settings

log = logging.getLogger("nova.mail")


@dataclass(frozen=True)
class Mail:
    to: str
    subject: str
    body: str
    secret: bool = False  # the body carries a secret (reset code): never log it


outbox: deque[Mail] = deque(maxlen=200)


def _send_smtp(settings: Settings, mail: Mail) -> None:
    msg = EmailMessage()
    msg["From"] = settings.mail_from
    msg["To"] = mail.to
    msg["Subject"] = mail.subject
    msg.set_content(mail.body)
    with smtplib.SMTP(settings.smtp_host or "", settings.smtp_port, timeout=10) as smtp:
        if settings.smtp_starttls:
            smtp.starttls()
        if settings.smtp_username and settings.smtp_password:
            smtp.login(settings.smtp_username, settings.smtp_password.get_secret_value())
        smtp.send_message(msg)


async def send_mail(
    settings: Settings, to: str, subject: str, body: str, *, secret: bool = False
) -> None:
    mail = Mail(to, subject, body, secret)
    outbox.append(mail)
    if settings.smtp_host:
        await asyncio.to_thread(_send_smtp, settings, mail)
        log.info("mail sent via SMTP to=%s subject=%r", to, subject)
    elif secret and settings.env == "development":
        # No SMTP on a developer's machine: the reset code must be somewhere to be tried.
        # Only NOVA_ENV=development; in test and production the body stays withheld.
        log.warning(
            "DEVELOPMENT ONLY (NOVA_ENV=development, no SMTP): secret mail shown here, "
            "withheld in any other environment. to=%s subject=%r\n%s",
            to,
            subject,
            body,
        )
    elif secret:
        log.info("mail (console, body withheld: contains a secret) to=%s subject=%r", to, subject)
    else:
        log.info("mail (console) to=%s subject=%r\n%s", to, subject, body)
