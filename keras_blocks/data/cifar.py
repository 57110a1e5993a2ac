"""The course-layout car/truck dataset from the official CIFAR-10 binary archive.

    python -m keras_blocks.data.cifar cifar-10-binary.tar.gz data/cifar10-car-truck

Get the archive (about 163 MB) with
`curl -LO https://www.cs.toronto.edu/~kriz/cifar-10-binary.tar.gz`. The code lives in
`keras_blocks/data/_cifar.py`; this module is the command (the package imports
`_cifar`, so `python -m` runs this one without importing it twice).
"""

import sys

from keras_blocks.data._cifar import (
    ARCHIVE_URL,
    CLASSES,
    RECORD_BYTES,
    TEST_FILE,
    TRAIN_FILES,
    main,
    make_car_truck_from_cifar10,
    read_cifar10_records,
)

__all__ = [
    "ARCHIVE_URL",
    "CLASSES",
    "RECORD_BYTES",
    "TEST_FILE",
    "TRAIN_FILES",
    "main",
    "make_car_truck_from_cifar10",
    "read_cifar10_records",
]

if __name__ == "__main__":
    sys.exit(main())
