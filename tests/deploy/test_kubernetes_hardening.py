"""Every pod runs locked down, and the cluster may scale and drain the platform safely."""

import re
import shlex
from pathlib import PurePosixPath

import pytest

from tests.deploy.manifests import (
    GPU_OVERLAY,
    IMAGE,
    K8S,
    applied_documents,
    config_maps,
    containers,
    dockerfile_env,
    dockerfile_instructions,
    k8s_argv,
    option,
    workloads,
)

FOLDERS = pytest.mark.parametrize("folder", [K8S, GPU_OVERLAY], ids=["base", "gpu"])
# Settings and options through which a process is told where to write.
WRITTEN_PATH_VARIABLES = {"HPML_VAR_DIR", "PGDATA", "MC_CONFIG_DIR", "CUDA_CACHE_PATH"}
WRITTEN_PATH_OPTIONS = ("--schedule", "--certs-dir", "--control-socket")


def dockerfile_user() -> tuple[int, int]:
    """The image's user and group, as numbers, checked against the user the image creates."""
    instructions = dockerfile_instructions()
    user = [rest for keyword, rest in instructions if keyword == "USER"][-1]
    uid, gid = (int(part) for part in user.split(":"))
    created = " ".join(rest for keyword, rest in instructions if keyword == "RUN")
    assert re.search(rf"useradd\b[^&]*--uid {uid}\b", created), "USER is not the created user"
    assert re.search(rf"groupadd\b[^&]*--gid {gid}\b", created), "USER's group is not created"
    return uid, gid


def effective(spec: dict, container: dict, name: str):
    """A security setting as it applies to a container: its own, else its pod's."""
    own = container.get("securityContext", {})
    return own[name] if name in own else spec.get("securityContext", {}).get(name)


def where(doc: dict, container: dict) -> str:
    return f"{doc['kind']} {doc['metadata']['name']} container {container['name']}"


@FOLDERS
def test_every_pod_runs_as_a_fixed_non_root_user_under_the_runtime_default_seccomp_profile(folder):
    for doc, spec in workloads(folder):
        for container in containers(spec):
            place = where(doc, container)
            assert effective(spec, container, "runAsNonRoot") is True, place
            uid, gid = (
                effective(spec, container, "runAsUser"),
                effective(spec, container, "runAsGroup"),
            )
            assert isinstance(uid, int) and uid > 0, f"{place}: runAsUser {uid}"
            assert isinstance(gid, int) and gid > 0, f"{place}: runAsGroup {gid}"
            profile = effective(spec, container, "seccompProfile") or {}
            assert profile.get("type") == "RuntimeDefault", place


@FOLDERS
def test_every_platform_pod_runs_as_the_user_the_image_creates(folder):
    uid, gid = dockerfile_user()
    checked = 0
    for doc, spec in workloads(folder):
        if not any(c["image"].startswith(f"{IMAGE}:") for c in containers(spec)):
            continue
        checked += 1
        context = spec["securityContext"]
        name = doc["metadata"]["name"]
        assert (context["runAsUser"], context["runAsGroup"]) == (uid, gid), name
        # Mounted secrets are group readable (defaultMode 0440) by this group.
        assert context.get("fsGroup") == gid, name
    assert checked >= 6


@FOLDERS
def test_every_container_drops_all_capabilities_and_cannot_escalate_or_write_its_image(folder):
    for doc, spec in workloads(folder):
        for container in containers(spec):
            place = where(doc, container)
            context = container.get("securityContext", {})
            assert context.get("allowPrivilegeEscalation") is False, place
            assert context.get("capabilities", {}).get("drop") == ["ALL"], place
            assert not context.get("capabilities", {}).get("add"), place
            assert not context.get("privileged"), place
            assert context.get("readOnlyRootFilesystem") is True, place


@FOLDERS
def test_no_pod_gets_a_kubernetes_api_token(folder):
    for doc, spec in workloads(folder):
        assert spec.get("automountServiceAccountToken") is False, doc["metadata"]["name"]


def writable_mounts(spec: dict, container: dict) -> list[PurePosixPath]:
    """Where a container may write: mounts of volumes that are neither read-only nor
    configuration (Secret, ConfigMap)."""
    volumes = {volume["name"]: volume for volume in spec.get("volumes", [])}
    found = []
    for mount in container.get("volumeMounts", []):
        volume = volumes.get(mount["name"], {})
        if mount.get("readOnly") or "secret" in volume or "configMap" in volume:
            continue
        found.append(PurePosixPath(mount["mountPath"]))
    return found


def on_writable_mount(path: str, mounts: list[PurePosixPath]) -> bool:
    path = PurePosixPath(path)
    return any(path == mount or mount in path.parents for mount in mounts)


@FOLDERS
def test_every_platform_container_writes_tmp_and_the_var_folder_on_volumes(folder):
    var_dir = dockerfile_env()["HPML_VAR_DIR"]
    assert config_maps()["hpml-config"]["HPML_VAR_DIR"] == var_dir
    for doc, spec in workloads(folder):
        volumes = {volume["name"]: volume for volume in spec.get("volumes", [])}
        for container in containers(spec):
            if not container["image"].startswith(f"{IMAGE}:"):
                continue
            mounts = {mount["mountPath"]: mount for mount in container.get("volumeMounts", [])}
            needed = ["/tmp"]
            if container.get("envFrom"):  # a Django process: settings keep state in var/
                needed.append(var_dir)
            for path in needed:
                assert path in mounts, f"{where(doc, container)}: nothing writable at {path}"
                volume = volumes[mounts[path]["name"]]
                assert "emptyDir" in volume and volume["emptyDir"].get("sizeLimit"), path


