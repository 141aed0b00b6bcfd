"""Checking `juju run` parameters against the action's schema in actions.yaml, as Juju does.

An action in actions.yaml is a JSON Schema object: `params` are its properties, and `required`
and `additionalProperties` may sit beside them (additional properties are allowed unless it says
false). Juju validates with gojsonschema and refuses the task with "validation failed: " and
each error as `FIELD: DESCRIPTION`, joined by "; ". This checks the keywords charms use: type,
enum, required, additionalProperties, properties and items, nested at any depth.
"""

from __future__ import annotations

from typing import Any

JSON_TYPES = {
    "string": (str,),
    "integer": (int,),
    "number": (int, float),
    "boolean": (bool,),
    "array": (list,),
    "object": (dict,),
    "null": (type(None),),
}


def action_schema(spec: dict[str, Any]) -> dict[str, Any]:
    """The JSON Schema of an action's parameters (its `params` and top-level keywords)."""
    schema: dict[str, Any] = {"type": "object", "properties": spec.get("params") or {}}
    for key in ("required", "additionalProperties"):
        if key in spec:
            schema[key] = spec[key]
    return schema


def validation_errors(schema: dict[str, Any], value: Any, field: str = "(root)") -> list[str]:
    """Every way value breaks schema, in gojsonschema's words."""
    expected = schema.get("type")
    if expected is not None and not _has_type(value, expected):
        names = expected if isinstance(expected, str) else "/".join(expected)
        return [f"{field}: Invalid type. Expected: {names}, given: {_type_name(value)}"]
    errors = []
    if "enum" in schema and value not in schema["enum"]:
        choices = ", ".join(f'"{c}"' if isinstance(c, str) else str(c) for c in schema["enum"])
        errors.append(f"{field}: {field.rsplit('.', 1)[-1]} must be one of the following: {choices}")
    if isinstance(value, dict):
        errors += _object_errors(schema, value, field)
    if isinstance(value, list) and isinstance(schema.get("items"), dict):
        for index, item in enumerate(value):
            errors += validation_errors(schema["items"], item, f"{field}.{index}")
    return errors


def _object_errors(schema: dict[str, Any], value: dict[str, Any], field: str) -> list[str]:
    properties = schema.get("properties") or {}
    errors = [f"{field}: {name} is required" for name in schema.get("required") or [] if name not in value]
    for name, item in value.items():
        child = name if field == "(root)" else f"{field}.{name}"
        if name in properties:
            errors += validation_errors(properties[name] or {}, item, child)
        elif schema.get("additionalProperties") is False:
            errors.append(f"{field}: Additional property {name} is not allowed")
    return errors


def _has_type(value: Any, expected: str | list[str]) -> bool:
    names = [expected] if isinstance(expected, str) else expected
    for name in names:
        if isinstance(value, bool) and name not in ("boolean",):
            continue
        if isinstance(value, JSON_TYPES.get(name, ())):
            return True
        if name == "integer" and isinstance(value, float) and value.is_integer():
            return True
    return False


def _type_name(value: Any) -> str:
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, int):
        return "integer"
    return next((name for name, kinds in JSON_TYPES.items() if isinstance(value, kinds)), "unknown")


def check(spec: dict[str, Any], params: dict[str, Any]) -> str | None:
    """The error Juju gives for params that do not fit the action, or None when they do."""
    errors = validation_errors(action_schema(spec), params)
    return "validation failed: " + "; ".join(errors) if errors else None
