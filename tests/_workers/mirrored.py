"""MirroredStrategy over two logical CPU devices vs. one device, same data, same start.

    python -m tests._workers.mirrored FOLDER OUT.json

Writes per-replica batch sizes of the distributed pipeline, the losses and the largest
weight difference after training the same classifier (synchronized batch norm, no
dropout) for two epochs on one device and on two replicas.
"""

from __future__ import annotations

import sys

from tests._workers import common

GLOBAL_BATCH = 8
EPOCHS = 2


def main(folder, out):
    import tensorflow as tf

    # Must happen before TensorFlow initializes its devices (hence the subprocess).
    cpu = tf.config.list_physical_devices("CPU")[0]
    tf.config.set_logical_device_configuration(
        cpu, [tf.config.LogicalDeviceConfiguration(), tf.config.LogicalDeviceConfiguration()]
    )
    import keras

    strategy = tf.distribute.MirroredStrategy(["/cpu:0", "/cpu:1"])
    report = {"replicas": strategy.num_replicas_in_sync}

    # Per-replica batches: the pipeline's batch is the global batch, split evenly.
    distributed = strategy.experimental_distribute_dataset(
        common.pipeline(folder, GLOBAL_BATCH, shuffle=True, seed=0)
    )
    per_replica, ids = [], []
    for images, labels in distributed:
        local_images = strategy.experimental_local_results(images)
        local_labels = strategy.experimental_local_results(labels)
        per_replica.append([int(x.shape[0]) for x in local_images])
        assert [int(y.shape[0]) for y in local_labels] == per_replica[-1]
        for x in local_images:
            ids.extend(common.decode_ids(x.numpy()))
    report["per_replica_batches"] = per_replica
    report["ids"] = ids

    # One device, then two replicas, from the same initial weights and the same data
    # order. Not shuffled: under a strategy Keras's fit first draws one batch from a
    # fresh iterator to build the model, which moves a seeded reshuffle on by one epoch.
    keras.utils.set_random_seed(0)
    single = common.compile_sgd(common.build_classifier(norm="sync_batch"))
    initial = single.get_weights()
    history = single.fit(common.pipeline(folder, GLOBAL_BATCH, shuffle=False),
                         epochs=EPOCHS, verbose=0)
    report["single_loss"] = history.history["loss"]

    with strategy.scope():
        mirrored = common.compile_sgd(common.build_classifier(norm="sync_batch"))
    mirrored.set_weights(initial)
    history = mirrored.fit(common.pipeline(folder, GLOBAL_BATCH, shuffle=False),
                           epochs=EPOCHS, verbose=0)
    report["mirrored_loss"] = history.history["loss"]
    report["variables_mirrored"] = all(
        isinstance(v.value, tf.distribute.DistributedValues) for v in mirrored.trainable_variables
    )
    report["weights_changed"] = common.max_weight_difference(initial, mirrored.get_weights())
    report["max_weight_difference"] = common.max_weight_difference(
        single.get_weights(), mirrored.get_weights()
    )
    common.write_json(out, report)


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2])
