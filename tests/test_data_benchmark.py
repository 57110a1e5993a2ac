"""benchmark_pipeline, trace_pipeline and plot_timeline on a tiny generated directory."""

import numpy as np
import pytest
from PIL import Image

from keras_blocks import benchmark_pipeline, plot_timeline, trace_pipeline
from tests.figures import assert_figure


@pytest.fixture
def tiny_dir(tmp_path):
    rng = np.random.default_rng(0)
    for label in ("Car", "Truck"):
        (tmp_path / "d" / label).mkdir(parents=True)
        for i in range(16):
            pixels = rng.integers(0, 256, (6, 5, 3), dtype=np.uint8)
            Image.fromarray(pixels).save(tmp_path / "d" / label / f"{i}.png")
    return tmp_path / "d"


def test_benchmark_rows_and_table(tiny_dir, capsys):
    rows = benchmark_pipeline(
        tiny_dir,
        image_size=8,
        batch_size=8,
        epochs=3,
        variants=["naive", "cache", "vectorized_map", "interleave", "make_pipeline"],
    )
    assert [r["variant"] for r in rows] == [
        "naive", "cache", "vectorized_map", "interleave", "make_pipeline"
    ]  # fmt: skip
    for row in rows:
        assert row["images"] == 32
        assert row["first_epoch_images_per_s"] > 0 and row["later_epoch_images_per_s"] > 0
    by_name = {r["variant"]: r for r in rows}
    assert not by_name["cache"]["reshuffled"]  # the course's cache replays its batches
    assert by_name["make_pipeline"]["reshuffled"]
    table = capsys.readouterr().out
    assert "make_pipeline" in table and "later epochs img/s" in table


def test_benchmark_rejects_bad_arguments(tiny_dir):
    with pytest.raises(ValueError, match="`variants` must be one of"):
        benchmark_pipeline(tiny_dir, variants=["fast"])
    with pytest.raises(ValueError, match="`epochs` must be an integer >= 2"):
        benchmark_pipeline(tiny_dir, epochs=1)


@pytest.mark.parametrize("variant", ["naive", "parallel_map", "interleave", "vectorized_map"])
def test_trace_records_every_stage_of_every_step(tiny_dir, variant):
    trace = trace_pipeline(tiny_dir, variant=variant, image_size=8, batch_size=4, steps=3)
    assert trace["variant"] == variant
    events = trace["events"]
    for stage in ("read", "map", "train"):
        steps = {step for s, step, _, _ in events if s == stage}
        assert steps == {0, 1, 2}, stage
    assert sum(1 for e in events if e[0] == "read") == 12  # one per image
    assert all(0 <= start <= end for _, _, start, end in events)
    assert min(start for _, _, start, _ in events) == 0.0
    train_starts = [start for s, _, start, _ in events if s == "train"]
    assert train_starts == sorted(train_starts)


def test_plot_timeline_draws_and_saves(tiny_dir, tmp_path):
    traces = [
        trace_pipeline(tiny_dir, variant=v, image_size=8, batch_size=4, steps=2, train_step=0)
        for v in ("naive", "prefetch")
    ]
    fig = plot_timeline(traces, title="t", path=tmp_path / "out" / "timeline.png")
    assert len(fig.axes) == 2
    # Two lanes, 9 x 4.4 inches at 110 dpi, less the margins `bbox_inches="tight"` trims.
    assert_figure(tmp_path / "out" / "timeline.png", min_size=(800, 400))
    with pytest.raises(ValueError, match="must be a dict with 'events'"):
        plot_timeline([{"variant": "x"}])
    with pytest.raises(ValueError, match="stage one of"):
        plot_timeline({"events": [("load", 0, 0.0, 1.0)]})


def test_trace_cache_over_two_epochs_reads_only_in_the_first(tiny_dir):
    trace = trace_pipeline(tiny_dir, variant="cache", image_size=8, batch_size=4, steps=3,
                           train_step=0, epochs=2)
    events = trace["events"]
    assert sorted({step for s, step, _, _ in events if s == "train"}) == [0, 1, 2, 3, 4, 5]
    for stage in ("read", "map"):  # epoch 2 (steps 3-5) comes from the cache
        assert sorted({step for s, step, _, _ in events if s == stage}) == [0, 1, 2], stage
        assert sum(1 for e in events if e[0] == stage) == 12
    # Without a cache, the second epoch reads every image again.
    again = trace_pipeline(tiny_dir, variant="parallel_map", image_size=8, batch_size=4,
                           steps=3, train_step=0, epochs=2)["events"]
    assert sum(1 for e in again if e[0] == "read") == 24
    with pytest.raises(ValueError, match="`epochs`"):
        trace_pipeline(tiny_dir, epochs=0)
