"""Checks shared by the apps' services."""

from django.core.exceptions import ValidationError
from django.core.validators import validate_slug


def check_name(kind: str, name: str, error: type[Exception]) -> None:
    """Refuse a name that is not a slug, with ``error`` naming what kind of name it is."""
    try:
        validate_slug(name)
    except ValidationError as exc:
        raise error(
            f"invalid {kind} name {name!r}: use letters, numbers, hyphens and underscores"
        ) from exc
