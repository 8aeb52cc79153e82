"""A fake ``tailscale`` command for tests: real JSON shapes, state kept in a file. Stdlib only.

:func:`install_fake_tailscale` writes an executable ``<bin_dir>/tailscale`` that runs
:func:`main` with the test's Python. Each run appends its arguments to
``<state_dir>/calls.jsonl`` and reads and writes ``<state_dir>/state.json``: the node (its
backend state, DNS name, node id), the serve config in Tailscale's own shape, and the scenario
knobs. The test owns both directories (use ``tmp_path``) and changes the scenario at any time
through :class:`FakeTailscale`; nothing runs in the background, so there is nothing to close.

Supported: ``status --json``; ``serve|funnel status [--json]``; ``serve|funnel reset``;
``serve|funnel [--bg] [--yes] [--https=N] [--set-path=P | --set-path P] TARGET``; the same with
``off`` in place of (or after) the target. Behaviour modelled on the real CLI: a ``funnel`` or
``serve`` command sets funnel on or off for its whole host:port; removing the last handler of a
host:port drops its funnel flag; ``off`` for a path that is not served fails ("handler does
not exist"); serving a path that is served replaces it; ``funnel`` (``off`` included) fails
without the funnel node attribute; a funnel mount fails on a port outside 443, 8443, 10000.

Knobs: ``logged_out`` / ``stopped`` (empty ``Self.DNSName``), ``funnel_denied``,
``serve_disabled`` (prints the enable link and blocks, as the real CLI does on a tailnet
without HTTPS), ``drop_sets`` (a mount exits 0 but changes nothing), ``daemon_down`` (every
command fails: no tailscaled), ``empty_json`` (``"{}"`` or ``"null"``), ``routes``
(``{path: target}`` served on port 443), and ``hang``: ``True`` or a list of ``"status"``,
``"serve-status"``, ``"set"``, ``"off"``, ``"reset"`` (sleep far past any deadline) and
``"set-landed"`` (apply a mount, then sleep).
"""

from __future__ import annotations

import json
import os
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

ALLOWED_FUNNEL_PORTS = (443, 8443, 10000)
NO_FUNNEL = ('Funnel not available; "funnel" node attribute not set. '
             "See https://tailscale.com/s/no-funnel.")
DEFAULT_STATE: dict[str, Any] = {
    "hostname": "voicebox",
    "suffix": "tail4c2a9.ts.net",
    "node_id": "nK3q7fHVbC11CNTRL",
    "logged_out": False,
    "stopped": False,
    "funnel_denied": False,
    "serve_disabled": False,
    "drop_sets": False,
    "daemon_down": False,
    "hang": [],
    "empty_json": "{}",
    "config": {},
}
REPO_ROOT = Path(__file__).resolve().parents[2]


class _Exit(Exception):
    def __init__(self, code: int, stdout: str = "", stderr: str = "") -> None:
        super().__init__(code)
        self.code, self.stdout, self.stderr = code, stdout, stderr


# -- the executable ------------------------------------------------------------------------------


def _load(state_dir: Path) -> dict[str, Any]:
    return {**DEFAULT_STATE, **json.loads((state_dir / "state.json").read_text())}


def _save(state_dir: Path, state: dict[str, Any]) -> None:
    tmp = state_dir / "state.json.tmp"
    tmp.write_text(json.dumps(state, indent=2))
    os.replace(tmp, state_dir / "state.json")


def _hang(state: dict[str, Any], operation: str) -> None:
    hang = state["hang"]
    if hang is True or (isinstance(hang, list) and operation in hang):
        time.sleep(3600)


def _dns(state: dict[str, Any]) -> str:
    return f"{state['hostname']}.{state['suffix']}"


def _backend(state: dict[str, Any]) -> str:
    if state["logged_out"]:
        return "NeedsLogin"
    return "Stopped" if state["stopped"] else "Running"


def status_json(state: dict[str, Any]) -> dict[str, Any]:
    """``tailscale status --json`` (no peers) in the shape of ipnstate.Status."""
    running = _backend(state) == "Running"
    ips = ["100.101.102.103", "fd7a:115c:a1e0::6901:6667"] if running else None
    return {
        "Version": "1.82.5-fake",
        "TUN": True,
        "BackendState": _backend(state),
        "HaveNodeKey": not state["logged_out"],
        "AuthURL": "",
        "TailscaleIPs": ips,
        "Self": {
            "ID": "" if state["logged_out"] else state["node_id"],
            "PublicKey": "nodekey:7a1e" + "0" * 60,
            "HostName": state["hostname"],
            "DNSName": _dns(state) + "." if running else "",
            "OS": "linux",
            "UserID": 4815162342,
            "TailscaleIPs": ips,
            "Online": running,
            "Active": False,
        },
        "Health": [] if running else ["Tailscale is not running"],
        "MagicDNSSuffix": state["suffix"] if running else "",
        "CurrentTailnet": {"Name": "ops@example.com", "MagicDNSSuffix": state["suffix"],
                           "MagicDNSEnabled": True} if running else None,
        "Peer": None,
        "User": None,
        "ClientVersion": None,
    }


