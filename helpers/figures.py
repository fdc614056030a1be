"""Figures for the walkthrough, drawn from the real objects and saved under screenshots/.

Every image in screenshots/ is produced by one of these functions during a run, never by hand:
the architecture, the dbt lineage (from manifest.json), the access matrix (helpers/access_matrix.py:
who may do what where, each cell a real call), and the per-continent charts (from the MART).
"""

from __future__ import annotations

import json
import textwrap
from pathlib import Path
from typing import Any

import matplotlib

matplotlib.use("Agg")  # headless: papermill, CI, no display
import matplotlib.pyplot as plt  # noqa: E402
from matplotlib.figure import Figure  # noqa: E402
from matplotlib.patches import FancyArrowPatch, FancyBboxPatch  # noqa: E402

from helpers.screenshots import GALLERY_DIR, SCREENSHOTS_DIR  # noqa: E402, F401 - where images go

AWS_ORANGE, SNOW_BLUE, DBT_ORANGE, GREY = "#FF9900", "#29B5E8", "#FF694B", "#6B7280"
plt.rcParams.update({"font.family": "DejaVu Sans", "svg.hashsalt": "countries-pipeline", "figure.dpi": 100})


def save(fig: Figure, name: str, directory: Path = SCREENSHOTS_DIR) -> Path:
    """PNG with no timestamp in its metadata, so an unchanged figure is an unchanged file."""
    directory.mkdir(parents=True, exist_ok=True)
    path = directory / f"{name}.png"
    fig.savefig(path, bbox_inches="tight", metadata={"Software": None}, facecolor="white")
    return path


def _box(ax: Any, x: float, y: float, w: float, h: float, text: str, color: str) -> None:
    ax.add_patch(
        FancyBboxPatch(
            (x, y),
            w,
            h,
            boxstyle="round,pad=0.02,rounding_size=0.08",
            linewidth=1.5,
            edgecolor=color,
            facecolor=color + "22",
        )
    )
    ax.text(x + w / 2, y + h / 2, text, ha="center", va="center", fontsize=9, wrap=True)


def _arrow(ax: Any, start: tuple[float, float], end: tuple[float, float], label: str = "") -> None:
    ax.add_patch(FancyArrowPatch(start, end, arrowstyle="-|>", mutation_scale=14, linewidth=1.3, color=GREY))
    if label:
        ax.text((start[0] + end[0]) / 2, (start[1] + end[1]) / 2 + 0.12, label, ha="center", fontsize=7.5, color=GREY)


