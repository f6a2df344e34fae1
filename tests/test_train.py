"""explorer.training: recipes, schedules, events, fit checks, failures, checkpoints, seeding, the CLI and 2-process
DDP, all on the CPU."""

from __future__ import annotations

import json
import math
import os
import socket
import subprocess
import sys
from pathlib import Path

import pytest
import torch

import explorer.training.engine as engine
from explorer import PRESETS, SpecError, build_model
from explorer.models.presets import FAMILY_DEFAULTS
from explorer.training import cli
from explorer.training.cifar import CIFAR100
from explorer.training.datasets import check_fits, fits, follow_classes, steps_per_epoch
from explorer.training.engine import CheckpointError, load_checkpoint, train
from explorer.training.events import EndEvent, EpochEvent, Event, RunStatus, StepEvent, frame, to_dict
from explorer.training.recipe import Recipe, lr_at, paper_recipe

TINY = PRESETS["resnet20"].replace(depth=8)  # ResNet-8: 3 stages of one block, 78k parameters


def run(recipe: Recipe, **kwargs) -> list[Event]:
    return list(train(TINY, recipe, **kwargs))


def test_recipe_round_trips_through_json():
    recipe = Recipe(dataset="cifar10", split="45k/5k", epochs=164, lr=0.05, nesterov=True, schedule="cosine",
                    milestones=(0.3, 0.6, 0.8), gamma=0.2, warmup=True, seed=3, train_size=1000)
    assert Recipe.from_dict(json.loads(json.dumps(recipe.to_dict()))) == recipe
    assert Recipe.from_dict({}) == Recipe()


@pytest.mark.parametrize("field, value, words", [
    ("dataset", "mnist", "choose from cifar10, cifar100, synthetic"),
    ("split", "40k/10k", "choose from 45k/5k, 50k/10k"),
    ("epochs", 0, "between 1 and 2000; got 0, try 5"),
    ("batch_size", 10_000, "between 1 and 4096"),
    ("lr", -0.1, "(0, 10]; got -0.1, try 0.1"),
    ("lr", float("nan"), "finite number"),
    ("dataset", "mnist", "unknown value 'mnist'"),
    ("momentum", 1.0, "[0, 1)"),
    ("weight_decay", 0.5, "[0, 0.1]"),
    ("milestones", [0.75, 0.5], "increasing fractions"),
    ("gamma", 0.0, "(0, 1]"),
    ("train_size", -1, "0 (all)"),
    ("seed", "zero", "whole number"),
    ("nesterov", 1, "true or false"),
    ("learning_rate", 0.1, "unknown recipe field"),
    ("warmup_steps", -5, "between 0 and 100000 steps"),
])
def test_bad_recipes_name_field_rule_value_and_fix(field, value, words):
    with pytest.raises(SpecError) as err:
        Recipe.from_dict({field: value})
    assert err.value.field == field and str(err.value).startswith(f"{field}: ") and words in str(err.value)


@pytest.mark.parametrize("preset, expected", [
    ("resnet20", dict(lr=0.1, weight_decay=1e-4, nesterov=False, schedule="step", warmup=False, gamma=0.1)),
    ("resnet110", dict(warmup=True, milestones=(0.5, 0.75))),
    ("wrn_28_10", dict(weight_decay=5e-4, nesterov=True, milestones=(0.3, 0.6, 0.8), gamma=0.2)),
    ("shake_shake26_2x32d", dict(lr=0.2, schedule="cosine")),
    ("densenet40_k12", dict(batch_size=64, nesterov=True)),
    ("resnext29_8x64d", dict(weight_decay=5e-4)),
    # Han et al. 2017 sec. 4, and the authors' PyTorch train.py: SGD(..., nesterov=True); lr /10 at 150, 225 of 300
    ("pyramidnet110_a48", dict(nesterov=True, batch_size=128, milestones=(0.5, 0.75), weight_decay=1e-4)),
    ("fractalnet20", dict(batch_size=100, lr=0.02, milestones=(0.5, 0.75, 0.875, 0.9375))),
])
def test_paper_recipes(preset, expected):
    recipe = paper_recipe(PRESETS[preset], epochs=7)
    assert recipe.epochs == 7 and recipe.momentum == 0.9
    assert {k: getattr(recipe, k) for k in expected} == expected


