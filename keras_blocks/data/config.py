"""`PipelineConfig`: every `make_pipeline` argument but the source, checked once.

`make_pipeline` validates its arguments here, in one place, and hands the frozen result
to the source adapters (`adapters.py`) and to the stages (`stages.py`). Nothing
downstream re-checks or rewrites an argument; a validation subset that is neither
shuffled nor augmented is `config.replace(shuffle=False, augment=None)`.
"""

from __future__ import annotations

import dataclasses
import json
import os
from typing import Any

from keras_blocks import _validation as check
from keras_blocks.data import sources
from keras_blocks.data._lazy import tf

OWNER = sources.OWNER
AUTOTUNE = -1  # tf.data.AUTOTUNE, without importing TensorFlow
LABEL_MODES = ("binary", "int", "categorical")
SUBSETS = ("training", "validation", "both")
CACHE_AT = ("auto", "target", "source")
ON_ERROR = ("raise", "skip")
CACHE_CHECKS = ("stat", "content")
OUTPUT_DTYPES = ("float32", "uint8")
VERBOSE = (0, 1, 2)


@dataclasses.dataclass(frozen=True)
class PipelineConfig:
    """The checked arguments of one `make_pipeline` call (see its docstring)."""

    image_size: tuple[int, int]
    batch_size: int
    shuffle: bool
    seed: int | None
    cache: Any  # True, "memory", False or a path (`cache_path` then holds it)
    cache_path: str | None
    cache_at: str
    augment: Any
    label_mode: str
    validation_split: float | None
    subset: str | None
    class_names: Any  # as given; the adapters check it against the source
    num_parallel_calls: int
    deterministic: bool | None
    prefetch: int
    drop_remainder: bool
    interpolation: str
    crop_to_aspect_ratio: bool
    on_error: str
    value_range: tuple[float, float]
    interleave: bool | int | None
    validate: bool
    input_context: Any
    cache_check: str
    source_range: tuple[float, float] | None
    output_dtype: str
    verbose: int

    @classmethod
    def validated(cls, **arguments) -> PipelineConfig:
        """Checks every argument; `ValueError` naming the argument, value and what is allowed."""
        a = dict(arguments)
        a["image_size"] = check.int_tuple(OWNER, "image_size", a["image_size"], 2)
        a["batch_size"] = check.positive_int(OWNER, "batch_size", a["batch_size"])
        check.one_of(OWNER, "label_mode", a["label_mode"], LABEL_MODES)
        check.one_of(OWNER, "interpolation", a["interpolation"], sources.INTERPOLATIONS)
        check.one_of(OWNER, "on_error", a["on_error"], ON_ERROR)
        check.one_of(OWNER, "cache_at", a["cache_at"], CACHE_AT)
        check.one_of(OWNER, "cache_check", a["cache_check"], CACHE_CHECKS)
        check.one_of(OWNER, "output_dtype", a["output_dtype"], OUTPUT_DTYPES)
        if isinstance(a["verbose"], bool):
            a["verbose"] = int(a["verbose"])
        check.one_of(OWNER, "verbose", a["verbose"], VERBOSE)
        if a["source_range"] is not None:
            a["source_range"] = check.value_range(OWNER, "source_range", a["source_range"])
        check_batch_bytes(a["image_size"], a["batch_size"], a["output_dtype"])
        a["value_range"] = check.value_range(OWNER, "value_range", a["value_range"])
        if a["output_dtype"] == "uint8" and a["value_range"] not in ((0.0, 1.0), (0.0, 255.0)):
            raise ValueError(
                f"{OWNER}: `value_range`={a['value_range']} is for output_dtype='float32'; "
                "output_dtype='uint8' gives the cached pixels in [0, 255] as they are (the "
                "model scales them). Leave `value_range` at its default, or pass "
                "output_dtype='float32'."
            )
        if a["num_parallel_calls"] != AUTOTUNE:
            a["num_parallel_calls"] = check.positive_int(
                OWNER, "num_parallel_calls", a["num_parallel_calls"]
            )
        if a["prefetch"] is None:
            a["prefetch"] = 0
        elif a["prefetch"] != AUTOTUNE:
            a["prefetch"] = check.positive_int(OWNER, "prefetch", a["prefetch"], minimum=0)
        if a["seed"] is not None:
            a["seed"] = check.positive_int(OWNER, "seed", a["seed"], minimum=0)
        if a["deterministic"] not in (None, True, False):
            raise ValueError(
                f"{OWNER}: `deterministic` must be None, True or False; got "
                f"{a['deterministic']!r}."
            )
        if not (isinstance(a["interleave"], bool) or a["interleave"] is None):
            a["interleave"] = check.positive_int(OWNER, "interleave", a["interleave"])
        a["cache_path"] = _cache_path(a["cache"])
        if a["cache"] is False and not a["validate"] and a["on_error"] == "skip":
            raise ValueError(
                f"{OWNER}: on_error='skip' with cache=False needs validate=True: without the "
                "validation pass a bad file is only met in the middle of an epoch, where it "
                "can no longer be skipped. Pass validate=True (one decode pass while building "
                "the pipeline) or on_error='raise'."
            )
        _check_multi_worker_seed(a["shuffle"], a["seed"], a["input_context"])
        _check_split(a)
        augment = a["augment"]
        if augment is not None and not callable(augment):
            raise ValueError(
                f"{OWNER}: `augment` must be a Keras layer or a callable on image batches; "
                f"got {augment!r}."
            )
        if augment is not None and a["output_dtype"] == "uint8":
            check_uint8_augment(augment)
        a["crop_to_aspect_ratio"] = bool(a["crop_to_aspect_ratio"])
        return cls(**a)

    def replace(self, **changes) -> PipelineConfig:
        """A copy with `changes` (already valid values: no checks run again)."""
        return dataclasses.replace(self, **changes)

    def interleave_for(self, paths) -> int:
        """Files read at once (0: no interleaving); `None` turns it on for remote paths."""
        interleave = self.interleave
        if interleave is None:
            interleave = any(sources.is_remote(p) for p in paths[:1])
        return 4 if interleave is True else int(interleave or 0)

    @property
    def parallel(self) -> dict:
        """The keyword arguments of every parallel `Dataset.map`."""
        return {
            "num_parallel_calls": self.num_parallel_calls,
            "deterministic": self.deterministic,
        }


