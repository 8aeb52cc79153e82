"""A real ``voicecall daemon run`` on the mock carrier for the MCP server to talk to.

The MCP tests drive the server with the SDK's own client (``mcp.Client``), in-process and as a
``voicecall mcp`` subprocess over stdio; the daemon is always a real process on its own socket.
"""

from __future__ import annotations

from collections.abc import Callable

import pytest

from tests.e2e.conftest import Daemon, daemon_factory  # noqa: F401  (a pytest fixture)

CONFIG = """\
provider = "mock"
toNumber = "+15550001111"
maxConcurrentCalls = {max_calls}
store = "{store}"

[serve]
bind = "127.0.0.1"
port = 0

[outbound]
defaultMode = "conversation"
notifyHangupDelaySec = 0
{outbound}

[mock]
ringDelayMs = 50
answerDelayMs = 50
replyDelayMs = {reply_delay_ms}
replies = ["Yes, ten works.", "No, that is all."]
{more}
"""

DaemonFactory = Callable[..., Daemon]


@pytest.fixture
def mcp_daemon_factory(daemon_factory: Callable[..., Daemon]) -> DaemonFactory:  # noqa: F811
    """``factory(outbound="...", more="...", max_calls=3, reply_delay_ms=100)``: a started
    daemon whose config adds ``outbound`` lines to ``[outbound]`` and ``more`` (whole tables)
    at the end, its mock callee replying after ``reply_delay_ms``; stopped and removed by the
    e2e ``daemon_factory``."""

    def factory(*, outbound: str = "", more: str = "", max_calls: int = 3,
                reply_delay_ms: int = 100) -> Daemon:
        daemon = daemon_factory()
        daemon.config.write_text(CONFIG.format(store=daemon.root / "state", outbound=outbound,
                                               more=more, max_calls=max_calls,
                                               reply_delay_ms=reply_delay_ms))
        daemon.start()
        return daemon

    return factory


@pytest.fixture
def mcp_daemon(mcp_daemon_factory: DaemonFactory) -> Daemon:
    return mcp_daemon_factory()
