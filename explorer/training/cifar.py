"""CIFAR-10 and CIFAR-100 on disk: their python-pickle layouts, published checksums, download, and loading.

Both archives unpack to a folder of pickled dicts with bytes keys: b"data" is N x 3072 uint8 (the R, G and B
planes, row-major) and a list of labels (CIFAR-10 b"labels"; CIFAR-100 b"fine_labels", its 100 classes, beside
the 20 b"coarse_labels" superclasses this app does not train on). A meta pickle names the classes.
"""

from __future__ import annotations

import hashlib
import os
import pickle
from dataclasses import dataclass
from pathlib import Path

import torch

from explorer.i18n import _, particles
from explorer.training.datasets import dataset_info

ENV_VAR = "EXPLORER_DATA_DIR"


class DataError(ValueError):
    """Data that is missing or corrupt. The message says what to do; the UI shows it as is."""

    def __init__(self, message: str):
        super().__init__(particles(message))  # Korean: the particle after a filled-in value ("'x'은(는)")


@dataclass(frozen=True)
class CifarFiles:
    """One CIFAR archive: where it comes from and what its unpacked folder holds."""

    name: str  # the recipe's dataset name: "cifar10" | "cifar100"
    folder: str  # the archive's top folder, unpacked under the data folder
    url: str
    archive: str  # the archive's file name
    archive_md5: str
    size_mb: int  # the archive's size, for the download button
    md5: dict[str, str]  # every file's published checksum, as torchvision's datasets/cifar.py lists them
    train: tuple[str, ...]  # training files, in the order their images are concatenated
    test: str
    meta: str  # the file naming the classes
    labels_key: bytes  # the label list in each data file
    names_key: bytes  # the class names in `meta`
    mean: tuple[float, float, float]  # per-channel mean and std of the 50k training images, in [0, 1]
    std: tuple[float, float, float]

    @property
    def label(self) -> str:
        return dataset_info(self.name).label


CIFAR10 = CifarFiles(
    name="cifar10", folder="cifar-10-batches-py", url="https://www.cs.toronto.edu/~kriz/cifar-10-python.tar.gz",
    archive="cifar-10-python.tar.gz", archive_md5="c58f30108f718f92721af3b95e74349a", size_mb=170,
    md5={"data_batch_1": "c99cafc152244af753f735de768cd75f", "data_batch_2": "d4bba439e000b95fd0a9bffe97cbabec",
         "data_batch_3": "54ebc095f3ab1f0389bbae665268c751", "data_batch_4": "634d18415352ddfa80567beed471001a",
         "data_batch_5": "482c414d41f54cd18b22e5b47cb7c3cb", "test_batch": "40351d587109b95175f43aff81a1287e",
         "batches.meta": "5ff9c542aee3614f3951f8cda6e48888"},
    train=tuple(f"data_batch_{i}" for i in range(1, 6)), test="test_batch", meta="batches.meta",
    labels_key=b"labels", names_key=b"label_names", mean=(0.4914, 0.4822, 0.4465), std=(0.2470, 0.2435, 0.2616))
CIFAR100 = CifarFiles(
    name="cifar100", folder="cifar-100-python", url="https://www.cs.toronto.edu/~kriz/cifar-100-python.tar.gz",
    archive="cifar-100-python.tar.gz", archive_md5="eb9058c3a382ffc7106e4002c42a8d85", size_mb=169,
    md5={"train": "16019d7e3df5f24257cddd939b257f8d", "test": "f0ef6b0ae62326f3e7ffdfab6717acfc",
         "meta": "7973b15100ade9c7d40fb424638fde48"},
    train=("train",), test="test", meta="meta",
    labels_key=b"fine_labels", names_key=b"fine_label_names", mean=(0.5071, 0.4865, 0.4409),
    std=(0.2673, 0.2564, 0.2762))
CIFAR = {files.name: files for files in (CIFAR10, CIFAR100)}


def data_dir(path: str | os.PathLike | None = None) -> Path:
    """The data folder: the argument, else $EXPLORER_DATA_DIR, else ./data."""
    return Path(path or os.environ.get(ENV_VAR) or "data")


def _md5(path: Path) -> str:
    digest = hashlib.md5()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def _files(name: str) -> CifarFiles:
    if name not in CIFAR:
        raise DataError(_("{name!r} is not a CIFAR dataset; choose {choices}").format(name=name,
                                                                                     choices=_(" or ").join(CIFAR)))
    return CIFAR[name]


