import keras
import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from keras_blocks import InvertedResidual, StochasticDepth
from keras_blocks.blocks.inverted_residual import mobilenet_padding
from keras_blocks.registry import create
from tests.layer_checks import (
    check_config_round_trip,
    check_output_shape,
    run_layer_checks,
    to_numpy,
)


# (trainable, non-trainable) weights and seed generators on 6 input channels, counted by
# hand: convs next to batch norm have no bias (gamma, beta + two statistics per norm);
# squeeze-excite adds two 1x1 convs with biases; drop_path owns one seed generator.
@pytest.mark.parametrize(
    "kwargs, training_differs, weights, seeds",
    [
        # expand, depthwise, project (3 kernels + 3 norms) + SE (4): 13 trainable.
        ({"filters": 8, "strides": 2, "se_ratio": 0.25, "activation": "swish",
          "padding": "mobilenet", "kernel_size": 5}, True, (13, 6), 0),
        # fused kxk, project (2 kernels + 2 norms) + SE (4): 10 trainable.
        # (A swish inside the SE: with relu6 all three squeezed units of this draw start
        # dead, and the reduce kernel gets no gradient.)
        ({"filters": 6, "fused": True, "expansion": 4, "se_ratio": 0.5,
          "se_activation": "swish"}, True, (10, 4), 0),
        # No norm: only stochastic depth makes training differ (batch of 8, see below);
        # three convs with biases.
        ({"filters": 6, "expansion": 2, "norm": None, "drop_path": 0.5}, True, (6, 0), 1),
        # Fused with expansion 1: one kxk conv and its group norm.
        ({"filters": 4, "fused": True, "expansion": 1, "strides": (2, 1), "norm": "group",
          "activation": "relu"}, False, (3, 0), 0),
        # SE reduce (12 -> 3) and project (12 -> 3) kernels have the same shape.
        ({"filters": 3, "expansion": 2, "se_ratio": 0.5}, True, (13, 6), 0),
        # MobileNetV3: expand, depthwise, project (3 kernels + 3 norms) + SE (4), the SE
        # squeezing make_divisible(18 / 4, 8) = 8 channels of the expanded 18.
        ({"filters": 8, "expansion": 3, "se_ratio": 0.25, "se_base": "expanded",
          "se_divisor": 8, "activation": "hard_swish", "se_activation": "relu",
          "se_gate": "hard_sigmoid", "padding": "mobilenet", "strides": 2}, True, (13, 6), 0),
    ],
)
def test_shared_checks(kwargs, training_differs, weights, seeds, tmp_path):
    # A batch of 8 makes "no sample dropped" (or all) a 1/256 event for drop_path=0.5.
    batch = 8 if kwargs.get("drop_path") else 2
    run_layer_checks(InvertedResidual, kwargs, (batch, 9, 11, 6), tmp_path,
                     training_differs=training_differs, expected_weights=weights,
                     expected_seed_generators=seeds)


# ---------------------------------------------------------------------------------------
# Exactness against the published block code of keras.applications (EfficientNet B0-B7
# and V2), with random weights copied layer by layer.


def _reference_block(kind, input_shape, **kwargs):
    from keras.src.applications import efficientnet, efficientnet_v2

    inputs = keras.Input(shape=input_shape)
    if kind == "efficientnet":
        outputs = efficientnet.block(inputs, name="ref_", **kwargs)
    elif kind == "mbconv_v2":
        outputs = efficientnet_v2.MBConvBlock(name="ref_", survival_probability=0.0,
                                              **kwargs)(inputs)
    else:
        outputs = efficientnet_v2.FusedMBConvBlock(name="ref_", survival_probability=0.0,
                                                   **kwargs)(inputs)
    return keras.Model(inputs, outputs)


def _our_layers(block):
    layers = [block.expand_conv, block.expand_norm, block.depthwise_conv, block.depthwise_norm]
    if block.se is not None:
        layers += [block.se.reduce, block.se.expand]
    layers += [block.project_conv, block.project_norm]
    return [layer for layer in layers if layer is not None]


