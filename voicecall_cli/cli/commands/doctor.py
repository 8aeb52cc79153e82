"""``voicecall doctor``: can a carrier reach this set-up, and if not, what to change.

One line per check, each ``ok``, ``warn``, ``fail`` or ``skip``, with what to change under
anything that is not ok. The config file is checked here (the same start-up check as
``config validate``); the rest comes from the running daemon (``daemon.doctor``): the public
URL the carrier is given, the tunnel, a signed probe through the public URL back to the
daemon's own webhook, the stream path, the clock against the carrier's API and the last
rejected webhook. Exit 0 when nothing fails, else 1. ``--json``: ``{"ok", "checks": [...]}``.
"""

from __future__ import annotations

from typing import Any

import click

from voicecall_cli.cli.context import CliContext, build_request
from voicecall_cli.cli.exit_codes import CliError, ExitCode
from voicecall_cli.cli.output import emit_json, emit_text, json_option
from voicecall_cli.protocol import ApiError, DoctorRequest, ErrorCode

DOCTOR_TIMEOUT_S = 45.0  # the daemon's probes are bounded at 8 s each


@click.command("doctor")
@json_option
@click.pass_obj
def command(obj: CliContext, as_json: bool) -> None:
    """Check that carriers can reach the daemon; say what to change."""
    checks, provider = _config_checks(obj)
    checks += _daemon_checks(obj, provider)
    ok = not any(check["status"] == "fail" for check in checks)
    if as_json:
        emit_json({"ok": ok, "checks": checks})
    else:
        emit_text(format_checks(checks))
    if not ok:
        failed = [check["name"] for check in checks if check["status"] == "fail"]
        raise CliError(f"{len(failed)} check{'s' if len(failed) > 1 else ''} failed: "
                       f"{', '.join(failed)}", ExitCode.FAILED)


def format_checks(checks: list[dict[str, Any]]) -> str:
    """``status  name  summary`` per check, with ``fix:`` lines under the ones not ok."""
    width = max((len(check["name"]) for check in checks), default=0)
    lines = []
    for check in checks:
        lines.append(f"{check['status']:<5} {check['name']:<{width}}  {check['summary']}")
        if check.get("fix") and check["status"] != "ok":
            lines.append(f"{'':<5} {'':<{width}}  fix: {check['fix']}")
    return "\n".join(lines)


def _check(name: str, status: str, summary: str, fix: str | None = None) -> dict[str, Any]:
    data = {"name": name, "status": status, "summary": summary}
    if fix:
        data["fix"] = fix
    return data


def _config_checks(obj: CliContext) -> tuple[list[dict[str, Any]], str | None]:
    """The file's checks, and the provider it names (None when it does not load)."""
    from voicecall_cli.core.config import ConfigError, load_config, startup_issues
    from voicecall_cli.core.config.validate import REQUIRED_CREDENTIALS

    path = obj.config_path
    try:
        config = load_config(path, obj.env, explicit=obj.config_is_explicit)
    except ConfigError as err:
        credential, other = _split_issues(err.issues)
        fix = ("fix the keys named, then `voicecall config validate`" if path.exists()
               else "write one with `voicecall config init`")
        checks = [_check("config", "fail", _issues_text(path, other), fix)] if other \
            else [_check("config", "ok", f"{path} is valid apart from credentials")]
        if credential:
            checks.append(_check("credentials", "fail", "; ".join(map(str, credential)),
                                 "set them in the config file or the environment variables "
                                 "named"))
        return checks, None
    source = str(path) if config.source is not None else f"no file at {path}: built-in defaults"
    issues = startup_issues(config)
    checks = [_check("config", "fail" if issues else "ok",
                     f"{source}: " + "; ".join(map(str, issues)) if issues else
                     f"{source} is valid (provider {config.provider})",
                     "fix the keys named, then `voicecall config validate`" if issues else None)]
    paths = REQUIRED_CREDENTIALS.get(config.provider)
    if paths is None:
        checks.append(_check("credentials", "skip", "the mock carrier needs none"))
    else:
        checks.append(_check("credentials", "ok",
                             f"{', '.join(paths)} are set (file or environment)"))
    return checks, config.provider


def _issues_text(path: Any, issues: list[Any]) -> str:
    text = "; ".join(map(str, issues))
    return text if str(path) in text else f"{path}: {text}"


def _split_issues(issues: list[Any]) -> tuple[list[Any], list[Any]]:
    """(the missing-credential issues, the others): the loader's own list of what each
    carrier requires decides (an OpenClaw file prefixes the key paths)."""
    from voicecall_cli.core.config.validate import REQUIRED_CREDENTIALS

    required = tuple(path for paths in REQUIRED_CREDENTIALS.values() for path in paths)
    credential = [issue for issue in issues if issue.path.endswith(required)]
    return credential, [issue for issue in issues if issue not in credential]


def _daemon_checks(obj: CliContext, provider: str | None) -> list[dict[str, Any]]:
    try:
        socket_path = obj.socket_path  # the file's controlSocket, when it parses
    except CliError as err:
        return [_check("daemon", "fail", f"cannot tell where its socket is: {err.message}",
                       "fix the config file, or give --socket")]
    try:
        health = obj.client().health()
    except ApiError as err:
        if err.code is ErrorCode.DAEMON_NOT_RUNNING:
            return [_check("daemon", "fail", f"not running (socket {socket_path})",
                           "start it with `voicecall daemon start`")]
        return [_check("daemon", "fail", err.message)]
    running = health.get("provider")
    summary = (f"running, pid {health.get('pid')}, provider {running}, listening at "
               f"{health.get('localUrl')}")
    checks = [_check("daemon", "ok", summary)]
    if provider is not None and running != provider:
        checks[0] = _check("daemon", "warn", summary + f"; the config file now says {provider}",
                           "restart it to apply the file: `voicecall daemon restart`")
    result = obj.rpc(build_request(DoctorRequest), timeout=DOCTOR_TIMEOUT_S, expect="checks")
    return checks + [check for check in result["checks"] if isinstance(check, dict)]
