"""explorer.training.data and .cifar: CIFAR-10 and CIFAR-100 files in their real pickle format, checksums, the
download, augmentation, the synthetic set."""

from __future__ import annotations

import hashlib
import pickle

import pytest
import torch
import torch.nn.functional as F
import torchvision.datasets.utils

from explorer import SpecError
from explorer.training import data as data_module
from explorer.training.cifar import (CIFAR, CIFAR10, CIFAR100, CifarFiles, DataError, check_cifar, download_cifar,
                                     load_cifar)
from explorer.training.data import PAD, augment, data_dir, load_data, normalize, synthetic_images
from explorer.training.datasets import CIFAR100_CLASSES, SPLITS, SYNTHETIC_CLASSES, dataset_info
from explorer.training.recipe import Recipe

CIFAR_FOLDER = CIFAR10.folder


def write_fake_cifar(root, files: CifarFiles = CIFAR10, per_batch: int = 6,
                     ) -> tuple[dict[str, str], dict[str, tuple[bytes, list[int]]]]:
    """A CIFAR archive's python layout: pickled dicts of bytes keys, b"data" N x 3072 uint8 (R, G, B planes),
    the labels under the dataset's key, and the meta file naming its classes. Returns (md5s, what was written)."""
    folder = root / files.folder
    folder.mkdir(parents=True)
    classes = dataset_info(files.name).classes
    written, md5 = {}, {}
    for k, name in enumerate([*files.train, files.test]):
        g = torch.Generator().manual_seed(k)
        data = torch.randint(0, 256, (per_batch, 3072), dtype=torch.uint8, generator=g).numpy()
        labels = torch.randint(0, len(classes), (per_batch,), generator=g).tolist()
        entry = {b"batch_label": name.encode(), files.labels_key: labels, b"data": data,
                 b"filenames": [f"img{i}.png".encode() for i in range(per_batch)]}
        if files is CIFAR100:  # the 20 superclasses sit beside the fine labels: a decoy the loader must skip
            entry[b"coarse_labels"] = [label // 5 for label in labels]
        (folder / name).write_bytes(pickle.dumps(entry, protocol=2))
        written[name] = (data.tobytes(), labels)
    meta = {files.names_key: [c.encode() for c in classes]}
    meta.update({b"num_cases_per_batch": per_batch, b"num_vis": 3072} if files is CIFAR10
                else {b"coarse_label_names": [f"superclass{i}".encode() for i in range(20)]})
    (folder / files.meta).write_bytes(pickle.dumps(meta, protocol=2))
    for name in files.md5:
        md5[name] = hashlib.md5((folder / name).read_bytes()).hexdigest()
    return md5, written


def test_loader_reads_the_real_layout(tmp_path):
    md5, written = write_fake_cifar(tmp_path)
    train_x, train_y, test_x, test_y = load_cifar("cifar10", tmp_path, md5)
    assert train_x.shape == (30, 3, 32, 32) and train_x.dtype == torch.uint8
    assert test_x.shape == (6, 3, 32, 32) and train_y.dtype == torch.int64
    data, labels = written["data_batch_2"]
    assert train_x[6:12].flatten().numpy().tobytes() == data  # batch order kept, planes R, G, B
    assert train_y[6:12].tolist() == labels
    # The first 1024 bytes of a row are the red plane, row-major: pixel (0, 1) of image 0 is byte 1.
    assert train_x[0, 0, 0, 1].item() == written["data_batch_1"][0][1]
    assert train_x[0, 1, 0, 0].item() == written["data_batch_1"][0][1024]
    assert test_y.tolist() == written["test_batch"][1]


def test_cifar100_loads_its_fine_labels_from_the_real_layout(tmp_path):
    md5, written = write_fake_cifar(tmp_path, CIFAR100, per_batch=40)
    train_x, train_y, test_x, test_y = load_cifar("cifar100", tmp_path, md5)
    assert train_x.shape == (40, 3, 32, 32) and test_x.shape == (40, 3, 32, 32) and train_x.dtype == torch.uint8
    assert train_y.tolist() == written["train"][1] and test_y.tolist() == written["test"][1]
    assert train_y.max() >= 20  # fine labels (0-99), not the coarse decoys (0-19) written beside them
    assert train_x.flatten().numpy().tobytes() == written["train"][0]
    assert train_x[0, 2, 0, 0].item() == written["train"][0][2048]  # the blue plane starts at byte 2048
    info = dataset_info("cifar100")
    assert (info.label, len(info.classes), info.classes[:3], info.classes[-1]) == (
        "CIFAR-100", 100, ("apple", "aquarium_fish", "baby"), "worm")


@pytest.mark.parametrize("files, victim", [(CIFAR10, "data_batch_3"), (CIFAR10, "test_batch"),
                                           (CIFAR10, "batches.meta"), (CIFAR100, "train"), (CIFAR100, "test"),
                                           (CIFAR100, "meta")])
def test_checksum_catches_one_corrupted_byte(tmp_path, files, victim):
    md5, _ = write_fake_cifar(tmp_path, files)
    path = tmp_path / files.folder / victim
    raw = bytearray(path.read_bytes())
    raw[len(raw) // 2] ^= 0x01
    path.write_bytes(bytes(raw))
    label = dataset_info(files.name).label
    with pytest.raises(DataError, match=f"^{label} file {path} is corrupt.*download it again$"):
        load_cifar(files.name, tmp_path, md5)


@pytest.mark.parametrize("name, first, label", [("cifar10", "data_batch_1", "CIFAR-10"),
                                                ("cifar100", "train", "CIFAR-100")])
def test_missing_files_say_what_to_do(tmp_path, name, first, label):
    with pytest.raises(DataError) as err:
        check_cifar(name, tmp_path)
    message = str(err.value)
    folder = tmp_path / CIFAR[name].folder
    assert message.startswith(f"{label} is not in {folder}: {first} is missing; press 'Download {label}' on the "
                              "Train page")
    assert f"`python -m explorer.training.data --download --dataset {name}`" in message
    assert "EXPLORER_DATA_DIR" in message and "synthetic" in message
    assert isinstance(err.value, ValueError)


def test_a_meta_file_naming_other_classes_is_refused(tmp_path):
    md5, _ = write_fake_cifar(tmp_path, CIFAR100)
    meta = tmp_path / CIFAR100.folder / "meta"
    meta.write_bytes(pickle.dumps({b"fine_label_names": [c.encode() for c in CIFAR100_CLASSES[:10]]}, protocol=2))
    md5["meta"] = hashlib.md5(meta.read_bytes()).hexdigest()
    with pytest.raises(DataError, match="does not name CIFAR-100's 100 classes under fine_label_names"):
        load_cifar("cifar100", tmp_path, md5)


@pytest.mark.parametrize("files, tv_name", [(CIFAR10, "CIFAR10"), (CIFAR100, "CIFAR100")])
def test_published_checksums_match_torchvision(files, tv_name):
    tv = getattr(torchvision.datasets, tv_name)
    published = dict(tv.train_list + tv.test_list)
    published[tv.meta["filename"]] = tv.meta["md5"]
    assert files.md5 == published
    assert (files.folder, files.url, files.archive, files.archive_md5) == (tv.base_folder, tv.url, tv.filename,
                                                                            tv.tgz_md5)
    assert (files.meta, files.names_key.decode()) == (tv.meta["filename"], tv.meta["key"])


def test_download_asks_torchvision_for_the_archive_and_checks_it(tmp_path, monkeypatch):
    calls = []

    def fake_download(url, root, filename, md5):
        calls.append((url, root, filename, md5))
        published.update(write_fake_cifar(tmp_path, CIFAR100)[0])  # as the unpacked archive would be

    published = CIFAR100.md5
    for name, digest in list(published.items()):  # restored after the test; the fake download's files replace them
        monkeypatch.setitem(published, name, digest)
    monkeypatch.setattr(torchvision.datasets.utils, "download_and_extract_archive", fake_download)
    assert download_cifar("cifar100", tmp_path) == tmp_path / "cifar-100-python"
    assert calls == [("https://www.cs.toronto.edu/~kriz/cifar-100-python.tar.gz", str(tmp_path),
                      "cifar-100-python.tar.gz", "eb9058c3a382ffc7106e4002c42a8d85")]
    assert download_cifar("cifar100", tmp_path) and len(calls) == 1  # already there: no second download

    monkeypatch.setattr(torchvision.datasets.utils, "download_and_extract_archive",
                        lambda *a, **k: (_ for _ in ()).throw(OSError("no route to host")))
    with pytest.raises(DataError, match=r"^could not download CIFAR-100 from https://www.cs.toronto.edu/~kriz/"
                                        r"cifar-100-python.tar.gz \(no route to host\); check the internet"):
        download_cifar("cifar100", tmp_path / "elsewhere")


def test_the_data_command_checks_either_dataset(tmp_path, monkeypatch, capsys):
    assert data_module.main(["--dataset", "cifar100", "--data-dir", str(tmp_path)]) == 2
    assert capsys.readouterr().out.startswith(f"error: CIFAR-100 is not in {tmp_path / 'cifar-100-python'}: ")
    md5, _ = write_fake_cifar(tmp_path, CIFAR100)
    for name, digest in md5.items():
        monkeypatch.setitem(CIFAR100.md5, name, digest)
    assert data_module.main(["--dataset", "cifar100", "--data-dir", str(tmp_path)]) == 0
    assert capsys.readouterr().out == f"CIFAR-100 is ready in {tmp_path / 'cifar-100-python'}\n"


def test_data_dir_precedence(monkeypatch, tmp_path):
    monkeypatch.delenv("EXPLORER_DATA_DIR", raising=False)
    assert str(data_dir()) == "data"
    monkeypatch.setenv("EXPLORER_DATA_DIR", str(tmp_path))
    assert data_dir() == tmp_path
    assert str(data_dir("elsewhere")) == "elsewhere"


@pytest.mark.parametrize("files, train_images, mean, std", [
    (CIFAR10, 30, (0.4914, 0.4822, 0.4465), (0.2470, 0.2435, 0.2616)),
    (CIFAR100, 6, (0.5071, 0.4865, 0.4409), (0.2673, 0.2564, 0.2762)),
])
@pytest.mark.parametrize("split, eval_name", [("50k/10k", "test"), ("45k/5k", "validation")])
def test_load_data_from_files(tmp_path, files, train_images, mean, std, split, eval_name):
    md5, _ = write_fake_cifar(tmp_path, files)
    data = load_data(Recipe(dataset=files.name, split=split), "cpu", tmp_path, md5)
    assert data.info.eval_name == eval_name and not data.info.synthetic and data.info.name == files.name
    assert data.train_x.shape == (train_images, 3, 32, 32)
    assert data.eval_x.shape == (6 if split == "50k/10k" else 0, 3, 32, 32)  # 45k/5k: fewer than 45k, no validation
    assert torch.allclose(data.mean.flatten(), torch.tensor(mean) * 255)
    assert torch.allclose(data.std.flatten(), torch.tensor(std) * 255)


def test_augment_is_a_padded_crop_and_flip_per_image():
    x = torch.randint(1, 256, (16, 3, 32, 32), dtype=torch.uint8)  # no zeros: padding shows as exact zeros
    out = augment(x, torch.Generator().manual_seed(3))
    g = torch.Generator().manual_seed(3)  # replay the same draws and crop one image at a time
    offsets = torch.randint(0, 2 * PAD + 1, (2, 16), generator=g)
    flips = torch.rand(16, generator=g) < 0.5
    assert out.shape == x.shape and out.dtype == torch.uint8
    for i in range(16):
        oy, ox = offsets[:, i].tolist()
        expected = F.pad(x[i], (PAD,) * 4)[:, oy:oy + 32, ox:ox + 32]
        assert torch.equal(out[i], expected.flip(-1) if flips[i] else expected)
    assert 0 < flips.sum() < 16 and (out == 0).any()
    assert set(out.unique().tolist()) <= set(x.unique().tolist()) | {0}


def test_augment_draws_differ_per_image_and_normalize_standardises():
    x = torch.randint(0, 256, (512, 3, 32, 32), dtype=torch.uint8)
    out = augment(x, torch.Generator().manual_seed(0))
    changed = (out != x).flatten(1).any(1).float().mean().item()
    assert changed > 0.9  # only the 1/81 centre crops without a flip leave an image unchanged
    mean = x.float().mean(dim=(0, 2, 3)).view(1, 3, 1, 1)
    std = x.float().std(dim=(0, 2, 3)).view(1, 3, 1, 1)
    z = normalize(x, mean, std)
    assert z.dtype == torch.float32
    assert torch.allclose(z.mean(dim=(0, 2, 3)), torch.zeros(3), atol=1e-3)
    assert torch.allclose(z.std(dim=(0, 2, 3)), torch.ones(3), atol=1e-3)


def test_synthetic_is_deterministic_from_its_seed():
    a_x, a_y = synthetic_images(300, seed=7)
    b_x, b_y = synthetic_images(300, seed=7)
    c_x, _ = synthetic_images(300, seed=8)
    assert torch.equal(a_x, b_x) and torch.equal(a_y, b_y)
    assert not torch.equal(a_x, c_x)
    assert a_x.shape == (300, 3, 32, 32) and a_x.dtype == torch.uint8
    assert sorted(a_y.unique().tolist()) == list(range(10))
    assert 10 < a_x.float().std() < 120  # real contrast, not blank or saturated


def test_synthetic_class_is_not_given_away_by_colour():
    x, y = synthetic_images(2000)
    means = torch.stack([x[y == k].float().mean(dim=(0, 2, 3)) for k in range(10)])  # 10 x 3
    assert (means.max(0).values - means.min(0).values).max() < 25  # of 255: mean colour barely hints the class


def test_synthetic_is_labelled_wherever_it_appears():
    info = dataset_info("synthetic")
    assert info.synthetic and "synthetic" in info.label.lower() and "not CIFAR-10" in info.label
    assert info.classes == SYNTHETIC_CLASSES
    small = dataset_info(Recipe(train_size=1000, split="45k/5k"))
    assert (small.train_size, small.eval_size, small.eval_name) == (1000, 200, "validation")
    data = load_data(Recipe(train_size=100), "cpu")
    assert data.info.synthetic and data.train_x.shape == (100, 3, 32, 32) and len(data.eval_y) == 200
    with pytest.raises(SpecError, match="^dataset: unknown dataset 'imagenet'; choose synthetic, cifar10 or cifar100$"):
        dataset_info("imagenet")


@pytest.mark.parametrize("split, train_size, sizes", [
    ("50k/10k", 0, (50_000, 10_000, "test")), ("45k/5k", 0, (45_000, 5_000, "validation")),
    ("50k/10k", 64, (64, 200, "test")), ("45k/5k", 20_000, (20_000, 4_000, "validation")),
    ("45k/5k", 50_000, (45_000, 5_000, "validation")),
])
@pytest.mark.parametrize("dataset", ["cifar10", "cifar100"])
def test_split_sizes_come_from_one_table(split, train_size, sizes, dataset):
    info = dataset_info(Recipe(dataset=dataset, split=split, train_size=train_size))
    assert (info.train_size, info.eval_size, info.eval_name) == sizes
    assert SPLITS == {"45k/5k": (45_000, 5_000), "50k/10k": (50_000, 10_000)}
