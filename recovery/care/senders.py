"""How messages leave the app: email over SMTP, text messages and the clinic's notification
targets through Apprise, and a console sender for the demo.

Configuration (README, "Reminders and notifications"):

- `SMTP_URL`: `smtp://user:password@host:587` (STARTTLS, required unless the host is this
  machine or the URL ends in `?insecure=1`) or `smtps://user:password@host:465` (TLS from the
  start); `MAIL_FROM` is the sender address; `SMTP_CA_FILE` a CA bundle to trust beside the
  system's (a hospital's own CA).
- `SMS_URL`: one Apprise URL for the text-message service, with `{phone}` where the patient's
  number goes, e.g. `twilio://SID:TOKEN@+15551234567/{phone}`; without `{phone}`, the number is
  added as the URL's last path segment, which is where Apprise's SMS services take it.
- A clinic's notification targets are Apprise URLs (`mailto://`, `msteams://`, `slack://`,
  `ntfy://`, `json://`...), kept in its settings (recovery.care.clinics).
- `NOTIFY_CONSOLE=1` (what `make run` sets): a channel with no URL prints its messages to
  standard output instead, so the demo shows its reminders.

A sender raises `SendError` with the reason when a message could not be handed over; the job
(recovery.care.outreach) records it and tries again later. Nothing here touches the database.
"""

from __future__ import annotations

import hashlib
import hmac
import ipaddress
import logging
import smtplib
import ssl
import sys
from dataclasses import dataclass
from email.message import EmailMessage
from email.utils import make_msgid
from urllib.parse import parse_qs, quote, unquote, urlsplit

import apprise

#: Seconds to wait for an SMTP server before the attempt counts as failed (SMTP_TIMEOUT).
DEFAULT_SMTP_TIMEOUT = 10.0


class SendError(Exception):
    """A message could not be delivered; the text says why (no secrets in it)."""


def target_key(url: str, secret: str | None = None) -> str:
    """A target's fingerprint (HMAC-SHA-256 with `secret`, by default the app's SECRET_KEY):
    which target a message was for, without keeping its secrets or letting them be guessed
    from it."""
    if secret is None:
        from flask import current_app

        secret = current_app.config["SECRET_KEY"]
    return hmac.new(secret.encode(), url.strip().encode(), hashlib.sha256).hexdigest()[:32]


def _masked_path(path: str) -> str:
    """Each path segment longer than 4 characters cut to its first two: webhook paths, ntfy
    topics and channels are often the secret."""
    return "/".join(part if len(part) <= 4 else f"{part[:2]}…" for part in path.split("/"))


def masked_target(url: str) -> str:
    """The target's URL with its passwords, tokens and secret-looking paths masked, for
    pages, logs and the audit trail."""
    plugin = apprise.Apprise.instantiate(url.strip(), suppress_exceptions=True)
    if plugin is None:
        return "(not a notification URL)"
    parts = urlsplit(plugin.url(privacy=True))
    netloc = parts.netloc
    if "." not in netloc and ":" not in netloc and "@" not in netloc and netloc != "localhost":
        netloc = _masked_path(netloc)  # not a host name: a topic or channel (ntfy://topic)
    return f"{parts.scheme}://{netloc}{_masked_path(parts.path)}"


def valid_target(url: str) -> str:
    """`url` stripped, if Apprise knows how to send to it; else ValueError."""
    url = url.strip()
    if apprise.Apprise.instantiate(url, suppress_exceptions=True) is None:
        scheme = url.split("://", 1)[0] if "://" in url else url[:20]
        raise ValueError(
            f"{scheme!r} is not a notification URL (use Apprise's syntax, e.g. "
            "mailto://user:password@example.com, json://host/path, ntfy://topic)"
        )
    return url


def send_to_target(url: str, subject: str, body: str) -> None:
    """Send one message to an Apprise URL; SendError with Apprise's reason when it fails."""
    notifier = apprise.Apprise()
    if not notifier.add(url):
        raise SendError(f"not a notification URL: {masked_target(url)}")
    with apprise.LogCapture(level=logging.WARNING, fmt="%(message)s") as log:
        delivered = notifier.notify(title=subject, body=body)
    if not delivered:
        lines = [line.strip() for line in log.getvalue().splitlines() if line.strip()]
        raise SendError("; ".join(lines[-2:]) or f"{masked_target(url)} refused the message")


def sms_target(sms_url: str, phone: str) -> str:
    """The Apprise URL that texts `phone`: `{phone}` in `sms_url` replaced, or the number
    added as the last path segment."""
    number = quote("".join(c for c in phone if c.isdigit() or c == "+"), safe="+")
    if "{phone}" in sms_url:
        return sms_url.replace("{phone}", number)
    base, sep, query = sms_url.partition("?")
    return f"{base.rstrip('/')}/{number}" + (sep + query if sep else "")


