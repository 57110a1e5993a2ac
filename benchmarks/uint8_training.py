"""One training epoch of the car-or-truck custom model fed uint8 batches vs float32 batches.

The same model (the example's `--preset full` custom recipe: patch whitening, three
ConvBlock stages, DenseHead, the example's augmentation inside the model), the same
photos, the same seed; only the pipeline's `output_dtype` differs. With uint8 the
pipeline hands out the cached pixels as they are and the model casts them to float32
in its first step (`keras.Model` converts inputs to its input dtype); with float32 the
pipeline casts them on the host. Both pipelines give pixel values in [0, 255]: the
model scales them itself.

Runs are interleaved (float32, uint8, uint8, float32, ...); each builds the pipeline and
model afresh, trains `--epochs` epochs, and reports the wall time of each epoch after
the first (which includes tracing) and the batch bytes per image that cross from the
input pipeline into the step (on a GPU: host-to-device bytes).

    python -m benchmarks.uint8_training            (2 repeats, 2 epochs, full data)
"""

from __future__ import annotations

import argparse
import os
import pathlib
import statistics
import time

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

import keras

from examples.car_or_truck.recipes import PRESETS, SHARED_DATA
from examples.car_or_truck.training import custom_model


class EpochTimes(keras.callbacks.Callback):
    def on_train_begin(self, logs=None):
        self.times = []

    def on_epoch_begin(self, epoch, logs=None):
        self.start = time.perf_counter()

    def on_epoch_end(self, epoch, logs=None):
        self.times.append(time.perf_counter() - self.start)


def one_run(data, dtype, recipe, epochs, seed):
    from keras_blocks import make_pipeline

    keras.utils.set_random_seed(seed)
    train = make_pipeline(data / "train", image_size=recipe.image_size,
                          batch_size=recipe.batch_size, label_mode="binary",
                          value_range=(0, 255), shuffle=True, seed=seed,
                          output_dtype=dtype, verbose=0)
    model = custom_model(recipe.image_size, recipe.widths, seed, train=train)
    model.compile(optimizer=keras.optimizers.SGD(0.01, momentum=0.9, nesterov=True))
    images, _ = next(iter(train))
    bytes_per_image = images.dtype.size * images.shape[1:].num_elements()
    timer = EpochTimes()
    model.fit(train, epochs=epochs, verbose=0, shuffle=False, callbacks=[timer])
    return timer.times, bytes_per_image, train.cardinality().numpy() * recipe.batch_size


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--data", default=str(SHARED_DATA))
    parser.add_argument("--repeats", type=int, default=2)
    parser.add_argument("--epochs", type=int, default=2, help="the first is not timed")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)
    if args.epochs < 2:
        parser.error("--epochs must be at least 2 (the first one traces)")
    recipe = PRESETS["full"]["custom"]
    data = pathlib.Path(args.data)
    times = {"float32": [], "uint8": []}
    sizes = {}
    for repeat in range(args.repeats):
        order = ("float32", "uint8") if repeat % 2 == 0 else ("uint8", "float32")
        for dtype in order:
            epoch_times, sizes[dtype], images = one_run(data, dtype, recipe, args.epochs,
                                                        args.seed)
            times[dtype] += epoch_times[1:]
            shown = ", ".join(f"{t:.1f}" for t in epoch_times)
            print(f"repeat {repeat + 1} {dtype:>7}: epochs {shown} s", flush=True)
    print(f"\ncustom model (--preset full), {recipe.image_size} px, batch {recipe.batch_size}, "
          f"~{images} images/epoch, {os.cpu_count()} CPUs; epoch wall s, median after the "
          "first epoch")
    for dtype in ("float32", "uint8"):
        print(f"  {dtype:>7}: {statistics.median(times[dtype]):7.2f} s/epoch, "
              f"{sizes[dtype]:,} batch bytes per image")
    ratio = statistics.median(times["uint8"]) / statistics.median(times["float32"])
    print(f"  uint8 / float32 epoch time: {ratio:.3f} (goal <= 1.0: "
          f"{'met' if ratio <= 1.0 else 'NOT met'})")
    return times


if __name__ == "__main__":
    main()
