"""What the two local web apps share (the review app, ``review/app.py``, and the extraction service,
``nianbao/service.py``): the Host names they answer, the access token and where they may bind, strict
JSON answers, and access logs without the token. Neither app imports the other.
"""
from __future__ import annotations

import ipaddress
import re
from typing import Iterable, Optional

from flask.json.provider import DefaultJSONProvider

MIN_TOKEN_LENGTH = 16
# Names that always reach this machine's own loopback (the Host header of a local browser).
LOOPBACK_NAMES = frozenset({"127.0.0.1", "localhost", "::1"})


def allowed_host_names(host: str, allow_hosts: Iterable[str]) -> frozenset[str]:
    """The Host names an app answers: the loopback names, the bound address and the ``--allow-host`` ones."""
    return LOOPBACK_NAMES | {normal_host(h) for h in (host, *allow_hosts) if h}


def normal_host(name: str) -> str:
    """A host name as compared: lower case, no brackets around IPv6, no trailing dot."""
    name = name.strip().lower()
    if name.startswith("[") and name.endswith("]"):
        name = name[1:-1]
    return name.rstrip(".")


def split_host(header: str) -> tuple[str, Optional[int]]:
    """``host[:port]`` of a Host header (``[::1]:8765`` for IPv6) -> (normal name, port or None).
    A malformed header gives an empty name (never allowed)."""
    header = header.strip()
    m = re.fullmatch(r"\[([0-9A-Fa-f:.]+)\](?::(\d{1,5}))?", header)
    if m:
        return normal_host(m.group(1)), int(m.group(2)) if m.group(2) else None
    m = re.fullmatch(r"([^:\[\]\s/@]+)(?::(\d{1,5}))?", header)
    if m:
        return normal_host(m.group(1)), int(m.group(2)) if m.group(2) else None
    if header.count(":") >= 2 and normal_host(header) in LOOPBACK_NAMES:
        return normal_host(header), None  # a bare ::1
    return "", None


def check_token(token: Optional[str]) -> None:
    if token is not None and len(token) < MIN_TOKEN_LENGTH:
        raise ValueError(f"the access token has {len(token)} characters; it needs at least {MIN_TOKEN_LENGTH} "
                         f"(e.g. python -c 'import secrets; print(secrets.token_urlsafe(24))')")


def is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def check_bind(host: str, token: Optional[str], app: str = "the review app") -> None:
    """Refuse to expose an app beyond this machine without an access token."""
    if not is_loopback(host) and not token:
        raise ValueError(f"binding to {host} exposes {app} to the network: give --token (or bind 127.0.0.1)")
    check_token(token)


class StrictJSONProvider(DefaultJSONProvider):
    """API answers are strict JSON: never Infinity or NaN."""

    def dumps(self, obj, **kwargs) -> str:
        kwargs["allow_nan"] = False
        return super().dumps(obj, **kwargs)


TOKEN_IN_TEXT = re.compile(r"(token=)[^&\s\"']*", re.IGNORECASE)


def redact_token(line: str, token: Optional[str] = None) -> str:
    """A log line without the access token (as ``token=...`` in a query, or the token anywhere)."""
    line = TOKEN_IN_TEXT.sub(r"\1[redacted]", line)
    return line.replace(token, "[redacted]") if token else line


def request_handler(token: Optional[str]):
    """werkzeug's request handler, its access log lines redacted of the token."""
    from werkzeug.serving import WSGIRequestHandler

    class RedactingRequestHandler(WSGIRequestHandler):
        def log(self, type: str, message: str, *args) -> None:
            super().log(type, "%s", redact_token(message % args if args else message, token))

    return RedactingRequestHandler
