"""The one error type of the speech package.

:class:`SpeechError` is raised for every speech failure a caller should handle: a TTS or STT
request that failed, timed out or was refused. Its message is meant for logs and users, so it
never contains an API key (servers that echo a key back have it masked).
"""

from __future__ import annotations


class SpeechError(Exception):
    """A speech request failed; ``str(error)`` says why and never contains an API key."""
