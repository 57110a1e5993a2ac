"""Draws the input-pipeline timeline of docs/guides/input-pipelines.md into docs/images/.

    python docs/scripts/pipeline_timeline.py                 # docs/images/pipeline-timeline.png
    python docs/scripts/pipeline_timeline.py --out /tmp/figs

Traces the course's variants (naive, prefetch, parallel map, vectorized map) with
`keras_blocks.trace_pipeline` on the real car/truck photos (`../shared/data`), or on
generated ones when they are absent, with a simulated 15 ms train step, and draws them
with `keras_blocks.plot_timeline`. The times are measured on the machine that runs it.
"""

from __future__ import annotations

import argparse
import os
import pathlib
import tempfile

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
os.environ.setdefault("MPLBACKEND", "Agg")

REPO = pathlib.Path(__file__).resolve().parents[2]
SHARED = pathlib.Path(os.environ.get("KERAS_BLOCKS_SHARED", REPO.parent / "shared"))
DATA = SHARED / "data" / "cifar10-car-truck" / "train"
VARIANTS = ("naive", "prefetch", "parallel_map", "vectorized_map")


def _data_dir() -> pathlib.Path:
    if DATA.exists():
        return DATA
    import numpy as np
    from PIL import Image

    root = pathlib.Path(tempfile.mkdtemp()) / "train"
    rng = np.random.default_rng(0)
    for label in ("Car", "Truck"):
        (root / label).mkdir(parents=True)
        for i in range(64):
            pixels = rng.integers(0, 256, (32, 32, 3), dtype=np.uint8)
            Image.fromarray(pixels).save(root / label / f"{i:04d}.jpg")
    return root


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--out", default=str(REPO / "docs" / "images"))
    parser.add_argument("--steps", type=int, default=6)
    args = parser.parse_args(argv)

    from keras_blocks import plot_timeline, trace_pipeline

    data = _data_dir()
    trace_pipeline(data, variant="naive", steps=1, batch_size=4)  # warm up TensorFlow
    traces = [
        trace_pipeline(
            data, variant=v, steps=args.steps, batch_size=32, image_size=128, train_step=0.015
        )
        for v in VARIANTS
    ]
    path = pathlib.Path(args.out) / "pipeline-timeline.png"
    title = "When each stage runs (32 images per step, simulated 15 ms train step)"
    plot_timeline(traces, title=title, path=path)
    print(path)


if __name__ == "__main__":
    main()
