"""URL helpers the provider packages share (pure)."""

from __future__ import annotations

from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit


def with_query(url: str, **params: str) -> str:
    """``url`` with ``params`` added to (or replacing those in) its query string; the other
    parameters keep their order."""
    parts = urlsplit(url)
    pairs = [(k, v) for k, v in parse_qsl(parts.query, keep_blank_values=True) if k not in params]
    pairs.extend(params.items())
    return urlunsplit(parts._replace(query=urlencode(pairs)))
