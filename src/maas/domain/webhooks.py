"""Webhook rules: which URLs may receive events, and the HMAC-SHA256 signature they carry.

Every delivery carries ``Maas-Signature: t=<unix seconds>,v1=<hex>``, where ``v1`` is
``HMAC-SHA256(secret, f"{t}." + body)`` — the scheme Stripe uses. Receivers recompute it over
the raw body with the model's secret, compare in constant time, and refuse old timestamps
(replays). ``verify_signature`` does exactly that and is what receivers written in Python can
copy.
"""

from __future__ import annotations

import hashlib
import hmac
import ipaddress
import time
from urllib.parse import urlsplit

from maas.errors import InvalidParameterError

__all__ = [
    "SIGNATURE_HEADER",
    "check_webhook_url",
    "is_public_address",
    "sign",
    "verify_signature",
]

SIGNATURE_HEADER = "Maas-Signature"
MAX_URL_LENGTH = 2000


def sign(secret: str, body: bytes, *, timestamp: int | None = None) -> str:
    """The ``Maas-Signature`` header value for ``body``."""
    t = int(time.time()) if timestamp is None else timestamp
    digest = hmac.new(secret.encode(), f"{t}.".encode() + body, hashlib.sha256).hexdigest()
    return f"t={t},v1={digest}"


def verify_signature(
    secret: str, body: bytes, header: str, *, tolerance_seconds: int = 300, now: float | None = None
) -> bool:
    """Whether ``header`` signs ``body`` with ``secret`` within ``tolerance_seconds``."""
    parts = dict(p.split("=", 1) for p in header.split(",") if "=" in p)
    try:
        t = int(parts["t"])
    except (KeyError, ValueError):
        return False
    if abs((time.time() if now is None else now) - t) > tolerance_seconds:
        return False
    expected = sign(secret, body, timestamp=t).split("v1=", 1)[1]
    return hmac.compare_digest(expected, parts.get("v1", ""))


def is_public_address(address: str) -> bool:
    """Whether an IP address is globally routable (not loopback, private, link-local — the
    cloud metadata address 169.254.169.254 among them — multicast or unspecified)."""
    try:
        ip = ipaddress.ip_address(address.split("%", 1)[0])
    except ValueError:
        return False
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
        ip = ip.ipv4_mapped
    return ip.is_global and not ip.is_multicast


def check_webhook_url(url: str, *, allow_private: bool) -> str:
    """Return ``url`` if it may receive webhooks: ``http`` or ``https``, a host, no user
    info, and — unless ``allow_private`` — no host that is a non-public IP address or
    ``localhost`` (names are resolved and checked again at each delivery).

    Raises:
        InvalidParameterError: naming the field ``webhook_url``.
    """
    if len(url) > MAX_URL_LENGTH:
        raise InvalidParameterError(
            f"webhook_url may be at most {MAX_URL_LENGTH} characters long.",
            field="webhook_url",
            expected=f"<= {MAX_URL_LENGTH} characters",
            received=len(url),
        )
    malformed = InvalidParameterError(
        f"webhook_url must be an http:// or https:// URL with a host. Got {url!r} instead.",
        field="webhook_url",
        expected="http(s)://host/path",
        received=url,
    )
    try:
        parts = urlsplit(url)
        host = parts.hostname
        parts.port  # noqa: B018 - raises ValueError on a malformed port
    except ValueError:
        raise malformed from None
    if parts.scheme not in ("http", "https") or not host or any(c.isspace() for c in url):
        raise malformed
    if parts.username or parts.password:
        raise InvalidParameterError(
            "webhook_url must not carry a user name or password; the signature authenticates "
            "the sender.",
            field="webhook_url",
            expected="no user info",
            received="user info",
        )
    if not allow_private:
        literal = host.strip("[]")
        try:
            ipaddress.ip_address(literal.split("%", 1)[0])
            is_ip = True
        except ValueError:
            is_ip = False
        if (
            (is_ip and not is_public_address(literal))
            or host.lower()
            in (
                "localhost",
                "localhost.localdomain",
            )
            or host.lower().endswith(".localhost")
        ):
            raise InvalidParameterError(
                f"webhook_url {url!r} points at a loopback, private or link-local address; "
                "the server refuses those unless MAAS_WEBHOOK_ALLOW_PRIVATE is set.",
                field="webhook_url",
                expected="a public host",
                received=host,
            )
    return url
