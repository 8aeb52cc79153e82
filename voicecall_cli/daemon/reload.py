"""``daemon reload`` and SIGHUP: read the config file again and take on what can change live.

:class:`Reloader` re-reads the file the daemon started with, through the same loader and the
same start-up check (``load`` is what ``python -m voicecall_cli.daemon`` used). An invalid file
raises :class:`~voicecall_cli.core.config.ConfigError` and nothing changes. Otherwise
:func:`~voicecall_cli.core.config.reloadable.plan_reload` splits the changed keys into those
that apply and those that need a restart (kept at their running value), and the new pieces are
switched in:

* the call manager's :class:`~voicecall_cli.daemon.calls.settings.CallSettings` (rails, inbound
  policy, timeouts for new calls and turns),
* what the carrier client takes on live (``ProviderClient.reconfigure``: the mock's script),
* the streams' voice (the next utterance) and transcriber factory (the next stream),
* the auto-responder's model client (the next reply),
* the log redactor (secrets of the new file too).

Everything that can fail (loading, building the settings, the carrier's part, the voice, the
model client) happens first; the switch itself is a run of plain assignments with no ``await``
between them, so in trio every turn, call and stream sees either the old settings or the new
ones, never a mix.
Reloads are serialised by a lock. A ``daemon.reloaded`` event records each one that succeeded.

Ownership: the :class:`Reloader` owns the model clients it builds and closes them when
:func:`open_reloader` exits (a replaced client may still be finishing a reply, so none is
closed earlier); the first client belongs to ``open_auto_responder``.
"""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from typing import Any

import trio

from voicecall_cli.core.config import ConfigError, ConfigIssue, VoiceCallConfig
from voicecall_cli.core.config.reloadable import plan_reload
from voicecall_cli.daemon import redaction
from voicecall_cli.daemon.calls.autoreply import (
    AutoResponder,
    build_responder,
    responder_settings,
)
from voicecall_cli.daemon.calls.settings import CallSettings
from voicecall_cli.daemon.hooks import HookSettings
from voicecall_cli.daemon.store import StoreError
from voicecall_cli.protocol import events as ev

log = logging.getLogger("voicecall.reload")

ConfigLoader = Callable[[], VoiceCallConfig]


class Reloader:
    """Applies a re-read configuration to the running daemon (see the module doc).

    ``config`` is the configuration in effect; ``load`` reads and checks the file again
    (None: this daemon has no file to re-read, and :meth:`reload` says so)."""

    def __init__(self, config: VoiceCallConfig, load: ConfigLoader | None) -> None:
        self.config = config
        self._load = load
        self._manager: Any = None
        self._bus: Any = None
        self._media: Any = None
        self._lock = trio.Lock()
        self._responder = responder_settings(config)
        self._auto: AutoResponder | None = None
        self.owned_responders: list[Any] = []

    def bind(self, manager: Any, bus: Any, media: Any = None) -> None:
        """What a reload switches: the call manager (its settings and auto-responder), the
        event bus it reports to, and the media side (None: calls do not stream)."""
        self._manager, self._bus, self._media = manager, bus, media
        self._auto = manager.auto_responder

    async def reload(self) -> dict[str, Any]:
        """Re-read, check and apply the config; ``{ok, applied, needsRestart}``. Raises
        :class:`ConfigError` (nothing changed) when the file is not a valid config."""
        if self._load is None or self._manager is None:
            raise ConfigError.single("", "this daemon cannot read its config file again")
        async with self._lock:
            new = await trio.to_thread.run_sync(self._load)
            plan = plan_reload(self.config.data, new.data)
            effective = VoiceCallConfig(plan.data, source=new.source, warnings=new.warnings,
                                        env_sources=new.env_sources,
                                        key_prefix=new.key_prefix)
            settings = CallSettings.from_config(effective)
            hooks = HookSettings.from_config(effective)
            voice = factory = None
            if self._media is not None:
                from voicecall_cli.daemon.media.wiring import transcriber_factory

                voice = self._media.voice.build(effective.get("tts"))
                factory = transcriber_factory(effective)
            switch_carrier = self._carrier_switch(effective)
            responder_wanted = responder_settings(effective)
            responder = None
            if responder_wanted is not None and responder_wanted != self._responder:
                responder = build_responder(responder_wanted)
                self.owned_responders.append(responder)
            # The switch: no await from here on (all-old or all-new for every reader).
            redaction.install(effective, self.config, new)
            self._manager.settings = settings
            if self._manager.hooks is not None:
                self._manager.hooks.update(hooks)
            switch_carrier()
            if self._media is not None:
                self._media.voice.use(voice)
                self._media.hooks.use_transcriber_factory(factory)
            self._switch_responder(responder_wanted, responder)
            self.config = effective
            applied = [effective.key(path) for path in plan.applied]
            needs_restart = [effective.key(path) for path in plan.needs_restart]
            try:
                self._bus.publish(None, ev.DAEMON_RELOADED,
                                  {"applied": applied, "needsRestart": needs_restart})
            except StoreError as exc:  # the reload happened: a full disk must not say otherwise
                log.error("daemon.reloaded not recorded: %s", exc)
        for warning in new.warnings:
            logging.getLogger("voicecall.config").warning("%s", warning)
        log.info("config reloaded from %s: applied %s; needs a restart: %s",
                 new.source or "the defaults", ", ".join(applied) or "nothing",
                 ", ".join(needs_restart) or "nothing")
        return {"ok": True, "applied": applied, "needsRestart": needs_restart}

    def _carrier_switch(self, config: VoiceCallConfig) -> Callable[[], None]:
        """The carrier client's part (``ProviderClient.reconfigure``); its ``ValueError``
        (``"<key> <what is wrong>"``) is a config error at that key."""
        try:
            return self._manager.provider.client.reconfigure(config)
        except ValueError as exc:
            key, _, message = str(exc).partition(" ")
            raise ConfigError([ConfigIssue(config.key(key), message or key)]) from None

    def _switch_responder(self, wanted: dict[str, Any] | None, built: Any) -> None:
        """No model key: no automatic replies; a changed model client: the next reply uses
        it (the AutoResponder object stays, with what it knows about each call)."""
        self._responder = wanted
        manager = self._manager
        if wanted is None:
            manager.auto_responder = None
            return
        if built is not None:
            if self._auto is None:
                self._auto = AutoResponder(built)
                self._auto.manager = manager
            else:
                self._auto.responder = built
        manager.auto_responder = self._auto

    async def reload_logged(self) -> None:
        """:meth:`reload` for SIGHUP: the outcome goes to the log (and the event), never up."""
        try:
            await self.reload()
        except ConfigError as exc:
            log.error("config reload refused, the running config is kept:\n  %s",
                      str(exc).replace("\n", "\n  "))
        except Exception:
            log.exception("config reload failed, the running config is kept")


@asynccontextmanager
async def open_reloader(config: VoiceCallConfig,
                        load: ConfigLoader | None) -> AsyncIterator[Reloader]:
    """A :class:`Reloader` (bind it once the call manager exists); the model clients it built
    are closed on exit, so open it outside the nursery whose replies use them."""
    reloader = Reloader(config, load)
    try:
        yield reloader
    finally:
        with trio.CancelScope(shield=True):
            for responder in reloader.owned_responders:
                try:
                    await responder.aclose()
                except Exception as exc:  # closing a pool must not fail the shutdown
                    log.warning("closing a model client failed: %s", exc)
