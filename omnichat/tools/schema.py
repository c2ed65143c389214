"""A small JSON-schema validator for the subset tool parameters use; no I/O.

Checked: ``type`` (one or a list), ``properties``, ``required``, ``additionalProperties``
(bool or schema), ``items``, ``enum``, ``const``, ``minimum``/``maximum`` (and exclusive),
``minLength``/``maxLength``, ``minItems``/``maxItems``, ``pattern``, ``anyOf``/``oneOf``/
``allOf``. Unknown keywords are ignored, as a permissive validator should: the tool itself
has the last word. ``validate`` returns the first problem as one short sentence, or None.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

# Deeper nesting than this is not checked further (schemas come from MCP servers).
MAX_DEPTH = 32

_TYPES: dict[str, Any] = {
    "object": lambda v: isinstance(v, dict),
    "array": lambda v: isinstance(v, list),
    "string": lambda v: isinstance(v, str),
    "boolean": lambda v: isinstance(v, bool),
    "null": lambda v: v is None,
    "number": lambda v: isinstance(v, (int, float)) and not isinstance(v, bool),
    "integer": lambda v: (isinstance(v, int) and not isinstance(v, bool))
    or (isinstance(v, float) and v.is_integer()),
}


def validate(value: Any, schema: Any, path: str = "arguments", depth: int = 0) -> str | None:
    """The first way ``value`` breaks ``schema``, as a sentence naming the path; or None."""
    if not isinstance(schema, Mapping) or depth > MAX_DEPTH:
        return None
    for check in (_check_type, _check_enum, _check_number, _check_string, _check_array,
                  _check_object, _check_combinators):
        problem = check(value, schema, path, depth)
        if problem:
            return problem
    return None


def _check_type(value: Any, schema: Mapping[str, Any], path: str, depth: int) -> str | None:
    expected = schema.get("type")
    names = [expected] if isinstance(expected, str) else expected
    if not isinstance(names, list) or not names:
        return None
    known = [n for n in names if n in _TYPES]
    if known and not any(_TYPES[n](value) for n in known):
        return f"{path} must be {' or '.join(known)}, not {_kind(value)}"
    return None


def _check_enum(value: Any, schema: Mapping[str, Any], path: str, depth: int) -> str | None:
    if "const" in schema and value != schema["const"]:
        return f"{path} must be {schema['const']!r}"
    options = schema.get("enum")
    if isinstance(options, list) and value not in options:
        shown = ", ".join(repr(o) for o in options[:8])
        return f"{path} must be one of {shown}"
    return None


def _check_number(value: Any, schema: Mapping[str, Any], path: str, depth: int) -> str | None:
    if not _TYPES["number"](value):
        return None
    for key, sign in (("minimum", ">="), ("maximum", "<="), ("exclusiveMinimum", ">"),
                      ("exclusiveMaximum", "<")):
        bound = schema.get(key)
        if isinstance(bound, (int, float)) and not isinstance(bound, bool) \
                and not _holds(value, sign, bound):
            return f"{path} must be {sign} {bound}"
    return None


def _holds(value: float, sign: str, bound: float) -> bool:
    if sign == ">=":
        return value >= bound
    if sign == "<=":
        return value <= bound
    return value > bound if sign == ">" else value < bound


def _check_string(value: Any, schema: Mapping[str, Any], path: str, depth: int) -> str | None:
    if not isinstance(value, str):
        return None
    low, high = schema.get("minLength"), schema.get("maxLength")
    if isinstance(low, int) and len(value) < low:
        return f"{path} must be at least {low} characters"
    if isinstance(high, int) and len(value) > high:
        return f"{path} must be at most {high} characters"
    pattern = schema.get("pattern")
    if isinstance(pattern, str):
        try:
            matched = re.search(pattern, value) is not None
        except re.error:
            return None
        if not matched:
            return f"{path} must match {pattern!r}"
    return None


def _check_array(value: Any, schema: Mapping[str, Any], path: str, depth: int) -> str | None:
    if not isinstance(value, list):
        return None
    low, high = schema.get("minItems"), schema.get("maxItems")
    if isinstance(low, int) and len(value) < low:
        return f"{path} must have at least {low} items"
    if isinstance(high, int) and len(value) > high:
        return f"{path} must have at most {high} items"
    items = schema.get("items")
    for index, item in enumerate(value):
        problem = validate(item, items, f"{path}[{index}]", depth + 1)
        if problem:
            return problem
    return None


def _check_object(value: Any, schema: Mapping[str, Any], path: str, depth: int) -> str | None:
    if not isinstance(value, dict):
        return None
    required = schema.get("required")
    for name in required if isinstance(required, list) else []:
        if name not in value:
            return f"{path}.{name} is required"
    properties = schema.get("properties")
    properties = properties if isinstance(properties, Mapping) else {}
    extra = schema.get("additionalProperties", True)
    for name, item in value.items():
        if name in properties:
            problem = validate(item, properties[name], f"{path}.{name}", depth + 1)
        elif extra is False:
            problem = f"{path}.{name} is not a known parameter"
        else:
            problem = validate(item, extra, f"{path}.{name}", depth + 1)
        if problem:
            return problem
    return None


def _check_combinators(value: Any, schema: Mapping[str, Any], path: str,
                       depth: int) -> str | None:
    for sub in schema.get("allOf") or []:
        problem = validate(value, sub, path, depth + 1)
        if problem:
            return problem
    for key in ("anyOf", "oneOf"):
        options = schema.get(key)
        if isinstance(options, list) and options:
            problems = [validate(value, sub, path, depth + 1) for sub in options]
            if all(problems):
                return problems[0]
    return None


def _kind(value: Any) -> str:
    for name in ("null", "boolean", "integer", "number", "string", "array", "object"):
        if _TYPES[name](value):
            return name
    return type(value).__name__
