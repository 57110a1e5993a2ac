"""Draws the car-or-truck page's figures from a measured run's own output files.

A run of `python -m examples.car_or_truck train` leaves `history.json` and
`metrics.json` in `OUTPUT_DIR/<model>/`; copies of the measured full runs live in
`docs/runs/<name>/` (small JSON files). This script draws, with the library's plots,

- docs/images/car-or-truck-learning-curves.png (loss and accuracy per epoch),
- docs/images/car-or-truck-confusion-matrix.png (the last epoch's validation counts),
- docs/images/fine-tuning-curves.png (a small transfer run, `docs/runs/transfer-small-64px`:
  `train --model transfer --head-epochs 2 --epochs 4 --seed 0`, MobileNetV2 ImageNet
  weights at 64x64; the dashed line is where fine-tuning starts),

so the page shows exactly what the run measured. To refresh after a new run:

    cp runs/car_or_truck/custom/{history,metrics}.json docs/runs/custom-full-31415/
    python docs/scripts/car_or_truck_figures.py
"""

from __future__ import annotations

import json
import pathlib
import sys

DOCS = pathlib.Path(__file__).resolve().parents[1]
RUN = DOCS / "runs" / "custom-full-31415"
TRANSFER_RUN = DOCS / "runs" / "transfer-small-64px"


def main(run=RUN, images=DOCS / "images") -> list[pathlib.Path]:
    import matplotlib

    matplotlib.use("Agg")
    import numpy as np

    from keras_blocks import plot_confusion_matrix, plot_learning_curves

    run = pathlib.Path(run)
    history = json.loads((run / "history.json").read_text())
    metrics = json.loads((run / "metrics.json").read_text())
    seed = metrics["settings"]["seed"]
    curves = images / "car-or-truck-learning-curves.png"
    plot_learning_curves(history, phase_starts=history.get("phase_starts", ()),
                         title=f"custom model, --preset full, seed {seed}", path=curves)
    # The confusion matrix as (true, predicted) pairs, rebuilt from its counts.
    matrix = np.asarray(metrics["confusion_matrix"])
    pairs = [(t, p) for t in range(len(matrix)) for p in range(len(matrix))
             for _ in range(int(matrix[t, p]))]
    y_true, y_pred = (np.array(column) for column in zip(*pairs, strict=True))
    confusion = images / "car-or-truck-confusion-matrix.png"
    plot_confusion_matrix(y_true, y_pred, metrics["class_names"],
                          title=f"last epoch: accuracy {metrics['accuracy']:.4f} on "
                                f"{metrics['images']:,} validation photos",
                          path=confusion)
    transfer = json.loads((TRANSFER_RUN / "history.json").read_text())
    fine_tuning = images / "fine-tuning-curves.png"
    plot_learning_curves(transfer, phase_starts=transfer.get("phase_starts", ()),
                         title="MobileNetV2 (ImageNet), 64x64: head, then fine-tuning",
                         path=fine_tuning)
    return [curves, confusion, fine_tuning]


if __name__ == "__main__":
    for path in main(*sys.argv[1:2]):
        print(f"wrote {path}")