@FOLDERS
def test_every_path_a_process_is_told_to_write_lies_on_a_writable_volume(folder):
    checked = 0
    for doc, spec in workloads(folder):
        for container in containers(spec):
            told = [
                item["value"]
                for item in container.get("env", [])
                if item["name"] in WRITTEN_PATH_VARIABLES and "value" in item
            ]
            if container.get("envFrom"):
                told.append(config_maps()["hpml-config"]["HPML_VAR_DIR"])
            tokens = k8s_argv(container)
            if not tokens and container["image"].startswith(f"{IMAGE}:"):
                # The image's own command: gunicorn, with its options in the environment.
                tokens = shlex.split(dockerfile_env()["GUNICORN_CMD_ARGS"])
            told += [option(tokens, name) for name in WRITTEN_PATH_OPTIONS if option(tokens, name)]
            mounts = writable_mounts(spec, container)
            for path in told:
                checked += 1
                assert on_writable_mount(path, mounts), f"{where(doc, container)} writes {path}"
    assert checked >= 10


def by_kind(folder, kind: str) -> dict[str, dict]:
    return {
        doc["metadata"]["name"]: doc for doc in applied_documents(folder) if doc["kind"] == kind
    }


def test_the_web_and_default_worker_deployments_scale_with_their_cpu_use():
    autoscalers = by_kind(K8S, "HorizontalPodAutoscaler")
    deployments = by_kind(K8S, "Deployment")
    targets = {}
    for name, hpa in autoscalers.items():
        assert hpa["apiVersion"] == "autoscaling/v2", name
        ref = hpa["spec"]["scaleTargetRef"]
        assert (ref["apiVersion"], ref["kind"]) == ("apps/v1", "Deployment")
        target = deployments[ref["name"]]
        targets[ref["name"]] = hpa
        # A count in the Deployment would undo the autoscaler's on every apply.
        assert "replicas" not in target["spec"], f"Deployment {ref['name']} fixes its replicas"
        assert 1 <= hpa["spec"]["minReplicas"] < hpa["spec"]["maxReplicas"], name
        (metric,) = hpa["spec"]["metrics"]
        assert metric["resource"]["name"] == "cpu"
        # Utilization is measured against requests: every container must make one.
        for container in target["spec"]["template"]["spec"]["containers"]:
            assert container["resources"]["requests"]["cpu"], f"{ref['name']}/{container['name']}"
    assert set(targets) == {"web", "worker"}
    # Two web pods at least, so that one serves while the other is replaced.
    assert targets["web"]["spec"]["minReplicas"] >= 2


def selected_workloads(selector: dict, folder=K8S) -> list[dict]:
    return [
        doc
        for doc, _ in workloads(folder)
        if doc["kind"] != "Job"
        and selector["matchLabels"].items() <= doc["spec"]["template"]["metadata"]["labels"].items()
    ]


def test_disruption_budgets_keep_a_web_pod_serving_and_take_one_worker_at_a_time():
    budgets = by_kind(K8S, "PodDisruptionBudget")
    autoscalers = by_kind(K8S, "HorizontalPodAutoscaler")
    covered = {}
    for name, budget in budgets.items():
        spec = budget["spec"]
        assert budget["apiVersion"] == "policy/v1"
        for doc in selected_workloads(spec["selector"]):
            covered[doc["metadata"]["name"]] = spec
        # A broken pod must never hold up a node drain.
        assert spec.get("unhealthyPodEvictionPolicy") == "AlwaysAllow", name
    assert set(covered) == {"web", "worker", "training-worker"}
    web_least = autoscalers["web"]["spec"]["minReplicas"]
    assert 1 <= covered["web"]["minAvailable"] < web_least, "drains would block or serve nothing"
    assert covered["worker"] is covered["training-worker"], "one budget counts both workers"
    assert covered["worker"]["maxUnavailable"] == 1


def test_beat_has_no_disruption_budget_or_autoscaler_that_could_hold_or_double_it():
    beat_labels = by_kind(K8S, "Deployment")["beat"]["spec"]["template"]["metadata"]["labels"]
    for budget in by_kind(K8S, "PodDisruptionBudget").values():
        assert not budget["spec"]["selector"]["matchLabels"].items() <= beat_labels.items()
    refs = [
        hpa["spec"]["scaleTargetRef"]["name"]
        for hpa in by_kind(K8S, "HorizontalPodAutoscaler").values()
    ]
    assert "beat" not in refs and "training-worker" not in refs


def test_the_dockerfile_user_is_numeric_so_kubernetes_can_verify_it_is_not_root():
    user = [rest for keyword, rest in dockerfile_instructions() if keyword == "USER"][-1]
    assert re.fullmatch(r"\d+:\d+", shlex.split(user)[0]), f"USER {user}"
    assert dockerfile_user()[0] != 0
