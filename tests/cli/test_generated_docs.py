"""The committed completions and man page are what the Click tree generates today."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

from voicecall_cli.cli import docgen
from voicecall_cli.cli.exit_codes import ExitCode

PROJECT_ROOT = Path(__file__).resolve().parents[2]


def test_committed_files_are_up_to_date(tmp_path: Path) -> None:
    written = docgen.write(tmp_path)
    assert {p.relative_to(tmp_path).as_posix() for p in written} == {
        "completions/voicecall.bash", "completions/_voicecall", "completions/voicecall.fish",
        "man/voicecall.1"}
    stale = [p.relative_to(tmp_path).as_posix() for p in written
             if not (PROJECT_ROOT / p.relative_to(tmp_path)).is_file()
             or (PROJECT_ROOT / p.relative_to(tmp_path)).read_bytes() != p.read_bytes()]
    assert stale == [], f"stale generated files {stale}: run python -m voicecall_cli.cli.docgen"


def test_generation_is_deterministic() -> None:
    # Not generate() == generate() in one process (that cannot fail for set or dict ordering):
    # two processes with different hash seeds, as two machines would run it.
    script = ("import json; from voicecall_cli.cli import docgen; "
              "print(json.dumps(docgen.generate(), sort_keys=True))")
    outputs = [subprocess.run([sys.executable, "-c", script], capture_output=True, text=True,
                              check=True, cwd=PROJECT_ROOT, timeout=60,
                              env={**os.environ, "PYTHONHASHSEED": seed}).stdout
               for seed in ("1", "2")]
    assert outputs[0] == outputs[1]
    assert json.loads(outputs[0]) == docgen.generate()


def test_man_page_documents_commands_and_every_exit_status() -> None:
    page = docgen.man_page()
    assert page.startswith(".TH VOICECALL 1")
    for section in ("SYNOPSIS", "GLOBAL OPTIONS", "COMMANDS", "EXIT STATUS", "ENVIRONMENT",
                    "FILES"):
        assert f".SH {section}" in page
    for code in ExitCode:
        assert f".B {int(code)}\n" in page
    for usage in ("voicecall call", "voicecall tail", "voicecall daemon start",
                  "voicecall config validate"):
        assert f'.SS "{usage}' in page
    assert "VOICECALL_SOCKET" in page and "VOICECALL_CONFIG" in page


def test_completion_scripts_reach_the_cli() -> None:
    scripts = docgen.generate()
    assert scripts["completions/_voicecall"].startswith("#compdef voicecall\n")
    for name in ("voicecall.bash", "_voicecall", "voicecall.fish"):
        assert "_VOICECALL_COMPLETE" in scripts[f"completions/{name}"]
    # What the bash script asks for when the user types `voicecall da<TAB>`.
    proc = subprocess.run([sys.executable, "-m", "voicecall_cli"], capture_output=True,
                          text=True, timeout=30, cwd=PROJECT_ROOT,
                          env={**os.environ, "_VOICECALL_COMPLETE": "bash_complete",
                               "COMP_WORDS": "voicecall da", "COMP_CWORD": "1"})
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.split() == ["plain,daemon"]
