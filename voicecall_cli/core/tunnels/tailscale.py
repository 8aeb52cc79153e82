"""Reading Tailscale's JSON and building its ``serve``/``funnel`` command lines. Pure.

Nothing here runs ``tailscale``: :class:`~voicecall_cli.daemon.tunnels.tailscale.TailscaleTunnel`
runs the commands and hands their parsed output to these functions. Every reader takes whatever
``json.loads`` produced (or anything else) and never raises on odd input: a missing key, a wrong
type or ``null`` reads as "not there".

Facts relied on (``tailscale status --json`` and ``tailscale serve status --json``):

* ``Self.DNSName`` is the node's MagicDNS name with a trailing dot; it is empty when the node is
  logged out or stopped. ``Self.ID`` is the stable node id; ``BackendState`` is ``"Running"``
  when the node is up (else ``"NeedsLogin"``, ``"Stopped"``, ``"Starting"``, ...).
* The serve config maps ``Web["<dns>:<port>"].Handlers["<mount>"]`` to a handler whose
  ``Proxy`` is the local URL; ``AllowFunnel["<dns>:<port>"]`` is ``true`` when that host:port is
  public. Funnel is per host:port: every handler on it is public or none is, and each
  ``serve``/``funnel`` command sets it for the whole host:port. An empty config prints ``{}``
  or ``null``.
"""

from __future__ import annotations

import re
from typing import Any, Literal

Mode = Literal["serve", "funnel"]

FUNNEL_PORTS = (443, 8443, 10000)
"""The only HTTPS ports Tailscale Funnel accepts."""

DISABLED_NOTE = "Tailscale serve/funnel may be disabled on this tailnet (or require admin enable)."
FUNNEL_NEEDS = ("Funnel needs HTTPS certificates enabled on the tailnet, the funnel node "
                "attribute, and port 443, 8443 or 10000")

_ENABLE_LINK = re.compile(r"https://login\.tailscale\.com/f/\S+")

_STATE_ADVICE = {
    "NeedsLogin": "log in with `tailscale up`",
    "Stopped": "start it with `tailscale up`",
    "NeedsMachineAuth": "an admin must approve this machine in the Tailscale admin console",
    "Starting": "wait for it to connect",
    "NoState": "is tailscaled running?",
}


def _dict(value: object) -> dict[str, Any]:
    return value if isinstance(value, dict) else {}


def _text(value: object) -> str | None:
    return value if isinstance(value, str) and value else None


# -- tailscale status --json ---------------------------------------------------------------------


def dns_name(status: object) -> str | None:
    """``Self.DNSName`` without its trailing dot; None when missing or empty."""
    name = _text(_dict(_dict(status).get("Self")).get("DNSName"))
    name = name.rstrip(".") if name else None
    return name or None


def node_id(status: object) -> str | None:
    """``Self.ID`` (the stable node id used in admin links); None when missing or empty."""
    return _text(_dict(_dict(status).get("Self")).get("ID"))


def backend_state(status: object) -> str | None:
    """``BackendState`` (``"Running"``, ``"NeedsLogin"``, ``"Stopped"``, ...) or None."""
    return _text(_dict(status).get("BackendState"))


def no_dns_message(status: object) -> str:
    """The error when :func:`dns_name` found nothing, naming the backend state when known."""
    message = "Could not get Tailscale DNS name. Is Tailscale running?"
    state = backend_state(status)
    if state and state != "Running":
        advice = _STATE_ADVICE.get(state)
        message += f" (Tailscale is {state}" + (f": {advice})" if advice else ")")
    return message


# -- tailscale serve status --json ---------------------------------------------------------------


def host_port(dns: str, https_port: int) -> str:
    """The serve config's key for a host and port: ``<dns>:<port>``."""
    return f"{dns}:{https_port}"


def _describe(handler: dict[str, Any]) -> str | None:
    """What a handler serves: its proxy URL, else a short description of the other kinds."""
    if proxy := _text(handler.get("Proxy")):
        return proxy
    if path := _text(handler.get("Path")):
        return f"files at {path}"
    if _text(handler.get("Text")):
        return "a text reply"
    if redirect := _text(handler.get("Redirect")):
        return f"a redirect to {redirect}"
    return None


