"""Machine facts, ratios and the markdown table of ``benchmarks/predict.py``."""

import os
import platform
import subprocess
from datetime import UTC, datetime
from importlib import metadata
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PACKAGES = ("tensorflow", "keras", "mlflow", "django", "djangorestframework", "gunicorn")
COMPARED = ("mlflow", "bento", "floor")


def machine_facts() -> dict:
    facts = {
        "date": datetime.now(UTC).isoformat(timespec="seconds"),
        "cpu_count": os.cpu_count(),
        "cpus_usable": len(os.sched_getaffinity(0)),
        "cpu_model": _proc_field("/proc/cpuinfo", "model name"),
        "memory": _proc_field("/proc/meminfo", "MemTotal"),
        "load_average_at_start": [round(x, 2) for x in os.getloadavg()],
        "platform": platform.platform(),
        "python": platform.python_version(),
        "wrk": _command_line(["wrk", "--version"]),
        "portal_commit": _command_line(["git", "-C", str(ROOT), "describe", "--always", "--dirty"]),
    }
    facts.update({name: _version(name) for name in PACKAGES})
    return facts


def _proc_field(path: str, name: str) -> str:
    try:
        for line in Path(path).read_text().splitlines():
            if line.startswith(name):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return "unknown"


def _command_line(command: list[str]) -> str:
    try:
        done = subprocess.run(command, capture_output=True, text=True, timeout=30)
    except OSError:
        return "unknown"
    lines = (done.stdout or done.stderr).strip().splitlines()
    return lines[0] if lines else "unknown"


def _version(package: str) -> str:
    try:
        return metadata.version(package)
    except metadata.PackageNotFoundError:
        return "not installed"


def servers(threads: int) -> dict[str, str]:
    workers = f"2 gthread workers x {threads} threads" if threads > 1 else "2 sync workers"
    return {
        "portal": f"gunicorn hpml_portal.wsgi, {workers}, token auth, every prediction "
        "logged, PostgreSQL + Redis",
        "mlflow": "mlflow models serve --env-manager local --workers 2 (its defaults: "
        "Keras model.predict per request, uvicorn access log)",
        "bento": "bentoml serve, 2 workers, no access log, the model through a compiled "
        "tf.function",
        "floor": f"gunicorn, {workers}, a DRF APIView that parses the body, answers a constant",
    }


def assemble(args, machine: dict, results: dict) -> dict:
    baselines = results["baselines"]
    runs = results["portal"]["runs"] + [r for b in baselines.values() for r in b["runs"]]
    for run in runs:
        run["flagged"] = run["errors"] > 0
    return {
        "machine": machine,
        "settings": {
            "duration_s": args.duration,
            "warmup_s": args.warmup,
            "portal_threads": args.portal_threads,
            "portal_throttle": args.portal_throttle,
            "body": "one row of 64 floats (the first digits image)",
        },
        "servers": servers(args.portal_threads),
        "runs": runs,
        "ratios": ratios(runs),
        "portal": {
            k: v for k, v in results["portal"].items() if k not in ("runs", "sample_answer")
        },
        "sample_answers": {
            "portal": results["portal"]["sample_answer"],
            **{name: b["sample_answer"] for name, b in baselines.items()},
        },
        "flagged": [f"{r['server']} c={r['connections']}" for r in runs if r["flagged"]],
    }


def ratios(runs: list[dict]) -> dict:
    """The portal's req/s and p50 over each other server's, per connection count."""
    by_key = {(r["server"], r["connections"]): r for r in runs}
    found = {}
    for (server, connections), other in by_key.items():
        ours = by_key.get(("portal", connections))
        if server not in COMPARED or ours is None:
            continue
        found[f"portal_vs_{server}_c{connections}"] = {
            "req_per_s": _ratio(ours["requests_per_second"], other["requests_per_second"]),
            "p50": _ratio(ours["p50_ms"], other["p50_ms"]),
        }
    return found


def _ratio(ours, theirs) -> float | None:
    return round(ours / theirs, 3) if ours is not None and theirs else None


def markdown(document: dict) -> str:
    lines = ["| server | c | req/s | p50 ms | p99 ms | errors |", "|---|---|---|---|---|---|"]
    for run in document["runs"]:
        errors = f"**{run['errors']} FLAGGED**" if run["flagged"] else "0"
        lines.append(
            f"| {run['server']} | {run['connections']} | {run['requests_per_second']:.1f} "
            f"| {_ms(run['p50_ms'])} | {_ms(run['p99_ms'])} | {errors} |"
        )
    lines += ["", "| portal vs | req/s ratio | p50 ratio |", "|---|---|---|"]
    for name, ratio in document["ratios"].items():
        lines.append(
            f"| {name.removeprefix('portal_vs_')} | {ratio['req_per_s']} | {ratio['p50']} |"
        )
    lines += ["", *_extras(document), "", *_legend(document)]
    return "\n".join(lines)


def _ms(value) -> str:
    return "n/a" if value is None else f"{value:.2f}"


def _extras(document: dict) -> list[str]:
    first, promotion = document["portal"]["first_prediction"], document["portal"]["promotion"]
    lines = [
        f"- portal start to /readyz 200: {first['start_to_ready_ms']} ms; first prediction "
        f"after it: {first['first_predict_ms']} ms",
        f"- promotion (POST alias, {promotion['promote_request_ms']} ms) to the first of "
        f"{promotion['streak']} answers in a row from the new version: "
        f"{promotion['promotion_to_switch_ms']} ms; to the last: "
        f"{promotion['promotion_to_streak_end_ms']} ms ({promotion['old_version_answers']} "
        f"answers from the old version, {promotion['error_answers']} errors meanwhile)",
        f"- prediction log rows written by the portal: {document['portal']['prediction_log_rows']}",
    ]
    for flagged in document["flagged"]:
        lines.append(f"- WARNING: {flagged} had non-2xx answers or socket errors")
    return lines


def _legend(document: dict) -> list[str]:
    machine = document["machine"]
    lines = [f"- {name}: {text}" for name, text in document["servers"].items()]
    lines.append(
        f"- machine: {machine['cpu_model']}, {machine['cpus_usable']} CPUs, "
        f"{machine['platform']}, Python {machine['python']}, TensorFlow "
        f"{machine['tensorflow']}, load at start {machine['load_average_at_start']}"
    )
    return lines
