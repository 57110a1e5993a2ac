"""Car or truck? The course's image classifier, assembled from keras_blocks.

Two models answer the course's question, "is this a picture of a car or of a truck?":

- `custom`: a small convnet trained from scratch at the photos' native 32x32: a fitted
  `PatchWhitening` first layer, then pool-first `ConvBlock(repeats=2)` stages and a
  max-pooling `DenseHead`;
- `transfer`: a pretrained MobileNetV2 base (ImageNet weights) with a DenseHead,
  trained in two phases: the head on the frozen base, then the base fine-tuned with a
  lower learning rate (batch normalization kept in inference mode).

Input goes through `keras_blocks.make_pipeline` (decode and resize once, cache uint8,
reshuffle every epoch), augmentation through keras_blocks layers inside the model.

Commands (from the repository root):

    python -m examples.car_or_truck train                      # quick custom run
    python -m examples.car_or_truck train --model both --preset full
    python -m examples.car_or_truck evaluate runs/car_or_truck/custom/model.keras \\
        --data-dir ../shared/data/cifar10-car-truck
    python -m examples.car_or_truck predict runs/car_or_truck/custom/model.keras photo.jpg

Data: `--data-dir` takes any folder in the course layout (train/{Car,Truck},
valid/{Car,Truck}). Without it, ../shared/data/cifar10-car-truck (beside the repository)
is used when present; otherwise a small synthetic car/truck dataset is rendered
(`keras_blocks.make_synthetic_car_truck`), and the run says so before training.

Each trained model leaves, in OUTPUT_DIR/<model>/: model.keras (the last epoch: no
epoch is chosen on the validation photos; loads with safe_mode=True once keras_blocks is
imported), history.json, metrics.json and figures/ (learning curves, confusion matrix,
prediction grid, augmented samples, feature maps). Files are written to a temporary
folder and moved into place only when the run succeeds, so a failed or interrupted run
leaves nothing half-written.

Bad input: a bad flag value, path or file is reported in one line naming it (exit status
2); a run whose loss stops being finite is stopped, keeps the previous run's files and
exits with status 1; SIGTERM or Ctrl-C removes the staging folder (exit status 143 or
130). See "What happens with bad input" in docs/examples/car-or-truck.md.

The package: `recipes` (the settings of a run, as dataclasses, and the presets), `data`
(folders, pipelines, augmentation), `training` (the two models and their training),
`evaluation` (scores and figures), `runs` (errors, files, signals) and `cli` (the
command line); benchmarks and tests import them as `examples.car_or_truck.<module>`.
"""
