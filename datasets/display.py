"""HTML pieces of the dataset version admin page: tables of the schema, statistics and first
rows, the recipe and the lineage. Everything shown is escaped (format_html)."""

import json

from django.urls import reverse
from django.utils.html import format_html, format_html_join
from django.utils.safestring import mark_safe

from .models import DatasetVersion

TABLE = '<table style="width:auto">{}</table>'


def size(n: int | None) -> str:
    if n is None:
        return "-"
    value = float(n)
    for unit in ("B", "KB", "MB", "GB"):
        if value < 1024 or unit == "GB":
            return f"{value:.0f} {unit}" if unit == "B" else f"{value:.1f} {unit}"
        value /= 1024
    return f"{n} B"


def progress(version: DatasetVersion) -> str:
    if version.status == DatasetVersion.Status.INGESTING:
        fraction = version.progress
        if fraction is None:
            return f"{size(version.bytes_done)} so far"
        return format_html(
            '<progress value="{}" max="1"></progress> {}% ({} of {})',
            f"{fraction:.3f}",
            round(fraction * 100),
            size(version.bytes_done),
            size(version.bytes_total),
        )
    return "-" if version.status != DatasetVersion.Status.READY else "done"


def _number(value) -> str:
    if isinstance(value, float):
        return f"{value:.4g}"
    return str(value)


def _rows(rows) -> str:
    return format_html_join(
        "",
        "<tr>{}</tr>",
        ((format_html_join("", "<td>{}</td>", ((c,) for c in row)),) for row in rows),
    )


def _table(header: list[str], rows) -> str:
    head = format_html("<tr>{}</tr>", format_html_join("", "<th>{}</th>", ((h,) for h in header)))
    return format_html(TABLE, mark_safe(head + _rows(rows)))  # noqa: S308 (escaped above)


def schema_table(schema: dict) -> str:
    if not schema:
        return "-"
    shape = "x".join(map(str, schema.get("feature_shape", [])))
    rows = [
        ("samples", schema.get("samples")),
        ("features", shape),
        ("dtype", schema.get("dtype")),
        ("labels", f"{schema.get('num_classes')} classes ({schema.get('label_dtype')})"),
    ]
    counts = schema.get("class_counts", {})
    rows.append(("class counts", ", ".join(f"{k}: {v}" for k, v in list(counts.items())[:50])))
    if schema.get("split_sizes"):
        rows.append(("split", ", ".join(f"{k}: {v}" for k, v in schema["split_sizes"].items())))
    return _table(["", ""], rows)


def stats_table(stats: dict) -> str:
    features = stats.get("features")
    if not features:
        return "-"
    keys = ["min", "max", "mean", "std", "missing"]
    rows = [
        (f.get("name") or f.get("index"), *(_number(f.get(k, "")) for k in keys))
        for f in features[:64]
    ]
    note = ""
    shown, total = len(rows), stats.get("features_total", len(features))
    if total > shown:
        note = format_html("<p>the first {} of {} features</p>", shown, total)
    summary = stats.get("summary")
    if summary:
        note += format_html("<p>over all features: {}</p>", json.dumps(summary)[:2000])
    return format_html("{}{}", _table(["feature", *keys], rows), note)


def preview_table(preview: dict) -> str:
    rows = preview.get("rows") or []
    if not rows:
        return "-"
    columns = [str(c) for c in preview.get("columns", [])]
    labels = preview.get("labels") or [""] * len(rows)
    body = [(label, *(_number(v) for v in row)) for row, label in zip(rows, labels, strict=False)]
    return _table(["label", *columns], body)


def recipe(value: dict | None) -> str:
    if not value:
        return "-"
    shown = {k: v for k, v in value.items() if k != "normalize"}
    normalize = value.get("normalize")
    if normalize:  # the fitted parameters are long: say what they are, not all of them
        shown["normalize"] = {
            "method": normalize.get("method"),
            "fitted_on": normalize.get("fitted_on"),
            "constant_features": normalize.get("constant_features"),
            "features": len(normalize.get("offset", [])),
        }
    return format_html("<pre>{}</pre>", json.dumps(shown, indent=2, default=str))


def _version_link(node: dict) -> str:
    url = reverse("admin:datasets_datasetversion_change", args=[node["id"]])
    return format_html('<a href="{}">{}</a> ({})', url, node["ref"], node["status"])


def lineage(graph: dict) -> str:
    parts = []
    if graph["ancestors"]:
        chain = " &larr; ".join(_version_link(n) for n in graph["ancestors"])
        parts.append(format_html("<p>made from: {}</p>", mark_safe(chain)))  # noqa: S308
    if graph["descendants"]:
        made = ", ".join(_version_link(n) for n in graph["descendants"])
        parts.append(format_html("<p>processed into: {}</p>", mark_safe(made)))  # noqa: S308
    for run in graph["training_runs"][:20]:
        url = reverse("admin:experiments_trainingrun_change", args=[run["id"]])
        parts.append(
            format_html(
                '<p>trained on by <a href="{}">run {}</a> ({}, {})</p>',
                url,
                run["id"],
                run["experiment"],
                run["status"],
            )
        )
    for mv in graph["model_versions"][:20]:
        parts.append(format_html("<p>model {} version {}</p>", mv["model"], mv["version"]))
    return mark_safe("".join(parts)) if parts else "-"  # noqa: S308 (each part escaped)
