"""``voicecall expose``: put the running daemon behind Tailscale serve or funnel, or take it off.

The daemon does the work (``voicecall.expose``): it mounts the webhook path and the media-stream
path with the ``tailscale`` command, checks them, and switches its public, signed and stream URLs
together, so calls in progress keep working. ``off`` removes only the routes voicecall added.
Exit 1 when Tailscale refused; the previous exposure is kept.
"""

from __future__ import annotations

from typing import Any

import click

from voicecall_cli.cli.context import CliContext, build_request
from voicecall_cli.cli.exit_codes import CliError, ExitCode
from voicecall_cli.cli.output import emit_json, emit_text, json_option, note
from voicecall_cli.protocol import ExposeRequest
from voicecall_cli.protocol.messages import EXPOSE_MODES

EXPOSE_TIMEOUT_S = 60.0  # mounting two paths and verifying them runs a few tailscale commands


@click.command("expose")
@click.option("--mode", type=click.Choice(EXPOSE_MODES), default="funnel", show_default=True,
              help="funnel: public on the internet; serve: your tailnet only; off: remove "
                   "what voicecall added.")
@click.option("--path", metavar="PATH",
              help="Where the webhook is mounted publicly [default: serve.path]; the stream "
                   "path is mounted as it is.")
@json_option
@click.pass_obj
def command(obj: CliContext, mode: str, path: str | None, as_json: bool) -> None:
    """Expose the running daemon with Tailscale (serve or funnel), or stop."""
    result = obj.rpc(build_request(ExposeRequest, mode=mode, path=path),
                     timeout=EXPOSE_TIMEOUT_S, expect="ok")
    if as_json:
        emit_json(result)
    if not result.get("ok"):
        raise CliError(f"tailscale {mode} failed: {result.get('error')}", ExitCode.FAILED,
                       _hint_text(result.get("hint")))
    if as_json:
        return
    if mode == "off":
        note("exposure off: voicecall's Tailscale routes are removed")
        emit_text(str(result.get("publicUrl") or result.get("localUrl")))
        return
    emit_text(str(result.get("publicUrl")))
    if result.get("streamUrl"):
        note(f"media streams: {result['streamUrl']}")
    if mode == "serve":
        note("serve is reachable only inside your tailnet; carriers need "
             "`voicecall expose --mode funnel`")


def _hint_text(hint: Any) -> str | None:
    if not isinstance(hint, dict):
        return None
    parts = [str(hint.get("note") or "").strip()]
    if hint.get("enableUrl"):
        parts.append(f"enable it at {hint['enableUrl']}")
    return " ".join(part for part in parts if part) or None