@pytest.mark.parametrize("step, lr", [(0, 0.1), (31_999, 0.1), (32_000, 0.01), (47_999, 0.01), (48_000, 0.001),
                                      (63_999, 0.001)])
def test_step_schedule_hits_he_et_al_values(step, lr):
    """He et al. 2015: 0.1, divided by 10 at 32k and 48k iterations, stop at 64k."""
    assert lr_at(Recipe(), step, 64_000) == pytest.approx(lr)


@pytest.mark.parametrize("epoch, lr", [(0, 0.1), (59, 0.1), (60, 0.02), (120, 0.004), (160, 0.0008), (199, 0.0008)])
def test_step_schedule_hits_wide_resnet_values(epoch, lr):
    """Zagoruyko & Komodakis: 0.1, times 0.2 at epochs 60, 120 and 160 of 200 (391 steps per epoch)."""
    recipe = paper_recipe(PRESETS["wrn_28_10"], epochs=200)
    assert lr_at(recipe, epoch * 391, 200 * 391) == pytest.approx(lr)


@pytest.mark.parametrize("fraction, factor", [(0, 1.0), (0.25, (1 + math.cos(math.pi / 4)) / 2), (0.5, 0.5),
                                              (0.75, (1 - math.cos(math.pi / 4)) / 2), (1.0, 0.0)])
def test_cosine_schedule_hits_its_published_values(fraction, factor):
    """Shake-Shake: lr_t = 0.5 lr0 (1 + cos(pi t / T)), from 0.2 to 0."""
    recipe = Recipe(lr=0.2, schedule="cosine")
    assert lr_at(recipe, int(fraction * 1000), 1000) == pytest.approx(0.2 * factor, abs=1e-12)


def test_warmup_and_constant():
    assert lr_at(Recipe(warmup=True), 0, 100, warming=True) == pytest.approx(0.01)
    assert lr_at(Recipe(schedule="constant"), 99, 100) == 0.1


@pytest.mark.parametrize("step, lr", [(0, 0.1 / 40), (19, 0.05), (39, 0.1), (40, 0.1), (60, 0.01)])
def test_linear_warmup_ramps_to_the_schedule(step, lr):
    """warmup_steps=40 ramps 0.1/40 .. 0.1 over steps 0..39, then the step schedule (drop at 50% of 120)."""
    assert lr_at(Recipe(warmup_steps=40, milestones=(0.5, 0.75)), step, 120) == pytest.approx(lr)


def test_loss_falls_on_a_few_fixed_batches():
    events = run(Recipe(epochs=12, batch_size=32, train_size=64, lr=0.05, schedule="constant"), log_every=1)
    steps = [e for e in events if isinstance(e, StepEvent)]
    epochs = [e for e in events if isinstance(e, EpochEvent)]
    assert events[-1] == EndEvent(status=RunStatus.FINISHED, message=events[-1].message)
    assert len(steps) == 24 and len(epochs) == 12 and len(events) == 24 + 12 + 1
    assert [e.step for e in steps] == list(range(1, 25)) and steps[-1].epoch == 12.0
    assert all(0 <= e.train_error <= 1 and 0 <= e.test_error <= 1 for e in epochs)
    table = frame(events)
    assert list(table["kind"]) == [e.kind for e in events[:-1]] and table["test_error"].isna().sum() == 24
    first, last = epochs[0].train_loss, epochs[-1].train_loss
    assert last < 0.8 * first, (first, last)  # measured 2.35 -> 1.53 (seed 0)


def test_injected_nan_gives_diverged(monkeypatch):
    def nan_model(spec, device="cpu"):
        model = build_model(spec, device)
        model.register_forward_hook(lambda module, inputs, output: output * float("nan"))
        return model

    monkeypatch.setattr(engine, "build_model", nan_model)
    events = run(Recipe(epochs=2, batch_size=16, train_size=64), log_every=2)
    assert events == [EndEvent(status=RunStatus.DIVERGED, message="the training loss became nan at step 2; try a "
                                                                  "lower learning rate than 0.1 (e.g. 0.01) or turn "
                                                                  "on warm-up")]


