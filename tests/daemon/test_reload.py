"""The reload orchestration in process: a real call manager, store and bus, the real loader on
a real file. Readers see all-old or all-new settings; two reloads at once run one after the
other; a refused file changes nothing."""

from __future__ import annotations

import json
from pathlib import Path
from types import SimpleNamespace

import httpx
import pytest
import trio
import trio.testing

from voicecall_cli.core.config import ConfigError, check_startup, load_config
from voicecall_cli.daemon.calls.settings import CallSettings
from voicecall_cli.daemon.media.streaming import StreamHooks, offline_voice
from voicecall_cli.daemon.media.wiring import SwitchableVoice
from voicecall_cli.daemon.reload import open_reloader

from .manager_harness import open_env_factory

CONFIG = """\
provider = "mock"
maxConcurrentCalls = {calls}
inboundGreeting = "{greeting}"
store = "{store}"
{tts}
"""
TTS = """
[tts.openai]
apiKey = "sk-test-0123456789abcdef"
baseUrl = "http://127.0.0.1:9/v1"
voice = "nova"
"""


def write(path: Path, calls: int, greeting: str, tts: str = "") -> None:
    path.write_text(CONFIG.format(calls=calls, greeting=greeting, store=path.parent / "state",
                                  tts=tts))


def loader(path: Path):
    def load():
        config = load_config(path, {"HOME": str(path.parent)}, explicit=True)
        check_startup(config)
        return config
    return load


async def open_reload_env(tmp_path: Path, nursery: trio.Nursery, load=None):
    path = tmp_path / "config.toml"
    write(path, 1, "old")
    config = loader(path)()
    env = await open_env_factory(tmp_path)(CallSettings.from_config(config), nursery=nursery)
    return path, config, env, load or loader(path)


async def test_readers_see_all_old_or_all_new_settings(tmp_path: Path,
                                                       env_nursery: trio.Nursery) -> None:
    path, config, env, load = await open_reload_env(tmp_path, env_nursery)
    async with httpx.AsyncClient() as http, open_reloader(config, load) as reloader:
        voice = SwitchableVoice(http)
        voice.use(voice.build(config.get("tts")))
        media = SimpleNamespace(voice=voice, hooks=StreamHooks())
        reloader.bind(env.manager, env.bus, media)
        write(path, 4, "new", TTS)
        seen: set[tuple] = set()
        done = trio.Event()

        async def reader() -> None:
            while not done.is_set():
                s = env.manager.settings
                seen.add((s.max_concurrent_calls, s.inbound_greeting,
                          media.voice.current is offline_voice))
                await trio.lowlevel.checkpoint()

        with trio.fail_after(20):
            async with trio.open_nursery() as nursery:
                for _ in range(4):  # trio runs a batch in random order: readers on all sides
                    nursery.start_soon(reader)
                await trio.lowlevel.checkpoint()
                result = await reloader.reload()
                for _ in range(2):  # the reader's turns after the switch
                    await trio.lowlevel.checkpoint()
                done.set()
        assert result == {"ok": True, "needsRestart": [],
                          "applied": ["inboundGreeting", "maxConcurrentCalls",
                                      "tts.openai.apiKey", "tts.openai.baseUrl",
                                      "tts.openai.voice"]}
        assert seen == {(1, "old", True), (4, "new", False)}  # never a mix
        # The OpenAI key now configured also switches automatic replies on, for new replies.
        assert env.manager.auto_responder is not None
        assert env.manager.auto_responder.responder.model == "gpt-4o-mini"
        reloaded = [e["data"] for e in env.store.events_after(0, None)
                    if e["type"] == "daemon.reloaded"]
        assert reloaded == [{"applied": result["applied"], "needsRestart": []}]
        stored = json.dumps(env.store.events_after(0, None))
        assert "sk-test" not in json.dumps(result) and "sk-test" not in stored  # names only


async def test_two_reloads_at_once_run_one_after_the_other(tmp_path: Path,
                                                           env_nursery: trio.Nursery) -> None:
    gate, first_entered = trio.Event(), trio.Event()
    order: list[str] = []
    path = tmp_path / "config.toml"
    real_load = loader(path)

    def gated_load():
        first = not order
        order.append("load")
        if first:  # the first reload's read waits for the gate
            trio.from_thread.run_sync(first_entered.set)
            trio.from_thread.run(gate.wait)
        return real_load()

    path, config, env, load = await open_reload_env(tmp_path, env_nursery, gated_load)
    async with open_reloader(config, load) as reloader:
        reloader.bind(env.manager, env.bus)
        write(path, 2, "new")
        results: list[dict] = []

        async def reload(name: str) -> None:
            results.append({"name": name, **await reloader.reload()})

        with trio.fail_after(20):
            async with trio.open_nursery() as nursery:
                nursery.start_soon(reload, "first")
                await first_entered.wait()
                nursery.start_soon(reload, "second")
                # A second reload that did not wait would read, plan and finish now.
                await trio.testing.wait_all_tasks_blocked(cushion=0.05)
                assert results == [] and order == ["load"]
                gate.set()
    assert [r["name"] for r in results] == ["first", "second"]
    assert results[0]["applied"] == ["inboundGreeting", "maxConcurrentCalls"]
    assert results[1]["applied"] == []  # planned against the first one's outcome
    assert env.manager.settings.max_concurrent_calls == 2


async def test_a_refused_file_changes_nothing(tmp_path: Path,
                                              env_nursery: trio.Nursery) -> None:
    path, config, env, load = await open_reload_env(tmp_path, env_nursery)
    async with open_reloader(config, load) as reloader:
        reloader.bind(env.manager, env.bus)
        before = env.manager.settings
        path.write_text(path.read_text().replace("maxConcurrentCalls = 1",
                                                 "maxConcurrentCalls = 0\nserve = 3"))
        with trio.fail_after(20), pytest.raises(ConfigError) as info:
            await reloader.reload()
        assert {issue.path for issue in info.value.issues} == {"maxConcurrentCalls", "serve"}
        assert env.manager.settings is before
        assert reloader.config is config
        assert "daemon.reloaded" not in [e["type"] for e in env.store.events_after(0, None)]



async def test_the_model_client_follows_the_config_for_the_next_reply(
        tmp_path: Path, env_nursery: trio.Nursery) -> None:
    path, config, env, load = await open_reload_env(tmp_path, env_nursery)
    async with open_reloader(config, load) as reloader:
        reloader.bind(env.manager, env.bus)
        assert env.manager.auto_responder is None  # no key: no automatic replies
        with trio.fail_after(20):
            write(path, 1, "old", TTS)
            await reloader.reload()
            auto = env.manager.auto_responder
            assert auto is not None and auto.responder.model == "gpt-4o-mini"
            path.write_text(path.read_text().replace(
                'inboundGreeting = "old"',
                'inboundGreeting = "old"\nresponseModel = "openai/gpt-4.1-mini"\n'
                'responseSystemPrompt = "Be brief."\nresponseTimeoutMs = 5000'))
            result = await reloader.reload()
            assert result["applied"] == ["responseModel", "responseSystemPrompt",
                                         "responseTimeoutMs"]
            # The same AutoResponder (it knows each call's newest speech), a new model client.
            assert env.manager.auto_responder is auto
            assert (auto.responder.model, auto.responder.system_prompt,
                    auto.responder.timeout_s) == ("gpt-4.1-mini", "Be brief.", 5.0)
            write(path, 1, "old")  # the key gone: no automatic replies from now on
            await reloader.reload()
            assert env.manager.auto_responder is None
        assert len(reloader.owned_responders) == 2
