"""keras.distribution.DataParallel over two host devices (JAX backend) vs. one device.

    KERAS_BACKEND=jax XLA_FLAGS=--xla_force_host_platform_device_count=2 \
        python -m tests._workers.jax_data_parallel FOLDER OUT.json

Trains the classifier for two epochs on one device, then again from the same initial
weights under `DataParallel` over both devices, and writes how the variables and a batch
are laid out, the losses and the largest weight difference.
"""

from __future__ import annotations

import sys

from tests._workers import common

GLOBAL_BATCH = 8
EPOCHS = 2


def main(folder, out):
    import jax
    import keras

    assert keras.backend.backend() == "jax", keras.backend.backend()
    devices = jax.devices()
    report = {"devices": [str(d) for d in devices]}

    # One device first: no distribution set.
    keras.utils.set_random_seed(0)
    single = common.compile_sgd(common.build_classifier())
    initial = single.get_weights()
    history = single.fit(common.pipeline(folder, GLOBAL_BATCH, shuffle=True, seed=0),
                         epochs=EPOCHS, verbose=0)
    report["single_loss"] = history.history["loss"]

    distribution = keras.distribution.DataParallel(devices=keras.distribution.list_devices())
    keras.distribution.set_distribution(distribution)
    model = common.compile_sgd(common.build_classifier())
    model.set_weights(initial)
    # Every variable is replicated on both devices ...
    report["variable_devices"] = sorted(
        {len(v.value.sharding.device_set) for v in model.variables}
    )
    report["variables_replicated"] = all(
        v.value.sharding.is_fully_replicated for v in model.variables
    )
    # ... and a global batch is split along its first axis, half per device.
    images, _ = next(iter(common.pipeline(folder, GLOBAL_BATCH, shuffle=False)))
    sharded = jax.device_put(
        images.numpy(), distribution.get_data_layout(images.shape).backend_layout
    )
    report["batch_shards"] = sorted(int(s.data.shape[0]) for s in sharded.addressable_shards)
    history = model.fit(common.pipeline(folder, GLOBAL_BATCH, shuffle=True, seed=0),
                        epochs=EPOCHS, verbose=0)
    report["parallel_loss"] = history.history["loss"]
    report["weights_changed"] = common.max_weight_difference(initial, model.get_weights())
    report["max_weight_difference"] = common.max_weight_difference(
        single.get_weights(), model.get_weights()
    )
    common.write_json(out, report)


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2])
