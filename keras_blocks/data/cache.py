"""The cache file: decoded `uint8` pixels on disk, and when they may be trusted again.

Format (version `CACHE_VERSION`): the magic `KBCACHE` plus the version digit, the
header's length (8 bytes, little-endian), the JSON header, the header's SHA-256, the
raw `uint8` pixels (`header["shape"]`), the raw little-endian int32 labels. The header
holds the SHA-256 of the pixels and labels, the fingerprint of the settings and file
list, each file's `[size, mtime]` stamp (and SHA-256 with `cache_check="content"`),
the kept paths and the skipped files. A file is written to a temporary name and
renamed, so a cache is whole or absent.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import os
import uuid

import numpy as np

from keras_blocks._warnings import warn_user
from keras_blocks.data import sources
from keras_blocks.data._lazy import tf

OWNER = sources.OWNER
CACHE_VERSION = 2
_MAGIC_PREFIX = b"KBCACHE"
_MAGIC = _MAGIC_PREFIX + bytes([48 + CACHE_VERSION])
_DIGEST = 32  # bytes of a SHA-256
_CHUNK = 1024  # images per write or digest update: bounded extra memory


class Hooks:
    """Test seam: called while the cache file is written."""

    on_cache_write = None


@dataclasses.dataclass
class CachedFiles:
    """What a cache file holds: the pixels of the files that decoded, and the rest."""

    pixels: np.ndarray  # uint8 (N, h, w, 3)
    labels: np.ndarray  # int32 (N,)
    paths: list[str]  # the N files kept, in order
    skipped: list[tuple[str, str]]  # (path, reason) of the files that did not decode


class Stamps:
    """What a cache is checked against: the files' stamps (and hashes), taken before decoding
    so that a file changed during the decode pass rebuilds the cache next time."""

    def __init__(self, paths, cache_check: str):
        self.stamps = file_stamps(paths)
        self.hashes = file_hashes(paths) if cache_check == "content" else None


def fingerprint(files, config) -> str:
    """What the cached pixels depend on, besides the files' contents (see `file_stamps`)."""
    payload = {
        "version": CACHE_VERSION,
        "paths": files.paths,
        "labels": files.labels.tolist(),
        "class_names": files.class_names,
        "image_size": list(config.image_size),
        "interpolation": config.interpolation,
        "crop_to_aspect_ratio": config.crop_to_aspect_ratio,
        "cache_at": config.cache_at,
    }
    return hashlib.sha256(json.dumps(payload).encode()).hexdigest()


def file_stamps(paths) -> list:
    """`[size, mtime in ns]` of each file (`None` for a file that cannot be read)."""
    stamps = []
    for path in paths:
        try:
            if sources.is_remote(path):
                stat = tf.io.gfile.stat(path)
                stamps.append([int(stat.length), int(stat.mtime_nsec)])
            else:
                stat = os.stat(path)
                stamps.append([int(stat.st_size), int(stat.st_mtime_ns)])
        except (OSError, tf.errors.OpError):
            stamps.append(None)
    return stamps


def file_hashes(paths) -> list:
    """SHA-256 of each file's bytes (`None` for a file that cannot be read)."""
    hashes = []
    for path in paths:
        try:
            with tf.io.gfile.GFile(path, "rb") as f:
                hashes.append(hashlib.sha256(f.read()).hexdigest())
        except (OSError, tf.errors.OpError):
            hashes.append(None)
    return hashes


def _changed(paths, old, new, how) -> str | None:
    """Why a cache no longer matches its files (`None`: it does)."""
    if len(old) != len(new):
        return "it lists another number of files"
    changed = [p for p, a, b in zip(paths, old, new, strict=True) if a != b]
    if not changed:
        return None
    return (
        f"{len(changed)} of {len(paths)} file(s) changed since it was built ({how}), "
        f"such as {changed[:3]}"
    )


def _payload_digest(images, labels) -> str:
    digest = hashlib.sha256()
    for start in range(0, len(images), _CHUNK):
        digest.update(np.ascontiguousarray(images[start : start + _CHUNK]).data)
    digest.update(np.asarray(labels, "<i4").tobytes())
    return digest.hexdigest()


class _UnusableCacheError(Exception):
    """The cache file cannot be used; the message says why (and it is rebuilt)."""


def _read_into(f, out: np.ndarray) -> np.ndarray:
    """Fills `out` from `f`, a chunk at a time (the pixels are read into an aligned array
    that TensorFlow then uses without a copy, and never held twice)."""
    flat = memoryview(out.reshape(-1))
    chunk = _CHUNK * 32 * 1024
    for start in range(0, len(flat), chunk):
        data = f.read(min(chunk, len(flat) - start))
        flat[start : start + len(data)] = data
        if len(data) < min(chunk, len(flat) - start):
            raise _UnusableCacheError("the file has the wrong size (truncated)")
    return out


