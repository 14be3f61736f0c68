"""ingest_dataset, process_dataset and retry_dataset_version: what each prints (the version's
id last without --wait, the final status word with it) and the one-line reasons they exit with.

For --wait no worker process runs: the ``polled`` fixture ingests what is PENDING each time
the command sleeps between polls, here, as a worker would have meanwhile.
"""

import io
import time
from io import StringIO
from types import SimpleNamespace

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from django.core.files.storage import default_storage
from django.core.management import CommandError, call_command

from datasets.ingest import dataset_version_execute
from datasets.models import Dataset, DatasetVersion
from hpml_portal.management import waiting
from tests.factories import DatasetVersionFactory, TeamFactory, member
from tests.helpers import broker_unreachable, stored_keys


def run(command: str, *args) -> list[str]:
    out = StringIO()
    call_command(command, *args, stdout=out)
    return out.getvalue().splitlines()


def ingest(*args) -> list[str]:
    return run("ingest_dataset", *args)


def process(*args) -> list[str]:
    return run("process_dataset", *args)


def retry(*args) -> list[str]:
    return run("retry_dataset_version", *args)


def execute(version_id) -> DatasetVersion:
    dataset_version_execute(version_id=int(version_id))
    return DatasetVersion.objects.get(pk=version_id)


@pytest.fixture
def polled(monkeypatch):
    """While a command waits, what is PENDING is ingested here, as by a worker."""

    def sleep(_seconds):
        for pk in DatasetVersion.objects.filter(status="PENDING").values_list("pk", flat=True):
            dataset_version_execute(version_id=pk)

    monkeypatch.setattr(waiting, "time", SimpleNamespace(monotonic=time.monotonic, sleep=sleep))


# --- ingest_dataset ----------------------------------------------------------------------------


@pytest.mark.django_db
def test_a_file_is_queued_and_its_id_printed_last(tmp_path, small_npz):
    path = tmp_path / "blobs.npz"
    path.write_bytes(small_npz)

    lines = ingest("blobs", "--file", str(path))

    version = DatasetVersion.objects.get()
    assert lines == [f"queued blobs:1 (id {version.pk}) from upload:blobs.npz", str(version.pk)]
    assert version.status == "PENDING" and version.created_by is None
    assert version.dataset.team.slug == "default"
    ready = execute(version.pk)
    assert ready.status == "READY" and stored_keys() == [ready.file.name]


@pytest.mark.django_db
def test_a_bad_file_ends_failed_and_leaves_nothing_stored(
    tmp_path, django_capture_on_commit_callbacks
):
    path = tmp_path / "bad.npz"
    path.write_bytes(b"this is not a zip file")
    lines = ingest("blobs", "--file", str(path))

    with django_capture_on_commit_callbacks(execute=True):
        version = execute(lines[-1])

    assert version.status == "FAILED" and "not a valid .npz file" in version.error
    assert stored_keys() == []


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("filename", "content", "label", "classes"),
    [
        ("pets.csv", b"a,b,kind\n1,2,cat\n3,4,dog\n", ["--label-column", "kind"], ["cat", "dog"]),
        (
            "t.parquet",
            None,  # written below
            [],
            [0, 1],
        ),
    ],
)
def test_csv_and_parquet_files_are_ingested(tmp_path, filename, content, label, classes):
    path = tmp_path / filename
    if content is None:
        table = pa.table({"f": np.arange(10.0), "label": np.arange(10) % 2})
        buffer = io.BytesIO()
        pq.write_table(table, buffer)
        content = buffer.getvalue()
    path.write_bytes(content)

    lines = ingest("tabular", "--file", str(path), *label)

    version = execute(lines[-1])
    assert version.status == "READY", version.error
    assert version.schema["classes"] == classes


@pytest.mark.django_db
def test_a_url_is_queued_for_the_worker_to_fetch(url_files, small_npz):
    url_files.files["/blobs.npz"] = small_npz
    url = url_files.url("/blobs.npz")

    lines = ingest("web", "--url", url)

    assert lines[0].endswith(f"from url:{url}")
    assert execute(lines[-1]).status == "READY"


@pytest.mark.django_db
def test_a_query_is_queued_for_the_worker_to_run(settings, sql_source):
    settings.SQL_SOURCE_URL = sql_source.dsn

    lines = ingest(
        "flowers", "--sql", "SELECT petal, sepal, kind FROM flowers", "--label-column", "kind"
    )

    version = execute(lines[-1])
    assert version.status == "READY", version.error
    assert version.format == "parquet" and version.schema["samples"] == 90


@pytest.mark.django_db
def test_wait_prints_the_final_status_last(polled):
    lines = ingest("digits", "--builtin", "digits", "--wait")

    version = DatasetVersion.objects.get()
    assert lines[0] == f"queued digits:1 (id {version.pk}) from builtin:digits"
    assert lines[-1] == "READY" and str(version.pk) not in lines[1:]
    assert version.status == "READY"