def _check_split(a):
    split, subset = a["validation_split"], a["subset"]
    if split is not None:
        split = a["validation_split"] = check.fraction(OWNER, "validation_split", split)
        if split == 0.0:
            raise ValueError(f"{OWNER}: `validation_split` must be in (0, 1); got 0.")
        if subset is None:
            raise ValueError(
                f"{OWNER}: `validation_split={split}` needs `subset` "
                f"(one of {', '.join(repr(s) for s in SUBSETS)})."
            )
    if subset is not None:
        check.one_of(OWNER, "subset", subset, SUBSETS)
        if split is None:
            raise ValueError(f"{OWNER}: `subset={subset!r}` needs `validation_split`.")


# ----------------------------------------------------------- uint8 augmentation


def _exact_layer_types() -> tuple[type, ...]:
    """Layers that move whole pixels: exact on uint8 (their float32 output is cast back)."""
    import keras

    from keras_blocks.augment import RandomFlip

    return (keras.layers.RandomFlip, keras.layers.RandomCrop, RandomFlip)


def is_exact_on_uint8(augment) -> bool:
    """True for a layer (or a keras_blocks `Pipeline` of layers) that only moves pixels."""
    from keras_blocks.augment import Pipeline

    if isinstance(augment, Pipeline):
        return all(is_exact_on_uint8(layer) for layer in augment.layers)
    return isinstance(augment, _exact_layer_types())


def check_uint8_augment(augment) -> None:
    """Refuses a Keras layer that computes in float (interpolation, colour) for uint8 output.

    A plain callable is checked when the pipeline is built: it must return uint8.
    """
    import keras

    if isinstance(augment, keras.layers.Layer) and not is_exact_on_uint8(augment):
        raise ValueError(
            f"{OWNER}: output_dtype='uint8' takes only augmentation that is exact on uint8 "
            "pixels (flips, crops: keras.layers.RandomFlip, keras.layers.RandomCrop, "
            "keras_blocks.RandomFlip, or a keras_blocks.Pipeline of those); "
            f"augment={type(augment).__name__} (layer {augment.name!r}) computes in float. "
            "Pass output_dtype='float32', or apply this layer inside the model."
        )


