"""Hyperparameters as the API takes them: the schema of each architecture's (from the same
table the trainer checks, ``training.hyperparameters.ARCHITECTURES``), and a check of their
JSON types before the service checks their values.

The service also takes what commands pass (``--param epochs=5``: strings it reads as numbers);
a JSON body says what it means, so the API holds it to the types its schema shows.
"""

from rest_framework import serializers

from ..training.hyperparameters import ARCHITECTURES, Choice
from ..training.sweep_space import MAX_VALUES

CROSS_FIELD_RULES = (
    "validation_fraction + test_fraction must stay below 0.9; with lr_schedule step, "
    "lr_decay_epochs must be fewer than epochs"
)


def value_schema(param) -> dict:
    """One hyperparameter's JSON Schema: a number in its range, or one of its choices."""
    if isinstance(param, Choice):
        schema = {"type": "string", "enum": list(param.choices)}
    else:
        kind = "integer" if param.kind is int else "number"
        schema = {"type": kind, "minimum": param.minimum, "maximum": param.maximum}
    return {**schema, "default": param.default, "description": param.help}


def hyperparameters_schema(architecture: str) -> dict:
    return {
        "type": "object",
        "properties": {name: value_schema(p) for name, p in ARCHITECTURES[architecture].items()},
        "additionalProperties": False,
        "description": f"{architecture}'s hyperparameters, defaults filling the rest; "
        + CROSS_FIELD_RULES,
    }


def space_schema(architecture: str) -> dict:
    """A sweep's space: each hyperparameter a value, or a list of distinct values to cross."""
    properties = {}
    for name, param in ARCHITECTURES[architecture].items():
        value = value_schema(param)
        listed = {"type": "array", "items": value, "minItems": 1, "maxItems": MAX_VALUES}
        properties[name] = {"oneOf": [value, {**listed, "uniqueItems": True}]}
    return {
        "type": "object",
        "properties": properties,
        "additionalProperties": False,
        "minProperties": 1,
        "description": f"{architecture}'s hyperparameters: a value, or [values] to cross",
    }


def check_types(architecture: str, given: dict, where: str, *, lists: bool = False) -> None:
    """Refuse a value whose JSON type the schema does not allow (a string for a number, a
    choice with spaces around it); names and ranges are the service's to check."""
    params = ARCHITECTURES.get(architecture, {})
    for name, value in given.items():
        param = params.get(name)
        values = value if lists and isinstance(value, list) else [value]
        for item in values if param is not None else ():
            problem = _type_problem(param, item)
            if problem:
                raise serializers.ValidationError(
                    {where: [f"{name} must be {problem}, got {item!r}"]}
                )


def _type_problem(param, value) -> str:
    """What the value should have been, or "" when its type is right (the service's words)."""
    if isinstance(param, Choice):
        ok = isinstance(value, str) and value in param.choices
        return "" if ok else "one of " + ", ".join(param.choices)
    if isinstance(value, bool) or not isinstance(value, int | float):
        return "a number"
    if param.kind is int and not (isinstance(value, int) or value.is_integer()):
        return "a whole number"
    return ""