@pytest.mark.django_db
def test_wait_exits_non_zero_with_the_error_when_the_ingest_fails(polled, url_files):
    out = StringIO()
    with pytest.raises(CommandError, match="the job ended FAILED"):
        call_command(
            "ingest_dataset", "web", "--url", url_files.url("/gone.npz"), "--wait", stdout=out
        )

    lines = out.getvalue().splitlines()
    assert lines[-1] == "FAILED" and lines[-2].startswith("error: the server answered 404")
    assert stored_keys() == []


@pytest.mark.django_db
def test_the_same_file_again_names_the_version_that_holds_it(tmp_path, small_npz):
    path = tmp_path / "blobs.npz"
    path.write_bytes(small_npz)
    first = ingest("blobs", "--file", str(path))

    again = ingest("blobs", "--file", str(path))

    assert again[-1] == first[-1]
    assert again[0] == f"blobs:1 (id {first[-1]}) already holds this content (PENDING)"
    assert DatasetVersion.objects.count() == 1


@pytest.mark.django_db
def test_waiting_on_content_the_dataset_holds_ends_with_the_version_that_holds_it(
    polled, url_files
):
    first = execute(ingest("digits", "--builtin", "digits")[-1])
    with default_storage.open(first.file.name, "rb") as stored:
        url_files.files["/digits.npz"] = stored.read()

    lines = ingest("digits", "--url", url_files.url("/digits.npz"), "--wait")

    assert f"digits:2 has the same content as digits:1 (id {first.pk})" in lines
    assert lines[-1] == "READY"


@pytest.mark.django_db
def test_team_picks_where_the_dataset_goes():
    TeamFactory(slug="lab")

    ingest("digits", "--builtin", "digits", "--team", "lab")

    assert Dataset.objects.get().team.slug == "lab"


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["blobs", "--file", "/no/such/file.npz"], "no such file"),
        (["blobs", "--builtin", "iris"], "unknown built-in dataset 'iris'"),
        (["blobs", "--url", "file:///etc/passwd"], "only http://, https:// and s3://"),
        (["blobs", "--url", "ftp://example.com/d.csv"], "not ftp:"),
        (["blobs", "--url", "http://127.0.0.1:8000/d.npz"], "loopback"),
        (["blobs", "--sql", "SELECT 1"], "SQL ingestion is off"),
        (["bad name", "--builtin", "digits"], "invalid dataset name"),
        (["blobs", "--builtin", "digits", "--user", "nobody"], "there is no user 'nobody'"),
        (["blobs", "--builtin", "digits", "--team", "nowhere"], "nowhere"),
    ],
    ids=repr,
)
def test_a_bad_ingest_exits_with_a_reason_and_creates_nothing(args, message):
    with pytest.raises(CommandError, match=message):
        ingest(*args)

    assert not DatasetVersion.objects.exists() and not Dataset.objects.exists()
    assert stored_keys() == []


@pytest.mark.django_db
def test_a_query_that_writes_is_refused_before_it_runs(settings, sql_source):
    settings.SQL_SOURCE_URL = sql_source.dsn

    for query in ("DELETE FROM flowers", "SELECT 1; DROP TABLE flowers"):
        with pytest.raises(CommandError):
            ingest("flowers", "--sql", query)

    assert not DatasetVersion.objects.exists() and sql_source.count() == 90


@pytest.mark.django_db
def test_a_viewer_may_not_ingest(team):
    viewer = member(team, "viewer")

    with pytest.raises(CommandError):
        ingest("digits", "--builtin", "digits", "--user", viewer.username)

    assert not DatasetVersion.objects.exists()


@pytest.mark.django_db
def test_wait_gives_up_after_the_timeout_when_no_worker_runs():
    with pytest.raises(
        CommandError,
        match="still PENDING after 0.5s: no worker has taken it yet; is a worker running",
    ):
        ingest("digits", "--builtin", "digits", "--wait", "--timeout", "0.5")


@pytest.mark.django_db(transaction=True)
def test_ingest_exits_with_the_reason_when_the_ingest_cannot_be_queued():
    with broker_unreachable(), pytest.raises(CommandError, match="could not queue the ingestion"):
        ingest("digits", "--builtin", "digits")

    assert DatasetVersion.objects.get().status == "FAILED"


# --- process_dataset ---------------------------------------------------------------------------


@pytest.mark.django_db
def test_process_queues_a_child_of_the_newest_ready_version(ready_version):
    DatasetVersionFactory(
        dataset=ready_version.dataset, version=2, status="FAILED"
    )  # not the newest READY

    lines = process("blobs", "--normalize", "minmax", "--split", "0.7,0.15,0.15", "--seed", "1")

    child = DatasetVersion.objects.get(parent=ready_version)
    assert lines == [f"queued {child.ref} (id {child.pk}) from process:blobs:1", str(child.pk)]
    assert child.recipe["spec"] == {
        "normalize": "minmax",
        "reshape": None,
        "seed": 1,
        "split": [0.7, 0.15, 0.15],
        "stratify": True,
    }
    made = execute(child.pk)
    assert made.status == "READY" and sum(made.schema["split_sizes"].values()) == 90


