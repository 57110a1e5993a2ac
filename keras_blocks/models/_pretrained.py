"""Loading published weights files into networks rebuilt from keras_blocks blocks.

The published files name their layers the way the original code did (`Conv1`,
`block_3_expand_BN`, `fire2/squeeze1x1`, ...). Our networks are made of blocks whose
sublayers have other names, so the builders give an explicit *plan*: which file layer
feeds which of our layers. Loading checks the whole plan against the file before
assigning anything, so a file that does not fit leaves the model untouched and the error
names the file and the first layer that does not fit.

Both HDF5 layouts are read with `h5py` (a Keras dependency):

- Keras 3 `.weights.h5`: `layers/<key>/vars/{0,1,...}`, the layer's name in the `name`
  attribute of `vars` (nested models are walked).
- Keras 2 `.h5` (what `keras.applications` and most published repositories download):
  a `layer_names` attribute (at the root or under `model_weights`), each layer group
  listing its arrays in `weight_names`.
"""

from __future__ import annotations

import dataclasses
import os
import socket
import urllib.error
from collections.abc import Sequence

import keras
import numpy as np

from keras_blocks._warnings import warn_user


class WeightsDownloadError(OSError):
    """Published weights could not be downloaded (no network, a proxy, a moved URL).

    The message names the builder, says why, and how to pass a local weights file
    instead (`weights="/path/to/file.h5"`).
    """


def is_download_error(error: BaseException) -> bool:
    """Whether `error` is a failed download, as `keras.utils.get_file` reports one.

    `get_file` turns `urllib` errors into a bare `Exception("URL fetch failure on ...")`
    and a hash mismatch into a `ValueError("Incomplete or corrupted file detected...")`.
    """
    if isinstance(error, WeightsDownloadError):
        return False
    if isinstance(error, urllib.error.URLError | ConnectionError | TimeoutError | socket.gaierror):
        return True
    text = str(error)
    return text.startswith("URL fetch failure") or "Incomplete or corrupted file detected" in text


def download_failed(owner: str, error: BaseException) -> WeightsDownloadError:
    """The error to raise when the ImageNet weights of `owner` could not be downloaded."""
    reason = str(error).strip().splitlines()[0] if str(error).strip() else type(error).__name__
    return WeightsDownloadError(
        f"{owner}: the ImageNet weights could not be downloaded ({reason}). Without network "
        "access, download the file on a machine that has it (Keras keeps downloads in "
        "~/.keras/models/) and pass its local path: weights=\"/path/to/file.h5\"; or pass "
        "weights=None for random initialization."
    )


def download_weights(owner: str, download):
    """Calls `download()`, turning a failed download into a `WeightsDownloadError`."""
    try:
        return download()
    except Exception as error:
        if is_download_error(error):
            raise download_failed(owner, error) from error
        raise


def resolve_weights(owner: str, weights, download=None) -> str | None:
    """Turns a `weights` argument into a local file path (or `None` for random weights).

    Args:
        owner: the builder's name, for error messages.
        weights: `None`, `"imagenet"` (calls `download()`), or a path to a local file.
        download: zero-argument callable returning the downloaded file's path; `None`
            returns `"imagenet"` unchanged (for builders that download themselves).

    Raises:
        FileNotFoundError: a path that does not exist (the message names it).
        ValueError: an argument that is neither `None`, `"imagenet"` nor a path.
        WeightsDownloadError: `download()` failed (no network, ...); the message says
            how to pass a local file instead.
    """
    if weights is None:
        return None
    if isinstance(weights, str) and weights == "imagenet":
        return weights if download is None else download_weights(owner, download)
    if not isinstance(weights, str | os.PathLike):
        raise ValueError(
            f"{owner}: `weights` must be None, 'imagenet' or the path of a weights file; "
            f"got {weights!r}."
        )
    path = os.fspath(weights)
    if not os.path.isfile(path):
        raise FileNotFoundError(
            f"{owner}: weights file {path!r} does not exist (`weights` must be None, "
            "'imagenet' or the path of an existing weights file)."
        )
    return path


