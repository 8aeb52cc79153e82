"""A fake Twilio: REST API, signed webhooks, a TwiML runner and the caller's side of Media
Streams. ``SIMULATOR`` is its registry entry (see :mod:`.spec`); importing this package is
cheap, the simulator proper lives in :mod:`.simulator`."""

from voicecall_cli.simulator.twilio.spec import SIMULATOR

__all__ = ["SIMULATOR"]
