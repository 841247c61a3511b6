"""TLS and basic auth for cxpulse's HTTP ports, from the web-config file Prometheus exporters share.

The file format is the one of the Prometheus exporter toolkit (node_exporter's
``--web.config.file``), so one file and one way of making bcrypt hashes
(``htpasswd -nBC 10 "" | tr -d ':\\n'``) serve every exporter a team runs::

    tls_server_config:
      cert_file: /etc/cxpulse/tls/tls.crt
      key_file: /etc/cxpulse/tls/tls.key
    basic_auth_users:
      prometheus: $2y$10$...

Relative paths are read from the file's folder. ``/metrics`` then answers only over TLS and
only with a listed user's password; ``/live`` and ``/ready`` carry no data and stay open, so an
orchestrator's probes need no credentials.
"""

from __future__ import annotations

import asyncio
import hashlib
import ssl
from base64 import b64decode
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

OPEN_PATHS = frozenset({"/live", "/ready"})

_CLIENT_AUTH = {
    "NoClientCert": ssl.CERT_NONE,
    "VerifyClientCertIfGiven": ssl.CERT_OPTIONAL,
    "RequireAndVerifyClientCert": ssl.CERT_REQUIRED,
}
_VERSIONS = {
    "TLS10": ssl.TLSVersion.TLSv1,
    "TLS11": ssl.TLSVersion.TLSv1_1,
    "TLS12": ssl.TLSVersion.TLSv1_2,
    "TLS13": ssl.TLSVersion.TLSv1_3,
}
_TLS_KEYS = {"cert_file", "key_file", "client_auth_type", "client_ca_file", "min_version", "max_version"}


class WebConfigError(ValueError):
    """The web-config file cannot be used; the message names the file and the key."""


@dataclass(frozen=True)
class WebConfig:
    ssl_context: ssl.SSLContext | None = None
    users: Mapping[str, bytes] = field(default_factory=dict)  # user -> bcrypt hash
    # bcrypt is slow on purpose (tens of ms); Prometheus sends the same header every scrape, so
    # a checked password is remembered as a SHA-256 of hash and password.
    _accepted: set[bytes] = field(default_factory=set, repr=False)

    def allows(self, authorization: str | None) -> bool:
        """Whether an ``Authorization`` header carries a listed user's password."""
        if not self.users:
            return True
        if not authorization or not authorization.startswith("Basic "):
            return False
        try:
            user, _, password = b64decode(authorization[6:], validate=True).decode().partition(":")
        except (ValueError, UnicodeDecodeError):
            return False
        hashed = self.users.get(user)
        return hashed is not None and self._checked(hashed, password)

    def _checked(self, hashed: bytes, password: str) -> bool:
        import bcrypt

        fingerprint = hashlib.sha256(hashed + b"\0" + password.encode()).digest()
        if fingerprint in self._accepted:
            return True
        if bcrypt.checkpw(password.encode(), hashed):
            self._accepted.add(fingerprint)
            return True
        return False


def load(path: str | Path) -> WebConfig:
    """Read and check a web-config file."""
    import yaml

    source = Path(path)
    try:
        doc = yaml.safe_load(source.read_text()) or {}
    except (OSError, yaml.YAMLError) as exc:
        raise WebConfigError(f"CXPULSE_WEB_CONFIG_FILE {source}: cannot be read: {exc}") from exc
    if not isinstance(doc, dict):
        raise WebConfigError(f"{source}: expected a mapping with tls_server_config and/or basic_auth_users")
    unknown = set(doc) - {"tls_server_config", "basic_auth_users", "http_server_config"}
    if unknown:
        raise WebConfigError(f"{source}: unknown keys {sorted(unknown)}")
    context = _tls(source, doc.get("tls_server_config"))
    users = _users(source, doc.get("basic_auth_users"))
    if users and context is None:
        raise WebConfigError(
            f"{source}: basic_auth_users without tls_server_config would send passwords in clear text"
        )
    return WebConfig(context, users)


def _tls(source: Path, section: Any) -> ssl.SSLContext | None:
    if not section:
        return None
    if not isinstance(section, dict) or set(section) - _TLS_KEYS:
        raise WebConfigError(f"{source}: tls_server_config takes {sorted(_TLS_KEYS)}")
    if not section.get("cert_file") or not section.get("key_file"):
        raise WebConfigError(f"{source}: tls_server_config needs cert_file and key_file")

    def file(key: str) -> str:
        return str((source.parent / section[key]).resolve())

    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    try:
        context.load_cert_chain(file("cert_file"), file("key_file"))
    except (OSError, ssl.SSLError) as exc:
        raise WebConfigError(f"{source}: tls_server_config cert_file/key_file: {exc}") from exc
    context.minimum_version = _version(source, section.get("min_version", "TLS12"))
    if "max_version" in section:
        context.maximum_version = _version(source, section["max_version"])
    auth = section.get("client_auth_type", "NoClientCert")
    if auth not in _CLIENT_AUTH:
        raise WebConfigError(f"{source}: client_auth_type {auth!r}: supported are {sorted(_CLIENT_AUTH)}")
    context.verify_mode = _CLIENT_AUTH[auth]
    if auth != "NoClientCert":
        if not section.get("client_ca_file"):
            raise WebConfigError(f"{source}: client_auth_type {auth} needs client_ca_file")
        context.load_verify_locations(file("client_ca_file"))
    return context


def _version(source: Path, name: str) -> ssl.TLSVersion:
    if name not in _VERSIONS:
        raise WebConfigError(f"{source}: TLS version {name!r}: one of {sorted(_VERSIONS)}")
    return _VERSIONS[name]


def _users(source: Path, section: Any) -> dict[str, bytes]:
    if not section:
        return {}
    if not isinstance(section, dict):
        raise WebConfigError(f"{source}: basic_auth_users maps user names to bcrypt hashes")
    users = {}
    for user, hashed in section.items():
        if not isinstance(hashed, str) or not hashed.startswith(("$2a$", "$2b$", "$2y$")):
            raise WebConfigError(
                f"{source}: basic_auth_users.{user} is not a bcrypt hash (make one with "
                "htpasswd -nBC 10 \"\" | tr -d ':\\n')"
            )
        users[str(user)] = hashed.encode()
    return users


Handler = Callable[[Any], Awaitable[Any]]


def middleware(
    config: WebConfig, guarded: Callable[[str], bool] = lambda path: path not in OPEN_PATHS
) -> Callable[[Any, Handler], Awaitable[Any]]:
    """aiohttp middleware asking for basic auth on the guarded paths (all but the open ones).

    The ingest gateway guards only ``/metrics``: its webhook routes authenticate each platform
    by its own token or signature.
    """
    from aiohttp import web

    @web.middleware
    async def basic_auth(request: Any, handler: Handler) -> Any:
        if not guarded(request.path):
            return await handler(request)
        # A bcrypt check takes tens of milliseconds: off the event loop that runs the agents.
        header = request.headers.get("Authorization")
        if await asyncio.get_running_loop().run_in_executor(None, config.allows, header):
            return await handler(request)
        return web.Response(
            status=401, text="unauthorized\n", headers={"WWW-Authenticate": 'Basic realm="cxpulse"'}
        )

    return basic_auth
