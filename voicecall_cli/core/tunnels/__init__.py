"""Pure parts of the tunnels: reading ngrok's JSON log and Tailscale's JSON, building their
command lines. No I/O; the daemon's ``tunnels`` package runs the tools."""