def _parse(args: list[str]) -> tuple[dict[str, str], list[str]]:
    flags: dict[str, str] = {}
    positional: list[str] = []
    i = 0
    while i < len(args):
        arg = args[i]
        if arg.startswith("-") and positional == []:
            name, eq, value = arg.lstrip("-").partition("=")
            if name in ("bg", "yes", "json"):
                flags[name] = value if eq else "true"
            elif name in ("https", "set-path"):
                if not eq:
                    i += 1
                    if i == len(args):
                        raise _Exit(2, stderr=f"flag needs an argument: -{name}\n")
                    value = args[i]
                flags[name] = value
            else:
                raise _Exit(2, stderr=f"flag provided but not defined: -{name}\n")
        else:
            positional.append(arg)
        i += 1
    return flags, positional


def _expand(target: str) -> str:
    if target.isdigit():
        return f"http://127.0.0.1:{target}"
    return target if "://" in target else f"http://{target}"


def _drop_empty(config: dict[str, Any]) -> None:
    for key in ("TCP", "Web", "AllowFunnel"):
        if not config.get(key):
            config.pop(key, None)


def _off(config: dict[str, Any], verb: str, hp: str, port: int, mount: str) -> str:
    handlers = config.get("Web", {}).get(hp, {}).get("Handlers", {})
    if mount not in handlers:
        raise _Exit(1, stderr="error: failed to remove web serve: error: handler does not exist"
                              f"\n\ntry `tailscale {verb} --help` for usage info\n")
    del handlers[mount]
    if not handlers:
        config["Web"].pop(hp, None)
        config.get("TCP", {}).pop(str(port), None)
        config.get("AllowFunnel", {}).pop(hp, None)
    _drop_empty(config)
    return ""


def _set(config: dict[str, Any], verb: str, hp: str, port: int, mount: str, target: str) -> str:
    proxy = _expand(target)
    config.setdefault("TCP", {})[str(port)] = {"HTTPS": True}
    web = config.setdefault("Web", {}).setdefault(hp, {"Handlers": {}})
    web.setdefault("Handlers", {})[mount] = {"Proxy": proxy}
    if verb == "funnel":
        config.setdefault("AllowFunnel", {})[hp] = True
    else:
        config.get("AllowFunnel", {}).pop(hp, None)
    _drop_empty(config)
    where = "on the internet" if verb == "funnel" else "within your tailnet"
    shown = hp.removesuffix(":443")
    return (f"Available {where}:\n\nhttps://{shown}{mount}\n|-- proxy {proxy}\n\n"
            f"{verb.capitalize()} started and running in the background.\n"
            f"To disable the proxy, run: tailscale {verb} --https={port} off\n")


def _serve(state: dict[str, Any], verb: str, args: list[str]) -> str:
    config = state["config"]
    if args[:1] == ["status"]:
        _hang(state, "serve-status")
        if "--json" in args:
            return json.dumps(config, indent=2) + "\n" if config else state["empty_json"] + "\n"
        return "No serve config\n" if not config else json.dumps(config) + "\n"
    if args[:1] == ["reset"]:
        _hang(state, "reset")
        state["config"] = {}
        return ""
    flags, positional = _parse(args)
    turn_off = positional[-1:] == ["off"]
    _hang(state, "off" if turn_off else "set")
    if not positional or len(positional) > 2 or (len(positional) == 2 and not turn_off):
        raise _Exit(1, stderr=f"try `tailscale {verb} --help` for usage info\n")
    if verb == "funnel" and state["funnel_denied"]:
        raise _Exit(1, stderr=NO_FUNNEL + "\n")
    if _backend(state) != "Running":
        raise _Exit(1, stderr=f"Tailscale is {_backend(state).lower()}.\n")
    port = int(flags.get("https", "443"))
    mount = flags.get("set-path", "") or "/"
    mount = mount if mount.startswith("/") else "/" + mount
    hp = f"{_dns(state)}:{port}"
    if turn_off:
        return _off(config, verb, hp, port, mount)
    if state["serve_disabled"]:
        sys.stdout.write("Serve is not enabled on your tailnet.\nTo enable, visit:\n\n"
                         f"         https://login.tailscale.com/f/serve?node={state['node_id']}\n")
        sys.stdout.flush()
        time.sleep(3600)
    if flags.get("bg") != "true":
        raise _Exit(1, stderr="fake tailscale: foreground serving is not modelled; use --bg\n")
    if verb == "funnel" and port not in ALLOWED_FUNNEL_PORTS:
        raise _Exit(1, stderr=f"port {port} is not allowed for funnel; allowed ports are: "
                              + ",".join(map(str, ALLOWED_FUNNEL_PORTS)) + "\n")
    if state["drop_sets"]:  # says it worked, changes nothing
        return _set({}, verb, hp, port, mount, positional[0])
    return _set(config, verb, hp, port, mount, positional[0])