def serve_handlers(serve_status: object) -> dict[tuple[str, str], str]:
    """``(host:port, mount) -> proxy target`` for every web handler in a serve config.

    A handler that is not a proxy maps to a description (``"files at /srv"``); entries of the
    wrong shape are skipped, and anything that is not a config at all gives ``{}``.
    """
    handlers: dict[tuple[str, str], str] = {}
    for hp, web in _dict(_dict(serve_status).get("Web")).items():
        for mount, handler in _dict(_dict(web).get("Handlers")).items():
            described = _describe(_dict(handler))
            if isinstance(mount, str) and described is not None:
                handlers[(hp, mount)] = described
    return handlers


def funnel_allowed(serve_status: object, host_port: str) -> bool:
    """Whether ``AllowFunnel[host_port]`` is ``true`` (the host:port is on the internet)."""
    return _dict(_dict(serve_status).get("AllowFunnel")).get(host_port) is True


def same_target(a: str, b: str) -> bool:
    """Whether two proxy targets name the same local URL (a trailing slash aside)."""
    return a.rstrip("/") == b.rstrip("/")


def foreign_route(serve_status: object, host_port: str, public_path: str,
                  our_target: str) -> str | None:
    """What else serves ``public_path`` on ``host_port`` (None when nothing or our target)."""
    other = serve_handlers(serve_status).get((host_port, public_path))
    if other is None or same_target(other, our_target):
        return None
    return other


def exposure_conflict(serve_status: object, host_port: str, mode: Mode,
                      ours: dict[str, str]) -> str | None:
    """A user route that our ``mode`` would change, described for an error; else None.

    Funnel is set for a whole host:port, so ``funnel`` would put the user's tailnet-only
    routes there on the internet, and ``serve`` would take the user's funnel routes off it.
    ``ours`` maps our public paths to our targets; those never count as the user's.
    """
    public = funnel_allowed(serve_status, host_port)
    if (mode == "funnel") == public:
        return None
    others = sorted(mount for (hp, mount), target in serve_handlers(serve_status).items()
                    if hp == host_port and not (mount in ours
                                                and same_target(target, ours[mount])))
    if not others:
        return None
    listed = ", ".join(others)
    if mode == "funnel":
        return f"funnel on {host_port} would also put your tailnet-only route(s) {listed} on " \
               "the internet"
    return f"serve on {host_port} would take your funnel route(s) {listed} off the internet"


# -- command lines -------------------------------------------------------------------------------


def serve_command(mode: Mode, public_path: str, target_url: str,
                  https_port: int = 443) -> list[str]:
    """The arguments (after the executable) that mount ``target_url`` at ``public_path``."""
    return [mode, "--bg", "--yes", f"--https={https_port}", f"--set-path={public_path}",
            target_url]


def off_command(mode: Mode, public_path: str, https_port: int = 443) -> list[str]:
    """The arguments (after the executable) that remove the handler at ``public_path``."""
    return [mode, f"--https={https_port}", f"--set-path={public_path}", "off"]


def public_base(dns: str, https_port: int) -> str:
    """``https://<dns>``, with ``:<port>`` unless it is 443."""
    return f"https://{dns}" + (f":{https_port}" if https_port != 443 else "")


def enable_url(mode: Mode, node: str | None) -> str | None:
    """The admin link that enables ``mode`` for a node, or None without a node id."""
    return f"https://login.tailscale.com/f/{mode}?node={node}" if node else None


def failure(mode: Mode, returncode: int | None, output: str,
            node: str | None) -> tuple[str, dict[str, Any]]:
    """The user-facing text and hint for a failed ``tailscale serve|funnel`` command.

    ``returncode`` None means the command did not finish (``output`` then says why).
    The hint is ``{"note": ..., "enableUrl": <admin link or None>}``: the link Tailscale
    printed when it printed one, else the one built from the node id.
    """
    first = next((line.strip() for line in output.splitlines() if line.strip()), "")
    if returncode is None:
        message = f"Tailscale {mode} failed: {first or 'no output'}"
    else:
        message = f"Tailscale {mode} failed with code {returncode}"
        message += f": {first}" if first else ""
    if mode == "funnel":
        message = f"{message.rstrip('.')}. {FUNNEL_NEEDS}"
    printed = _ENABLE_LINK.search(output)
    link = printed.group(0).rstrip(".,") if printed else enable_url(mode, node)
    return message, {"note": DISABLED_NOTE, "enableUrl": link}
