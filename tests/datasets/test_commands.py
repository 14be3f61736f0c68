from io import StringIO

import pytest
from django.core.management import CommandError, call_command

from datasets.models import DatasetVersion
from tests.helpers import broker_unreachable


def run(*args) -> list[str]:
    out = StringIO()
    call_command("ingest_dataset", *args, stdout=out)
    return out.getvalue().splitlines()


@pytest.mark.django_db
def test_without_wait_the_last_line_is_the_new_version_id(tmp_path, small_npz):
    path = tmp_path / "blobs.npz"
    path.write_bytes(small_npz)

    lines = run("blobs", "--file", str(path))

    version = DatasetVersion.objects.get()
    assert lines[-1] == str(version.pk)
    assert "queued blobs:1" in lines[0]


@pytest.mark.django_db
def test_the_same_content_again_names_the_existing_version():
    first = run("digits", "--builtin", "digits")
    again = run("digits", "--builtin", "digits")

    assert again[-1] == first[-1]
    assert "already holds this content" in again[0]


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["blobs", "--file", "/no/such/file.npz"], "no such file"),
        (["blobs", "--builtin", "iris"], "unknown built-in dataset 'iris'"),
        (["blobs", "--url", "http://example.com/x.npz"], "not available yet"),
        (["bad name", "--builtin", "digits"], "invalid dataset name"),
    ],
)
def test_a_bad_request_exits_with_a_reason_and_creates_nothing(args, message):
    with pytest.raises(CommandError, match=message):
        run(*args)

    assert not DatasetVersion.objects.exists()


@pytest.mark.django_db
def test_wait_gives_up_after_the_timeout_when_no_worker_runs():
    with pytest.raises(CommandError, match="still PENDING after 0.5s: is a worker running"):
        run("digits", "--builtin", "digits", "--wait", "--timeout", "0.5")


@pytest.mark.django_db(transaction=True)
def test_ingest_exits_with_the_reason_when_the_check_cannot_be_queued():
    with broker_unreachable(), pytest.raises(CommandError, match="could not queue the ingestion"):
        run("digits", "--builtin", "digits")

    assert DatasetVersion.objects.get().status == "FAILED"
