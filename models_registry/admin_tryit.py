"""What the model page's "try it" form knows about a model's input: whether it is an image a
person can draw (and the range of the values it was trained on), which dataset versions give
example rows, and one such row read from storage.

Dataset versions are reached through the model version's foreign key and ``apps.get_model``;
only reading a stored row imports ``datasets.formats`` (plain NumPy readers), where it is used,
so the registry's models and services keep to their one-way imports.
"""

import math
from dataclasses import dataclass

from botocore.exceptions import BotoCoreError, ClientError
from django.apps import apps
from django.conf import settings
from django.http import JsonResponse
from django.template.defaultfilters import filesizeformat

from hpml_portal.errors import InvalidRequest, NotFound, ServiceError, Unavailable
from hpml_portal.lineage import ancestor_ids
from hpml_portal.storage import local_copy

from .models import ModelVersion
from .selectors import DEFAULT_ALIAS

MIN_SIDE = 4  # smaller "images" are feature vectors that happen to be square
MAX_SIDE = 128  # a drawn row above 128x128 values would be a slow, heavy request body
CHOICES = 50  # dataset versions offered for example rows
SCANNED = 500  # READY versions looked at to find those
# Reading a row copies the stored file to local disk first: only small files are read here.
EXAMPLE_MAX_BYTES = 64 * 1024**2
READY = "READY"


@dataclass(frozen=True)
class InputImage:
    """A model input that can be drawn: its size and the range of its training values."""

    height: int
    width: int
    low: float
    high: float
    source: str  # the dataset version the range comes from; "" for the default 0 to 1


def image_size(
    input_shape: list[int], data_shapes: list[list[int]], drawn: bool
) -> tuple[int, int] | None:
    """(height, width) of a one-channel image input, else None.

    A flat input is an image when the data it learnt from was shaped as one of that size
    (a reshape recipe), or was drawn as images when ingested (square rows, like digits' 64).
    """
    shape = list(input_shape)
    if len(shape) == 3 and shape[2] == 1:
        shape = shape[:2]
    if len(shape) == 1:
        size = shape[0]
        shape = next((s[:2] for s in data_shapes if _one_channel(s) and math.prod(s) == size), [])
        side = math.isqrt(size)
        if not shape and drawn and side * side == size:
            shape = [side, side]
    if len(shape) != 2 or not MIN_SIDE <= min(shape) <= max(shape) <= MAX_SIDE:
        return None
    return shape[0], shape[1]


def _one_channel(shape: list[int]) -> bool:
    return len(shape) == 2 or (len(shape) == 3 and shape[2] == 1)


def reference_version(model) -> ModelVersion | None:
    """The version the form describes: production's, else the newest one that is served.
    ``model.aliases`` comes prefetched with the model page's object."""
    served = ModelVersion.objects.filter(model=model, archived_at__isnull=True).select_related(
        "dataset_version__dataset"
    )
    production = next((a.version_id for a in model.aliases.all() if a.alias == DEFAULT_ALIAS), None)
    found = served.filter(pk=production).first() if production else None
    return found or served.order_by("-version").first()


def data_chain(dataset_version) -> list:
    """A dataset version and its ancestors, nearest first; the last is the raw data whose
    rows the model takes (it applies the recipes itself)."""
    if dataset_version is None:
        return []
    model = type(dataset_version)
    ids = ancestor_ids(model, dataset_version.pk)
    rows = model.objects.select_related("dataset").in_bulk(ids) if ids else {}
    return [dataset_version, *(rows[pk] for pk in ids if pk in rows)]


def input_image(version: ModelVersion | None) -> InputImage | None:
    if version is None:
        return None
    chain = data_chain(version.dataset_version)
    size = image_size(
        version.signature.get("input_shape") or [],
        [v.schema.get("feature_shape") or [] for v in chain],
        any(v.thumbnails for v in chain),
    )
    if size is None:
        return None
    stats = chain[-1].stats if chain else {}
    overall = stats.get("overall") or stats
    low, high = overall.get("min"), overall.get("max")
    if low is None or high is None or not high > low:
        return InputImage(*size, 0.0, 1.0, "")
    return InputImage(*size, float(low), float(high), chain[-1].ref)