def open_weights(owner: str, weights, download=None):
    """`resolve_weights`, then `read_h5_weights`: what every zoo builder opens with.

    Reading the file before building the network checks it before any time is spent.

    Returns:
        `(path, stored)`: the local path and `{layer name: arrays}`, or `(None, None)`
        for random weights.
    """
    path = resolve_weights(owner, weights, download)
    return path, (None if path is None else read_h5_weights(path, owner))


def read_h5_weights(path: str, owner: str = "keras_blocks") -> dict[str, list[np.ndarray]]:
    """Reads every layer's arrays from a Keras 2 `.h5` or Keras 3 `.weights.h5` file.

    Returns:
        `{layer name: [arrays in the layer's weight order]}`; layers without weights are
        left out.

    Raises:
        ValueError: the file is not an HDF5 weights file of either layout.
    """
    import h5py

    try:
        handle = h5py.File(path, "r")
    except OSError as error:
        raise ValueError(
            f"{owner}: {path!r} is not an HDF5 weights file ({error})."
        ) from error
    with handle:
        if "layers" in handle and isinstance(handle["layers"], h5py.Group):
            layers = {}
            _walk_keras3(handle["layers"], layers)
            return layers
        group = handle.get("model_weights", handle)
        if "layer_names" in group.attrs:
            layers = {}
            for raw in group.attrs["layer_names"]:
                name = raw.decode("utf8") if isinstance(raw, bytes) else str(raw)
                names = group[name].attrs.get("weight_names", [])
                arrays = [
                    np.asarray(group[name][w.decode("utf8") if isinstance(w, bytes) else w])
                    for w in names
                ]
                if arrays:
                    layers[name] = arrays
            return layers
    raise ValueError(
        f"{owner}: {path!r} is an HDF5 file but not a Keras weights file (neither a Keras 3 "
        "'layers' group nor a Keras 2 'layer_names' attribute)."
    )


def _walk_keras3(group, layers):
    for key in group:
        child = group[key]
        if "vars" in child:
            variables = child["vars"]
            name = variables.attrs.get("name", key)
            name = name.decode("utf8") if isinstance(name, bytes) else str(name)
            arrays = [np.asarray(variables[k]) for k in sorted(variables, key=int)]
            if arrays and name not in layers:
                layers[name] = arrays
        if "layers" in child:
            _walk_keras3(child["layers"], layers)


@dataclasses.dataclass
class LoadReport:
    """What `load_weights_by_plan` assigned to a network, and what it left as initialized.

    Builders that load by plan return it as `model.weights_report` (for example
    [`resnet50_base`][keras_blocks.resnet50_base]); `str(report)` lists every layer.

    Attributes:
        path: the weights file.
        loaded: the file's layers that were assigned, in plan order.
        mismatched: `{file layer: (our shapes, the file's shapes)}`, left as they were.
        missing: layers of the plan that the file lacks, left as they were.
        unused: weighted layers of the file that the plan does not use.
        new: our weighted layers that no plan entry covers (added blocks, such as a
            squeeze-excite), left as initialized; only when the model was given.

    Example:
        ```python
        from keras_blocks.models.pretrained import LoadReport

        report = LoadReport("resnet50.h5", loaded=["conv1_conv"], new=["conv2_block1/se"])
        report.complete  # False
        print(report)
        # 1 layers loaded from 'resnet50.h5'
        #   kept initialized (new layer): conv2_block1/se
        ```
    """

    path: str
    loaded: list[str] = dataclasses.field(default_factory=list)
    mismatched: dict[str, tuple[list, list]] = dataclasses.field(default_factory=dict)
    missing: list[str] = dataclasses.field(default_factory=list)
    unused: list[str] = dataclasses.field(default_factory=list)
    new: list[str] = dataclasses.field(default_factory=list)

    @property
    def complete(self) -> bool:
        """Whether every layer got the file's weights and every file layer was used."""
        return not (self.mismatched or self.missing or self.unused or self.new)

    def __str__(self) -> str:
        lines = [f"{len(self.loaded)} layers loaded from {self.path!r}"]
        for name, (ours, found) in self.mismatched.items():
            lines.append(f"  kept initialized (shape changed): {name}: ours {ours}, "
                         f"file {found}")
        lines += [f"  kept initialized (not in the file): {name}" for name in self.missing]
        lines += [f"  kept initialized (new layer): {name}" for name in self.new]
        lines += [f"  not used (file layer): {name}" for name in self.unused]
        return "\n".join(lines)


