"""keras_blocks.viz training plots and feature maps: they draw what they are given."""

import json

import matplotlib

matplotlib.use("Agg")

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from keras_blocks import (
    confusion_matrix,
    course_conv_net,
    feature_layers,
    plot_confusion_matrix,
    plot_feature_maps,
    plot_learning_curves,
    plot_predictions,
    pretrained_base,
)
from tests.figures import assert_figure

HISTORY = {
    "loss": [0.7, 0.5, 0.4, 0.35],
    "val_loss": [0.68, 0.55, 0.5, 0.52],
    "accuracy": [0.55, 0.75, 0.82, 0.86],
    "val_accuracy": [0.6, 0.72, 0.8, 0.79],
    "phase_starts": [2],
}


def test_learning_curves_draw_the_values(tmp_path):
    fig = plot_learning_curves(HISTORY, path=tmp_path / "c" / "curves.png")
    # Two 5.5 x 4 inch panels at 110 dpi, less the margins `bbox_inches="tight"` trims.
    assert_figure(tmp_path / "c" / "curves.png", min_size=(1000, 380))
    loss_ax, acc_ax = fig.axes
    assert loss_ax.get_title() == "Loss" and acc_ax.get_title() == "Accuracy"
    np.testing.assert_allclose(loss_ax.lines[0].get_ydata(), HISTORY["loss"])
    np.testing.assert_allclose(acc_ax.lines[1].get_ydata(), HISTORY["val_accuracy"])
    # best validation accuracy marked at epoch 3; the phase line sits between epochs 2 and 3
    assert "0.8 (epoch 3)" in " ".join(t.get_text() for t in acc_ax.get_legend().get_texts())
    assert any(list(line.get_xdata()) == [2.5, 2.5] for line in acc_ax.lines)


def test_learning_curves_take_a_keras_history_and_a_json_file(tmp_path):
    import keras

    model = keras.Sequential([keras.Input((2,)), keras.layers.Dense(1, activation="sigmoid")])
    model.compile("sgd", "binary_crossentropy", metrics=["binary_accuracy"])
    x, y = np.random.rand(16, 2), np.random.randint(0, 2, (16, 1))
    history = model.fit(x, y, validation_data=(x, y), epochs=2, verbose=0)
    fig = plot_learning_curves(history)
    assert [ax.get_title() for ax in fig.axes] == ["Loss", "Binary accuracy"]
    np.testing.assert_allclose(fig.axes[0].lines[0].get_ydata(), history.history["loss"])
    np.testing.assert_allclose(fig.axes[1].lines[1].get_ydata(),
                               history.history["val_binary_accuracy"])
    (tmp_path / "h.json").write_text(json.dumps(HISTORY))
    fig = plot_learning_curves(json.loads((tmp_path / "h.json").read_text()), metric=None)
    (loss_ax,) = fig.axes  # metric=None: the loss chart alone
    assert loss_ax.get_title() == "Loss"
    np.testing.assert_allclose(loss_ax.lines[0].get_ydata(), HISTORY["loss"])
    np.testing.assert_allclose(loss_ax.lines[1].get_ydata(), HISTORY["val_loss"])
    # "phase_starts" came through the JSON file: the dashed line between epochs 2 and 3.
    assert any(list(line.get_xdata()) == [2.5, 2.5] for line in loss_ax.lines)


@pytest.mark.parametrize(
    ("history", "kwargs", "message"),
    [
        ({}, {}, "non-empty"),
        ({"accuracy": [0.5]}, {}, "no 'loss'"),
        ({"loss": [1.0, 0.5], "val_loss": [1.0]}, {}, "one value per epoch"),
        (HISTORY, {"metric": "auc"}, "'auc' is not in"),
    ],
)
def test_learning_curves_bad_input(history, kwargs, message):
    with pytest.raises(ValueError, match=message):
        plot_learning_curves(history, **kwargs)


