"""What `ingest_dataset --wait` prints while a version is fetched."""

import io

from django.core.management.base import OutputWrapper

from datasets.management.reporting import _ProgressLine
from datasets.models import DatasetVersion


def lines(*versions: DatasetVersion) -> list[str]:
    out = io.StringIO()
    progress = _ProgressLine(OutputWrapper(out))  # what a command's stdout is
    for version in versions:
        progress.show(version)
    return out.getvalue().splitlines()


def at(status: str, done: int, total: int | None = None) -> DatasetVersion:
    return DatasetVersion(status=status, bytes_done=done, bytes_total=total)


def test_a_known_size_is_shown_as_a_share_each_tenth_once():
    shown = lines(
        at("PENDING", 0, 2048),
        at("INGESTING", 0, 2048),
        at("INGESTING", 100, 2048),  # still under a tenth: nothing new
        at("INGESTING", 1024, 2048),
        at("INGESTING", 2048, 2048),
        at("READY", 2048, 2048),
    )

    assert shown == [
        "INGESTING 0% (0 B of 2.0 KB)",
        "INGESTING 50% (1.0 KB of 2.0 KB)",
        ("INGESTING 100% (2.0 KB of 2.0 KB)"),
    ]


def test_an_unknown_size_says_no_bytes_until_some_arrive():
    assert lines(at("INGESTING", 0)) == ["INGESTING"]
    assert lines(at("INGESTING", 3 * 1024 * 1024)) == ["INGESTING 3.0 MB"]