def load_weights_by_plan(
    owner: str,
    path: str,
    plan: Sequence[tuple[str, keras.layers.Layer]],
    stored: dict[str, list[np.ndarray]] | None = None,
    *,
    strict: bool = True,
    model: keras.Model | None = None,
) -> LoadReport:
    """Assigns a published file's layers to ours, after checking that everything fits.

    Args:
        owner: the builder's name, for error messages.
        path: the weights file.
        plan: `(name in the file, our built layer)` pairs, in network order. Each layer
            receives the file's arrays in its `weights` order. Instead of a layer, a list
            of variables receives them in list order (a block's own weight, such as a
            layer scale, that the published network keeps in a layer of its own).
        stored: the file's contents when already read with `read_h5_weights` (builders
            read the file before building, so an unreadable file fails fast).
        strict: `True` (default): everything must fit, or nothing is assigned. `False`:
            assign the plan's layers whose shapes fit, leave the others as initialized,
            and say which in the returned report (and in one warning).
        model: the whole model; its weighted layers that the plan does not cover are
            reported as `new` (and, when `strict`, refused).

    Returns:
        A [`LoadReport`][keras_blocks.models.pretrained.LoadReport].

    Raises:
        ValueError: with `strict`, the file lacks a layer of the plan, holds a different
            number of arrays or a different shape for it (the message names the file,
            that layer, the expected and the file's shapes), holds weighted layers the
            plan does not use (nothing in a file is silently dropped), or the model has
            weighted layers the plan does not cover.
    """
    if stored is None:
        stored = read_h5_weights(path, owner)
    report = LoadReport(path=str(path))
    fits = []
    for file_name, layer in plan:
        expected = [tuple(w.shape) for w in _targets(layer)]
        if file_name not in stored:
            if strict:
                held = ", ".join(repr(n) for n in list(stored)[:6])
                raise ValueError(
                    f"{owner}: weights file {path!r} does not fit this network: it has no "
                    f"layer {file_name!r} (expected weight shapes {expected}); its first "
                    f"layers are {held or 'none'}."
                )
            report.missing.append(file_name)
            continue
        found = [tuple(a.shape) for a in stored[file_name]]
        if found != expected:
            if strict:
                raise ValueError(
                    f"{owner}: weights file {path!r} does not fit this network: layer "
                    f"{file_name!r} expects weight shapes {expected}, the file has {found}."
                )
            report.mismatched[file_name] = (expected, found)
            continue
        fits.append((file_name, layer))
    report.unused = sorted(set(stored) - {name for name, _ in plan})
    if report.unused and strict:
        unused = report.unused
        raise ValueError(
            f"{owner}: weights file {path!r} holds weighted layers this network does not "
            f"have: {', '.join(repr(n) for n in unused[:8])}"
            + (f" (and {len(unused) - 8} more)" if len(unused) > 8 else "")
            + ". Is it a file for another network, or one with a classification top?"
        )
    if model is not None:
        covered = {id(v) for _, layer in plan for v in _targets(layer)}
        report.new = sorted({v.path.rsplit("/", 1)[0] for v in model.weights
                             if id(v) not in covered})
        if report.new and strict:
            raise ValueError(
                f"{owner}: the network has weighted layers that weights file {path!r} "
                f"does not cover: {', '.join(repr(n) for n in report.new[:8])}"
                + (f" (and {len(report.new) - 8} more)" if len(report.new) > 8 else "")
                + ". Pass strict=False to load the rest and keep these as initialized."
            )
    for file_name, layer in fits:
        for variable, array in zip(_targets(layer), stored[file_name], strict=True):
            variable.assign(array)
        report.loaded.append(file_name)
    if not report.complete:
        kept = [*report.mismatched, *report.missing, *report.new]
        warn_user(
            f"{owner}: loaded {len(report.loaded)} layers from {path!r}; kept {len(kept)} "
            f"as initialized ({', '.join(kept[:3])}{', ...' if len(kept) > 3 else ''})"
            + (f"; {len(report.unused)} file layers unused" if report.unused else "")
            + ". The report lists them all (`weights_report` of a model)."
        )
    return report


def _targets(layer):
    return list(layer) if isinstance(layer, list | tuple) else layer.weights