@dataclass(frozen=True)
class SmtpServer:
    """Where email goes: parsed from SMTP_URL."""

    host: str
    port: int
    tls: bool  # smtps: TLS from the first byte
    username: str
    password: str
    #: smtp://...?insecure=1: a trusted relay may take mail without STARTTLS.
    insecure: bool = False

    @classmethod
    def from_url(cls, url: str) -> SmtpServer:
        """`smtp://user:pass@host:587` or `smtps://...`; ValueError for anything else."""
        parts = urlsplit(url)
        if parts.scheme not in ("smtp", "smtps") or not parts.hostname:
            raise ValueError("SMTP_URL must look like smtp://user:password@host:587 or smtps://")
        tls = parts.scheme == "smtps"
        return cls(
            host=parts.hostname,
            port=parts.port or (465 if tls else 587),
            tls=tls,
            username=unquote(parts.username or ""),
            password=unquote(parts.password or ""),
            insecure=parse_qs(parts.query).get("insecure") == ["1"],
        )

    @property
    def may_be_plain(self) -> bool:
        """Whether mail may go without encryption: to this machine, or a relay marked so."""
        if self.insecure or self.host == "localhost":
            return True
        try:
            return ipaddress.ip_address(self.host).is_loopback
        except ValueError:
            return False


class Senders:
    """The app's channels, from its configuration (`from_config`)."""

    def __init__(
        self,
        *,
        smtp_url: str = "",
        mail_from: str = "",
        sms_url: str = "",
        console: bool = False,
        smtp_timeout: float = DEFAULT_SMTP_TIMEOUT,
        ca_file: str = "",
        out=None,
    ):
        self.smtp = SmtpServer.from_url(smtp_url) if smtp_url else None
        self.mail_from = mail_from or "recovery@localhost"
        self.sms_url = sms_url
        self.console = console
        self.smtp_timeout = smtp_timeout
        self.ca_file = ca_file
        self.out = out

    @classmethod
    def from_config(cls, config) -> Senders:
        """The senders an app's config describes (SMTP_URL, MAIL_FROM, SMS_URL...)."""
        return cls(
            smtp_url=config.get("SMTP_URL", ""),
            mail_from=config.get("MAIL_FROM", ""),
            sms_url=config.get("SMS_URL", ""),
            console=bool(config.get("NOTIFY_CONSOLE")),
            smtp_timeout=float(config.get("SMTP_TIMEOUT") or DEFAULT_SMTP_TIMEOUT),
            ca_file=config.get("SMTP_CA_FILE", ""),
        )

    @property
    def can_email(self) -> bool:
        """Whether email can go out (a server, or the console)."""
        return self.smtp is not None or self.console

    @property
    def can_text(self) -> bool:
        """Whether text messages can go out (an SMS service, or the console)."""
        return bool(self.sms_url) or self.console

    def _print(self, channel: str, to: str, subject: str, body: str) -> None:
        out = self.out or sys.stdout
        print(f"--- {channel} to {to}: {subject}\n{body}\n---", file=out, flush=True)

    def email(self, to: str, subject: str, body: str) -> None:
        """Send a plain-text email; SendError when the server is down, slow or refuses."""
        if self.smtp is None:
            if not self.console:
                raise SendError("no SMTP_URL is configured")
            self._print("email", to, subject, body)
            return
        message = EmailMessage()
        message["From"] = self.mail_from
        message["To"] = to
        message["Subject"] = subject
        message["Message-ID"] = make_msgid(domain=self.mail_from.rpartition("@")[2] or None)
        message.set_content(body)
        server = self.smtp
        try:
            context = ssl.create_default_context(cafile=self.ca_file or None)
            if server.tls:
                client = smtplib.SMTP_SSL(
                    server.host, server.port, timeout=self.smtp_timeout, context=context
                )
            else:
                client = smtplib.SMTP(server.host, server.port, timeout=self.smtp_timeout)
            with client:
                if not server.tls:
                    client.ehlo()
                    if client.has_extn("starttls"):
                        client.starttls(context=context)
                        client.ehlo()
                    elif not server.may_be_plain:
                        # Never a password, a patient's address or link in clear text.
                        raise SendError(
                            f"SMTP {server.host}:{server.port} does not offer STARTTLS: use "
                            "smtps://, or add ?insecure=1 for a relay on a trusted network"
                        )
                if server.username:
                    client.login(server.username, server.password)
                client.send_message(message)
        except (OSError, smtplib.SMTPException) as exc:
            raise SendError(f"SMTP {server.host}:{server.port}: {exc}") from exc

    def text(self, phone: str, body: str) -> None:
        """Send a text message to `phone` through SMS_URL; SendError when it fails."""
        if not self.sms_url:
            if not self.console:
                raise SendError("no SMS_URL is configured")
            self._print("text message", phone, "", body)
            return
        send_to_target(sms_target(self.sms_url, phone), "", body)

    def target(self, url: str, subject: str, body: str) -> None:
        """Send to one of a clinic's notification targets; SendError when it fails."""
        send_to_target(url, subject, body)
