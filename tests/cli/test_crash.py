"""An unexpected error in the CLI: one line for the user, the traceback in a private file."""

from __future__ import annotations

import os
import stat

from voicecall_cli.cli import crash


def test_the_traceback_goes_to_a_private_file_and_the_user_gets_one_line(
        tmp_path, monkeypatch) -> None:
    monkeypatch.setenv("XDG_STATE_HOME", str(tmp_path))
    try:
        {}["missing"]
    except KeyError as exc:
        log = crash.record(exc)
        line = crash.one_line(exc, log)
    assert log == tmp_path / "voicecall" / crash.LOG_NAME
    text = log.read_text()
    assert "Traceback (most recent call last)" in text and "KeyError: 'missing'" in text
    assert stat.S_IMODE(os.stat(log).st_mode) == 0o600
    assert line == f"unexpected error: KeyError: 'missing' (details in {log})"
    assert "\n" not in line


def test_an_unwritable_state_directory_still_gives_one_line(tmp_path, monkeypatch) -> None:
    blocker = tmp_path / "file"
    blocker.write_text("")
    monkeypatch.setenv("XDG_STATE_HOME", str(blocker))  # a file where a directory must be
    exc = RuntimeError("first line\nsecond line")
    log = crash.record(exc)
    assert log is None
    assert crash.one_line(exc, log) == "unexpected error: RuntimeError: first line"