# ------------------------------------------------------------------- the checks


def _cache_path(cache) -> str | None:
    if cache is True or cache is False or cache == "memory":
        return None
    if isinstance(cache, (str, os.PathLike)) and os.fspath(cache):
        path = os.fspath(cache)
        if tf.io.gfile.isdir(path):
            raise ValueError(
                f"{OWNER}: `cache` {path!r} is a directory; pass a file path such as "
                f"{os.path.join(path, 'train.cache')!r}."
            )
        return path
    raise ValueError(
        f"{OWNER}: `cache` must be True, 'memory', a file path or False; got {cache!r}."
    )


def memory_bytes() -> int:
    """Physical memory of this machine (1 TiB where it cannot be read)."""
    try:
        return os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")
    except (ValueError, OSError, AttributeError):
        return 2**40


def human(n_bytes) -> str:
    for unit in ("bytes", "KB", "MB", "GB", "TB"):
        if n_bytes < 1000 or unit == "TB":
            return f"{n_bytes:.0f} {unit}" if unit == "bytes" else f"{n_bytes:.1f} {unit}"
        n_bytes /= 1000
    return ""


def check_batch_bytes(image_size, batch_size, output_dtype="float32"):
    """Refuses a batch that could not fit in this machine's memory."""
    height, width = image_size
    itemsize = 1 if output_dtype == "uint8" else 4
    batch_bytes = batch_size * height * width * 3 * itemsize
    memory = memory_bytes()
    if batch_bytes > memory // 2:
        raise ValueError(
            f"{OWNER}: `image_size`={image_size} with `batch_size`={batch_size} makes "
            f"each {output_dtype} batch {batch_size} x {height} x {width} x 3 x {itemsize} "
            f"bytes = {human(batch_bytes)}, more than half of this machine's memory "
            f"({human(memory)}). Pass a smaller `image_size` or `batch_size`."
        )


def check_cache_bytes(n_images, image_size):
    """Refuses a uint8 cache of arrays that could not fit in this machine's memory."""
    height, width = image_size
    needed = n_images * height * width * 3
    if needed > memory_bytes() // 2:
        raise ValueError(
            f"{OWNER}: the uint8 cache of {n_images} images at `image_size`="
            f"{image_size} needs {human(needed)}, more than half of this machine's memory "
            f"({human(memory_bytes())}). Pass a smaller `image_size`."
        )


def _cluster_workers() -> int:
    """Workers (chief included) that `TF_CONFIG` lists; 0 when it is unset or unreadable."""
    try:
        cluster = json.loads(os.environ.get("TF_CONFIG") or "{}").get("cluster", {})
        return sum(len(cluster.get(kind, [])) for kind in ("chief", "worker"))
    except (ValueError, AttributeError, TypeError):
        return 0


def _check_multi_worker_seed(shuffle, seed, input_context):
    """Several workers sharding one shuffled order must all draw the same order."""
    if not shuffle or seed is not None or input_context is not None:
        return
    workers = _cluster_workers()
    if workers > 1:
        raise ValueError(
            f"{OWNER}: TF_CONFIG lists {workers} workers and `shuffle=True` with "
            "`seed=None`: each worker would shuffle differently and keep every "
            f"{workers}-th batch of its own order, so some images would be seen twice in "
            "an epoch and others never. Pass the same `seed` on every worker, or pass "
            "`input_context` from `strategy.distribute_datasets_from_function` (each "
            "worker then reads its own files)."
        )


def check_classes(names, labels, label_mode):
    """Enough classes for `label_mode`, and every label one of them."""
    if label_mode in ("binary", "categorical") and len(names) < 2:
        raise ValueError(
            f"{OWNER}: label_mode={label_mode!r} needs at least two classes; found "
            f"{len(names)}: {names}."
        )
    if label_mode == "binary" and len(names) != 2:
        raise ValueError(
            f"{OWNER}: label_mode='binary' needs exactly two classes; found {len(names)}: "
            f"{names}. Use label_mode='categorical' or 'int'."
        )
    if labels is not None and labels.size and labels.max() >= len(names):
        raise ValueError(
            f"{OWNER}: label {int(labels.max())} is out of range for {len(names)} "
            f"classes {names}."
        )
