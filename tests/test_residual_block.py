import keras
import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from keras_blocks import ResidualBlock
from keras_blocks.registry import create
from tests.layer_checks import (
    check_config_round_trip,
    check_output_shape,
    run_layer_checks,
    to_numpy,
)


def test_example_shape_and_registry_name():
    block = create("block", {"name": "residual", "filters": 16, "variant": "bottleneck",
                             "strides": 2})
    assert isinstance(block, ResidualBlock)
    y = block(np.zeros((2, 32, 32, 3), "float32"))
    assert tuple(y.shape) == (2, 16, 16, 64)


# (trainable, non-trainable) weights and seed generators, counted by hand: convs next to
# a norm have no bias; batch norm has gamma, beta and two moving statistics; a projection
# shortcut adds a conv and a norm; drop_path owns one seed generator.
@pytest.mark.parametrize(
    "kwargs, shape, training_differs, weights, seeds",
    [
        # Identity shortcut, batch norm; conv0 and conv1 are both 3->3 3x3.
        ({"filters": 3}, (2, 9, 11, 3), True, (6, 4), 0),
        ({"filters": 2, "variant": "bottleneck", "strides": 2, "drop_path": 0.3, "seed": 1},
         (4, 9, 11, 3), True, (12, 8), 1),
        ({"filters": 4, "norm": None, "activation": "swish", "strides": (2, 1)},
         (2, 7, 9, 4), False, (6, 0), 0),
        # ResNet v1 (keras.applications.ResNet50): stride in the first 1x1, biases next to
        # the norms: 4 convs x (kernel, bias) + 4 norms x (gamma, beta) trainable.
        ({"filters": 2, "variant": "bottleneck", "strides": 2, "stride_on": "first",
          "use_bias": True, "norm_epsilon": 1.001e-5}, (2, 9, 11, 3), True, (16, 8), 0),
        # Squeeze-excite on the branch: its two 1x1 convs with biases add 4 trainable.
        ({"filters": 2, "variant": "bottleneck", "se_ratio": 0.5}, (2, 9, 11, 8), True,
         (13, 6), 0),
    ],
)
def test_shared_checks(kwargs, shape, training_differs, weights, seeds, tmp_path):
    run_layer_checks(ResidualBlock, kwargs, shape, tmp_path,
                     training_differs=training_differs, expected_weights=weights,
                     expected_seed_generators=seeds)


def test_zero_init_residual_branch_gets_no_gradient_in_the_first_step(tmp_path):
    # The last norm's scale starts at 0, so everything before it in the branch has a zero
    # gradient in the first step; the last norm's scale and shift still train. (The
    # branch outputs zeros, so training and inference agree at the start.)
    run_layer_checks(ResidualBlock, {"filters": 3, "zero_init_residual": True},
                     (2, 6, 6, 3), tmp_path, training_differs=False, expected_weights=(6, 4),
                     expected_seed_generators=0, may_stay=("conv0", "norm0", "conv1"))


