"""A web process stopped (gracefully, then with SIGKILL) and started again while clients keep
submitting training runs: every run it accepted is in the database with its message on the
broker, and a run whose request was cut between its commit and its message is sent by the
reaper (``JOB_REQUEUE_AFTER``), so no row is left waiting for a message that never comes."""

import signal
import threading
import time

import pytest
import requests

from experiments.models import TrainingRun
from experiments.services import experiment_get_or_create
from tests.faults.conftest import Web, manage, ready_version, running, wait_for
from tests.helpers import queued_tasks

pytestmark = [pytest.mark.e2e, pytest.mark.django_db(transaction=True)]


@pytest.fixture(scope="module")
def env(worker_env):
    # Nothing but the restarts may refuse a submission.
    return {**worker_env, "TEAM_MAX_ACTIVE_RUNS": "0", "THROTTLE_SUBMIT_RATE": "off"}


@pytest.fixture(scope="module")
def web(env, fault_dir):
    with running(Web(env, fault_dir / "web.log", workers=2)) as web:
        yield web


class Load:
    """Threads that submit the same request in a loop and keep what each answer said."""

    def __init__(self, url: str, token: str, body: dict, threads: int = 3):
        self.url, self.token, self.body = url, token, body
        self.accepted: list[int] = []  # ids of the runs answered 202
        self.unanswered = 0  # refused connections, and requests cut before their answer
        self.other: list[int] = []  # any other status
        self._stop = threading.Event()
        self._threads = [threading.Thread(target=self._submit) for _ in range(threads)]

    def __enter__(self) -> "Load":
        for thread in self._threads:
            thread.start()
        return self

    def __exit__(self, *exc_info) -> None:
        self._stop.set()
        for thread in self._threads:
            thread.join()

    def more(self, count: int, timeout: float = 60) -> None:
        """Wait until ``count`` more runs were accepted."""
        target = len(self.accepted) + count
        wait_for(lambda: len(self.accepted) >= target, timeout=timeout, message="submissions")

    def _submit(self) -> None:
        with requests.Session() as session:
            session.headers["Authorization"] = f"Token {self.token}"
            while not self._stop.is_set():
                try:
                    answer = session.post(self.url, json=self.body, timeout=30)
                except requests.RequestException:
                    self.unanswered += 1
                    time.sleep(0.05)  # the web process is restarting
                    continue
                if answer.status_code == 202:
                    self.accepted.append(answer.json()["id"])
                else:
                    self.other.append(answer.status_code)


def sent_runs() -> set[int]:
    return {args[0] for task, args in queued_tasks("training") if task.endswith("train_run")}


def test_a_web_process_restarted_under_load_loses_no_accepted_run(web, env, token, small_npz):
    version = ready_version("blobs", small_npz)
    experiment = experiment_get_or_create(name="load")
    body = {
        "dataset_version": version.pk,
        "architecture": "mlp",
        "model_name": "load",
        "hyperparameters": {"epochs": 1},
    }

    with Load(web.url(f"/api/v1/experiments/{experiment.pk}/runs/"), token, body) as load:
        load.more(20)
        web.signal(signal.SIGTERM)  # graceful: the requests in flight are answered
        web.popen.wait(timeout=30)
        web.start()
        load.more(20)
        web.kill()  # the requests in flight are cut wherever they are
        web.start()
        load.more(20)

    accepted = set(load.accepted)
    assert len(accepted) == len(load.accepted) >= 60 and not load.other, load.other
    runs = dict(TrainingRun.objects.filter(experiment=experiment).values_list("pk", "status"))
    assert accepted <= runs.keys()
    assert {runs[pk] for pk in accepted} == {"QUEUED"}
    assert accepted <= sent_runs()  # an answer goes only after the message

    time.sleep(1.1)  # then every run has waited over JOB_REQUEUE_AFTER
    reaped = manage("reap_runs", "--requeue-after", "1", env=env)
    assert reaped.returncode == 0, reaped.stderr

    assert runs.keys() <= sent_runs()  # no run is left without its message
