"""A fake Plivo (Voice API + XML): REST API, V3/V2-signed requests to the app, an XML runner
that checks Plivo's element rules, and Plivo's side of audio streams. ``SIMULATOR`` is its
registry entry (see :mod:`.spec`); importing this package is cheap, the simulator proper lives
in :mod:`.simulator`."""

from voicecall_cli.simulator.plivo.spec import SIMULATOR

__all__ = ["SIMULATOR"]