@given(
    filters=st.integers(1, 5),
    variant=st.sampled_from(["basic", "bottleneck"]),
    expansion=st.sampled_from([None, 1, 2]),
    strides=st.sampled_from([1, 2, 3, (2, 1)]),
    kernel=st.sampled_from([1, 3, (3, 5)]),
    channels=st.integers(1, 8),
    height=st.integers(1, 13),
    width=st.integers(1, 13),
    use_projection=st.sampled_from([None, True]),
    stride_on=st.sampled_from(["spatial", "first"]),
)
def test_projection_exactly_when_the_shape_changes(
    filters, variant, expansion, strides, kernel, channels, height, width, use_projection,
    stride_on,
):
    if variant == "basic" and expansion not in (None, 1):
        with pytest.raises(ValueError, match="`expansion` must be None or 1"):
            ResidualBlock(filters, variant=variant, expansion=expansion)
        return
    block = ResidualBlock(filters, variant=variant, expansion=expansion, strides=strides,
                          kernel_size=kernel, use_projection=use_projection,
                          stride_on=stride_on)
    x = np.random.default_rng(0).random((2, height, width, channels), dtype="float32")
    y = check_output_shape(block, x)
    default = {"basic": 1, "bottleneck": 4}[variant]
    out_channels = filters * (expansion or default)
    stride_hw = (strides, strides) if isinstance(strides, int) else strides
    assert tuple(y.shape) == (2, -(-height // stride_hw[0]), -(-width // stride_hw[1]),
                              out_channels)
    changes = stride_hw != (1, 1) or channels != out_channels
    assert (block.projection is not None) == (changes or use_projection is True)
    names = {w.path.split("/")[-2] for w in block.weights}
    assert ("projection" in names) == (block.projection is not None)
    assert ("projection_norm" in names) == (block.projection is not None)
    assert len(block.convs) == (2 if variant == "basic" else 3)
    strided = [i for i, conv in enumerate(block.convs) if tuple(conv.strides) != (1, 1)]
    if stride_hw != (1, 1):
        assert strided == [0 if variant == "basic" or stride_on == "first" else 1]
    check_config_round_trip(block)


def test_zero_init_makes_an_identity_block_the_activation_of_its_input():
    x = np.random.default_rng(0).normal(size=(3, 6, 5, 8)).astype("float32")
    block = ResidualBlock(2, variant="bottleneck", zero_init_residual=True)
    assert block.projection is None
    y = to_numpy(block(x, training=False))
    assert block.projection is None  # 8 channels in, 2 * 4 out: identity shortcut
    np.testing.assert_allclose(y, np.maximum(x, 0), atol=1e-6)
    # Without zero init the branch contributes.
    y_default = to_numpy(ResidualBlock(2, variant="bottleneck")(x, training=False))
    assert not np.allclose(y_default, np.maximum(x, 0), atol=1e-3)


def test_zero_init_with_a_projection_leaves_exactly_the_projected_shortcut():
    x = np.random.default_rng(1).normal(size=(2, 7, 7, 3)).astype("float32")
    block = ResidualBlock(4, strides=2, zero_init_residual=True, norm_epsilon=1e-3)
    y = to_numpy(block(x, training=False))
    kernel = to_numpy(block.projection.kernel)[0, 0]  # (3, 4)
    shortcut = x[:, ::2, ::2, :] @ kernel  # a strided 1x1 convolution
    bn = block.projection_norm
    mean, var = to_numpy(bn.moving_mean), to_numpy(bn.moving_variance)
    shortcut = (shortcut - mean) / np.sqrt(var + 1e-3) * to_numpy(bn.gamma) + to_numpy(bn.beta)
    np.testing.assert_allclose(y, np.maximum(shortcut, 0), atol=1e-5)


def _plain_bottleneck(x, filters, strides, out_channels, project, v1=False):
    """ResNet v1.5 (or, with `v1`, v1: stride in the first 1x1, conv biases, epsilon
    1.001e-5, as keras.applications.ResNet50 writes it) bottleneck written with plain
    keras.layers; returns (output, layers with weights in the block's order)."""
    L = keras.layers
    bias, eps = v1, (1.001e-5 if v1 else 1e-3)
    layers = [
        L.Conv2D(filters, 1, strides=strides if v1 else 1, use_bias=bias),
        L.BatchNormalization(epsilon=eps),
        L.Conv2D(filters, 3, strides=1 if v1 else strides, padding="same", use_bias=bias),
        L.BatchNormalization(epsilon=eps),
        L.Conv2D(out_channels, 1, use_bias=bias), L.BatchNormalization(epsilon=eps),
    ]
    y = L.ReLU()(layers[1](layers[0](x)))
    y = L.ReLU()(layers[3](layers[2](y)))
    y = layers[5](layers[4](y))
    shortcut = x
    if project:
        layers += [L.Conv2D(out_channels, 1, strides=strides, use_bias=bias),
                   L.BatchNormalization(epsilon=eps)]
        shortcut = layers[7](layers[6](x))
    return L.ReLU()(L.Add()([y, shortcut])), layers


@pytest.mark.parametrize("strides, channels, v1", [(2, 3, False), (1, 8, False), (2, 3, True),
                                                  (2, 8, True)])
def test_bottleneck_equals_a_plain_keras_bottleneck_with_the_same_weights(strides, channels, v1):
    shape = (9, 10, channels)
    inputs = keras.Input(shape)
    v1_options = {"stride_on": "first", "use_bias": True, "norm_epsilon": 1.001e-5}
    block = ResidualBlock(2, variant="bottleneck", strides=strides, **(v1_options if v1 else {}))
    ours = keras.Model(inputs, block(inputs))
    plain_inputs = keras.Input(shape)
    outputs, plain_layers = _plain_bottleneck(plain_inputs, 2, strides, 8,
                                              block.projection is not None, v1=v1)
    plain = keras.Model(plain_inputs, outputs)
    our_layers = [layer for pair in zip(block.convs, block.norms, strict=True) for layer in pair]
    if block.projection is not None:
        our_layers += [block.projection, block.projection_norm]
    assert len(our_layers) == len(plain_layers)
    rng = np.random.default_rng(0)
    for our_layer, plain_layer in zip(our_layers, plain_layers, strict=True):
        values = [rng.uniform(0.5, 1.5, w.shape).astype("float32") for w in our_layer.weights]
        our_layer.set_weights(values)
        plain_layer.set_weights(values)
    assert len(ours.weights) == len(plain.weights)
    x = rng.normal(size=(2, *shape)).astype("float32")
    for training in (False, True):
        np.testing.assert_allclose(to_numpy(ours(x, training=training)),
                                   to_numpy(plain(x, training=training)), rtol=1e-5, atol=1e-5)


def test_drop_path_drops_whole_branches_in_training_only():
    x = np.random.default_rng(2).normal(size=(32, 4, 4, 4)).astype("float32")
    block = ResidualBlock(4, norm=None, drop_path=0.5, seed=0, activation=None)
    block(x)
    inference = to_numpy(block(x, training=False))
    training = to_numpy(block(x, training=True))
    # Linear block: a dropped sample's output is exactly its input (identity shortcut).
    dropped = np.all(np.isclose(training, x, atol=1e-6), axis=(1, 2, 3))
    assert 0 < dropped.sum() < 32
    np.testing.assert_allclose(training[~dropped] - x[~dropped],
                               2 * (inference[~dropped] - x[~dropped]), rtol=1e-4, atol=1e-5)


def test_norm_and_activation_layers_are_cloned_not_shared():
    block = ResidualBlock(4, variant="bottleneck",
                          norm=keras.layers.BatchNormalization(momentum=0.5),
                          activation=keras.layers.PReLU())
    block(np.zeros((1, 8, 8, 3), "float32"))
    norms = [*block.norms, block.projection_norm]
    assert len({id(n) for n in norms}) == 4
    assert all(n.momentum == 0.5 for n in norms)
    assert len({id(a) for a in [*block.activations[:-1], block.output_activation]}) == 3


@pytest.mark.parametrize(
    "kwargs, message",
    [
        ({"filters": 0}, "ResidualBlock: `filters` must be an integer >= 1; got 0"),
        ({"filters": 4, "variant": "wide"},
         "`variant` must be one of 'basic', 'bottleneck'; got 'wide'"),
        ({"filters": 4, "strides": 0}, "`strides` must be a positive integer"),
        ({"filters": 4, "kernel_size": (3, 3, 3)}, "`kernel_size`"),
        ({"filters": 4, "expansion": 4}, "`expansion` must be None or 1 for variant='basic'"),
        ({"filters": 4, "variant": "bottleneck", "expansion": 0},
         "`expansion` must be an integer >= 1; got 0"),
        ({"filters": 4, "drop_path": 1.0}, "`drop_path` must be a number in [0.0, 1.0); got 1.0"),
        ({"filters": 4, "norm": "batchnorm"}, "Unknown norm 'batchnorm'. Valid names:"),
        ({"filters": 4, "activation": "relu7"}, "Unknown activation 'relu7'. Valid names:"),
        ({"filters": 4, "norm": None, "zero_init_residual": True}, "needs a `norm`"),
        ({"filters": 4, "zero_init_residual": 1}, "`zero_init_residual` must be True or False"),
        ({"filters": 4, "use_projection": False}, "`use_projection` must be None"),
        ({"filters": 4, "use_bias": "yes"}, "`use_bias` must be None, True or False"),
        ({"filters": 4, "se_ratio": 1.5}, "`se_ratio` must be a number in [0.0, 1.0]"),
        ({"filters": 4, "stride_on": "last"},
         "`stride_on` must be one of 'spatial', 'first'; got 'last'"),
    ],
)
def test_bad_arguments_raise_at_construction(kwargs, message):
    with pytest.raises(ValueError) as error:
        ResidualBlock(**kwargs)
    assert message in str(error.value)


def test_zero_init_needs_a_norm_with_a_scale():
    class NoScale(keras.layers.Layer):
        def call(self, x):
            return x

    with pytest.raises(ValueError, match="`gamma_initializer`"):
        ResidualBlock(4, norm=NoScale(), zero_init_residual=True)


def test_bad_shapes_raise_at_build_with_expected_and_actual():
    with pytest.raises(ValueError, match=r"rank-4 input .* got shape \(2, 8, 3\)"):
        ResidualBlock(4)(np.zeros((2, 8, 3), "float32"))
    with pytest.raises(ValueError, match=r"channel dimension .* got shape \(None, 8, 8, None\)"):
        ResidualBlock(4).build((None, 8, 8, None))


def test_squeeze_excite_gates_the_branch_before_the_addition():
    x = np.random.default_rng(3).normal(size=(2, 5, 6, 8)).astype("float32")
    block = ResidualBlock(2, variant="bottleneck", se_ratio=0.25, activation="relu")
    y = to_numpy(block(x, training=False))
    assert block.se is not None and block.se.squeeze_channels == 2  # int(8 * 0.25)
    branch = x
    for conv, norm, act in zip(block.convs, block.norms, block.activations, strict=True):
        branch = norm(conv(branch), training=False)
        branch = act(branch) if act is not None else branch
    gated = to_numpy(block.se(branch))
    np.testing.assert_allclose(y, np.maximum(gated + x, 0), atol=1e-5)
    assert not np.allclose(gated, to_numpy(branch), atol=1e-3)  # the gate did something
    assert ResidualBlock(2).se_ratio == 0.0 and ResidualBlock(2).se is None
