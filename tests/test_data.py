"""explorer.training.data: CIFAR-10 files in their real pickle format, checksums, augmentation, the synthetic set."""

from __future__ import annotations

import hashlib
import pickle

import pytest
import torch
import torch.nn.functional as F

from explorer import SpecError
from explorer.training.data import (CIFAR_FOLDER, CIFAR_MD5, PAD, DataError, augment, check_cifar10, data_dir,
                                    load_cifar10, load_data, normalize, synthetic_images)
from explorer.training.datasets import SPLITS, SYNTHETIC_CLASSES, dataset_info
from explorer.training.recipe import Recipe

BATCH_NAMES = [f"data_batch_{i}" for i in range(1, 6)] + ["test_batch"]


def write_fake_cifar(root, per_batch: int = 6) -> tuple[dict[str, str], dict[str, tuple[bytes, list[int]]]]:
    """CIFAR-10's python layout: pickled dicts of bytes keys, b"data" N x 3072 uint8 (R, G, B planes)."""
    folder = root / CIFAR_FOLDER
    folder.mkdir(parents=True)
    written, md5 = {}, {}
    for k, name in enumerate(BATCH_NAMES):
        g = torch.Generator().manual_seed(k)
        data = torch.randint(0, 256, (per_batch, 3072), dtype=torch.uint8, generator=g).numpy()
        labels = torch.randint(0, 10, (per_batch,), generator=g).tolist()
        entry = {b"batch_label": name.encode(), b"labels": labels, b"data": data,
                 b"filenames": [f"img{i}.png".encode() for i in range(per_batch)]}
        (folder / name).write_bytes(pickle.dumps(entry, protocol=2))
        written[name] = (data.tobytes(), labels)
    meta = {b"num_cases_per_batch": per_batch, b"label_names": [b"airplane"] * 10, b"num_vis": 3072}
    (folder / "batches.meta").write_bytes(pickle.dumps(meta, protocol=2))
    for name in BATCH_NAMES + ["batches.meta"]:
        md5[name] = hashlib.md5((folder / name).read_bytes()).hexdigest()
    return md5, written


def test_loader_reads_the_real_layout(tmp_path):
    md5, written = write_fake_cifar(tmp_path)
    train_x, train_y, test_x, test_y = load_cifar10(tmp_path, md5)
    assert train_x.shape == (30, 3, 32, 32) and train_x.dtype == torch.uint8
    assert test_x.shape == (6, 3, 32, 32) and train_y.dtype == torch.int64
    data, labels = written["data_batch_2"]
    assert train_x[6:12].flatten().numpy().tobytes() == data  # batch order kept, planes R, G, B
    assert train_y[6:12].tolist() == labels
    # The first 1024 bytes of a row are the red plane, row-major: pixel (0, 1) of image 0 is byte 1.
    assert train_x[0, 0, 0, 1].item() == written["data_batch_1"][0][1]
    assert train_x[0, 1, 0, 0].item() == written["data_batch_1"][0][1024]
    assert test_y.tolist() == written["test_batch"][1]


@pytest.mark.parametrize("victim", ["data_batch_3", "test_batch", "batches.meta"])
def test_checksum_catches_one_corrupted_byte(tmp_path, victim):
    md5, _ = write_fake_cifar(tmp_path)
    path = tmp_path / CIFAR_FOLDER / victim
    raw = bytearray(path.read_bytes())
    raw[len(raw) // 2] ^= 0x01
    path.write_bytes(bytes(raw))
    with pytest.raises(DataError, match=f"{victim} is corrupt.*download it again"):
        load_cifar10(tmp_path, md5)


def test_missing_files_say_what_to_do(tmp_path):
    with pytest.raises(DataError) as err:
        check_cifar10(tmp_path)
    message = str(err.value)
    assert "data_batch_1 is missing" in message and "Download CIFAR-10" in message
    assert "EXPLORER_DATA_DIR" in message and "synthetic" in message
    assert isinstance(err.value, ValueError)


def test_published_checksums_match_torchvision():
    from torchvision.datasets import CIFAR10

    published = dict(CIFAR10.train_list + CIFAR10.test_list)
    published[CIFAR10.meta["filename"]] = CIFAR10.meta["md5"]
    assert CIFAR_MD5 == published


def test_data_dir_precedence(monkeypatch, tmp_path):
    monkeypatch.delenv("EXPLORER_DATA_DIR", raising=False)
    assert str(data_dir()) == "data"
    monkeypatch.setenv("EXPLORER_DATA_DIR", str(tmp_path))
    assert data_dir() == tmp_path
    assert str(data_dir("elsewhere")) == "elsewhere"


@pytest.mark.parametrize("split, eval_name", [("50k/10k", "test"), ("45k/5k", "validation")])
def test_load_data_from_files(tmp_path, split, eval_name):
    md5, _ = write_fake_cifar(tmp_path)
    data = load_data(Recipe(dataset="cifar10", split=split), "cpu", tmp_path, md5)
    assert data.info.eval_name == eval_name and not data.info.synthetic
    assert data.train_x.shape == (30, 3, 32, 32) and data.eval_x.shape == (6 if split == "50k/10k" else 0, 3, 32, 32)
    assert torch.allclose(data.mean.flatten(), torch.tensor([0.4914, 0.4822, 0.4465]) * 255)


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
    with pytest.raises(SpecError, match="^dataset: unknown dataset 'imagenet'; choose synthetic or cifar10$"):
        dataset_info("imagenet")


@pytest.mark.parametrize("split, train_size, sizes", [
    ("50k/10k", 0, (50_000, 10_000, "test")), ("45k/5k", 0, (45_000, 5_000, "validation")),
    ("50k/10k", 64, (64, 200, "test")), ("45k/5k", 20_000, (20_000, 4_000, "validation")),
    ("45k/5k", 50_000, (45_000, 5_000, "validation")),
])
def test_split_sizes_come_from_one_table(split, train_size, sizes):
    info = dataset_info(Recipe(dataset="cifar10", split=split, train_size=train_size))
    assert (info.train_size, info.eval_size, info.eval_name) == sizes
    assert SPLITS == {"45k/5k": (45_000, 5_000), "50k/10k": (50_000, 10_000)}