def test_cancel_between_steps():
    polls = []
    events = run(Recipe(epochs=3, batch_size=16, train_size=64), log_every=1,
                 should_stop=lambda: polls.append(1) or len(polls) > 3)
    assert [e.kind for e in events] == ["step"] * 3 + ["end"]
    assert events[-1] == EndEvent(status=RunStatus.CANCELLED, message="stopped by the user at step 3 of 12")


def test_out_of_memory_fails_cleanly(monkeypatch):
    def oom(*args):
        yield StepEvent(step=1, epoch=0.1, train_loss=2.3, train_error=0.9, lr=0.1, images_per_sec=1.0, elapsed=1.0)
        raise torch.OutOfMemoryError("CUDA out of memory. Tried to allocate 20.00 GiB")

    monkeypatch.setattr(engine, "_train", oom)
    events = run(Recipe(batch_size=512))
    assert events[-1].status == RunStatus.FAILED
    assert "ran out of GPU memory with batch size 512; try a smaller batch size" in events[-1].message


def test_a_train_size_below_the_batch_size_trains_one_full_batch():
    events = run(Recipe(epochs=1, batch_size=128, train_size=40))
    assert events[-1].status == RunStatus.FINISHED and "1 steps" in events[-1].message


def test_bad_input_ends_as_failed_with_the_message(tmp_path):
    events = run(Recipe(dataset="cifar10"), data_dir=str(tmp_path))
    assert events == [EndEvent(status=RunStatus.FAILED, message=events[0].message)]
    assert "CIFAR-10 is not in" in events[0].message and "Download CIFAR-10" in events[0].message


def test_checkpoint_round_trip_with_weights_only(tmp_path):
    path = str(tmp_path / "ckpt.pt")
    events = run(Recipe(epochs=1, batch_size=32, train_size=64), checkpoint_path=path)
    assert events[-1].status == RunStatus.FINISHED
    state = load_checkpoint(path)
    assert state["step"] == 2 and state["spec"] == TINY.to_dict() and state["recipe"]["train_size"] == 64
    model = build_model(TINY)
    model.load_state_dict(state["model"])  # strict: every tensor present, shapes right
    assert torch.equal(model.head.fc.weight, state["model"]["head.fc.weight"])
    assert state["optimizer"]["param_groups"][0]["momentum"] == 0.9
    torch.save({"evil": os.system}, tmp_path / "evil.pt")  # code, not data: weights_only refuses it
    with pytest.raises(CheckpointError) as err:
        load_checkpoint(str(tmp_path / "evil.pt"))
    assert str(err.value).startswith(f"{tmp_path / 'evil.pt'}: not a checkpoint of this app (it holds code")
    assert "weights_only loading refused it: Weights only load failed" in str(err.value)


def _ddp_rank(rank: int, port: int, out_dir: str) -> None:
    os.environ.update(MASTER_ADDR="127.0.0.1", MASTER_PORT=str(port), RANK=str(rank), WORLD_SIZE="2",
                      LOCAL_RANK=str(rank), OMP_NUM_THREADS="1")
    torch.set_num_threads(1)
    built = []
    original = engine.build_model
    engine.build_model = lambda spec, device="cpu": built.append(original(spec, device)) or built[-1]
    events = list(train(TINY, Recipe(epochs=2, batch_size=32, train_size=128, seed=5), log_every=2))
    weights = torch.cat([p.detach().flatten() for p in built[0].parameters()])
    with open(os.path.join(out_dir, f"rank{rank}.json"), "w") as f:
        json.dump({"events": [{k: v for k, v in to_dict(e).items() if k not in ("images_per_sec", "elapsed", "message")}
                              for e in events], "weights": weights.tolist()}, f)
    torch.distributed.destroy_process_group()


