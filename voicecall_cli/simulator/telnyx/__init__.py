"""A fake Telnyx (Call Control v2): REST API, Ed25519-signed webhooks, a call runner and
Telnyx's side of media streaming. ``SIMULATOR`` is its registry entry (see :mod:`.spec`);
importing this package is cheap, the simulator proper lives in :mod:`.simulator`."""

from voicecall_cli.simulator.telnyx.spec import SIMULATOR

__all__ = ["SIMULATOR"]