@given(labels=st.lists(st.tuples(st.integers(0, 3), st.integers(0, 3)), min_size=1, max_size=40))
def test_confusion_matrix_counts_every_pair(labels):
    y_true, y_pred = zip(*labels, strict=True)
    matrix = confusion_matrix(y_true, y_pred, num_classes=4)
    assert matrix.sum() == len(labels)
    for i in range(4):
        for j in range(4):
            assert matrix[i, j] == sum(1 for t, p in labels if (t, p) == (i, j))


def test_confusion_matrix_bad_input():
    with pytest.raises(ValueError, match="same length"):
        confusion_matrix([0, 1], [0])
    with pytest.raises(ValueError, match="num_classes"):
        confusion_matrix([0, 2], [0, 1], num_classes=2)
    with pytest.raises(ValueError, match="class indices"):
        confusion_matrix([0.5], [0])


def test_plot_confusion_matrix_titles_the_accuracy(tmp_path):
    fig = plot_confusion_matrix(
        [0, 0, 1, 1], [0, 1, 1, 1], ["Car", "Truck"], normalize=True, path=tmp_path / "cm.png"
    )
    assert fig.axes[0].get_title() == "accuracy 75.00% (4 images)"
    texts = [t.get_text() for t in fig.axes[0].texts]
    assert texts == ["1\n50.0%", "1\n50.0%", "0\n0.0%", "2\n100.0%"]
    assert_figure(tmp_path / "cm.png", min_size=(300, 300))  # 3.5 inches square at 110 dpi


def test_plot_predictions_marks_mistakes_in_red():
    images = np.random.default_rng(0).integers(0, 255, (5, 12, 12, 3)).astype("uint8")
    fig = plot_predictions(
        images,
        [0, 1, 1, 0, 1],
        [0.1, 0.8, 0.3, 0.6, 0.9],
        ["Car", "Truck"],
        columns=3,
        mistakes_first=True,
    )
    titles = [(ax.get_title(), ax.title.get_color()) for ax in fig.axes if ax.get_title()]
    assert titles[0] == ("Car 70%\n(true: Truck)", "red")
    assert titles[1] == ("Truck 60%\n(true: Car)", "red")
    assert sorted(c for _, c in titles) == ["green", "green", "green", "red", "red"]


def test_plot_predictions_softmax_and_bad_lengths():
    images = np.zeros((2, 8, 8, 3), "float32")
    fig = plot_predictions(images, [2, 0], [[0.1, 0.2, 0.7], [0.3, 0.3, 0.4]], ["a", "b", "c"])
    assert [ax.get_title().split("\n")[0] for ax in fig.axes[:2]] == ["c 70%", "c 40%"]
    with pytest.raises(ValueError, match="same length"):
        plot_predictions(images, [0], [0.5, 0.5], ["a", "b"])


def test_feature_maps_of_a_custom_base(tmp_path):
    base = course_conv_net((32, 32, 3))
    names = feature_layers(base, n_layers=2)
    assert names == [base.layers[0].name, base.layers[-1].name]
    image = np.random.default_rng(0).uniform(0, 255, (32, 32, 3))
    fig = plot_feature_maps(base, image, channels=3, path=tmp_path / "f.png")
    # one row per block (3), each: the image and 3 channels
    assert len(fig.axes) == 3 * 4
    assert fig.axes[4].get_title() == f"{base.layers[1].name}\n8x8x64"
    assert_figure(tmp_path / "f.png", min_size=(500, 400))  # 6.4 x 5.1 inches at 110 dpi
    with pytest.raises(ValueError, match="not layers of"):
        plot_feature_maps(base, image, ["nope"])
    with pytest.raises(ValueError, match="image"):
        plot_feature_maps(base, np.zeros((2, 32, 32, 3)))


def test_feature_maps_look_inside_a_pretrained_base():
    base = pretrained_base("mobilenet_v2", weights=None, input_shape=(32, 32, 3))
    fig = plot_feature_maps(base, np.zeros((32, 32, 3)), n_layers=3, channels=2)
    titles = [ax.get_title() for ax in fig.axes[::3]]
    assert len(titles) == 3 and len(set(titles)) == 3  # three different layers
    assert all(
        name.split("\n")[0] in {layer.name for layer in base.layers[-1].layers} for name in titles
    )