@pytest.mark.slow
def test_ddp_two_processes_on_gloo_agree(tmp_path):
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    torch.multiprocessing.spawn(_ddp_rank, args=(port, str(tmp_path)), nprocs=2, join=True)
    ranks = [json.loads((tmp_path / f"rank{r}.json").read_text()) for r in range(2)]
    assert ranks[0]["events"][-1]["status"] == "finished", ranks[0]["events"][-1]
    assert ranks[0]["events"] == ranks[1]["events"]  # metrics are summed over both ranks' halves of each batch
    assert ranks[0]["weights"] == ranks[1]["weights"]  # DDP averaged the gradients: identical weights
    assert ranks[0]["weights"] != [float(w) for w in torch.cat([p.detach().flatten() for p in
                                                                build_model(TINY).parameters()])]
    assert [e["step"] for e in ranks[0]["events"] if e["kind"] == "epoch"] == [4, 8]


def test_cli_trains_and_stores_the_run_like_the_app(tmp_path, capsys):
    from explorer.training.runs import RunStore

    csv = tmp_path / "metrics.csv"
    code = cli.main(["--preset", "resnet20", "--epochs", "1", "--train-size", "64", "--batch-size", "32",
                     "--device", "cpu", "--runs-dir", str(tmp_path), "--csv", str(csv)])
    assert code == 0 and '"status": "finished"' in capsys.readouterr().out
    (stored,) = RunStore(tmp_path).list_runs()
    assert stored.status == "finished" and stored.recipe["train_size"] == 64
    assert csv.read_text().splitlines()[0].startswith("kind,epoch,step,train_loss")
    assert csv.read_text() == RunStore(tmp_path).metrics_csv(stored.id)  # one table, whoever writes it
    assert cli.main(["--preset", "resnet21", "--runs-dir", str(tmp_path)]) == 2
    assert "unknown preset 'resnet21'" in capsys.readouterr().out
    assert cli.main(["--preset", "resnet20", "--device", "gpu", "--runs-dir", str(tmp_path)]) == 2
    assert "expected cpu, cuda or cuda:N; got 'gpu'" in capsys.readouterr().out.replace(" (N = 0, 1, ...)", "")
    assert len(RunStore(tmp_path).list_runs()) == 1  # nothing was requested for the bad device


def test_cli_gives_a_10_class_preset_cifar100s_100_classes_and_says_so(tmp_path, capsys, monkeypatch):
    from explorer.training.runs import RunStore

    monkeypatch.delenv("EXPLORER_DATA_DIR", raising=False)  # the CLI sets it for its worker; restored afterwards

    code = cli.main(["--preset", "resnet20", "--dataset", "cifar100", "--epochs", "1", "--device", "cpu",
                     "--data-dir", str(tmp_path / "data"), "--runs-dir", str(tmp_path / "runs")])
    out = capsys.readouterr().out
    assert code == 1 and out.startswith("note: CIFAR-100 has 100 classes, so this run's classifier has 100 outputs "
                                        "instead of the design's 10 (num_classes=100)")
    (stored,) = RunStore(tmp_path / "runs").list_runs()
    assert stored.spec["num_classes"] == 100 and stored.recipe["dataset"] == "cifar100"
    assert stored.status == "failed" and stored.error.startswith(f"CIFAR-100 is not in {tmp_path / 'data'}")
    assert "--download --dataset cifar100" in stored.error


@pytest.mark.parametrize("argv, message", [
    (["--preset", "resnet18"], "error: stem: Synthetic shapes (not CIFAR-10) has 32x32 images, which need the CIFAR "
                               "stem (a 3x3 conv); got 'imagenet', try 'cifar'"),
    (["--preset", "resnet18", "--dataset", "cifar10"], "error: stem: CIFAR-10 has 32x32 images"),
    # over this CPU's images x epochs bound (limits.check_cost): refused with what fits, nothing queued
    (["--preset", "resnet20", "--epochs", "2000"], "error: epochs: 2,000 epochs of 50,000 images is 100,000,000 "
                                                   "training images, over the 500,000 one run may train"),
])
def test_cli_refuses_a_design_or_run_it_cannot_train_before_requesting_one(tmp_path, capsys, argv, message):
    from explorer.training.runs import RunStore

    assert cli.main([*argv, "--device", "cpu", "--runs-dir", str(tmp_path)]) == 2
    assert capsys.readouterr().out.startswith(message)
    assert RunStore(tmp_path).list_runs() == []


