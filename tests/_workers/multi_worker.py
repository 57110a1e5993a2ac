"""One worker of a MultiWorkerMirroredStrategy cluster (TF_CONFIG names it).

    TF_CONFIG='{"cluster": {"worker": [...]}, "task": {"type": "worker", "index": I}}' \
        python -m tests._workers.multi_worker FOLDER OUT.json

Records, for two passes over the distributed `make_pipeline` dataset, the image ids and
labels this worker receives (so the test can check that the workers' shares are disjoint
and complete), then trains the classifier for one epoch and writes its final weights.
"""

from __future__ import annotations

import json
import os
import sys

import numpy as np

from tests._workers import common

GLOBAL_BATCH = 8
PASSES = 2


def patch_keras_multi_worker_reduce(strategy):
    """Works around two Keras 3 bugs (seen in 3.15 with TensorFlow 2.21) that stop
    `model.fit` under MultiWorkerMirroredStrategy with more than one worker:

    1. before training, `fit` averages one batch with
       `strategy.reduce("MEAN", (images, labels))`; MirroredStrategy reduces such a
       nest, MultiWorkerMirroredStrategy fails ("Attempt to convert a value
       (PerReplica...) to a Tensor");
    2. after each step, the metrics (scalars) are averaged with `axis=0`, which fails on
       a scalar ("Invalid reduction dimension 0 for input with 0 dimensions").

    The patched `reduce` goes leaf by leaf and reduces scalars across replicas only.
    """
    import tensorflow as tf

    reduce = strategy.reduce

    def reduce_each(reduce_op, value, axis=None):
        def one(v):
            rank = v.shape.rank if hasattr(v, "shape") else None
            if rank is None and hasattr(v, "values"):
                rank = v.values[0].shape.rank
            return reduce(reduce_op, v, axis=None if rank == 0 else axis)

        return tf.nest.map_structure(one, value)

    strategy.reduce = reduce_each
    return strategy


def _record(strategy, distributed) -> dict:
    """The ids, labels and per-replica batch sizes this worker receives in one pass."""
    seen = {"ids": [], "labels": [], "batches": []}
    for images, labels in distributed:
        for x, y in zip(strategy.experimental_local_results(images),
                        strategy.experimental_local_results(labels), strict=True):
            seen["ids"].extend(common.decode_ids(x.numpy()))
            seen["labels"].extend(int(v) for v in np.ravel(y.numpy()))
            seen["batches"].append(int(x.shape[0]))
    return seen


def main(folder, out):
    import tensorflow as tf

    strategy = patch_keras_multi_worker_reduce(tf.distribute.MultiWorkerMirroredStrategy())
    import keras

    task = json.loads(os.environ["TF_CONFIG"])["task"]
    report = {"index": task["index"], "replicas": strategy.num_replicas_in_sync}

    # (1) One pipeline, distributed by the strategy: auto-sharding (DATA) deals the
    # batches out to the workers, which must therefore shuffle alike (same seed).
    distributed = strategy.experimental_distribute_dataset(
        common.pipeline(folder, GLOBAL_BATCH, shuffle=True, seed=0)
    )
    report["passes"] = [_record(strategy, distributed) for _ in range(PASSES)]

    # (2) One pipeline per worker from its input context: each reads its own share of
    # the files, so the shuffle needs no common seed.
    def per_worker(context):
        return common.pipeline(folder, GLOBAL_BATCH, shuffle=True, input_context=context)

    from_function = strategy.distribute_datasets_from_function(per_worker)
    report["function_passes"] = [_record(strategy, from_function) for _ in range(PASSES)]

    keras.utils.set_random_seed(0)
    with strategy.scope():
        model = common.compile_sgd(common.build_classifier(norm="sync_batch"))
    initial = model.get_weights()
    history = model.fit(strategy.distribute_datasets_from_function(per_worker), epochs=1,
                        verbose=0)
    report["loss"] = history.history["loss"]
    report["weights_changed"] = common.max_weight_difference(initial, model.get_weights())
    np.savez(out + ".weights.npz", *model.get_weights())
    common.write_json(out, report)


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2])
