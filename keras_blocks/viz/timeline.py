"""The course's input-pipeline timeline: when each stage of each step runs.

matplotlib is imported inside the function, so importing keras_blocks stays light.
"""

from __future__ import annotations

import os
import pathlib
from collections.abc import Mapping, Sequence

STAGE_COLORS = {"read": "#4C72B0", "map": "#DD8452", "train": "#55A868"}
STAGE_LABELS = {"read": "open/read", "map": "map (decode, resize, convert)", "train": "train step"}
_OWNER = "plot_timeline"


def _check_trace(trace) -> tuple[str, list]:
    if not isinstance(trace, Mapping) or "events" not in trace:
        raise ValueError(
            f"{_OWNER}: each trace must be a dict with 'events' (from "
            f"keras_blocks.trace_pipeline); got {type(trace).__name__}."
        )
    events = list(trace["events"])
    for event in events[:1]:
        if len(event) != 4 or event[0] not in STAGE_COLORS:
            raise ValueError(
                f"{_OWNER}: events must be (stage, step, start, end) with stage one of "
                f"{sorted(STAGE_COLORS)}; got {event!r}."
            )
    return str(trace.get("variant", "")), events


def plot_timeline(traces, *, title=None, path=None):
    """Draws when the read, map and train-step stages of each step ran.

    One panel per trace (for example one per `trace_pipeline` variant, sharing the
    time axis so the panels compare): each row is a training step, each bar one stage
    of one image (read, map) or of the step (train). Gaps in the green train bars are
    the time the model waits for data; prefetching and parallel maps close them.

    Args:
        traces: one trace or a list of traces from `keras_blocks.trace_pipeline`
            (dicts with `variant` and `events`, each event `(stage, step, start, end)`
            in seconds).
        title: figure title.
        path: save the figure here (PNG, SVG, PDF: from the suffix); the folder is
            created.

    Returns:
        The matplotlib `Figure`.

    Raises:
        ValueError: a trace without events, or events of an unknown stage.

    Example:
        ```python
        import tempfile
        from keras_blocks import make_synthetic_car_truck, plot_timeline, trace_pipeline

        # A small generated dataset; pass your own directory the same way.
        root = make_synthetic_car_truck(tempfile.mkdtemp() + "/cars", n_per_class=20,
                                        image_size=32)
        traces = [trace_pipeline(root / "train", variant=v, image_size=64, steps=4)
                  for v in ("naive", "prefetch", "parallel_map")]
        plot_timeline(traces, path="timeline.png")
        ```
    """
    import matplotlib.pyplot as plt
    from matplotlib.patches import Patch

    if isinstance(traces, Mapping):
        traces = [traces]
    if not isinstance(traces, Sequence) or not traces:
        raise ValueError(f"{_OWNER}: `traces` must be a trace or a non-empty list of traces.")
    checked = [_check_trace(t) for t in traces]
    if not any(events for _, events in checked):
        raise ValueError(f"{_OWNER}: the traces have no events to draw.")
    end = max(e[3] for _, events in checked for e in events)
    fig, axes = plt.subplots(
        len(checked), 1, figsize=(9, 1.0 + 1.7 * len(checked)),
        sharex=True, squeeze=False,
    )  # fmt: skip
    lanes = {"read": -0.3, "map": 0.0, "train": 0.3}
    for ax, (variant, events) in zip(axes[:, 0], checked, strict=True):
        steps = sorted({e[1] for e in events})
        for stage, step, start, stop in events:
            ax.broken_barh(
                [(start, max(stop - start, end * 2e-4))],
                (step + lanes[stage] - 0.13, 0.26),
                facecolors=STAGE_COLORS[stage],
                alpha=0.55 if stage != "train" else 0.9,
                linewidth=0,
            )
        ax.set_yticks(steps)
        ax.set_ylim(max(steps, default=0) + 0.6, min(steps, default=0) - 0.6)
        ax.set_ylabel("step")
        total = max((e[3] for e in events), default=0.0)
        ax.set_title(f"{variant}  ({total * 1000:.0f} ms)", loc="left", fontsize=10)
        ax.grid(axis="x", alpha=0.3)
    axes[-1, 0].set_xlabel("time (s)")
    axes[-1, 0].set_xlim(0, end * 1.02)
    fig.legend(
        handles=[Patch(color=c, label=STAGE_LABELS[s]) for s, c in STAGE_COLORS.items()],
        loc="lower center",
        ncol=3,
        fontsize=9,
        frameon=False,
    )
    if title:
        fig.suptitle(title, x=0.01, ha="left")
    fig.tight_layout(rect=(0, 0.05, 1, 0.97 if title else 1))
    if path is not None:
        path = pathlib.Path(os.fspath(path))
        path.parent.mkdir(parents=True, exist_ok=True)
        fig.savefig(path, dpi=110, bbox_inches="tight")
        plt.close(fig)
    return fig