@pytest.mark.parametrize("spec, field, words", [
    (PRESETS["resnet18"], "stem", "got 'imagenet', try 'cifar'"),
    (PRESETS["resnet20"].replace(num_classes=100), "num_classes", "10 classes, so the classifier needs 10 outputs; "
                                                                 "got 100, try 10"),
])
@pytest.mark.parametrize("dataset", ["synthetic", "cifar10"])
def test_a_design_must_fit_the_data(spec, field, words, dataset):
    assert fits(PRESETS["resnet20"], dataset) and not fits(spec, dataset)
    with pytest.raises(SpecError) as err:
        check_fits(spec, dataset)
    assert err.value.field == field and words in str(err.value)
    (end,) = list(train(spec, Recipe(dataset=dataset, epochs=1, train_size=32)))  # refused before loading data
    assert end == EndEvent(status=RunStatus.FAILED, message=str(err.value))


def test_the_library_refuses_a_10_class_design_on_cifar100(tmp_path):
    """Explicit there: train() and the run store never change a design; the page and the CLI do, and say so."""
    from explorer.training.runs import RunStore

    message = "num_classes: CIFAR-100 has 100 classes, so the classifier needs 100 outputs; got 10, try 100"
    assert not fits(PRESETS["resnet20"], "cifar100") and fits(PRESETS["resnet20"].replace(num_classes=100), "cifar100")
    (end,) = list(train(PRESETS["resnet20"], Recipe(dataset="cifar100", epochs=1, train_size=32)))
    assert end == EndEvent(status=RunStatus.FAILED, message=message)
    with pytest.raises(SpecError, match=f"^{message}$"):
        RunStore(tmp_path).request(PRESETS["resnet20"], Recipe(dataset="cifar100"))


@pytest.mark.parametrize("classes, dataset, trained, note", [
    (10, "cifar100", 100, "CIFAR-100 has 100 classes, so this run's classifier has 100 outputs instead of the "
                          "design's 10 (num_classes=100); the rest of the design is unchanged."),
    (100, "cifar10", 10, "CIFAR-10 has 10 classes, so this run's classifier has 10 outputs instead of the design's "
                         "100 (num_classes=10); the rest of the design is unchanged."),
    (1000, "synthetic", 10, "Synthetic shapes (not CIFAR-10) has 10 classes, so this run's classifier has 10 outputs "
                            "instead of the design's 1000 (num_classes=10); the rest of the design is unchanged."),
    (10, "cifar10", 10, None),
    (100, "cifar100", 100, None),
])
def test_the_class_count_follows_the_dataset(classes, dataset, trained, note):
    design = PRESETS["wrn_16_4"].replace(num_classes=classes)
    spec, said = follow_classes(design, dataset)
    assert (spec.num_classes, said) == (trained, note)
    assert spec == design.replace(num_classes=trained) and fits(spec, dataset)


def test_two_cpu_steps_on_tiny_cifar100_files_with_100_classes(tmp_path, monkeypatch):
    from test_data import write_fake_cifar

    md5, _ = write_fake_cifar(tmp_path, CIFAR100, per_batch=64)
    for name, digest in md5.items():  # the tiny files stand in for the published ones
        monkeypatch.setitem(CIFAR100.md5, name, digest)
    spec = TINY.replace(num_classes=100)
    path = str(tmp_path / "ckpt.pt")
    recipe = Recipe(dataset="cifar100", epochs=1, batch_size=32, train_size=64)
    events = list(train(spec, recipe, data_dir=str(tmp_path), checkpoint_path=path))
    assert events[-1].status == RunStatus.FINISHED and "2 steps" in events[-1].message, events[-1]
    (epoch,) = [e for e in events if isinstance(e, EpochEvent)]
    assert epoch.step == 2 and math.isfinite(epoch.test_loss) and 0 <= epoch.test_error <= 1
    assert epoch.train_loss > math.log(100) / 2  # 2 steps on random labels: near chance over 100 classes
    assert load_checkpoint(path)["model"]["head.fc.weight"].shape == (100, 64)