def architecture_diagram() -> Figure:
    fig, ax = plt.subplots(figsize=(13, 5.2))
    ax.set_xlim(0, 13)
    ax.set_ylim(0, 5.2)
    ax.axis("off")
    ax.add_patch(FancyBboxPatch((1.9, 0.2), 4.6, 4.7, boxstyle="round,pad=0.02", fill=False, ls="--", ec=AWS_ORANGE))
    ax.text(2.0, 4.72, "AWS", color=AWS_ORANGE, fontsize=11, weight="bold")
    ax.add_patch(FancyBboxPatch((6.8, 0.2), 6.1, 4.7, boxstyle="round,pad=0.02", fill=False, ls="--", ec=SNOW_BLUE))
    ax.text(6.9, 4.72, "Snowflake  (dbt builds RAW → TRANSFORM → MART)", color=SNOW_BLUE, fontsize=11, weight="bold")
    _box(ax, 0.1, 2.2, 1.5, 1.0, "GitHub raw\ncountriesV3.1.json", GREY)
    _box(ax, 2.1, 3.5, 2.0, 0.9, "IAM role\nGlue (least privilege)", AWS_ORANGE)
    _box(ax, 2.1, 2.1, 2.0, 1.0, "Glue Python-shell job\nglue/countries_ingest.py", AWS_ORANGE)
    _box(ax, 2.1, 0.5, 2.0, 1.0, "CloudWatch Logs\n/aws-glue/python-jobs", AWS_ORANGE)
    _box(ax, 4.4, 2.0, 1.9, 1.2, "S3 (versioned,\nencrypted, private)\ndata/countries/\n*.ndjson", AWS_ORANGE)
    _box(ax, 4.4, 3.5, 1.9, 0.9, "IAM role\nSnowflake (read-only)", AWS_ORANGE)
    _box(ax, 7.0, 3.5, 2.0, 0.9, "STORAGE\nINTEGRATION", SNOW_BLUE)
    _box(ax, 7.0, 2.1, 2.0, 1.0, "external STAGE\n@LANDING.COUNTRIES_STAGE", SNOW_BLUE)
    _box(ax, 7.0, 0.5, 2.0, 1.0, "RAW_BUILD.COUNTRIES_COPY\nDATA VARIANT (load)", SNOW_BLUE)
    _box(ax, 9.3, 0.5, 1.6, 1.0, "RAW\nCOUNTRY_DETAILS_RAW", DBT_ORANGE)
    _box(ax, 9.3, 2.1, 1.6, 1.0, "TRANSFORM\nflatten OUTER", DBT_ORANGE)
    _box(ax, 11.2, 2.1, 1.6, 2.3, "MART\n7 × COUNTRY_\nDETAILS_<CONT.>\n+ CONTINENT_\nSUMMARY", DBT_ORANGE)
    _box(ax, 11.2, 0.5, 1.6, 1.0, "validation\n& teardown", GREY)
    _arrow(ax, (1.6, 2.7), (2.1, 2.6), "HTTP")
    _arrow(ax, (3.1, 3.5), (3.1, 3.1), "assumed")
    _arrow(ax, (3.1, 2.1), (3.1, 1.5), "logs")
    _arrow(ax, (4.1, 2.6), (4.4, 2.6), "NDJSON")
    _arrow(ax, (7.0, 3.95), (6.3, 3.95), "AssumeRole+ExternalId")
    _arrow(ax, (6.3, 2.6), (7.0, 2.6), "read")
    _arrow(ax, (8.0, 3.5), (8.0, 3.1))
    _arrow(ax, (8.0, 2.1), (8.0, 1.5), "COPY INTO")
    _arrow(ax, (9.0, 1.0), (9.3, 1.0))
    _arrow(ax, (10.1, 1.5), (10.1, 2.1))
    _arrow(ax, (10.9, 2.6), (11.2, 2.6))
    _arrow(ax, (12.0, 2.1), (12.0, 1.5))
    ax.set_title("Countries pipeline: IAM → Glue → S3 → Snowflake → dbt", fontsize=13, loc="left")
    return fig


def lineage_graph(manifest_path: Path) -> Figure:
    """The dbt DAG (sources and models, tests left out) from target/<target>/manifest.json."""
    import networkx as nx

    manifest = json.loads(manifest_path.read_text())
    graph = nx.DiGraph()
    layer_of: dict[str, int] = {}
    for uid, node in {**manifest["nodes"], **manifest["sources"]}.items():
        if node["resource_type"] not in {"model", "source"}:
            continue
        label = node["name"].upper() if node["resource_type"] == "model" else f"source:\n{node['name'].upper()}"
        graph.add_node(uid, label=label)
        folder = node.get("fqn", [""])[1] if node["resource_type"] == "model" else "source"
        layer_of[uid] = {"source": 0, "raw": 1, "transform": 2, "mart": 3}.get(folder, 3)
        for parent in node.get("depends_on", {}).get("nodes", []):
            graph.add_edge(parent, uid)
    for uid in graph.nodes:
        graph.nodes[uid]["layer"] = layer_of.get(uid, 0)
    layers: dict[int, list[str]] = {}
    for uid in sorted(graph.nodes, key=lambda n: graph.nodes[n]["label"]):
        layers.setdefault(graph.nodes[uid]["layer"], []).append(uid)
    pos = {
        uid: (layer * 3.0, (len(members) - 1) / 2 - i)
        for layer, members in layers.items()
        for i, uid in enumerate(members)
    }
    fig, ax = plt.subplots(figsize=(13, 6.5))
    ax.axis("off")
    ax.set_xlim(-1.4, 3 * max(layers) + 1.6)
    tallest = max(len(m) for m in layers.values())
    ax.set_ylim(-tallest / 2, tallest / 2)

    def half_width(uid: str) -> float:  # roughly where a label's box ends, in data units
        return 0.045 * max(len(line) for line in graph.nodes[uid]["label"].splitlines()) + 0.1

    for parent, child in graph.edges:
        (x1, y1), (x2, y2) = pos[parent], pos[child]
        ax.annotate(
            "",
            xy=(x2 - half_width(child), y2),
            xytext=(x1 + half_width(parent), y1),
            arrowprops={"arrowstyle": "-|>", "color": GREY, "lw": 1.1},
        )
    for uid, (x, y) in pos.items():
        color = [GREY, SNOW_BLUE, DBT_ORANGE, "#10B981"][graph.nodes[uid]["layer"]]
        ax.text(
            x,
            y,
            graph.nodes[uid]["label"],
            ha="center",
            va="center",
            fontsize=8,
            bbox={"boxstyle": "round,pad=0.4", "fc": color + "33", "ec": color},
        )
    ax.set_title("dbt lineage (from manifest.json): source → RAW → TRANSFORM → MART", loc="left")
    return fig


