"""Tunnels that make the daemon's webhook and stream paths reachable from the internet
(ngrok, Tailscale serve/funnel), and the :class:`Exposure` that owns the one that runs."""