def _randomize(model, seed=0):
    rng = np.random.default_rng(seed)
    for weight in model.weights:
        if "moving_variance" in weight.path:
            weight.assign(rng.uniform(0.5, 1.5, weight.shape).astype("float32"))
        else:
            weight.assign(0.3 * rng.normal(size=weight.shape).astype("float32"))


CASES = [
    # EfficientNet B0's block2a (kernel 3, stride 2, expand 6, SE from the INPUT width)
    ("efficientnet", 16, {"filters_in": 16, "filters_out": 24, "kernel_size": 3, "strides": 2,
                          "expand_ratio": 6, "se_ratio": 0.25, "activation": "swish"},
     {"filters": 24, "expansion": 6, "kernel_size": 3, "strides": 2, "se_ratio": 0.25,
      "activation": "swish", "padding": "mobilenet"}),
    # block1a-like: no expansion, kernel 5, residual
    ("efficientnet", 12, {"filters_in": 12, "filters_out": 12, "kernel_size": 5, "strides": 1,
                          "expand_ratio": 1, "se_ratio": 0.25, "activation": "swish"},
     {"filters": 12, "expansion": 1, "kernel_size": 5, "se_ratio": 0.25,
      "activation": "swish", "padding": "mobilenet"}),
    ("efficientnet", 8, {"filters_in": 8, "filters_out": 16, "kernel_size": 5, "strides": 2,
                         "expand_ratio": 6, "se_ratio": 0.25, "activation": "swish"},
     {"filters": 16, "expansion": 6, "kernel_size": 5, "strides": 2, "se_ratio": 0.25,
      "activation": "swish", "padding": "mobilenet"}),
    ("mbconv_v2", 8, {"input_filters": 8, "output_filters": 16, "expand_ratio": 4,
                      "kernel_size": 3, "strides": 2, "se_ratio": 0.25},
     {"filters": 16, "expansion": 4, "strides": 2, "se_ratio": 0.25, "activation": "swish",
      "norm_momentum": 0.9}),
    ("fused", 8, {"input_filters": 8, "output_filters": 8, "expand_ratio": 4,
                  "kernel_size": 3, "strides": 1},
     {"filters": 8, "expansion": 4, "fused": True, "activation": "swish",
      "norm_momentum": 0.9}),
    # FusedMBConv with expansion 1: one kxk conv with norm and activation; SE sees the input
    ("fused", 8, {"input_filters": 8, "output_filters": 12, "expand_ratio": 1,
                  "kernel_size": 3, "strides": 2, "se_ratio": 0.25},
     {"filters": 12, "expansion": 1, "fused": True, "strides": 2, "se_ratio": 0.25,
      "activation": "swish", "norm_momentum": 0.9}),
]


@pytest.mark.parametrize("kind, channels, reference_kwargs, our_kwargs", CASES)
def test_equals_published_efficientnet_blocks(kind, channels, reference_kwargs, our_kwargs):
    # Odd by even: the strided blocks pad asymmetrically along one axis, not the other.
    size = (11, 10)
    shape = (*size, channels)
    reference = _reference_block(kind, shape, **reference_kwargs)
    _randomize(reference)
    ours = InvertedResidual(**our_kwargs)
    ours.build((None, *shape))
    theirs = [layer for layer in reference.layers if layer.weights]
    mine = _our_layers(ours)
    assert [[tuple(w.shape) for w in layer.weights] for layer in mine] == [
        [tuple(w.shape) for w in layer.weights] for layer in theirs
    ]
    for mine_layer, their_layer in zip(mine, theirs, strict=True):
        mine_layer.set_weights(their_layer.get_weights())
    x = np.random.default_rng(3).normal(size=(2, *shape)).astype("float32")
    expected = to_numpy(reference(x, training=False))
    actual = to_numpy(ours(x, training=False))
    assert actual.shape == expected.shape
    assert np.abs(actual - expected).max() <= 1e-5 * max(1.0, np.abs(expected).max())


# ---------------------------------------------------------------------------------------
# Structure


def test_residual_only_when_shapes_allow_and_drop_path_only_there():
    x = np.ones((2, 8, 8, 6), "float32")
    same = InvertedResidual(6, drop_path=0.2)
    same(x)
    assert same.use_residual and isinstance(same.drop_path_layer, StochasticDepth)
    for kwargs in ({"filters": 8}, {"filters": 6, "strides": 2}, {"filters": 6, "residual": False}):
        block = InvertedResidual(drop_path=0.2, **kwargs)
        block(x)
        assert not block.use_residual and block.drop_path_layer is None, kwargs


