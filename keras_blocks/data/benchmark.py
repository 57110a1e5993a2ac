"""See the ETL: time the course's pipeline variants and trace when each stage runs.

`benchmark_pipeline` builds the variants the course walks through (naive, prefetch,
parallel map, cache, vectorized map, interleave) on the user's own directory, plus
`make_pipeline`, and prints a throughput table. `trace_pipeline` records, for one
variant, when each stage (open/read, map, train step) of each step ran, which
`keras_blocks.viz.plot_timeline` draws as the course's timeline chart.
"""

from __future__ import annotations

import statistics
import time
from collections.abc import Callable, Sequence

import numpy as np

from keras_blocks import _validation as check
from keras_blocks.data import sources
from keras_blocks.data._lazy import tf
from keras_blocks.data.pipeline import AUTOTUNE, make_pipeline

VARIANTS = (
    "naive",
    "prefetch",
    "parallel_map",
    "cache",
    "vectorized_map",
    "interleave",
    "make_pipeline",
)
_TRACEABLE = VARIANTS[:-1]
_OWNER = "benchmark_pipeline"


def _load(path, image_size, interpolation):
    image = tf.io.decode_image(tf.io.read_file(path), channels=3, expand_animations=False)
    image.set_shape([None, None, 3])
    return sources.resize_uint8(image, image_size, interpolation, False)


def _to_float(images):
    return tf.cast(images, tf.float32) / 255.0


def _variant(name, files, image_size, batch_size, interpolation, seed):
    """The course's variants, each one change away from the one before."""
    if name == "make_pipeline":
        paths, labels = files
        return make_pipeline(
            list(zip(paths, labels.tolist(), strict=True)),
            image_size=image_size,
            batch_size=batch_size,
            seed=seed,
            label_mode="int",
            interpolation=interpolation,
        )
    paths, labels = files
    ds = tf.data.Dataset.from_tensor_slices((paths, labels)).shuffle(
        len(paths), seed=seed, reshuffle_each_iteration=True
    )

    def load_element(path, label):  # decode, resize and convert one image
        return _to_float(_load(path, image_size, interpolation)), label

    def load_uint8(path, label):
        return _load(path, image_size, interpolation), label

    if name in ("naive", "prefetch"):
        ds = ds.map(load_element).batch(batch_size)
        return ds.prefetch(AUTOTUNE) if name == "prefetch" else ds
    if name == "parallel_map":
        ds = ds.map(load_element, num_parallel_calls=AUTOTUNE).batch(batch_size)
        return ds.prefetch(AUTOTUNE)
    if name == "cache":  # the course's recipe: cache the float batches after the map
        ds = ds.map(load_element, num_parallel_calls=AUTOTUNE).batch(batch_size)
        return ds.cache().prefetch(AUTOTUNE)
    if name == "vectorized_map":  # per-element decode; one float conversion per batch
        ds = ds.map(load_uint8, num_parallel_calls=AUTOTUNE).batch(batch_size)
        ds = ds.map(lambda x, y: (_to_float(x), y), num_parallel_calls=AUTOTUNE)
        return ds.prefetch(AUTOTUNE)
    if name == "interleave":  # overlapping reads from several files at once
        ds = ds.batch(16).interleave(
            lambda p, y: tf.data.Dataset.from_tensor_slices((p, y)).map(
                lambda path, label: (tf.io.read_file(path), label)
            ),
            cycle_length=4,
            num_parallel_calls=AUTOTUNE,
        )
        decode = lambda contents, label: (  # noqa: E731
            sources.decode_image(contents, image_size, interpolation, False),
            label,
        )
        ds = ds.map(decode, num_parallel_calls=AUTOTUNE).batch(batch_size)
        ds = ds.map(lambda x, y: (_to_float(x), y), num_parallel_calls=AUTOTUNE)
        return ds.prefetch(AUTOTUNE)
    raise ValueError(f"{_OWNER}: unknown variant {name!r}; choose from {VARIANTS}.")


def _epoch(ds):
    """Images, seconds, and the labels of the first batch (to see if the order changed)."""
    start = time.perf_counter()
    count, first = 0, None
    for images, labels in ds:
        if first is None:
            first = labels.numpy().ravel().tolist()
        count += int(images.shape[0])
    return count, time.perf_counter() - start, first


