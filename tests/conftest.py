"""Run-wide test rules (issue #14, item 21): a hang guard on every test, and private user
directories for everything the run starts.

Every test gets a real-time limit, ``HANG_GUARD_S`` by default, longer or shorter with
``@pytest.mark.hang_guard(seconds)``. It is a hang guard only, never a timing check: the limit is
generous on a loaded 2-core CI machine, and a test that meets it has hung.

- trio tests: the test body runs in a cancel scope that a watchdog thread cancels when the real
  limit passes; the test then fails naming the limit. The watchdog counts wall time, not trio's
  clock, so a test on ``MockClock(autojump_threshold=0)`` does not jump to the guard's deadline.
- sync tests: ``SIGALRM`` interrupts the blocked call (a ``subprocess`` wait, a socket read) and
  the test fails naming the limit.
- both: ``faulthandler`` dumps every thread's stack and ends the process if even that does not
  stop it (a hung fixture teardown, a call that ignores signals), so CI never waits forever.

Owns nothing across tests: the timer, the alarm and the faulthandler dump are set and cleared
around each test call.
"""

from __future__ import annotations

import faulthandler
import functools
import inspect
import os
import shutil
import signal
import tempfile
import threading
from collections.abc import Iterator

import pytest

HANG_GUARD_S = float(os.environ.get("VOICECALL_TEST_HANG_GUARD_S", "120"))
"""The default real-time limit of one test. Generous: a test that reaches it has hung."""

BACKSTOP_EXTRA_S = float(os.environ.get("VOICECALL_TEST_BACKSTOP_EXTRA_S", "60"))
"""faulthandler ends the process this long after twice the limit (setup, call and teardown
together) if the guard could not stop the test."""


class HangGuardError(Exception):
    """Raised by the sync guard's SIGALRM handler inside the blocked call."""


_backstop_file = None  # where faulthandler writes: the terminal's stderr, not pytest's capture


_ISOLATED_ENV = ("XDG_CONFIG_HOME", "XDG_STATE_HOME", "XDG_RUNTIME_DIR")
_session_home: str | None = None


def _isolate_user_dirs() -> None:
    """Point the default config, state and socket directories of everything the run starts
    (CLI, daemons, MCP servers) at a private directory of this process: a test never reads
    the developer's config nor writes their ``~/.local/state/voicecall`` (store, daemon.log),
    and parallel workers (pytest-xdist) never share a store, a log or a socket. A test that
    needs its own still sets them (``monkeypatch.setenv``, an ``env=`` of its own)."""
    global _session_home
    _session_home = tempfile.mkdtemp(prefix="vctest-")
    for name, sub in zip(_ISOLATED_ENV, ("config", "state", "run"), strict=True):
        path = os.path.join(_session_home, sub)
        os.makedirs(path, mode=0o700)
        os.environ[name] = path


def pytest_unconfigure(config: pytest.Config) -> None:
    if _session_home is not None:
        shutil.rmtree(_session_home, ignore_errors=True)


def pytest_configure(config: pytest.Config) -> None:
    global _backstop_file
    _isolate_user_dirs()
    config.addinivalue_line(
        "markers", "hang_guard(seconds): this test's real-time hang guard instead of the default"
    )
    # pytest's fd capture points fd 2 at a temporary file that a killed process never shows;
    # its capture keeps a duplicate of the real stderr, which the stack dump must reach.
    capman = config.pluginmanager.getplugin("capturemanager")
    err = getattr(getattr(capman, "_global_capturing", None), "err", None)
    saved = getattr(err, "targetfd_save", None)
    _backstop_file = os.fdopen(os.dup(saved if isinstance(saved, int) else 2), "w")


def _limit(item: pytest.Item) -> float:
    marker = item.get_closest_marker("hang_guard")
    if marker is None:
        return HANG_GUARD_S
    return float(marker.args[0] if marker.args else marker.kwargs["seconds"])


def _guard_trio(fn, limit: float):
    """``fn`` (a test coroutine function) cancelled after ``limit`` real seconds."""
    import trio
    import trio.testing

    @functools.wraps(fn)
    async def guarded(**kwargs):
        token = trio.lowlevel.current_trio_token()

        def expire() -> None:
            clock = trio.lowlevel.current_clock()
            if isinstance(clock, trio.testing.MockClock):
                # A test on a frozen clock: let the cleanup's own timeouts (a websocket's
                # close handshake) elapse, or the cancelled test could never finish.
                clock.autojump_threshold = 0
            scope.cancel()

        with trio.CancelScope() as scope:
            timer = threading.Timer(limit, token.run_sync_soon, (expire,))
            timer.daemon = True
            timer.start()
            try:
                await fn(**kwargs)
            finally:
                timer.cancel()
        if scope.cancelled_caught:
            pytest.fail(f"hang guard: the test ran longer than {limit:g} s (real time)",
                        pytrace=False)

    guarded._hang_guarded = True
    return guarded


@pytest.hookimpl(hookwrapper=True, tryfirst=True)
def pytest_runtest_call(item: pytest.Item) -> Iterator[None]:
    """Runs before pytest-trio's wrapper, so the coroutine it runs is the guarded one."""
    limit = _limit(item)
    fn = getattr(item, "obj", None)
    is_trio = item.get_closest_marker("trio") is not None
    if is_trio and hasattr(fn, "hypothesis"):
        # pytest-trio runs each example's inner test in its own trio.run: guard each.
        inner = fn.hypothesis.inner_test
        if inspect.iscoroutinefunction(inner) and not getattr(inner, "_hang_guarded", False):
            fn.hypothesis.inner_test = _guard_trio(inner, limit)
    elif (is_trio and inspect.iscoroutinefunction(fn)
          and not getattr(fn, "_hang_guarded", False)):
        item.obj = _guard_trio(fn, limit)
    use_alarm = (not is_trio and hasattr(signal, "setitimer")
                 and threading.current_thread() is threading.main_thread())
    previous = None
    if use_alarm:
        def on_alarm(signum, frame):
            raise HangGuardError(f"hang guard: the test ran longer than {limit:g} s (real time)")
        previous = signal.signal(signal.SIGALRM, on_alarm)
        signal.setitimer(signal.ITIMER_REAL, limit)
    try:
        yield
    finally:
        if use_alarm:
            signal.setitimer(signal.ITIMER_REAL, 0)
            signal.signal(signal.SIGALRM, previous)


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_protocol(item: pytest.Item) -> Iterator[None]:
    """The backstop over setup, call and teardown: a stack dump and exit, never a silent hang."""
    _backstop_file.write("")  # still open
    faulthandler.dump_traceback_later(2 * _limit(item) + BACKSTOP_EXTRA_S, exit=True,
                                      file=_backstop_file)
    try:
        yield
    finally:
        faulthandler.cancel_dump_traceback_later()
