"""The post-call hook (``hooks.onCallEnded``): a command or a URL run once per ended call.

:class:`HookRunner` (``runner``) owns the deliveries; ``command`` runs a command line with a
timeout, ``url`` POSTs signed JSON with retries; :class:`HookSettings` (``settings``) is the
slice of the configuration they act on. The store's ``hook_runs`` table makes it at most once
across restarts (see :mod:`voicecall_cli.daemon.store.hooks`).
"""

from voicecall_cli.daemon.hooks.runner import MAX_CONCURRENT_HOOKS, HookRunner
from voicecall_cli.daemon.hooks.settings import HookSettings

__all__ = ["MAX_CONCURRENT_HOOKS", "HookRunner", "HookSettings"]
