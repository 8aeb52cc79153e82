"""Wire-faithful fake carriers for tests, benchmarks and ``voicecall demo``.

Each carrier is a package of its own (``twilio/``, ``telnyx/``; listed in :mod:`.registry`) and
never imports another; what they share sits beside them: :mod:`.base` (the spec and the command
line's common options), :mod:`.serving` (the ASGI plumbing of a fake REST API and the server
that runs it), :mod:`.routing` (loopback-only webhook delivery and the tunnel stand-in),
:mod:`.tasks` (a call's cancellable tasks), :mod:`.media` (the carrier's side of a media stream)
and :mod:`.caller` (the simulated caller's voice on one).
"""