@pytest.mark.django_db
def test_process_takes_a_version_and_waits_for_the_result(ready_version, polled):
    lines = process(
        "blobs:1", "--reshape", "4,2", "--split", "0.8,0.1,0.1", "--no-stratify", "--wait"
    )

    child = DatasetVersion.objects.get(parent=ready_version)
    assert lines[-1] == "READY" and child.status == "READY"
    assert child.schema["feature_shape"] == [4, 2]
    assert child.recipe["spec"]["stratify"] is False


@pytest.mark.django_db
def test_the_same_recipe_again_names_the_version_it_made(ready_version):
    first = process("blobs", "--normalize", "standard")

    again = process("blobs:1", "--normalize", "standard")

    assert again[-1] == first[-1] and again[0].startswith("this recipe already made blobs:2")
    assert DatasetVersion.objects.count() == 2


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["blobs"], "say what to do: --normalize, --split and/or --reshape"),
        (["blobs", "--seed", "4"], "the recipe does nothing"),
        (["blobs", "--split", "a,b,c"], "--split takes comma-separated numbers, got 'a,b,c'"),
        (["blobs", "--split", "0.7;0.3"], "--split takes comma-separated numbers"),
        (["blobs", "--split", "0.5,0.5,0.5"], "split fractions must add up to 1"),
        (["blobs", "--split", "0.5,0.5"], "split must be three numbers"),
        (["blobs", "--reshape", "3,3"], r"cannot reshape 8 features into \[3, 3\]"),
        (["blobs", "--reshape", "8,x"], "--reshape takes comma-separated numbers"),
        (["blobs:2", "--normalize", "minmax"], "dataset 'blobs' has no version 2"),
        (["blobs:one", "--normalize", "minmax"], "invalid dataset reference"),
        (["nothing", "--normalize", "minmax"], "nothing"),
    ],
    ids=repr,
)
def test_a_bad_process_request_exits_with_a_reason_and_creates_nothing(
    ready_version, args, message
):
    with pytest.raises(CommandError, match=message):
        process(*args)

    assert list(DatasetVersion.objects.all()) == [ready_version]


@pytest.mark.django_db
def test_a_version_that_is_not_ready_is_not_processed(ready_version):
    pending = DatasetVersionFactory(dataset=ready_version.dataset, status="PENDING", version=2)

    with pytest.raises(CommandError, match="blobs:2 is PENDING: only READY versions"):
        process("blobs:2", "--normalize", "minmax")

    assert not DatasetVersion.objects.filter(parent=pending).exists()


# --- retry_dataset_version ---------------------------------------------------------------------


@pytest.mark.django_db
def test_retry_queues_a_failed_version_again_and_prints_its_id_last(url_files, small_npz):
    lines = ingest("web", "--url", url_files.url("/later.npz"))
    assert execute(lines[-1]).status == "FAILED"
    url_files.files["/later.npz"] = small_npz

    queued = retry("web:1")

    assert queued == [
        f"queued web:1 (id {lines[-1]}) from url:{url_files.url('/later.npz')}",
        lines[-1],
    ]
    assert DatasetVersion.objects.get().status == "PENDING"
    with pytest.raises(CommandError, match="web:1 is PENDING: only FAILED versions are retried"):
        retry("web:1")
    assert execute(lines[-1]).status == "READY"


@pytest.mark.django_db
def test_retry_with_wait_ends_with_the_status(url_files, small_npz, polled):
    lines = ingest("web", "--url", url_files.url("/later.npz"))
    execute(lines[-1])
    url_files.files["/later.npz"] = small_npz

    assert retry("web:1", "--wait")[-1] == "READY"


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("ref", "message"),
    [
        ("blobs:1", "blobs:1 is READY: only FAILED versions are retried"),
        ("blobs", "name the version to retry as NAME:VERSION"),
        ("blobs:7", "dataset 'blobs' has no version 7"),
    ],
)
def test_a_retry_that_cannot_be_done_exits_with_a_reason(ready_version, ref, message):
    with pytest.raises(CommandError, match=message):
        retry(ref)

    ready_version.refresh_from_db()
    assert ready_version.status == "READY"


# --- with a real worker ------------------------------------------------------------------------


@pytest.mark.e2e
@pytest.mark.django_db(transaction=True)
@pytest.mark.usefixtures("alive")
def test_ingest_and_process_wait_for_a_real_worker():
    ingested = ingest("digits", "--builtin", "digits", "--wait", "--timeout", "60")
    processed = process(
        "digits", "--reshape", "8,8,1", "--split", "0.8,0.1,0.1", "--wait", "--timeout", "60"
    )

    assert ingested[-1] == "READY" and processed[-1] == "READY"
    child = DatasetVersion.objects.get(parent__isnull=False)
    assert child.schema["feature_shape"] == [8, 8, 1] and child.thumbnails
    assert child.worker  # claimed by the worker process, which names itself
