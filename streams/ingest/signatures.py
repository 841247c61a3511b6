"""Who may send: bearer tokens, and the request signatures of the platforms that sign their webhooks.

Every comparison runs in constant time. Secrets come from settings and are never logged.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
from collections.abc import Iterable, Mapping

from streams.ingest.adapters.common import Unmappable, instant


def bearer_sender(authorization: str | None, tokens: Mapping[str, str]) -> str | None:
    """The sender whose token the ``Authorization: Bearer …`` header carries; None if none matches."""
    scheme, _, credentials = (authorization or "").strip().partition(" ")
    if scheme.lower() != "bearer" or not credentials.strip():  # the scheme is case-insensitive (RFC 7235)
        return None
    offered = credentials.strip().encode()
    found = None
    for sender, token in tokens.items():  # compare with all of them: timing says nothing
        if hmac.compare_digest(offered, token.encode()):
            found = sender
    return found


def zendesk_signature(secret: str, timestamp: str, body: bytes) -> str:
    """What Zendesk sends as ``X-Zendesk-Webhook-Signature``: base64 HMAC-SHA256 of timestamp + body."""
    digest = hmac.new(secret.encode(), timestamp.encode() + body, hashlib.sha256).digest()
    return base64.b64encode(digest).decode()


def zendesk_valid(
    secret: str, timestamp: str | None, signature: str | None, body: bytes, now: float, window: float
) -> str | None:
    """None if the request is Zendesk's and fresh; otherwise why not."""
    if not timestamp or not signature:
        return "missing X-Zendesk-Webhook-Signature or its timestamp"
    if not hmac.compare_digest(zendesk_signature(secret, timestamp, body).encode(), signature.encode()):
        return "bad X-Zendesk-Webhook-Signature"
    return _fresh(timestamp, now, window)


def hub_signature(token: str, body: bytes) -> str:
    """What Zammad and Intercom send as ``X-Hub-Signature``: ``sha1=`` and the hex HMAC-SHA1 of the body."""
    return "sha1=" + hmac.new(token.encode(), body, hashlib.sha1).hexdigest()


def hub_valid(token: str, signature: str | None, body: bytes, setting: str) -> str | None:
    """None if ``X-Hub-Signature`` is the body's under ``token``; otherwise why not. Neither
    platform signs a delivery time: a retried delivery is caught by its event ids, counted once."""
    if not signature:
        return "missing X-Hub-Signature"
    if not hmac.compare_digest(hub_signature(token, body).encode(), signature.strip().encode()):
        return f"bad X-Hub-Signature (is {setting} the webhook's secret?)"
    return None


def twilio_signature(token: str, url: str, params: Iterable[tuple[str, str]]) -> str:
    """What Twilio sends as ``X-Twilio-Signature``: base64 HMAC-SHA1 of the URL and the sorted form."""
    data = url + "".join(k + v for k, v in sorted(params))
    return base64.b64encode(hmac.new(token.encode(), data.encode(), hashlib.sha1).digest()).decode()


def twilio_valid(
    token: str, url: str, params: Iterable[tuple[str, str]], signature: str | None
) -> str | None:
    """None if the request is Twilio's; otherwise why not.

    Twilio signs no delivery time (its ``Timestamp`` is when the event happened, and a retry
    comes later), so a replayed callback is caught by its event id, which the worker counts once.
    """
    if not signature:
        return "missing X-Twilio-Signature"
    if not hmac.compare_digest(twilio_signature(token, url, params).encode(), signature.encode()):
        return "bad X-Twilio-Signature (is CXPULSE_INGEST_PUBLIC_URL the URL Twilio calls?)"
    return None


def _fresh(timestamp: str, now: float, window: float) -> str | None:
    """A signed request replayed later than ``window`` seconds is refused."""
    try:
        at = instant(timestamp).timestamp()
    except Unmappable:
        return f"unreadable signature timestamp {timestamp[:40]!r}"
    if abs(now - at) > window:
        return f"signature timestamp is {now - at:+.0f} s from now, outside the {window:.0f} s window"
    return None
