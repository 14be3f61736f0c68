"""The objects `kubectl apply -k FOLDER` creates, for the tests beside this module.

With kubectl on PATH, its own kustomize renders the folder. Without it, a small renderer does
the part of kustomize these kustomizations use: `resources` (files and folders), `namespace`,
`labels` (on the objects' metadata only) and strategic merge patches named by `patches: -
path:`. Anything else in a kustomization fails the render rather than being skipped, and a test
checks that both renderers agree wherever kubectl is installed.
"""

import copy
import functools
import shutil
import subprocess
from pathlib import Path

import yaml

KUBECTL = shutil.which("kubectl")
SUPPORTED_FIELDS = {"apiVersion", "kind", "resources", "namespace", "labels", "patches"}
CLUSTER_SCOPED_KINDS = {"Namespace", "ClusterRole", "ClusterRoleBinding", "PersistentVolume"}
# The merge keys of the lists a strategic merge patch of a pod template may touch (Kubernetes
# API conventions); any other list is replaced whole, as for tolerations.
MERGE_KEYS = {
    "containers": "name",
    "initContainers": "name",
    "volumes": "name",
    "env": "name",
    "volumeMounts": "mountPath",
    "ports": "containerPort",
}


def render(folder: Path) -> list[dict]:
    """The rendered objects, by kubectl's kustomize when installed, else by `python_render`.
    Rendered once per folder; each caller gets its own copy to change."""
    return copy.deepcopy(_rendered(Path(folder).resolve()))


@functools.cache
def _rendered(folder: Path) -> list[dict]:
    return kubectl_render(folder) if KUBECTL else python_render(folder)


def kubectl_render(folder: Path) -> list[dict]:
    result = subprocess.run(
        [KUBECTL, "kustomize", str(folder)], capture_output=True, text=True, timeout=120
    )
    assert result.returncode == 0, f"kubectl kustomize {folder}: {result.stderr}"
    return [doc for doc in yaml.safe_load_all(result.stdout) if doc]


def python_render(folder: Path) -> list[dict]:
    spec = yaml.safe_load((folder / "kustomization.yaml").read_text())
    unknown = set(spec) - SUPPORTED_FIELDS
    assert not unknown, f"{folder}/kustomization.yaml: the Python renderer does not do {unknown}"
    docs = []
    for resource in spec.get("resources", []):
        path = folder / resource
        if path.is_dir():
            docs += python_render(path)
        else:
            docs += [doc for doc in yaml.safe_load_all(path.read_text()) if doc]
    for patch in spec.get("patches", []):
        assert set(patch) == {"path"}, f"{folder}: only strategic merge patch files are rendered"
        for change in yaml.safe_load_all((folder / patch["path"]).read_text()):
            strategic_merge(find(docs, change), change)
    if "namespace" in spec:
        for doc in docs:
            if doc["kind"] not in CLUSTER_SCOPED_KINDS:
                doc["metadata"]["namespace"] = spec["namespace"]
    for entry in spec.get("labels", []):
        assert set(entry) == {"pairs"}, f"{folder}: labels other than plain pairs"
        for doc in docs:
            doc["metadata"].setdefault("labels", {}).update(entry["pairs"])
    return docs


def find(docs: list[dict], patch: dict) -> dict:
    """The one object a patch names by kind and name (and namespace, when it gives one)."""
    wanted = patch["metadata"]
    found = [
        doc
        for doc in docs
        if doc["kind"] == patch["kind"]
        and doc["metadata"]["name"] == wanted["name"]
        and wanted.get("namespace") in (None, doc["metadata"].get("namespace"))
    ]
    assert len(found) == 1, f"the patch of {patch['kind']} {wanted['name']} matches {len(found)}"
    return found[0]


def strategic_merge(target: dict, patch: dict) -> None:
    """Maps merge key by key; lists with a merge key merge item by item; the rest replace."""
    for key, value in patch.items():
        current = target.get(key)
        if isinstance(value, dict) and isinstance(current, dict):
            strategic_merge(current, value)
        elif key in MERGE_KEYS and isinstance(value, list) and isinstance(current, list):
            merge_key = MERGE_KEYS[key]
            existing = {item[merge_key]: item for item in current}
            for item in value:
                if item[merge_key] in existing:
                    strategic_merge(existing[item[merge_key]], item)
                else:
                    current.append(copy.deepcopy(item))
        else:
            target[key] = copy.deepcopy(value)


def keyed(docs: list[dict]) -> dict[tuple[str, str, str], dict]:
    """Objects by (kind, namespace, name), which is what makes one unique in a cluster."""
    result = {}
    for doc in docs:
        key = (doc["kind"], doc["metadata"].get("namespace", ""), doc["metadata"]["name"])
        assert key not in result, f"two objects are {key}"
        result[key] = doc
    return result
