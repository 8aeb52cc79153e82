"""The control API: the private Unix socket, its HTTP framing and the daemon backend it serves."""