def test_expansion_one_skips_the_expansion_convolution():
    block = InvertedResidual(4, expansion=1)
    block(np.ones((1, 5, 5, 4), "float32"))
    assert block.expand_conv is None
    assert tuple(block.depthwise_conv.kernel.shape) == (3, 3, 4, 1)
    expanded = InvertedResidual(4, expansion=2.5)
    expanded(np.ones((1, 5, 5, 4), "float32"))
    assert tuple(expanded.expand_conv.kernel.shape) == (1, 1, 4, 10)


def test_squeeze_excite_width_comes_from_the_block_input():
    block = InvertedResidual(24, expansion=6, se_ratio=0.25)
    block(np.ones((1, 6, 6, 16), "float32"))
    # EfficientNet: max(1, int(16 * 0.25)) = 4 squeezed channels of the 96 expanded ones.
    assert tuple(block.se.reduce.kernel.shape) == (1, 1, 96, 4)


@pytest.mark.parametrize(
    "se_base, se_divisor, width",
    [
        ("input", 1, 4),  # EfficientNet: int(16 * 0.25)
        ("expanded", 1, 18),  # int(72 * 0.25)
        ("expanded", 8, 24),  # MobileNetV3: make_divisible(18, 8) (16 is > 10% below 18)
        ("input", 8, 8),  # make_divisible(4, 8): never below the divisor
    ],
)
def test_squeeze_excite_width_options(se_base, se_divisor, width):
    block = InvertedResidual(24, expansion=4.5, se_ratio=0.25, se_base=se_base,
                             se_divisor=se_divisor)
    assert block.squeezed_channels(16) == width
    block(np.ones((1, 6, 6, 16), "float32"))
    assert tuple(block.se.reduce.kernel.shape) == (1, 1, 72, width)
    assert InvertedResidual(24, se_ratio=0.0).squeezed_channels(16) == 0
    # Fused with expansion 1: the squeeze-excite sees the input, so "expanded" is the input.
    fused = InvertedResidual(8, expansion=1, fused=True, se_ratio=0.5, se_base="expanded")
    assert fused.squeezed_channels(6) == 3


def test_projection_is_linear():
    """No activation after the projection: outputs go negative (relu6 would forbid it)."""
    block = InvertedResidual(8, expansion=6, residual=False)
    y = to_numpy(block(np.random.default_rng(0).normal(size=(2, 6, 6, 8)).astype("float32")))
    assert y.min() < 0


def test_mobilenet_padding_is_correct_pad():
    assert mobilenet_padding(10, 3, 2) == (0, 1)
    assert mobilenet_padding(11, 3, 2) == (1, 1)
    assert mobilenet_padding(None, 3, 2) == (0, 1)
    assert mobilenet_padding(10, 5, 2) == (1, 2)
    assert mobilenet_padding(10, 5, 1) == (2, 2)


@given(size=st.integers(3, 15), kernel=st.sampled_from([3, 5]))
def test_mobilenet_and_same_padding_agree_for_known_sizes(size, kernel):
    x = np.random.default_rng(size).normal(size=(1, size, size, 4)).astype("float32")
    same = InvertedResidual(4, kernel_size=kernel, strides=2, padding="same")
    mobile = InvertedResidual(4, kernel_size=kernel, strides=2, padding="mobilenet")
    same.build(x.shape)
    mobile.build(x.shape)
    mobile.set_weights(same.get_weights())
    np.testing.assert_allclose(to_numpy(mobile(x)), to_numpy(same(x)), atol=1e-5)


def test_mobilenet_padding_with_unknown_size_pads_like_keras_applications():
    # keras.applications assumes an even size when the size is unknown: an odd input then
    # loses a row, where "same" would keep it.
    inputs = keras.Input((None, None, 4))
    mobile = keras.Model(inputs, InvertedResidual(4, strides=2, padding="mobilenet")(inputs))
    same = keras.Model(inputs, InvertedResidual(4, strides=2, padding="same")(inputs))
    x = np.ones((1, 9, 9, 4), "float32")
    assert mobile(x).shape[1:3] == (4, 4)
    assert same(x).shape[1:3] == (5, 5)


