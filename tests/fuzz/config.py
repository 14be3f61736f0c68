"""How schemathesis is run: its checks (all of them, less those that cannot hold, each with
its reason), what it draws path parameters from, and its bounds."""

import json
import sys
from pathlib import Path

ROLES = ("viewer", "scientist", "approver", "predictor")

# Every check schemathesis has (max_response_time: 10 s), less these.
EXCLUDED_CHECKS = {
    # Both need links between operations (a POST's answer naming the resource a GET reads
    # back), which this schema does not declare; the fuzz runs no stateful phase.
    "use_after_free": "needs operation links (stateful testing), not run here",
    "ensure_resource_availability": "needs operation links (stateful testing), not run here",
}

# Operations whose schema-valid requests may still be refused (400) for rules JSON Schema
# cannot state: on values across fields, on the content of a file, or on the object the
# request acts on. Every other operation must accept what its schema allows.
POSITIVE_DATA_REFUSED = {
    ("POST", "/api/v1/datasets/{dataset_pk}/versions/"): "a file's format is read from its "
    "name and content, a URL's host and bucket are checked against the installation's policy, "
    "SQL ingestion is on only where SQL_SOURCE_URL is set",
    ("POST", "/api/v1/dataset-versions/{id}/process/"): "a split must sum to 1 and a reshape "
    "must multiply out to the version's feature count; only READY versions are processed",
    ("POST", "/api/v1/experiments/{experiment_pk}/runs/"): "validation_fraction + "
    "test_fraction < 0.9 and a step schedule's lr_decay_epochs < epochs; cnn needs image-shaped "
    "data; the dataset version must be READY and the team's",
    ("POST", "/api/v1/experiments/{experiment_pk}/sweeps/"): "as a run's, and the grid's size "
    "(SWEEP_MAX_RUNS, random no larger than the grid) and seed only with random",
    ("POST", "/api/v1/models/{name}/predict/"): "rows must fit the model's input signature "
    "(each model its own shape and features)",
    ("POST", "/api/v1/models/{name}/invocations"): "as predict's",
    ("POST", "/api/v1/predictions/{id}/feedback/"): "one label per instance of the logged "
    "prediction, each one of the model's classes",
}


def _dictionary(name: str, values: list) -> str:
    return f"[dictionaries.{name}]\nvalues = {json.dumps(values)}\n"


def schemathesis_config(world: dict) -> str:
    """A schemathesis.toml: path parameters drawn mostly from the world's real objects (so the
    requests reach past the lookup), otherwise from their schema; the exceptions above."""
    dictionaries = {
        "ids": world["ids"],
        "names": ["digits"],
        "versions": ["1"],  # a path segment of digits, by its pattern
        "teams": world["teams"],
        "dataset_versions": world["dataset_versions"],
    }
    bound = {
        "path.id": "ids",
        "path.dataset_pk": "ids",
        "path.experiment_pk": "ids",
        "path.name": "names",
        "path.model_name": "names",
        "path.version": "versions",
        "path.version_version": "versions",
        "path.slug": "teams",
        "body.dataset_version": "dataset_versions",
    }
    lines = ["[checks]", "enabled = true", "max_response_time = 10"]
    lines += [f"{name}.enabled = false  # {why}" for name, why in EXCLUDED_CHECKS.items()]
    lines += ["", *(_dictionary(name, values) for name, values in dictionaries.items())]
    lines.append("[parameters]")
    lines += [
        f'"{key}" = {{ dictionary = "{name}", probability = 0.8 }}' for key, name in bound.items()
    ]
    for (method, path), reason in POSITIVE_DATA_REFUSED.items():
        lines += [
            f"\n# {reason}",
            "[[operations]]",
            f'include-method = "{method}"',
            f'include-path = "{path}"',
            "checks.positive_data_acceptance.enabled = false",
        ]
    return "\n".join(lines) + "\n"


def st_command(*, base: str, key: str, config: Path, report: Path, args) -> list[str]:
    """One role's schemathesis run. One worker: with several, hypothesis's parsing of
    lambdas' source races between threads on this Python (CPython gh-106905); the roles
    run two at a time instead."""
    command = [str(Path(sys.executable).parent / "st"), "--config-file", str(config), "run"]
    command += [f"{base}/api/schema/", "--header", f"Authorization: Token {key}"]
    # The checks are in the config file: the command line's would override its
    # per-operation exceptions.
    # PostgreSQL cannot hold NUL in text: the portal refuses it in any URL (a 400 tested in
    # tests/hpml_portal), so schema-valid strings are drawn without it.
    command += ["--generation-allow-x00", "false"]
    command += ["--phases", "examples,coverage,fuzzing", "--generation-database", "none"]
    command += ["--max-examples", str(args.max_examples), "--max-time", str(args.max_time)]
    command += ["--workers", "1", "--seed", str(args.seed), "--request-timeout", "30"]
    command += ["--no-color", "--report", "json", "--report-json-path", str(report)]
    return command
