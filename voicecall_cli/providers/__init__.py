"""Carrier adapters: one subpackage per carrier, sharing only :mod:`.base` and helpers."""
