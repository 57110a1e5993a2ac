"""Draws the input-pipeline timeline of docs/guides/input-pipelines.md into docs/images/.

    python docs/scripts/pipeline_timeline.py                 # docs/images/pipeline-timeline.png
    python docs/scripts/pipeline_timeline.py --out /tmp/figs

The code that draws the figure is the page's own: this script takes the two Python
blocks of the page that make the `small` folder (64 car/truck photos per class from
`../shared/data`) and trace and draw the course's variants, and runs them in a
temporary folder. Without `../shared`, generated images stand in for the photos (the
folder block is then not run). The times are measured on the machine that runs it.
"""

from __future__ import annotations

import argparse
import os
import pathlib
import shutil
import sys
import tempfile

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
os.environ.setdefault("MPLBACKEND", "Agg")

REPO = pathlib.Path(__file__).resolve().parents[2]
sys.path.insert(0, str(REPO))
SHARED = pathlib.Path(os.environ.get("KERAS_BLOCKS_SHARED", REPO.parent / "shared"))
PAGE = REPO / "docs" / "guides" / "input-pipelines.md"
FIGURE = "pipeline-timeline.png"
# What identifies the two blocks on the page.
FOLDER_BLOCK = 'small = pathlib.Path("small")'
TIMELINE_BLOCK = f'path="{FIGURE}"'


def page_blocks() -> tuple[str, str]:
    """The page's folder block and timeline block, as shown."""
    from tests.docs_snippets import extract

    snippets, _ = extract(PAGE, str(PAGE.relative_to(REPO)))
    found = {}
    for key in (FOLDER_BLOCK, TIMELINE_BLOCK):
        matches = [s.source for s in snippets if key in s.source]
        if len(matches) != 1:
            raise SystemExit(f"{PAGE}: expected one Python block with {key!r}, "
                             f"found {len(matches)}")
        found[key] = matches[0]
    return found[FOLDER_BLOCK], found[TIMELINE_BLOCK]


def _generated_small(root: pathlib.Path) -> None:
    from keras_blocks import make_synthetic_car_truck

    data = make_synthetic_car_truck(root / "generated", n_per_class=80, image_size=32)
    for label in ("Car", "Truck"):
        (root / "small" / label).mkdir(parents=True)
        for path in sorted((data / "train" / label).glob("*.jpg"))[:64]:
            shutil.copy(path, root / "small" / label / path.name)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--out", default=str(REPO / "docs" / "images"))
    args = parser.parse_args(argv)
    folder_code, timeline_code = page_blocks()
    out = pathlib.Path(args.out).resolve()
    with tempfile.TemporaryDirectory() as tmp:
        work = pathlib.Path(tmp) / "work"
        work.mkdir()
        os.chdir(work)
        namespace = {"__name__": "__page__"}
        if (SHARED / "data" / "cifar10-car-truck" / "train").is_dir():
            (work.parent / "shared").symlink_to(SHARED, target_is_directory=True)
            exec(compile(folder_code, f"{PAGE}: folder block", "exec"), namespace)
        else:
            print(f"{SHARED / 'data'} is absent: generated images stand in for the photos")
            _generated_small(work)
        exec(compile(timeline_code, f"{PAGE}: timeline block", "exec"), namespace)
        out.mkdir(parents=True, exist_ok=True)
        shutil.move(work / FIGURE, out / FIGURE)
        os.chdir(REPO)
    print(out / FIGURE)


if __name__ == "__main__":
    main()
