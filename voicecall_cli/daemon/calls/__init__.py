"""Calls: the call manager, what happens on answer, turns, restore after a restart, timers and
the control API's call operations."""
