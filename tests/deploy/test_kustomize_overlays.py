"""The kustomizations render as documented: the base on CPU, the GPU overlay on top of it."""

import pytest

from tests.deploy.manifests import (
    COMPOSE_GPU,
    DEPLOY,
    GPU_OVERLAY,
    IMAGE,
    K8S,
    K8S_ROOT,
    containers,
    k8s_argv,
    load_compose,
    option,
    program_commands,
    workloads,
)
from tests.deploy.render import KUBECTL, keyed, kubectl_render, python_render, render


@pytest.mark.skipif(KUBECTL is None, reason="kubectl is not installed")
@pytest.mark.parametrize("folder", [K8S_ROOT, K8S, GPU_OVERLAY], ids=["root", "base", "gpu"])
def test_the_python_renderer_agrees_with_kubectl_kustomize(folder):
    assert keyed(python_render(folder)) == keyed(kubectl_render(folder))


def test_applying_the_k8s_folder_applies_the_base():
    assert keyed(render(K8S_ROOT)) == keyed(render(K8S))


def test_the_gpu_overlay_changes_nothing_but_the_training_worker():
    base, gpu = keyed(render(K8S)), keyed(render(GPU_OVERLAY))
    assert set(base) == set(gpu)
    changed = {key for key in base if base[key] != gpu[key]}
    assert changed == {("Deployment", "highpeaks-ml", "training-worker")}


def training_worker(folder) -> tuple[dict, dict]:
    (found,) = [(d, s) for d, s in workloads(folder) if d["metadata"]["name"] == "training-worker"]
    return found


def test_the_gpu_overlay_gives_the_training_worker_one_gpu_on_a_gpu_node():
    _, spec = training_worker(GPU_OVERLAY)
    (container,) = spec["containers"]
    resources = container["resources"]
    assert int(resources["limits"]["nvidia.com/gpu"]) == 1
    assert int(resources["requests"].get("nvidia.com/gpu", 1)) == 1
    assert spec["nodeSelector"], "no node pool chosen"
    assert {"key": "nvidia.com/gpu", "operator": "Exists", "effect": "NoSchedule"} in spec[
        "tolerations"
    ]
    # TensorFlow keeps GPU memory for the life of a process: one run per child process.
    (command,) = program_commands(k8s_argv(container), "celery")
    assert option(command, "--max-tasks-per-child") == "1"
    assert option(command, "--concurrency", "-c") == "1"


def test_the_gpu_overlay_runs_the_image_the_dockerfile_builds_for_gpus():
    _, spec = training_worker(GPU_OVERLAY)
    images = {container["image"] for container in containers(spec)}
    compose_gpu = load_compose(COMPOSE_GPU)["services"]["training-worker"]
    assert images == {compose_gpu["image"]} == {f"{IMAGE}:gpu"}
    assert compose_gpu["build"]["args"] == {"GPU": "true"}
    readme = (DEPLOY / "README.md").read_text()
    assert f"--build-arg GPU=true -t {IMAGE}:gpu" in readme
    # Every other container of the overlay keeps the CPU image.
    others = {
        container["image"]
        for doc, pod in workloads(GPU_OVERLAY)
        if doc["metadata"]["name"] != "training-worker"
        for container in containers(pod)
    }
    assert f"{IMAGE}:gpu" not in others


def test_the_readme_shows_how_to_apply_the_base_and_the_gpu_overlay():
    readme = (DEPLOY / "README.md").read_text()
    commands = {line.split("#")[0].strip() for line in readme.splitlines()}
    assert {"kubectl apply -k deploy/k8s/", "kubectl apply -k deploy/k8s/overlays/gpu/"} <= commands
