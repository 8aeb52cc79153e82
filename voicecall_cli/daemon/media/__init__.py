"""Media streams: the websocket endpoint, each socket's outbox, paced playback, and the wiring
of stream events to the calls."""
