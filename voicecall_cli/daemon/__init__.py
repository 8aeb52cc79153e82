"""The voicecall daemon: the only package that runs trio, hypercorn and quart-trio services."""
