"""``voicecall completion bash|zsh|fish``: print the shell's completion script.

The script is the one ``completions/`` holds (both come from
:func:`voicecall_cli.cli.docgen.completion_script`), so completions work after a wheel install
as they do from a checkout. It asks ``voicecall`` itself for candidates
(``_VOICECALL_COMPLETE``), so it never goes stale when commands change.
"""

from __future__ import annotations

import click

from voicecall_cli.cli.output import emit_json, emit_text, json_option

SHELLS = ("bash", "zsh", "fish")


@click.command("completion")
@click.argument("shell", type=click.Choice(SHELLS))
@json_option
def command(shell: str, as_json: bool) -> None:
    """Print the completion script for bash, zsh or fish.

    Install it once, where your shell loads completions from:

    \b
      bash: voicecall completion bash > ~/.local/share/bash-completion/completions/voicecall
      zsh:  voicecall completion zsh > ~/.zfunc/_voicecall
            (and in ~/.zshrc, before compinit: fpath=(~/.zfunc $fpath))
      fish: voicecall completion fish > ~/.config/fish/completions/voicecall.fish

    Or load it in every new shell, e.g. eval "$(voicecall completion bash)" in ~/.bashrc.
    Call ids complete from the running daemon's active calls. With --json: {"shell",
    "file" (the name the shell looks for), "script"}.
    """
    from voicecall_cli.cli.docgen import COMPLETION_SHELLS, completion_script

    script = completion_script(shell)
    if as_json:
        emit_json({"shell": shell, "file": COMPLETION_SHELLS[shell][0], "script": script})
    else:
        emit_text(script.rstrip("\n"))
