"""How a run behaves: its errors, its log lines, its files and signals.

A run writes into a hidden staging folder and moves it into place by renames only
(`swap_into_place`), so a failed or interrupted run leaves the previous run whole.
"""

from __future__ import annotations

import contextlib
import json
import math
import os
import pathlib
import re
import shutil
import signal
import sys
import tempfile


class UsageError(Exception):
    """A bad command line or input file: reported as one clear line, exit status 2."""


class RunError(Exception):
    """A run that cannot finish (it diverged, weights could not be downloaded): one
    clear line, exit status 1. Nothing of the run is kept; an older run stays."""


class Terminated(BaseException):
    """SIGTERM or SIGINT, raised in the main thread so that cleanups run."""

    def __init__(self, signum):
        super().__init__(signum)
        self.signum = signum


def log(message):
    print(f"[car_or_truck] {message}", flush=True)


def note(message):
    print(f"[car_or_truck] note: {message}", file=sys.stderr, flush=True)


def write_json(path, data):
    """Strict JSON: NaN and infinities become null (json.dumps would write `NaN`)."""

    def finite(value):
        if isinstance(value, float) and not math.isfinite(value):
            return None
        if isinstance(value, dict):
            return {k: finite(v) for k, v in value.items()}
        if isinstance(value, list | tuple):
            return [finite(v) for v in value]
        return value

    pathlib.Path(path).write_text(json.dumps(finite(data), indent=1, allow_nan=False))


def tf_message(error):
    """A TensorFlow error's message without the op prefix and the trailing ` name: `."""
    text = getattr(error, "message", None) or str(error)
    text = re.sub(r"^\{\{function_node [^}]*\}\}\s*", "", text)
    text = re.sub(r"\s*\[Op:\w+\](\s*name:.*)?$", "", text.strip())
    return text.strip() or type(error).__name__


def not_a_file(path):
    """Why `path`, which exists as a name, is not a readable file (or None)."""
    if path.is_symlink() and not path.exists():
        return f"a broken symbolic link (to {os.readlink(path)}, which does not exist)"
    if path.is_dir():
        return "a directory, not an image file"
    if not path.is_file():
        return "not a regular file"
    return None


class Interrupts:
    """While active, SIGTERM and SIGINT raise `Terminated`, so that `finally` blocks
    remove the staging folder; inside `deferred()` they wait until the block ends (a
    swap of folders is never cut in half)."""

    SIGNALS = (signal.SIGTERM, signal.SIGINT)

    def __init__(self):
        self.deferring = False
        self.pending = None
        self.previous = {}

    def handle(self, signum, frame):
        if self.deferring:
            self.pending = signum
            return
        raise Terminated(signum)

    def __enter__(self):
        self.pending = None
        try:
            for signum in self.SIGNALS:
                self.previous[signum] = signal.signal(signum, self.handle)
        except ValueError:  # not the main thread: leave the handlers alone
            pass
        return self

    def __exit__(self, *exc):
        for signum, handler in self.previous.items():
            signal.signal(signum, handler)
        self.previous.clear()
        return False

    @contextlib.contextmanager
    def deferred(self):
        self.deferring = True
        try:
            yield
        finally:
            self.deferring = False
        if self.pending is not None:
            signum, self.pending = self.pending, None
            raise Terminated(signum)


def remove(path):
    path = pathlib.Path(path)
    if path.is_dir() and not path.is_symlink():
        shutil.rmtree(path, ignore_errors=True)
    else:
        with contextlib.suppress(FileNotFoundError):
            path.unlink()


def swap_into_place(staging, output_dir, names, rename=os.rename):
    """Moves `staging/<name>` to `output_dir/<name>` for each name, by renames only.

    Each existing `output_dir/<name>` is first renamed to a hidden backup beside it,
    then the new folder is renamed into place; backups are deleted only once every
    name is in place. If a rename fails, the renames done so far are undone in reverse
    order, so `output_dir` holds the old run, whole. (A process killed with SIGKILL in
    between leaves at most a `.<name>.previous-*` backup, the old run, whole.)
    """
    output_dir.mkdir(parents=True, exist_ok=True)
    done, backups = [], []
    try:
        for name in names:
            target = output_dir / name
            if target.exists() or target.is_symlink():
                backup = output_dir / f".{name}.previous-{staging.name.lstrip('.')}"
                rename(target, backup)
                done.append((target, backup))
                backups.append(backup)
            rename(staging / name, target)
            done.append((staging / name, target))
    except BaseException as error:
        failed = []
        for source, destination in reversed(done):
            try:
                rename(destination, source)
            except OSError:
                failed.append(f"{destination} -> {source}")
        if failed:
            raise RunError(
                f"moving the new run into {output_dir} failed ({error!r}) and could not be "
                f"fully undone; move these back by hand (the .{{name}}.previous-* folders "
                f"hold the previous run, whole): {'; '.join(failed)}") from error
        raise
    for backup in backups:
        remove(backup)



# What TensorFlow's C++ runtime prints on its own at start-up, before Python logging is
# set up (TF_CPP_MIN_LOG_LEVEL does not reach all of it): nothing a user can act on.
_START_UP_NOISE = re.compile(
    r"absl::InitializeLog|oneDNN custom operations|Could not find cuda drivers|"
    r"Unable to register cu(DNN|FFT|BLAS)|computation placer already registered|"
    r"TF-TRT Warning|This TensorFlow binary is optimized|rebuild TensorFlow with|"
    r"cuInit|CUDA_ERROR|disabling MLIR crash reproducer"
)


def start_tensorflow_quietly():
    """Imports TensorFlow and Keras and starts the runtime (its first op), with the C++
    start-up lines above filtered out of stderr; any other line still gets through."""
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    sys.stderr.flush()
    saved = os.dup(2)
    with tempfile.TemporaryFile() as captured:
        os.dup2(captured.fileno(), 2)
        try:
            import keras  # noqa: F401
            import tensorflow as tf

            tf.constant(0)
        finally:
            sys.stderr.flush()
            os.dup2(saved, 2)
            os.close(saved)
        captured.seek(0)
        for line in captured.read().decode(errors="replace").splitlines():
            if line.strip() and not _START_UP_NOISE.search(line):
                print(line, file=sys.stderr)
