"""Default locations, shared so the CLI and the daemon always agree (XDG on Linux).

* config:  ``$XDG_CONFIG_HOME/voicecall/config.toml`` (``~/.config``)
* state:   ``$XDG_STATE_HOME/voicecall/`` (``~/.local/state``): the SQLite store and daemon log
* socket:  ``$XDG_RUNTIME_DIR/voicecall/control.sock``; without ``XDG_RUNTIME_DIR`` a private
  ``$TMPDIR/voicecall-<uid>/control.sock`` (the daemon creates the directory 0700).

Precedence for the socket: ``--socket`` > ``VOICECALL_SOCKET`` > config ``controlSocket`` >
default. For the config: ``--config`` > ``VOICECALL_CONFIG`` > default.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path

SOCKET_ENV = "VOICECALL_SOCKET"
CONFIG_ENV = "VOICECALL_CONFIG"
CONFIG_SUFFIXES = (".toml", ".json", ".json5")


def _home(env: Mapping[str, str]) -> Path:
    return Path(env.get("HOME") or os.path.expanduser("~"))


def default_config_path(env: Mapping[str, str] = os.environ) -> Path:
    base = env.get("XDG_CONFIG_HOME") or str(_home(env) / ".config")
    return Path(base) / "voicecall" / "config.toml"


def default_state_dir(env: Mapping[str, str] = os.environ) -> Path:
    base = env.get("XDG_STATE_HOME") or str(_home(env) / ".local" / "state")
    return Path(base) / "voicecall"


def default_socket_path(env: Mapping[str, str] = os.environ) -> Path:
    runtime = env.get("XDG_RUNTIME_DIR")
    if runtime:
        return Path(runtime) / "voicecall" / "control.sock"
    tmp = env.get("TMPDIR") or "/tmp"
    return Path(tmp) / f"voicecall-{os.getuid()}" / "control.sock"


def resolve_config_path(explicit: str | os.PathLike[str] | None,
                        env: Mapping[str, str] = os.environ) -> Path:
    if explicit:
        return Path(explicit).expanduser()
    if env.get(CONFIG_ENV):
        return Path(env[CONFIG_ENV]).expanduser()
    return default_config_path(env)


def resolve_socket_path(explicit: str | os.PathLike[str] | None,
                        configured: str | None = None,
                        env: Mapping[str, str] = os.environ) -> Path:
    if explicit:
        return Path(explicit).expanduser()
    if env.get(SOCKET_ENV):
        return Path(env[SOCKET_ENV]).expanduser()
    if configured:
        return Path(configured).expanduser()
    return default_socket_path(env)


def open_private_append(path: Path) -> int:
    """A file descriptor appending to ``path``, a private file of the state directory (the
    daemon's log, the CLI's error log): created 0600 in a 0700 directory. The caller owns and
    closes the descriptor. Raises ``OSError``."""
    path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    return os.open(path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)