def run(argv: list[str], state_dir: Path) -> _Exit:
    """One invocation: the exit code and output of ``tailscale <argv>``."""
    with (state_dir / "calls.jsonl").open("a") as calls:
        calls.write(json.dumps(argv) + "\n")
    state = _load(state_dir)
    if state["daemon_down"]:
        return _Exit(1, stderr="failed to connect to local tailscaled; it doesn't appear to be "
                               "running (sudo systemctl start tailscaled ?)\n")
    try:
        if argv[:1] == ["status"]:
            _hang(state, "status")
            return _Exit(0, json.dumps(status_json(state), indent=2) + "\n")
        if argv[:1] in (["serve"], ["funnel"]):
            out = _serve(state, argv[0], argv[1:])
            _save(state_dir, state)
            if argv[1:2] not in (["status"], ["reset"]) and argv[-1] != "off":
                _hang(state, "set-landed")  # applied, then stuck before exiting
            return _Exit(0, out)
        return _Exit(1, stderr=f"tailscale: unknown subcommand: {' '.join(argv[:1])}\n")
    except _Exit as result:
        return result


def main(argv: list[str], state_dir: str) -> int:
    """Entry point of the installed executable."""
    result = run(argv, Path(state_dir))
    sys.stdout.write(result.stdout)
    sys.stderr.write(result.stderr)
    return result.code


# -- the test's handle ---------------------------------------------------------------------------


@dataclass
class FakeTailscale:
    """The installed fake: read what it holds and was asked, change its scenario."""

    bin_dir: Path
    state_dir: Path

    @property
    def executable(self) -> Path:
        return self.bin_dir / "tailscale"

    @property
    def dns_name(self) -> str:
        return _dns(_load(self.state_dir))

    @property
    def node_id(self) -> str:
        return _load(self.state_dir)["node_id"]

    def host_port(self, port: int = 443) -> str:
        return f"{self.dns_name}:{port}"

    def state(self) -> dict[str, Any]:
        return _load(self.state_dir)

    def set(self, **knobs: Any) -> None:
        """Change scenario knobs (see the module docstring) or the raw ``config``."""
        unknown = set(knobs) - set(DEFAULT_STATE) - {"routes"}
        if unknown:
            raise TypeError(f"unknown fake tailscale knobs: {sorted(unknown)}")
        state = _load(self.state_dir)
        routes = knobs.pop("routes", None)
        state.update(knobs)
        for path, target in (routes or {}).items():
            _set(state["config"], "serve", f"{_dns(state)}:443", 443, path, target)
        _save(self.state_dir, state)

    def add_route(self, path: str, target: str, *, port: int = 443, funnel: bool = False) -> None:
        """A route the user made themselves (``tailscale serve|funnel --bg ...``)."""
        state = _load(self.state_dir)
        _set(state["config"], "funnel" if funnel else "serve", f"{_dns(state)}:{port}", port,
             path, target)
        _save(self.state_dir, state)

    def remove_route(self, path: str, *, port: int = 443) -> None:
        state = _load(self.state_dir)
        _off(state["config"], "serve", f"{_dns(state)}:{port}", port, path)
        _save(self.state_dir, state)

    def config(self) -> dict[str, Any]:
        """The serve config as ``tailscale serve status --json`` holds it."""
        return _load(self.state_dir)["config"]

    def routes(self) -> dict[tuple[str, str], str]:
        """``(host:port, path) -> proxy target`` of every handler now served."""
        return {(hp, mount): handler.get("Proxy", "")
                for hp, web in self.config().get("Web", {}).items()
                for mount, handler in web.get("Handlers", {}).items()}

    def funnel(self, port: int = 443) -> bool:
        return self.config().get("AllowFunnel", {}).get(self.host_port(port)) is True

    def calls(self) -> list[list[str]]:
        """The arguments of every invocation so far, oldest first."""
        path = self.state_dir / "calls.jsonl"
        if not path.exists():
            return []
        return [json.loads(line) for line in path.read_text().splitlines() if line]

    def env(self, extra_path_first: bool = True) -> dict[str, str]:
        """``os.environ`` with ``bin_dir`` first (or last) on ``PATH``."""
        env = dict(os.environ)
        parts = [p for p in env.get("PATH", "").split(os.pathsep) if p]
        parts = [str(self.bin_dir), *parts] if extra_path_first else [*parts, str(self.bin_dir)]
        env["PATH"] = os.pathsep.join(parts)
        return env


def install_fake_tailscale(bin_dir: Path, state_dir: Path, **scenario: Any) -> FakeTailscale:
    """Write ``bin_dir/tailscale`` and a fresh ``state_dir/state.json`` with ``scenario``."""
    bin_dir.mkdir(parents=True, exist_ok=True)
    state_dir.mkdir(parents=True, exist_ok=True)
    _save(state_dir, dict(DEFAULT_STATE, config={}))
    executable = bin_dir / "tailscale"
    executable.write_text(
        f"#!{sys.executable}\n"
        "import sys\n"
        f"sys.path.insert(0, {str(REPO_ROOT)!r})\n"
        "from tests.fakes.tailscale import main\n"
        f"sys.exit(main(sys.argv[1:], {str(state_dir)!r}))\n")
    executable.chmod(0o755)
    fake = FakeTailscale(bin_dir, state_dir)
    if scenario:
        fake.set(**scenario)
    return fake