def _read(path):
    """The cache file's header and arrays; `_UnusableCacheError` for a damaged or old file."""
    size = tf.io.gfile.stat(path).length
    with tf.io.gfile.GFile(path, "rb") as f:
        magic = f.read(len(_MAGIC))
        if magic != _MAGIC:
            raise _UnusableCacheError(f"written by another version ({magic!r})")
        header_size = int.from_bytes(f.read(8), "little")
        if header_size > size - len(_MAGIC) - 8 - _DIGEST:
            raise _UnusableCacheError(f"its header size field is damaged ({header_size} bytes)")
        raw = f.read(header_size)
        if hashlib.sha256(raw).digest() != f.read(_DIGEST):
            raise _UnusableCacheError("its header is damaged (checksum mismatch)")
        header = json.loads(raw.decode())
        shape = tuple(int(d) for d in header["shape"])
        n_bytes = int(np.prod(shape))
        if size != len(_MAGIC) + 8 + header_size + _DIGEST + n_bytes + 4 * shape[0]:
            raise _UnusableCacheError("the file has the wrong size (truncated or appended to)")
        images = _read_into(f, sources.aligned_empty(shape))
        labels = np.frombuffer(f.read(4 * shape[0]), "<i4")
    if _payload_digest(images, labels) != header["payload_sha256"]:
        raise _UnusableCacheError("its pixel data is damaged (checksum mismatch)")
    header["images"] = images
    header["labels"] = labels.astype(np.int32)
    return header


def check_path(path):
    """Before anything is decoded: refuses an existing file that is not a cache (never
    overwritten), and a path that cannot be written."""
    if tf.io.gfile.exists(path):
        try:
            with tf.io.gfile.GFile(path, "rb") as f:
                start = f.read(len(_MAGIC_PREFIX))
        except (OSError, tf.errors.OpError) as error:
            raise ValueError(
                f"{OWNER}: `cache` file {path!r} exists but cannot be read ({error})."
            ) from None
        if start and not start.startswith(_MAGIC_PREFIX):
            raise ValueError(
                f"{OWNER}: `cache` {path!r} is an existing file that is not a keras_blocks "
                "cache; refusing to overwrite it. Pass a new file path (such as "
                f"{path + '.cache'!r}), or delete the file."
            )


def check_writable(path):
    """Fails before the decode pass, not after it, when the cache cannot be written."""
    parent = os.path.dirname(path) or "."
    probe = f"{path}.partial-{uuid.uuid4().hex}"
    try:
        if not tf.io.gfile.exists(parent):
            tf.io.gfile.makedirs(parent)
        with tf.io.gfile.GFile(probe, "wb") as f:
            f.write(b"")
        tf.io.gfile.remove(probe)
    except (OSError, tf.errors.OpError) as error:
        reason = getattr(error, "message", None) or str(error)
        raise ValueError(
            f"{OWNER}: `cache` file {path!r} cannot be written ({reason.splitlines()[0]}). "
            "Pass a path in a writable folder, or cache=True to keep the cache in memory "
            "only."
        ) from None


def load(path, key: str, files, cache_check: str) -> CachedFiles | None:
    """The cache file's contents, or `None` (with a warning saying why) to rebuild it."""
    if not tf.io.gfile.exists(path):
        return None
    why = None
    try:
        if tf.io.gfile.stat(path).length == 0:
            raise _UnusableCacheError("it is empty")
        header = _read(path)
        if header["fingerprint"] != key:
            why = "it was built from other files or settings"
        elif cache_check == "content":
            if header.get("hashes") is None:
                why = "it was built without content hashes (cache_check='stat')"
            else:
                hashes = file_hashes(files.paths)
                why = _changed(files.paths, header["hashes"], hashes, "contents differ")
        else:
            stamps = file_stamps(files.paths)
            why = _changed(files.paths, header["stamps"], stamps, "size or modification time")
    except _UnusableCacheError as error:
        why = f"it is unusable: {error}"
    except (OSError, ValueError, KeyError, TypeError, IndexError, tf.errors.OpError) as error:
        why = f"it is unreadable ({type(error).__name__}: {error})"
    if why is not None:
        warn_user(f"{OWNER}: rebuilding the cache file {path!r}: {why}.")
        return None
    return CachedFiles(
        header["images"],
        header["labels"],
        list(header["paths"]),
        [tuple(item) for item in header["skipped"]],
    )


def save(path, cached: CachedFiles, *, key: str, stamps: Stamps):
    """Writes `cached` to a temporary name, then renames: the cache is whole or absent."""
    images, labels = cached.pixels, cached.labels
    parent = os.path.dirname(path)
    if parent and not tf.io.gfile.exists(parent):
        tf.io.gfile.makedirs(parent)
    temporary = f"{path}.partial-{uuid.uuid4().hex}"
    header = json.dumps(
        {
            "fingerprint": key,
            "stamps": stamps.stamps,
            "hashes": stamps.hashes,
            "paths": list(cached.paths),
            "skipped": [list(item) for item in cached.skipped],
            "shape": list(images.shape),
            "payload_sha256": _payload_digest(images, labels),
        }
    ).encode()
    try:
        with tf.io.gfile.GFile(temporary, "wb") as f:
            f.write(_MAGIC + len(header).to_bytes(8, "little") + header)
            f.write(hashlib.sha256(header).digest())
            if Hooks.on_cache_write is not None:
                Hooks.on_cache_write()
            for start in range(0, len(images), _CHUNK):
                f.write(np.ascontiguousarray(images[start : start + _CHUNK]).tobytes())
            f.write(np.asarray(labels, "<i4").tobytes())
        tf.io.gfile.rename(temporary, path, overwrite=True)
    finally:
        if tf.io.gfile.exists(temporary):
            tf.io.gfile.remove(temporary)