def example_sources(model, features: int) -> list[dict]:
    """READY dataset versions of the model's team whose rows hold ``features`` values: those
    its versions learnt from first, newest version first, then the others by name."""
    versions = apps.get_model("datasets", "DatasetVersion").objects
    ready = versions.filter(dataset__team_id=model.team_id, status=READY).order_by(
        "dataset__name", "-version"
    )
    found = ready.values_list("pk", "dataset__name", "version", "schema__feature_shape")
    learnt = (
        ModelVersion.objects.filter(model=model, dataset_version__isnull=False)
        .order_by("-version")
        .values_list("dataset_version_id", flat=True)
    )
    rank: dict[int, int] = {}  # dataset version -> how recent the newest model trained on it
    for pk in learnt:
        rank.setdefault(pk, len(rank))
    rows = [
        {"id": pk, "ref": f"{name}:{number}", "learnt": pk in rank}
        for pk, name, number, shape in found[:SCANNED]
        if math.prod(shape or [0]) == features
    ]
    rows.sort(key=lambda row: rank.get(row["id"], len(rank)))  # stable: names stay in order
    return rows[:CHOICES]


def example_response(model, query) -> JsonResponse:
    """``{"instance", "label", "row", "rows", ...}`` for ``?dataset_version=ID&row=N``, or
    ``{"detail": why}`` with the status of what was wrong."""
    try:
        version = _dataset_version(model, query.get("dataset_version"))
        row = _row_number(version, query.get("row"))
        instance, label, source = _read_row(version, row)
    except ServiceError as exc:
        return JsonResponse({"detail": str(exc)}, status=exc.http_status)
    return JsonResponse(
        {
            "instance": instance,
            "label": label,
            "row": row,
            "rows": version.schema["samples"],
            "dataset_version": version.ref,
            "source": source,
        }
    )


def _dataset_version(model, given: str | None):
    if not (given or "").isdecimal():
        raise InvalidRequest("dataset_version must be the id of a dataset version")
    versions = apps.get_model("datasets", "DatasetVersion").objects.select_related("dataset")
    # Another team's version reads as missing, like every object of another team.
    version = versions.filter(pk=int(given), dataset__team_id=model.team_id).first()
    if version is None:
        raise NotFound(f"team {model.team.slug!r} has no dataset version {given}")
    if version.status != READY:
        raise InvalidRequest(f"{version.ref} is {version.status}: rows come from READY versions")
    return version


def _row_number(version, given: str | None) -> int:
    samples = int(version.schema.get("samples") or 0)
    within = f"{version.ref} has {samples} rows, numbered 0 to {samples - 1}"
    try:
        row = int(given or "")
    except ValueError:
        raise InvalidRequest(f"row must be a whole number: {within}") from None
    if not 0 <= row < samples:
        raise InvalidRequest(f"there is no row {row}: {within}")
    return row


def _read_row(version, row: int) -> tuple[list, object, str]:
    """Row ``row`` of the raw data behind ``version`` (recipes keep the order of rows), as
    the flat list a prediction takes, its label, and the raw version's reference."""
    from datasets import formats

    raw = data_chain(version)[-1]
    if raw.size_bytes > EXAMPLE_MAX_BYTES:
        raise InvalidRequest(
            f"{raw.ref} is {filesizeformat(raw.size_bytes)}: rows are read here from files "
            f"up to {filesizeformat(EXAMPLE_MAX_BYTES)}; use a smaller version"
        )
    limits = formats.Limits(max_uncompressed_bytes=settings.DATASET_MAX_UNCOMPRESSED_BYTES)
    try:
        with (
            local_copy(raw.file.name) as path,
            formats.open_dataset(
                path, raw.format, label_column=raw.label_column, limits=limits
            ) as reader,
        ):
            x, y = _nth(reader, row)
    except formats.DatasetFileError as exc:
        raise InvalidRequest(f"{raw.ref} cannot be read: {exc}") from exc
    except (OSError, BotoCoreError, ClientError) as exc:
        if _missing(exc):
            raise NotFound(f"the file of {raw.ref} is gone from storage") from exc
        raise Unavailable(f"storage cannot be read now: {exc}") from exc
    return x.reshape(-1).astype(float).tolist(), y.item(), raw.ref


def _missing(exc: Exception) -> bool:
    if isinstance(exc, ClientError):
        return exc.response.get("Error", {}).get("Code") in ("404", "NoSuchKey")
    return isinstance(exc, FileNotFoundError)


def _nth(reader, row: int):
    """Features and label of one row, reading chunks only as far as that row."""
    start = 0
    batches = reader.batches()
    try:
        for x, y in batches:
            if row < start + len(x):
                return x[row - start], y[row - start]
            start += len(x)
    finally:
        batches.close()
    raise InvalidRequest(f"the file holds {start} rows, not {row + 1} or more")
