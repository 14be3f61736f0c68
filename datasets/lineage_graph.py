"""A dataset version's lineage drawn as a graph (server-side SVG, no script): where it came
from on the left, what was made of it on the right, each node a link to its page. Every label
is escaped; names come from people's input."""

from dataclasses import dataclass, field

from django.urls import reverse
from django.utils.html import format_html
from django.utils.safestring import SafeString, mark_safe

NODE_W, NODE_H = 168, 38
COL_W, ROW_H = 200, 50
PAD = 6
PER_COLUMN = 12  # more than this in a column is summed up in one "+ N more" line


@dataclass
class _Node:
    key: str
    label: str
    detail: str
    url: str
    column: int
    parent: str | None
    current: bool = False
    row: int = field(default=0)


def lineage_graph(graph: dict) -> SafeString:
    nodes = _nodes(graph)
    if len(nodes) == 1:
        return format_html('<p class="help">{}</p>', "Not made from another version, not used yet.")
    columns = _place(nodes)
    placed = {n.key: n for n in nodes if n.row < PER_COLUMN}
    width = COL_W * len(columns) + PAD
    rows = min(max(len(c) for c in columns.values()), PER_COLUMN + 1)
    height = ROW_H * rows + PAD
    edges = [_edge(placed[n.parent], n) for n in placed.values() if n.parent and n.parent in placed]
    more = [
        _more(column, len(members) - PER_COLUMN)
        for column, members in columns.items()
        if len(members) > PER_COLUMN
    ]
    return format_html(
        '<svg class="hpml-lineage" xmlns="http://www.w3.org/2000/svg" role="img" '
        'viewBox="0 0 {} {}" width="{}" height="{}" aria-label="lineage of {}">{}{}{}</svg>',
        width,
        height,
        width,
        height,
        graph["version"]["ref"],
        mark_safe("".join(edges)),  # noqa: S308 (numbers only)
        mark_safe("".join(_box(n) for n in placed.values())),  # noqa: S308 (escaped in _box)
        mark_safe("".join(more)),  # noqa: S308 (escaped in _more)
    )


def _nodes(graph: dict) -> list[_Node]:
    """Ancestors oldest first, the version, its descendants by depth; its runs beside its
    children, and each model version beside the run that made it."""
    me = graph["version"]
    ancestors = list(reversed(graph["ancestors"]))
    nodes = [
        _version(v, column, ancestors[column - 1]["id"] if column else None)
        for column, v in enumerate(ancestors)
    ]
    here = len(ancestors)
    nodes.append(_version(me, here, ancestors[-1]["id"] if ancestors else None, current=True))
    depth = {me["id"]: here}
    for v in graph["descendants"]:  # parents come before their children
        depth[v["id"]] = depth.get(v["parent"], here) + 1
        nodes.append(_version(v, depth[v["id"]], v["parent"]))
    for run in graph["training_runs"]:
        nodes.append(
            _Node(
                f"run-{run['id']}",
                f"run {run['id']}: {run['experiment']}",
                f"{run['architecture']}, {run['status']}",
                reverse("admin:experiments_trainingrun_change", args=[run["id"]]),
                here + 1,
                f"dv-{me['id']}",
            )
        )
    runs = {run["id"] for run in graph["training_runs"]}
    for mv in graph["model_versions"]:
        nodes.append(
            _Node(
                f"mv-{mv['id']}",
                f"{mv['model']} v{mv['version']}",
                f"sha256 {mv['sha256'][:12]}",
                reverse("admin:models_registry_modelversion_change", args=[mv["id"]]),
                here + (2 if mv.get("run") in runs else 1),
                f"run-{mv['run']}" if mv.get("run") in runs else f"dv-{me['id']}",
            )
        )
    return nodes


def _version(v: dict, column: int, parent: int | None, current: bool = False) -> _Node:
    steps = [step for step, value in (v.get("recipe") or {}).items() if value]
    detail = ", ".join([v["status"], *steps])
    return _Node(
        f"dv-{v['id']}",
        v["ref"],
        detail,
        reverse("admin:datasets_datasetversion_change", args=[v["id"]]),
        column,
        f"dv-{parent}" if parent else None,
        current,
    )


def _place(nodes: list[_Node]) -> dict[int, list[_Node]]:
    columns: dict[int, list[_Node]] = {}
    for node in nodes:
        node.row = len(columns.setdefault(node.column, []))
        columns[node.column].append(node)
    return columns


def _xy(node: _Node) -> tuple[int, int]:
    return PAD + node.column * COL_W, PAD + node.row * ROW_H


def _edge(a: _Node, b: _Node) -> str:
    (ax, ay), (bx, by) = _xy(a), _xy(b)
    x1, y1, x2, y2 = ax + NODE_W, ay + NODE_H // 2, bx, by + NODE_H // 2
    middle = (x1 + x2) // 2
    return (
        f'<path d="M{x1},{y1} C{middle},{y1} {middle},{y2} {x2},{y2}" fill="none" '
        f'stroke="currentColor" stroke-opacity="0.5"/>'
    )


def _box(node: _Node) -> str:
    x, y = _xy(node)
    return format_html(
        '<a href="{}"><title>{}: {}</title>'
        '<rect x="{}" y="{}" width="{}" height="{}" rx="5" fill="none" stroke="currentColor" '
        'stroke-width="{}"/><text x="{}" y="{}" font-size="12" fill="currentColor" '
        'font-weight="{}">{}</text><text x="{}" y="{}" font-size="10" fill="currentColor" '
        'fill-opacity="0.75">{}</text></a>',
        node.url,
        node.label,
        node.detail,
        x,
        y,
        NODE_W,
        NODE_H,
        2 if node.current else 1,
        x + 8,
        y + 15,
        "bold" if node.current else "normal",
        _fit(node.label, 24),
        x + 8,
        y + 30,
        _fit(node.detail, 30),
    )


def _more(column: int, hidden: int) -> str:
    x, y = PAD + column * COL_W, PAD + PER_COLUMN * ROW_H + 14
    return format_html(
        '<text x="{}" y="{}" font-size="11" fill="currentColor">+ {} more</text>', x, y, hidden
    )


def _fit(text: str, length: int) -> str:
    return text if len(text) <= length else text[: length - 1] + "…"