def benchmark_pipeline(
    directory,
    *,
    image_size=(128, 128),
    batch_size: int = 64,
    epochs: int = 3,
    variants: Sequence[str] | None = None,
    interpolation: str = "bilinear",
    seed: int = 0,
    verbose: bool = True,
):
    """Times the course's tf.data variants on your own images and prints a table.

    Each variant is built fresh and iterated for `epochs` epochs (no model: this
    measures the input pipeline alone). The first epoch includes everything a variant
    does once (for `make_pipeline`, building its cache, which is timed as part of the
    first epoch); the later-epoch figure is the median of the others. The
    `reshuffled` column says whether later epochs saw a new order (measured: the first
    batch's labels differ between epochs; the course's `cache` variant replays the
    first epoch's batches).

    Args:
        directory: a directory with one subfolder per class.
        image_size: `(height, width)` (or one int) every variant resizes to.
        batch_size: images per batch.
        epochs: epochs per variant (>= 2, so there is a later epoch to time).
        variants: names from `"naive"`, `"prefetch"`, `"parallel_map"`, `"cache"`,
            `"vectorized_map"`, `"interleave"`, `"make_pipeline"` (default: all).
        interpolation: resize method of every variant.
        seed: shuffle seed.
        verbose: print the table.

    Returns:
        A list of dicts, one per variant: `variant`, `first_epoch_images_per_s`,
        `later_epoch_images_per_s`, `images`, `reshuffled`.

    Example:
        ```python
        import tempfile
        from keras_blocks import benchmark_pipeline, make_synthetic_car_truck

        # A small generated dataset; pass your own directory the same way.
        root = make_synthetic_car_truck(tempfile.mkdtemp() + "/cars", n_per_class=20,
                                        image_size=32)
        rows = benchmark_pipeline(root / "train", image_size=64, batch_size=8, epochs=2,
                                  variants=["naive", "make_pipeline"])
        rows[0]["variant"], rows[0]["images"]  # ('naive', 32)
        ```
    """
    image_size = check.int_tuple(_OWNER, "image_size", image_size, 2)
    batch_size = check.positive_int(_OWNER, "batch_size", batch_size)
    epochs = check.positive_int(_OWNER, "epochs", epochs, minimum=2)
    check.one_of(_OWNER, "interpolation", interpolation, sources.INTERPOLATIONS)
    variants = list(VARIANTS if variants is None else variants)
    for name in variants:
        check.one_of(_OWNER, "variants", name, VARIANTS)
    listing = sources.list_image_directory(directory)
    files = (listing.paths, listing.labels)
    rows = []
    for name in variants:
        start = time.perf_counter()
        ds = _variant(name, files, image_size, batch_size, interpolation, seed)
        build = time.perf_counter() - start
        times, firsts = [], []
        for _ in range(epochs):
            count, seconds, first = _epoch(ds)
            times.append(seconds)
            firsts.append(first)
        rows.append(
            {
                "variant": name,
                "images": count,
                "first_epoch_images_per_s": count / (build + times[0]),
                "later_epoch_images_per_s": count / statistics.median(times[1:]),
                "reshuffled": any(f != firsts[0] for f in firsts[1:]),
            }
        )
        del ds
    if verbose:
        print(format_table(rows))
    return rows


def format_table(rows) -> str:
    """Formats `benchmark_pipeline` rows as a plain-text table."""
    lines = [
        f"{'variant':<16}{'first epoch img/s':>20}{'later epochs img/s':>21}  reshuffled",
    ]
    for row in rows:
        lines.append(
            f"{row['variant']:<16}{row['first_epoch_images_per_s']:>20,.0f}"
            f"{row['later_epoch_images_per_s']:>21,.0f}  {'yes' if row['reshuffled'] else 'no'}"
        )
    return "\n".join(lines)