@given(
    filters=st.integers(1, 8),
    expansion=st.sampled_from([1, 2, 6, 0.5]),
    kernel=st.sampled_from([1, 3, 5, (3, 5)]),
    strides=st.sampled_from([1, 2, 3]),
    se_ratio=st.sampled_from([0.0, 0.25, 1.0]),
    fused=st.booleans(),
    padding=st.sampled_from(["same", "mobilenet"]),
    norm=st.sampled_from([None, "batch", "layer"]),
    channels=st.integers(1, 8),
    height=st.integers(1, 13),
    width=st.integers(1, 13),
)
def test_shapes_and_config_for_drawn_configs(filters, expansion, kernel, strides, se_ratio,
                                             fused, padding, norm, channels, height, width):
    block = InvertedResidual(filters, expansion=expansion, kernel_size=kernel, strides=strides,
                             se_ratio=se_ratio, fused=fused, padding=padding, norm=norm)
    x = np.random.rand(2, height, width, channels).astype("float32")
    y = check_output_shape(block, x)
    if padding == "same":
        assert y.shape == (2, -(-height // strides), -(-width // strides), filters)
    assert block.use_residual == (strides == 1 and channels == filters)
    check_config_round_trip(block)


def test_registry_names():
    assert isinstance(create("block", {"name": "mbconv", "filters": 4}), InvertedResidual)
    assert isinstance(create("block", "inverted_residual", filters=4), InvertedResidual)
    fused = create("block", {"name": "fused_mbconv", "filters": 4, "expansion": 2})
    assert fused.fused and fused.expansion == 2


@pytest.mark.parametrize(
    "kwargs, message",
    [
        ({"filters": 0}, "`filters` must be an integer >= 1; got 0"),
        ({"filters": 4, "expansion": 0}, "`expansion` must be a number > 0; got 0"),
        ({"filters": 4, "expansion": "six"}, "`expansion`"),
        ({"filters": 32, "expansion": float("inf")},
         "`expansion` must be a number > 0; got inf (inf and nan are not allowed)"),
        ({"filters": 32, "expansion": float("nan")}, "`expansion` must be a number > 0; got nan"),
        ({"filters": 4, "kernel_size": (3, 0)}, "`kernel_size`"),
        ({"filters": 4, "strides": (2, 1)}, "equal strides"),
        ({"filters": 4, "strides": 0}, "`strides`"),
        ({"filters": 4, "se_ratio": 1.5}, "`se_ratio` must be a number in [0.0, 1.0]"),
        ({"filters": 4, "drop_path": 1.0}, "`drop_path` must be a number in [0.0, 1.0)"),
        ({"filters": 4, "padding": "valid"}, "`padding` must be one of 'same', 'mobilenet'"),
        ({"filters": 4, "se_base": "output"}, "`se_base` must be one of 'input', 'expanded'"),
        ({"filters": 4, "se_divisor": 0}, "`se_divisor` must be an integer >= 1; got 0"),
        ({"filters": 4, "activation": "relu7"}, "Unknown activation 'relu7'"),
        ({"filters": 4, "se_gate": "gate"}, "Unknown se_gate 'gate'"),
        ({"filters": 4, "norm": "batchnorm"}, "Unknown norm 'batchnorm'"),
        ({"filters": 4, "fused": "yes"}, "`fused` must be True or False"),
        ({"filters": 4, "norm_momentum": 1.0}, "`norm_momentum`"),
    ],
)
def test_bad_arguments_raise_at_construction(kwargs, message):
    with pytest.raises(ValueError) as error:
        InvertedResidual(**kwargs)
    assert message in str(error.value)


def test_bad_input_raises_at_build():
    with pytest.raises(ValueError, match=r"rank-4 input .* got shape \(2, 8, 3\)"):
        InvertedResidual(4)(np.zeros((2, 8, 3), "float32"))
    with pytest.raises(ValueError, match="channel dimension"):
        InvertedResidual(4).build((None, 8, 8, None))
