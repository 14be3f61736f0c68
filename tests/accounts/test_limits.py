"""Throttles per identity and the per-team cap on training runs: 429 and 409, nothing made."""

import pytest
from django.core.cache import cache

from accounts.rates import parse_rate
from datasets.models import Dataset
from experiments.models import TrainingRun
from tests.conftest import token_client
from tests.factories import DatasetVersionFactory, ExperimentFactory, TrainingRunFactory, member

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def _fresh_counters():
    cache.clear()
    yield
    cache.clear()


# The counting tests use daily windows: a fixed window of a minute can close between two of
# their requests and start counting again.
def test_writes_over_the_submit_rate_answer_429_and_create_nothing(settings, team):
    settings.THROTTLE_RATES = {"submit": "3/day", "predict": "off"}
    client = token_client(member(team, "scientist"))

    answers = [client.post("/api/v1/datasets/", {"name": f"d{i}"}, format="json") for i in range(5)]

    assert [a.status_code for a in answers] == [201, 201, 201, 429, 429]
    assert "Retry-After" in answers[-1].headers
    assert sorted(Dataset.objects.values_list("name", flat=True)) == ["d0", "d1", "d2"]


def test_reads_are_not_counted_and_each_identity_has_its_own_budget(settings, team):
    settings.THROTTLE_RATES = {"submit": "1/day", "predict": "off"}
    first, second = token_client(member(team, "scientist")), token_client(member(team, "scientist"))

    reads = [first.get("/api/v1/datasets/").status_code for _ in range(5)]
    writes = [
        first.post("/api/v1/datasets/", {"name": "a"}, format="json").status_code,
        first.post("/api/v1/datasets/", {"name": "b"}, format="json").status_code,
        second.post("/api/v1/datasets/", {"name": "c"}, format="json").status_code,
    ]

    assert reads == [200] * 5 and writes == [201, 429, 201]


def test_predictions_over_the_predict_rate_answer_429(settings, api_client):
    settings.THROTTLE_RATES = {"submit": "off", "predict": "2/day"}

    answers = [
        api_client.post("/api/v1/models/digits/predict/", {"instances": [[0]]}, format="json")
        for _ in range(3)
    ]

    # The first two are counted and answered (404: there is no such model); the third is not.
    assert [a.status_code for a in answers] == [404, 404, 429]


def test_the_count_survives_redis_forgetting_its_script(settings, api_client):
    from django.core.cache import caches

    settings.THROTTLE_RATES = {"submit": "off", "predict": "3/day"}
    url = "/api/v1/models/digits/predict/"
    first = api_client.post(url, {"instances": [[0]]}, format="json")
    caches["default"]._cache.get_client(None, write=True).script_flush()  # as after a restart

    later = [api_client.post(url, {"instances": [[0]]}, format="json") for _ in range(3)]

    assert [first.status_code] + [a.status_code for a in later] == [404, 404, 404, 429]


def test_processes_taking_leases_never_answer_more_than_the_limit_together():
    """Two processes ask 300 times each against a limit of 500 (leases of 10)."""
    import subprocess
    import sys
    import uuid
    from pathlib import Path

    key = f"test-lease-{uuid.uuid4().hex}"
    script = (
        "import sys, django; django.setup()\n"
        "from accounts.throttles import FixedWindowThrottle as T\n"
        "print(sum(T._allowed(sys.argv[1], 1, 3600, 500) for _ in range(300)))\n"
    )
    asking = [
        subprocess.Popen(
            [sys.executable, "-c", script, key],
            cwd=Path(__file__).resolve().parents[2],
            stdout=subprocess.PIPE,
            text=True,
        )
        for _ in range(2)
    ]
    answered = [int(process.communicate(timeout=120)[0]) for process in asking]

    # At most the limit; at worst the lease one process holds at the end goes unused.
    assert 500 - 10 <= sum(answered) <= 500
    assert min(answered) > 0
    cache.delete(key)


@pytest.mark.parametrize(
    ("rate", "parsed"),
    [("100/min", (100, 60)), ("5/s", (5, 1)), ("2/hour", (2, 3600)), ("off", None), ("", None)],
)
def test_rates_are_read_from_settings(rate, parsed):
    assert parse_rate(rate) == parsed


@pytest.mark.parametrize("rate", ["fast", "0/min", "10/week", "-1/s", "1.5/min"])
def test_a_bad_rate_is_refused(rate):
    with pytest.raises(ValueError, match="invalid rate"):
        parse_rate(rate)


def test_with_the_cache_down_requests_are_served_rather_than_refused(settings, team):
    settings.THROTTLE_RATES = {"submit": "1/min", "predict": "off"}
    settings.CACHES = {
        "default": {
            "BACKEND": "django.core.cache.backends.redis.RedisCache",
            "LOCATION": "redis://127.0.0.1:1/0",
        }
    }
    client = token_client(member(team, "scientist"))

    answers = [
        client.post("/api/v1/datasets/", {"name": f"d{i}"}, format="json").status_code
        for i in range(2)
    ]

    assert answers == [201, 201]


def test_a_team_at_its_run_limit_gets_409_naming_the_limit_and_nothing_is_queued(
    settings, team, django_capture_on_commit_callbacks
):
    settings.TEAM_MAX_ACTIVE_RUNS = 2
    settings.THROTTLE_RATES = {"submit": "off", "predict": "off"}
    experiment = ExperimentFactory(team=team)
    version = DatasetVersionFactory(dataset__team=team)
    TrainingRunFactory(experiment=experiment, dataset_version=version)
    TrainingRunFactory(experiment=experiment, dataset_version=version, status="RUNNING")
    TrainingRunFactory(experiment=experiment, dataset_version=version, status="FAILED")
    client = token_client(member(team, "scientist"))

    with django_capture_on_commit_callbacks() as queued:
        answer = client.post(
            f"/api/v1/experiments/{experiment.pk}/runs/",
            {"dataset_version": version.pk, "model_name": "m"},
            format="json",
        )

    assert answer.status_code == 409
    assert "TEAM_MAX_ACTIVE_RUNS=2" in answer.json()["detail"]
    assert TrainingRun.objects.count() == 3 and queued == []


def test_the_run_limit_counts_each_team_on_its_own(settings, team):
    from tests.factories import TeamFactory

    settings.TEAM_MAX_ACTIVE_RUNS = 1
    settings.THROTTLE_RATES = {"submit": "off", "predict": "off"}
    busy = TeamFactory()
    TrainingRunFactory(experiment__team=busy)
    experiment = ExperimentFactory(team=team)
    version = DatasetVersionFactory(dataset__team=team)
    client = token_client(member(team, "scientist"))

    answer = client.post(
        f"/api/v1/experiments/{experiment.pk}/runs/",
        {"dataset_version": version.pk, "model_name": "m"},
        format="json",
    )

    assert answer.status_code == 202


def test_the_portal_counts_writes_against_the_same_budget(settings, client, team):
    settings.THROTTLE_RATES = {"submit": "2/day", "predict": "off"}
    client.force_login(member(team, "scientist"))

    answers = [
        client.post(
            "/admin/datasets/dataset/add/", {"team": team.pk, "name": f"d{i}", "description": ""}
        )
        for i in range(3)
    ]
    page = client.get("/admin/datasets/dataset/")

    assert [a.status_code for a in answers] == [302, 302, 429]
    assert "Retry-After" in answers[-1].headers and page.status_code == 200
    assert sorted(Dataset.objects.values_list("name", flat=True)) == ["d0", "d1"]