@pytest.mark.parametrize("images, batch, steps", [(50_000, 128, 390), (45_000, 128, 351), (64, 32, 2), (40, 128, 1),
                                                  (100, 64, 1), (0, 128, 0)])
def test_steps_per_epoch_drops_the_ragged_batch(images, batch, steps):
    assert steps_per_epoch(images, batch) == steps


# One small design per family: a few steps each, twice with one seed.
SMALL = {
    "plain": PRESETS["resnet20"].replace(family="plain", depth=8),
    "resnet": TINY,
    "wrn": FAMILY_DEFAULTS["wrn"].replace(depth=10, width_factor=1),
    "resnext": FAMILY_DEFAULTS["resnext"].replace(depth=11, cardinality=2, bottleneck_width=4),
    "shake_shake": FAMILY_DEFAULTS["shake_shake"].replace(depth=8, base_width=8),
    "pyramidnet": FAMILY_DEFAULTS["pyramidnet"].replace(depth=8, pyramid_alpha=12),
    "densenet": FAMILY_DEFAULTS["densenet"].replace(depth=7, growth_rate=4),
    "highway": FAMILY_DEFAULTS["highway"].replace(depth=5),
    "fractalnet": FAMILY_DEFAULTS["fractalnet"].replace(depth=4, fractal_columns=2, fractal_blocks=2, base_width=8),
    "vgg": FAMILY_DEFAULTS["vgg"].replace(depth=11, base_width=8),
}


def test_every_family_has_a_small_design():
    assert sorted(SMALL) == sorted(FAMILY_DEFAULTS) and all(SMALL[f].family == f for f in SMALL)


@pytest.mark.parametrize("family", sorted(SMALL))
def test_one_seed_gives_identical_losses_and_leaves_the_global_rng_alone(family):
    recipe = paper_recipe(SMALL[family], epochs=1).replace(batch_size=16, train_size=48, seed=7)
    torch.manual_seed(123)
    before = torch.get_rng_state()
    runs = []
    for _ in range(2):
        events = list(train(SMALL[family], recipe, log_every=1))
        assert events[-1].status == RunStatus.FINISHED, events[-1]
        runs.append([(e.train_loss, getattr(e, "test_loss", None)) for e in events[:-1]])
    assert torch.equal(torch.get_rng_state(), before)  # the caller's stream did not move
    assert runs[0] == runs[1] and len(runs[0]) == 3 + 1  # 3 step events and the epoch, bit for bit


def test_the_callers_draws_between_events_do_not_change_the_run():
    recipe = Recipe(epochs=1, batch_size=16, train_size=48, seed=3)
    quiet = [e.train_loss for e in train(TINY, recipe, log_every=1) if isinstance(e, StepEvent)]
    noisy = []
    for event in train(TINY, recipe, log_every=1):
        torch.rand(1000)  # another session of the server drawing from the global generator meanwhile
        if isinstance(event, StepEvent):
            noisy.append(event.train_loss)
    assert noisy == quiet


def test_python_m_explorer_training_is_the_cli_and_refuses_before_queueing(tmp_path):
    out = subprocess.run([sys.executable, "-m", "explorer.training", "--preset", "resnet18", "--runs-dir",
                          str(tmp_path)], capture_output=True, text=True, cwd=Path(__file__).parent.parent)
    assert out.returncode == 2 and out.stdout.startswith("error: stem: ") and "got 'imagenet'" in out.stdout
    assert not (tmp_path / "runs.sqlite").exists()  # no store was even opened


def test_recipes_events_datasets_and_the_store_load_without_torch():
    code = ("import sys, explorer.training.recipe, explorer.training.events, explorer.training.datasets, "
            "explorer.training.runs, explorer.training.queue; print('torch' in sys.modules)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True,
                         cwd=Path(__file__).parent.parent)
    assert out.stdout.strip() == "False"