def access_matrix_figure(table: Any, title: str = "Who may do what where: each cell one real S3 call") -> Figure:
    """helpers.access_matrix.AccessMatrix.table() as a grid: green allowed, red denied, grey no answer."""
    rows, columns = list(table.index), list(table.columns)
    fig, ax = plt.subplots(figsize=(2.0 * len(columns) + 3.2, 0.42 * len(rows) + 1.3))
    ax.set_xlim(0, len(columns))
    ax.set_ylim(len(rows), 0)
    ax.axis("off")
    colors = {"allowed": "#10B981", "denied": "#EF4444"}
    for i, (principal, action) in enumerate(rows):
        for j, column in enumerate(columns):
            value = str(table.loc[(principal, action), column])
            color = colors.get(value, GREY)
            ax.add_patch(plt.Rectangle((j + 0.03, i + 0.06), 0.94, 0.88, facecolor=color + "33", edgecolor=color))
            label = value if len(value) <= 24 else textwrap.shorten(value, 24, placeholder="…")
            ax.text(j + 0.5, i + 0.5, label, ha="center", va="center", fontsize=8)
        first = i == 0 or rows[i - 1][0] != principal
        ax.text(-0.08, i + 0.5, action, ha="right", va="center", fontsize=8.5, family="DejaVu Sans Mono")
        if first:
            ax.text(-1.55, i + 0.5, principal, ha="right", va="center", fontsize=10, weight="bold")
            if i:
                ax.plot([-2.6, len(columns)], [i, i], color=GREY, lw=0.8, clip_on=False)
    for j, column in enumerate(columns):
        ax.text(j + 0.5, -0.25, column, ha="center", va="bottom", fontsize=10, weight="bold")
    ax.set_title(title, loc="left", fontsize=12, pad=24)
    return fig


def continent_charts(summary: list[dict[str, Any]]) -> Figure:
    """Countries, population and area per continent, from MART.CONTINENT_SUMMARY rows."""
    rows = sorted(summary, key=lambda r: r["COUNTRY_COUNT"], reverse=True)
    names = [r["CONTINENT_NAME"] for r in rows]
    fig, axes = plt.subplots(1, 3, figsize=(15, 4.2))
    for ax, column, label, scale in (
        (axes[0], "COUNTRY_COUNT", "countries", 1),
        (axes[1], "TOTAL_POPULATION", "population (millions)", 1e6),
        (axes[2], "TOTAL_AREA", "area (million km²)", 1e6),
    ):
        values = [float(r[column]) / scale for r in rows]
        bars = ax.barh(names, values, color=SNOW_BLUE)
        ax.invert_yaxis()
        ax.set_title(label, loc="left")
        ax.bar_label(bars, fmt="%.0f" if scale == 1 else "%.1f", fontsize=8, padding=2)
        ax.spines[["top", "right"]].set_visible(False)
    fig.suptitle("MART.CONTINENT_SUMMARY", x=0.01, ha="left")
    fig.tight_layout()
    return fig
