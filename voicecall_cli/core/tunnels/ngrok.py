"""Reading the ngrok agent's JSON log, and the words of every ngrok error (pure: no I/O).

The daemon's ngrok tunnel (``voicecall_cli.daemon.tunnels.ngrok``) owns the agent process and
its pipes; it hands each line here. The agent runs as ``ngrok http <port> --log stdout
--log-format json [--domain <d>]`` (:func:`agent_args`) and writes one JSON object a line with
the keys ``t``, ``lvl`` (``info``, ``warn``, ``eror``, ``crit``), ``msg``, ``obj``, ``err`` and,
when a tunnel starts, ``name``, ``addr`` and ``url``::

    {"addr":"http://localhost:3334","lvl":"info","msg":"started tunnel","name":"command_line",
     "obj":"tunnels","t":"...","url":"https://ab12-203-0-113-7.ngrok-free.app"}

A refusal names an ``ERR_NGROK_<n>`` code inside ``err``, on an ``eror`` or ``crit`` line;
the agent also prints it on stderr, each line prefixed ``ERROR:``. Some refusals quote the
auth token back (``ERR_NGROK_105``), so every text that leaves here goes through :func:`mask`.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable
from dataclasses import dataclass
from urllib.parse import urlsplit

STARTUP_TIMEOUT_S = 30.0
ERROR_LIMIT = 400  # characters of ngrok's own text quoted in one error
MASK = "***"

_CODE = re.compile(r"ERR_NGROK_\d+")
_FATAL_LEVELS = ("eror", "crit")
_STDERR_PREFIX = re.compile(r"^\s*ERROR:\s*")
_AUTH_CODES = frozenset({"ERR_NGROK_105", "ERR_NGROK_107", "ERR_NGROK_4018"})
_DOMAIN_CODES = frozenset({"ERR_NGROK_313", "ERR_NGROK_320"})
AUTH_HINT = "set tunnel.ngrokAuthToken or NGROK_AUTHTOKEN to a valid ngrok authtoken"
DOMAIN_HINT = "set tunnel.ngrokDomain to a domain reserved on your ngrok account, or unset it"


@dataclass(frozen=True, slots=True)
class TunnelStarted:
    """A log line that announces the tunnel: ``base_url`` is ``https://host`` (no path)."""

    base_url: str


@dataclass(frozen=True, slots=True)
class AgentRefused:
    """A fatal log line: ``code`` is the ``ERR_NGROK_<n>`` it names, ``message`` the
    one-line error for the user (not yet masked)."""

    code: str
    message: str


def agent_args(port: int, domain: str | None = None, *, host: str | None = None) -> list[str]:
    """The agent's arguments after the executable: ``http <port> --log stdout --log-format
    json`` plus ``--domain <domain>`` when set. ``host`` (a non-loopback address the webhook
    server is bound to) turns the port into ``host:port``; loopback hosts keep the bare port,
    which the agent forwards to ``localhost``."""
    addr = str(port)
    if host and host not in ("127.0.0.1", "localhost", "::1"):
        addr = f"[{host}]:{port}" if ":" in host else f"{host}:{port}"
    return ["http", addr, "--log", "stdout", "--log-format", "json"] + (
        ["--domain", domain] if domain else [])


def parse_log_line(line: str) -> TunnelStarted | AgentRefused | None:
    """What one stdout line of the agent says: the tunnel started (a ``started tunnel`` line
    with a ``url``, or any line with ``addr`` and ``url``; only an ``https`` URL counts),
    a fatal refusal (``lvl`` ``eror``/``crit`` with an ``ERR_NGROK_<n>`` code in ``err`` or
    ``msg``), or nothing (any other line, and lines that are not JSON objects)."""
    try:
        record = json.loads(line)
    except ValueError:
        return None
    if not isinstance(record, dict):
        return None
    url = record.get("url")
    if isinstance(url, str) and (record.get("msg") == "started tunnel" or "addr" in record):
        base = public_base(url)
        if base is not None:
            return TunnelStarted(base)
    if record.get("lvl") in _FATAL_LEVELS:
        for key in ("err", "msg"):
            text = record.get(key)
            if isinstance(text, str) and (match := _CODE.search(text)):
                return AgentRefused(match.group(0), error_message(text))
    return None


def public_base(url: str) -> str | None:
    """``https://host[:port]`` of an https ``url`` (path, query and trailing slash dropped),
    or None when it is not an https URL with a host."""
    try:
        parts = urlsplit(url.strip())
    except ValueError:
        return None
    if parts.scheme.lower() != "https" or not parts.netloc or "@" in parts.netloc:
        return None
    return f"https://{parts.netloc.lower()}"


def stderr_text(lines: Iterable[str]) -> str:
    """What the agent wrote on stderr, its ``ERROR:`` prefixes dropped, on one line."""
    return one_line("\n".join(_STDERR_PREFIX.sub("", line) for line in lines))


def stderr_refusal(lines: Iterable[str]) -> AgentRefused | None:
    """The refusal in what the agent wrote on stderr so far (``ERROR:  ...`` lines), when
    they name an ``ERR_NGROK_<n>`` code; the message joins their text."""
    text = stderr_text(lines)
    match = _CODE.search(text)
    if match is None:
        return None
    return AgentRefused(match.group(0), error_message(text))


def one_line(text: str, limit: int = ERROR_LIMIT) -> str:
    """``text`` with its lines joined by single spaces, cut to ``limit`` characters."""
    joined = " ".join(text.split())
    return joined if len(joined) <= limit else joined[:limit] + "..."


def error_message(text: str) -> str:
    """``ngrok error: <text>`` on one line, with what to change for an auth or domain code."""
    message = f"ngrok error: {one_line(text)}"
    codes = set(_CODE.findall(text))
    if codes & _AUTH_CODES:
        message += f" ({AUTH_HINT})"
    elif codes & _DOMAIN_CODES:
        message += f" ({DOMAIN_HINT})"
    return message


def spawn_failed_message(reason: str) -> str:
    """The agent could not be started at all."""
    return f"Failed to start ngrok: {reason}"


def exit_message(code: int, stderr_lines: Iterable[str] = ()) -> str:
    """The agent exited (before or after its URL); what it last said on stderr, if
    anything, follows."""
    message = f"ngrok exited unexpectedly with code {code}"
    detail = stderr_text(stderr_lines)
    return f"{message}: {detail}" if detail else message


def timeout_message(seconds: float = STARTUP_TIMEOUT_S) -> str:
    """No URL in time; the agent is killed."""
    return f"ngrok startup timed out ({seconds:g}s)"


def mask(text: str, secrets: Iterable[str | None]) -> str:
    """``text`` with every occurrence of each non-empty secret replaced by ``***``."""
    for secret in sorted({s for s in secrets if s}, key=len, reverse=True):
        text = text.replace(secret, MASK)
    return text
