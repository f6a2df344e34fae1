"""What the training datasets are: names, classes, split sizes, image size, and whether a design fits them.

Plain Python (no torch): the Train page, the run store and the CLI ask these questions before anything trains.
Loading the images is `explorer.training.data`.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Literal

from explorer.i18n import N_, _
from explorer.models.spec import ArchSpec, SpecError

Dataset = Literal["cifar10", "cifar100", "synthetic"]
Split = Literal["45k/5k", "50k/10k"]
# (train images, evaluation images) of each split. He et al. 2015 sec. 4.2 tunes on 45k/5k train/validation;
# 50k/10k is CIFAR's own train/test (CIFAR-10 and CIFAR-100 alike). The synthetic set is drawn in the same sizes.
SPLITS: dict[str, tuple[int, int]] = {"45k/5k": (45_000, 5_000), "50k/10k": (50_000, 10_000)}
IMAGE_SIZE = 32  # pixels: every dataset here is 32x32 colour images
MIN_EVAL_IMAGES = 200  # a run on a subset evaluates on a fifth of its images, but never fewer than this
CIFAR_CLASSES = ("airplane", "automobile", "bird", "cat", "deer", "dog", "frog", "horse", "ship", "truck")
# CIFAR-100's 100 fine classes in label order, as its `meta` file's fine_label_names (the loader checks they agree).
CIFAR100_CLASSES = (
    "apple", "aquarium_fish", "baby", "bear", "beaver", "bed", "bee", "beetle", "bicycle", "bottle",
    "bowl", "boy", "bridge", "bus", "butterfly", "camel", "can", "castle", "caterpillar", "cattle",
    "chair", "chimpanzee", "clock", "cloud", "cockroach", "couch", "crab", "crocodile", "cup", "dinosaur",
    "dolphin", "elephant", "flatfish", "forest", "fox", "girl", "hamster", "house", "kangaroo", "keyboard",
    "lamp", "lawn_mower", "leopard", "lion", "lizard", "lobster", "man", "maple_tree", "motorcycle", "mountain",
    "mouse", "mushroom", "oak_tree", "orange", "orchid", "otter", "palm_tree", "pear", "pickup_truck", "pine_tree",
    "plain", "plate", "poppy", "porcupine", "possum", "rabbit", "raccoon", "ray", "road", "rocket",
    "rose", "sea", "seal", "shark", "shrew", "skunk", "skyscraper", "snail", "snake", "spider",
    "squirrel", "streetcar", "sunflower", "sweet_pepper", "table", "tank", "telephone", "television", "tiger",
    "tractor", "train", "trout", "tulip", "turtle", "wardrobe", "whale", "willow_tree", "wolf", "woman", "worm",
)
SYNTHETIC_CLASSES = ("disk", "ring", "square", "frame", "triangle", "plus", "bar", "checker", "two dots", "stripes")


@dataclass(frozen=True)
class DatasetInfo:
    name: str  # "cifar10" | "cifar100" | "synthetic"
    label: str  # what the UI prints, in the current language; says "synthetic" for the synthetic set
    description: str  # in the current language
    synthetic: bool
    classes: tuple[str, ...]
    train_size: int  # images trained on
    eval_size: int  # images evaluated after each epoch
    eval_name: str  # "validation" (45k/5k) or "test" (50k/10k): a value, English; the pages translate it


_ABOUT = {
    "synthetic": (N_("Synthetic shapes (not CIFAR-10)"),
                  N_("Procedurally drawn 32x32 images of 10 light shapes (disk, ring, square, ...) at random "
                     "positions, sizes, rotations and hues on a dark background with a smaller distractor shape and "
                     "light noise; made offline from a fixed seed. Errors on it are not comparable with the papers' "
                     "CIFAR-10 numbers."),
                  True, SYNTHETIC_CLASSES),
    "cifar10": ("CIFAR-10", N_("60k 32x32 colour images of 10 classes (Krizhevsky 2009); the papers' benchmark."),
                False, CIFAR_CLASSES),
    "cifar100": ("CIFAR-100", N_("60k 32x32 colour images of 100 classes, 500 training images each (Krizhevsky "
                                 "2009); the labels are its 100 fine classes, not its 20 superclasses."),
                 False, CIFAR100_CLASSES),
}


def dataset_info(recipe_or_name: Any) -> DatasetInfo:
    """What a dataset (by name) or a recipe's data (dataset, split, train_size) is, for the UI.
    Raises SpecError for an unknown dataset name."""
    if isinstance(recipe_or_name, str):
        name, split, train_size = recipe_or_name, "50k/10k", 0
    else:
        name, split, train_size = recipe_or_name.dataset, recipe_or_name.split, recipe_or_name.train_size
    if name not in _ABOUT:
        *others, last = _ABOUT
        raise SpecError("dataset", _("unknown dataset {name!r}; choose {others} or {last}").format(
            name=name, others=", ".join(others), last=last))
    full_train, full_eval = SPLITS[split]
    n_train = min(train_size, full_train) if train_size else full_train
    n_eval = full_eval if not train_size else min(full_eval, max(MIN_EVAL_IMAGES, n_train // 5))
    label, description, synthetic, classes = _ABOUT[name]  # label and description in the current language
    return DatasetInfo(name, _(label), _(description), synthetic, classes, n_train, n_eval,
                       "validation" if split == "45k/5k" else "test")


def steps_per_epoch(train_images: int, batch_size: int) -> int:
    """SGD steps in one pass: the ragged last batch is dropped (fixed shapes for cudnn.benchmark and compile),
    and a subset smaller than one batch trains as one batch of all of it."""
    return train_images // min(batch_size, train_images) if train_images else 0


def check_fits(spec: ArchSpec, dataset: str) -> None:
    """Raise SpecError unless `spec` takes the dataset's 32x32 images and predicts its classes.

    An ImageNet stem (7x7/2 conv and 3x3/2 max-pool, for 224x224 inputs) would shrink a 32x32 image to 8x8
    before the first stage, and a classifier with another class count cannot be scored on the labels."""
    info = dataset_info(dataset)
    if spec.stem != "cifar":
        raise SpecError("stem", _("{dataset} has {size}x{size} images, which need the CIFAR stem (a 3x3 conv); got "
                                  "{value!r}, try 'cifar' (or a CIFAR preset such as resnet20)").format(
                                      dataset=info.label, size=IMAGE_SIZE, value=spec.stem))
    if spec.num_classes != len(info.classes):
        raise SpecError("num_classes", _("{dataset} has {classes} classes, so the classifier needs {classes} outputs; "
                                         "got {value}, try {classes}").format(
                                             dataset=info.label, classes=len(info.classes), value=spec.num_classes))


def fits(spec: ArchSpec, dataset: str) -> bool:
    """Whether check_fits passes: for lists of trainable presets."""
    try:
        check_fits(spec, dataset)
    except SpecError:
        return False
    return True


def follow_classes(spec: ArchSpec, dataset: str) -> tuple[ArchSpec, str | None]:
    """The design as it trains on `dataset`, with a sentence for the user when that changed it.

    The class count is the one part of a design the data decides (it sizes only the classifier), so the Train
    page and the CLI give the design the dataset's count instead of refusing it; train() and the run store still
    refuse a mismatch, so a run's stored design is always the one that trained."""
    info = dataset_info(dataset)
    if spec.num_classes == len(info.classes):
        return spec, None
    return spec.replace(num_classes=len(info.classes)), _(
        "{dataset} has {classes} classes, so this run's classifier has {classes} outputs instead of the design's "
        "{design} (num_classes={classes}); the rest of the design is unchanged.").format(
            dataset=info.label, classes=len(info.classes), design=spec.num_classes)
