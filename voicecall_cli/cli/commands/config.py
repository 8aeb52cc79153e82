"""``voicecall config init|show|validate|path``: the config file, without the daemon.

These are the only commands that import :mod:`voicecall_cli.core.config` (lazily, inside the
command). The file is the one the global ``--config`` / ``VOICECALL_CONFIG`` / the default
names; a configuration error exits 78 with each issue's key path. Secrets never reach the
output: ``show`` prints the redacted config.
"""

from __future__ import annotations

import json
import os
import re
import tempfile
from pathlib import Path
from typing import TYPE_CHECKING, Any

import click

from voicecall_cli.cli.context import CliContext
from voicecall_cli.cli.exit_codes import CliError, ExitCode
from voicecall_cli.cli.output import emit_json, emit_text, json_option, note, warn

if TYPE_CHECKING:
    from voicecall_cli.core.config import ConfigError, VoiceCallConfig


@click.group("config")
def command() -> None:
    """Write, show, validate or locate the config file."""


@command.command("init")
@click.option("--force", is_flag=True, help="Overwrite an existing file.")
@click.pass_obj
def init(obj: CliContext, force: bool) -> None:
    """Write a commented starter config (mode 0600)."""
    from voicecall_cli.core.config import starter_config_toml

    path = obj.config_path
    if path.suffix.lower() != ".toml":
        raise CliError(f"the starter config is TOML; {path} is not a .toml path", ExitCode.USAGE)
    if path.exists() and not force:
        raise CliError(f"{path} already exists", ExitCode.FAILED,
                       "overwrite it with: voicecall config init --force")
    _write_private(path, starter_config_toml())
    note(f"wrote a starter config to {path}")
    note("edit it, then check it with: voicecall config validate")


@command.command("show")
@json_option
@click.pass_obj
def show(obj: CliContext, as_json: bool) -> None:
    """Show the effective config (secrets redacted)."""
    from voicecall_cli.core.config import startup_issues

    config = _load(obj)
    for message in config.warnings:
        warn(message)
    for issue in startup_issues(config):
        warn(f"the daemon will not start: {issue}")
    data = config.redacted()
    if as_json:
        emit_json(data)
    else:
        source = config.source or f"built-in defaults (no file at {obj.config_path})"
        emit_text(f"# effective configuration from {source}; secrets redacted\n"
                  + toml_text(data).rstrip("\n"))


@command.command("validate")
@json_option
@click.pass_obj
def validate(obj: CliContext, as_json: bool) -> None:
    """Check the config file (exit 78 on a problem)."""
    from voicecall_cli.core.config import ConfigError, check_startup

    path = obj.config_path
    config = None
    try:
        config = _load(obj, wrap_errors=False)
        check_startup(config)  # the daemon's own start-up check: validate and start agree
    except ConfigError as err:
        warnings = list(config.warnings) if config is not None else []
        if as_json:
            emit_json({"ok": False, "path": str(path),
                       "issues": [{"path": i.path, "message": i.message} for i in err.issues],
                       "warnings": warnings})
        else:
            for message in warnings:
                warn(message)
        raise _config_failure(err, path) from None
    warnings = list(config.warnings)
    if as_json:
        emit_json({"ok": True, "path": str(path), "exists": config.source is not None,
                   "warnings": warnings})
        return
    for message in warnings:
        warn(message)
    suffix = "" if config.source is not None else " (no file: the built-in defaults apply)"
    emit_text(f"ok: {path}{suffix}")


@command.command("path")
@click.option("--socket", "socket", is_flag=True,
              help="Print the control socket's path instead (as the other commands find it: "
                   "--socket, VOICECALL_SOCKET, the config's controlSocket, the default).")
@json_option
@click.pass_obj
def path_command(obj: CliContext, socket: bool, as_json: bool) -> None:
    """Print the config file's path (whether or not it exists), or the socket's."""
    if as_json:
        emit_json({"path": str(obj.config_path), "exists": obj.config_path.is_file(),
                   "socket": str(obj.socket_path)})
    else:
        emit_text(str(obj.socket_path if socket else obj.config_path))


def _load(obj: CliContext, *, wrap_errors: bool = True) -> VoiceCallConfig:
    from voicecall_cli.core.config import ConfigError, load_config

    try:
        return load_config(obj.config_path, obj.env, explicit=obj.config_is_explicit)
    except ConfigError as err:
        if not wrap_errors:
            raise
        raise _config_failure(err, obj.config_path) from None


def _config_failure(err: ConfigError, path: Path) -> CliError:
    """Exit 78 naming each issue's key path (and the file, when the issue is not the file)."""
    if len(err.issues) == 1:
        issue = err.issues[0]
        where = "" if issue.path == str(path) else f" (in {path})"
        return CliError(f"{issue}{where}", ExitCode.CONFIG_ERROR)
    listing = "\n".join(f"  {issue}" for issue in err.issues)
    return CliError(f"{len(err.issues)} problems in {path}:\n{listing}", ExitCode.CONFIG_ERROR)


def _write_private(path: Path, text: str) -> None:
    """Write ``text`` to ``path`` atomically, mode 0600 (parent directories created 0700)."""
    path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    fd, temp = tempfile.mkstemp(prefix=f".{path.name}.", dir=path.parent)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as fh:
            fh.write(text)
        os.chmod(temp, 0o600)
        os.replace(temp, path)
    except BaseException:
        Path(temp).unlink(missing_ok=True)
        raise


_BARE_KEY = re.compile(r"^[A-Za-z0-9_-]+$")


def toml_text(data: dict[str, Any], table: str = "") -> str:
    """``data`` as TOML for reading: scalars first, then one ``[table]`` per nested object.

    Unset values (``None``, which TOML cannot hold) appear as ``# key = (unset)`` comments.
    """
    lines: list[str] = []
    nested: list[tuple[str, dict[str, Any]]] = []
    for key, value in data.items():
        if isinstance(value, dict):
            nested.append((f"{table}.{_key(key)}" if table else _key(key), value))
        elif value is None:
            lines.append(f"# {_key(key)} = (unset)")
        else:
            lines.append(f"{_key(key)} = {_value(value)}")
    for name, value in nested:
        if lines:
            lines.append("")
        if not value or any(not isinstance(v, dict) for v in value.values()):
            lines.append(f"[{name}]")
        body = toml_text(value, name).rstrip("\n")
        if body:
            lines.append(body)
    return "\n".join(lines) + "\n"


def _key(key: str) -> str:
    return key if _BARE_KEY.match(key) else json.dumps(key, ensure_ascii=False)


def _value(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float):
        return repr(value)
    if isinstance(value, list | tuple):
        return "[" + ", ".join(_value(v) for v in value if v is not None) + "]"
    if isinstance(value, dict):
        items = ", ".join(f"{_key(k)} = {_value(v)}" for k, v in value.items() if v is not None)
        return "{ " + items + " }" if items else "{}"
    return json.dumps(str(value), ensure_ascii=False)
