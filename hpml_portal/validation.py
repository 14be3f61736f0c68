"""Checks shared by the apps' services."""

from django.core.exceptions import ValidationError
from django.core.validators import validate_slug

# Names (of teams, datasets, experiments, models) are slug columns of this many characters.
MAX_NAME_LENGTH = 100


def check_name(
    kind: str, name: str, error: type[Exception], *, max_length: int = MAX_NAME_LENGTH
) -> None:
    """Refuse a name that is not a slug or is longer than its column (``max_length``), with
    ``error`` naming what kind of name it is."""
    if isinstance(name, str) and len(name) > max_length:
        raise error(f"invalid {kind} name: at most {max_length} characters, got {len(name)}")
    try:
        validate_slug(name)
    except ValidationError as exc:
        raise error(
            f"invalid {kind} name {name!r}: use letters, numbers, hyphens and underscores"
        ) from exc