def trace_pipeline(
    directory,
    *,
    variant: str = "naive",
    image_size=(128, 128),
    batch_size: int = 8,
    steps: int = 8,
    train_step: Callable | float = 0.01,
    interpolation: str = "bilinear",
    epochs: int = 1,
):
    """Records when each stage of each step runs: the data for the course's timeline.

    The read (open and read the file) and map (decode, resize, convert) stages are
    timed inside the tf.data graph with `tf.timestamp()`, per image; the train step
    is timed in Python around `train_step`. Draw the result with
    `keras_blocks.viz.plot_timeline`.

    Each variant is one change away from `"naive"`, and only that change is on:
    tf.data's automatic optimizations (the prefetch it injects, map fusion and
    parallelization) are off in every variant, and `"naive"` also turns autotuning
    off. With `epochs=2`, `"cache"` shows its point: the second epoch's steps have no
    read or map bars (the images come from the cache; only stages that ran during an
    epoch are recorded).

    Args:
        directory: a directory with one subfolder per class.
        variant: one of `"naive"`, `"prefetch"`, `"parallel_map"`, `"cache"`,
            `"vectorized_map"`, `"interleave"`.
        image_size: `(height, width)` (or one int).
        batch_size: images per step.
        steps: how many steps (batches) to record.
        train_step: seconds a simulated train step sleeps, or a callable run on each
            `(images, labels)` batch (for example a compiled model's `train_on_batch`).
        interpolation: resize method.
        epochs: how many times to go over the same `steps` batches (int >= 1); the
            steps of epoch `e` are numbered from `e * steps`.

    Returns:
        A dict with `variant` and `events`: a list of `(stage, step, start, end)`
        tuples, stage being `"read"`, `"map"` or `"train"`, times in seconds from the
        first read.

    Example:
        ```python
        import tempfile
        from keras_blocks import make_synthetic_car_truck, plot_timeline, trace_pipeline

        # A small generated dataset; pass your own directory the same way.
        root = make_synthetic_car_truck(tempfile.mkdtemp() + "/cars", n_per_class=20,
                                        image_size=32)
        trace = trace_pipeline(root / "train", variant="prefetch", image_size=64, steps=4)
        plot_timeline(trace)
        ```
    """
    image_size = check.int_tuple("trace_pipeline", "image_size", image_size, 2)
    batch_size = check.positive_int("trace_pipeline", "batch_size", batch_size)
    steps = check.positive_int("trace_pipeline", "steps", steps)
    epochs = check.positive_int("trace_pipeline", "epochs", epochs)
    check.one_of("trace_pipeline", "variant", variant, _TRACEABLE)
    if not callable(train_step):
        seconds = check.non_negative("trace_pipeline", "train_step", train_step)
        train_step = lambda images, labels: time.sleep(seconds)  # noqa: E731
    listing = sources.list_image_directory(directory)
    n = min(len(listing.paths), steps * batch_size)
    rng = np.random.default_rng(0)
    chosen = rng.choice(len(listing.paths), n, replace=False)
    paths = [listing.paths[i] for i in chosen]
    parallel = variant not in ("naive", "prefetch")

    def read(path):
        start = tf.timestamp()
        with tf.control_dependencies([start]):
            contents = tf.io.read_file(path)
        with tf.control_dependencies([contents]):
            end = tf.timestamp()
        return contents, tf.stack([start, end])

    def decode(contents, read_times):
        start = tf.timestamp()
        with tf.control_dependencies([start]):
            image = sources.decode_image(contents, image_size, interpolation, False)
            if variant != "vectorized_map":
                image = _to_float(image)
        with tf.control_dependencies([image]):
            end = tf.timestamp()
        return image, read_times, tf.stack([start, end])

    ds = tf.data.Dataset.from_tensor_slices(paths)
    npc = AUTOTUNE if parallel else None
    if variant == "interleave":
        ds = ds.batch(max(1, batch_size // 2)).interleave(
            lambda p: tf.data.Dataset.from_tensor_slices(p).map(read),
            cycle_length=4,
            num_parallel_calls=AUTOTUNE,
        )
    else:
        ds = ds.map(read, num_parallel_calls=npc)
    ds = ds.map(decode, num_parallel_calls=npc).batch(batch_size)
    if variant == "vectorized_map":
        ds = ds.map(lambda x, r, m: (_to_float(x), r, m), num_parallel_calls=AUTOTUNE)
    if variant == "cache":
        ds = ds.cache()
    if variant != "naive":
        ds = ds.prefetch(AUTOTUNE)
    options = tf.data.Options()  # only the variant's own change, nothing tf.data adds
    options.experimental_optimization.apply_default_optimizations = False
    options.experimental_optimization.inject_prefetch = False
    if variant == "naive":
        options.autotune.enabled = False
    ds = ds.with_options(options)

    events = []
    for epoch in range(epochs):
        epoch_start = time.time()
        iterator = iter(ds)
        for index in range(steps):
            try:
                images, read_times, map_times = next(iterator)
            except StopIteration:
                break
            step = epoch * steps + index
            for stage, stamps in (("read", read_times.numpy()), ("map", map_times.numpy())):
                for start, end in stamps:
                    if start >= epoch_start:  # not replayed from a cache
                        events.append((stage, step, float(start), float(end)))
            start = time.time()
            train_step(images, None)
            events.append(("train", step, start, time.time()))
        for _ in iterator:  # finish the epoch, so that a cache is complete
            pass
    origin = min((e[2] for e in events), default=0.0)  # the first read of the trace
    events = [(stage, step, a - origin, b - origin) for stage, step, a, b in events]
    return {"variant": variant, "events": events}
