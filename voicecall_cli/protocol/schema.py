"""JSON Schema (draft 2020-12) of the protocol's view dataclasses, built from their type hints.

The views in :mod:`.views` are the one definition of what the daemon answers; this module turns
them into the schemas the MCP server publishes (``outputSchema`` of its tool), so an agent's
client checks every answer against the same definition the daemon and the CLI use. Stdlib only.

Supported hints: ``str``, ``int``, ``float``, ``bool``, ``X | None``, ``Literal[...]``,
``tuple[X, ...]``, ``list[X]``, ``dict[str, Any]``, ``Any`` and nested view dataclasses. A field
with a default is optional (one whose default is ``None`` is left out rather than sent as
null, so its schema does not allow null); a view's ``WIRE_NAMES`` renames fields.
"""

from __future__ import annotations

import dataclasses
import types
import typing
from typing import Any, Literal, Union

_SCALARS: dict[type, str] = {str: "string", int: "integer", float: "number", bool: "boolean"}


def json_schema(view: type) -> dict[str, Any]:
    """The object schema of the dataclass ``view`` (extra properties allowed: newer daemons
    may add fields, and old clients must keep working)."""
    hints = typing.get_type_hints(view)
    wire: dict[str, str] = getattr(view, "WIRE_NAMES", {})
    properties: dict[str, Any] = {}
    required: list[str] = []
    for field in dataclasses.fields(view):
        name = wire.get(field.name, field.name)
        hint = hints[field.name]
        if field.default is None:  # optional: left out when None, so never null on the wire
            hint = without_none(hint)
        properties[name] = _schema_of(hint)
        if field.default is dataclasses.MISSING and field.default_factory is dataclasses.MISSING:
            required.append(name)
    schema: dict[str, Any] = {"type": "object", "properties": properties}
    if required:
        schema["required"] = required
    if view.__doc__:
        schema["description"] = " ".join(view.__doc__.split())
    return schema


def merged_schema(*views: type, description: str = "") -> dict[str, Any]:
    """One object schema holding every property of ``views`` (none required): the shape of a
    value that is one of them, where their property names never disagree."""
    properties: dict[str, Any] = {}
    for view in views:
        for name, prop in json_schema(view)["properties"].items():
            if properties.setdefault(name, prop) != prop:
                raise ValueError(f"views disagree on the property {name!r}")
    schema: dict[str, Any] = {"type": "object", "properties": properties}
    if description:
        schema["description"] = description
    return schema


def without_none(hint: Any) -> Any:
    """``X`` for the hint ``X | None`` (a union of the rest if several remain); other hints
    unchanged."""
    if typing.get_origin(hint) in (Union, types.UnionType):
        args = tuple(arg for arg in typing.get_args(hint) if arg is not type(None))
        return args[0] if len(args) == 1 else Union[args]  # noqa: UP007
    return hint


def _schema_of(hint: Any) -> dict[str, Any]:
    if hint is Any:
        return {}
    if hint in _SCALARS:
        return {"type": _SCALARS[hint]}
    if dataclasses.is_dataclass(hint):
        return json_schema(hint)  # type: ignore[arg-type]
    origin = typing.get_origin(hint)
    args = typing.get_args(hint)
    if origin is Literal:
        return {"enum": list(args)}
    if origin in (Union, types.UnionType):
        options = [_schema_of(arg) for arg in args if arg is not type(None)]
        nullable = len(options) < len(args)
        if len(options) == 1 and "type" in options[0] and nullable:
            return {**options[0], "type": [options[0]["type"], "null"]}
        if nullable:
            options.append({"type": "null"})
        return {"anyOf": options}
    if origin in (tuple, list):
        return {"type": "array", "items": _schema_of(args[0]) if args else {}}
    if origin is dict:
        return {"type": "object"}
    raise TypeError(f"no JSON Schema for the type hint {hint!r}")