def check_cifar(name: str, root: str | os.PathLike | None = None, md5: dict[str, str] | None = None) -> None:
    """Raise DataError unless every file of CIFAR `name` is present with its published checksum (or `md5`'s)."""
    files, root = _files(name), data_dir(root)
    folder = root / files.folder
    for file, expected in (md5 or files.md5).items():
        path = folder / file
        if not path.is_file():
            # TRANSLATORS: 'Download {dataset}' is the Train page's button: write it as that page's Korean does
            raise DataError(_("{dataset} is not in {folder}: {file} is missing; press 'Download {dataset}' on the "
                              "Train page, run `python -m explorer.training.data --download --dataset {name}`, or "
                              "set {variable} to a folder holding {subfolder}/; or train on the synthetic "
                              "dataset").format(dataset=files.label, folder=folder, file=file, name=name,
                                                variable=ENV_VAR, subfolder=files.folder))
        if _md5(path) != expected:
            raise DataError(_("{dataset} file {path} is corrupt (its MD5 checksum is not the published one); delete "
                              "{folder} and download it again").format(dataset=files.label, path=path, folder=folder))


def cifar_ready(name: str, root: str | os.PathLike | None = None) -> bool:
    try:
        check_cifar(name, root)
    except DataError:
        return False
    return True


def cifar10_ready(root: str | os.PathLike | None = None) -> bool:
    """Whether CIFAR-10 is on disk (the lessons train on it when it is)."""
    return cifar_ready("cifar10", root)


def _unpickle(path: Path, files: CifarFiles) -> dict:
    try:
        with open(path, "rb") as f:
            entry = pickle.load(f, encoding="bytes")
    except (OSError, pickle.UnpicklingError, TypeError, ValueError, EOFError) as err:
        raise DataError(_("cannot read {dataset} file {path} ({error}); delete it and download {dataset} "
                          "again").format(dataset=files.label, path=path, error=err)) from None
    if not isinstance(entry, dict):
        raise DataError(_("{dataset} file {path} holds a {kind}, not a dict of arrays; delete it and download "
                          "{dataset} again").format(dataset=files.label, path=path, kind=type(entry).__name__))
    return entry


def _read_images(path: Path, files: CifarFiles) -> tuple[torch.Tensor, torch.Tensor]:
    entry = _unpickle(path, files)
    try:
        data = torch.frombuffer(bytearray(entry[b"data"]), dtype=torch.uint8).reshape(-1, 3, 32, 32)
        labels = torch.tensor(entry[files.labels_key], dtype=torch.int64)
    except (KeyError, TypeError, ValueError, RuntimeError) as err:
        raise DataError(_("cannot read {dataset} file {path} ({error}); delete it and download {dataset} "
                          "again").format(dataset=files.label, path=path,
                                          error=f"{type(err).__name__}: {err}")) from None
    if len(labels) != len(data):
        raise DataError(_("{dataset} file {path} has {images} images but {labels} labels; download it "
                          "again").format(dataset=files.label, path=path, images=len(data), labels=len(labels)))
    return data, labels


def _check_class_names(path: Path, files: CifarFiles) -> None:
    """The meta file must name the classes DatasetInfo promises, in label order."""
    names = _unpickle(path, files).get(files.names_key)
    expected = dataset_info(files.name).classes
    if [n.decode() if isinstance(n, bytes) else n for n in names or ()] != list(expected):
        raise DataError(_("{dataset} file {path} does not name {dataset}'s {classes} classes under {key}; delete "
                          "it and download {dataset} again").format(dataset=files.label, path=path,
                                                                   classes=len(expected),
                                                                   key=files.names_key.decode()))


def load_cifar(name: str, root: str | os.PathLike | None = None, md5: dict[str, str] | None = None,
               ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]:
    """(train images, train labels, test images, test labels): uint8 N x 3 x 32 x 32 and int64, on the CPU.

    Checks the checksums first (`md5` overrides the published ones, for tests writing their own files) and
    that the meta file names the dataset's classes; CIFAR-100's labels are its 100 fine classes.
    """
    files, root = _files(name), data_dir(root)
    check_cifar(name, root, md5)
    folder = root / files.folder
    _check_class_names(folder / files.meta, files)
    parts = [_read_images(folder / file, files) for file in files.train]
    test_x, test_y = _read_images(folder / files.test, files)
    return torch.cat([p[0] for p in parts]), torch.cat([p[1] for p in parts]), test_x, test_y


def download_cifar(name: str, root: str | os.PathLike | None = None) -> Path:
    """Download and unpack CIFAR `name` (about 170 MB) with torchvision, checking the archive's published MD5."""
    # torchvision only for this one download: training and the app never need it loaded
    from torchvision.datasets.utils import download_and_extract_archive

    files, root = _files(name), data_dir(root)
    if not cifar_ready(name, root):
        try:
            download_and_extract_archive(files.url, str(root), filename=files.archive, md5=files.archive_md5)
        except Exception as err:  # network errors come in many types; all mean the same to the user
            raise DataError(_("could not download {dataset} from {url} ({error}); check the internet connection, "
                              "or copy {subfolder}/ into {root} by hand, or use the synthetic dataset").format(
                                  dataset=files.label, url=files.url, error=err, subfolder=files.folder,
                                  root=root)) from None
    check_cifar(name, root)
    return root / files.folder
