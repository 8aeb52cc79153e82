"""The thin ``voicecall`` client: click + stdlib + :mod:`voicecall_cli.protocol` on its hot path."""
