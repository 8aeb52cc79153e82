"""``voicecall mcp``: a stdio MCP server with the seed's ``voice_call`` tool for AI agents.

It reaches the daemon only through :mod:`voicecall_cli.client`, like the CLI, and starts
nothing of the daemon in-process. Importing this package is cheap; the SDK (``mcp``, the
``voicecall[mcp]`` extra) is imported by :mod:`.server`.
"""
