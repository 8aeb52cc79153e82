"""A store whose disk is full (issue #14, items 9 and 12): the error names the file and says
what happened, and at start-up it is one that may clear by itself (exit 1, systemd retries),
unlike a store directory that cannot be made (exit 78)."""

from __future__ import annotations

import resource
import time

import pytest

from voicecall_cli.core.call import CallRecord
from voicecall_cli.core.states import CallState
from voicecall_cli.daemon.startup import store_startup_error
from voicecall_cli.daemon.store import FILENAME, Store, StoreError


def record(call_id: str) -> dict:
    return CallRecord(call_id=call_id, provider="mock", direction="outbound",
                      state=CallState.INITIATED, from_number="+15550000000",
                      to_number="+15550001111", started_at=int(time.time() * 1000),
                      metadata={"filler": "x" * 20_000}).to_dict()


def test_a_full_disk_names_the_store_and_is_transient(tmp_path) -> None:
    with Store.open(tmp_path / "state") as store:
        store.save_call(record("before"))
        soft, hard = resource.getrlimit(resource.RLIMIT_FSIZE)
        resource.setrlimit(resource.RLIMIT_FSIZE, (1, hard))  # this process: nothing grows
        try:
            with pytest.raises(StoreError) as failed:
                store.save_call(record("during"))
        finally:
            resource.setrlimit(resource.RLIMIT_FSIZE, (soft, hard))
        store.save_call(record("after"))  # space is back: the same store works again
        assert store.get_call("during") is None and store.get_call("after") is not None
    message = str(failed.value)
    assert str(tmp_path / "state" / FILENAME) in message and "cannot be written" in message
    assert failed.value.transient
    startup = store_startup_error(failed.value, tmp_path / "state")
    assert startup.exit_code == 1 and str(startup).startswith(f"store '{tmp_path / 'state'}'")


def test_a_store_directory_that_cannot_be_made_needs_its_user(tmp_path) -> None:
    (tmp_path / "file").write_text("")
    with pytest.raises(StoreError) as failed:
        Store.open(tmp_path / "file" / "state")
    assert not failed.value.transient
    assert store_startup_error(failed.value, tmp_path / "file" / "state").exit_code == 78
