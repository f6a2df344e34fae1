"""The training engine: the papers' SGD recipes, run on data held on the device, yielding metrics as events.

`train(spec, recipe)` is a generator of plain dicts (errors are fractions in [0, 1], never %):
  {"kind": "step", "step", "epoch" (float), "train_loss", "train_error", "lr", "images_per_sec", "elapsed"}
  {"kind": "epoch", "epoch" (int, 1-based), "step", "train_loss", "train_error", "test_loss", "test_error",
   "lr", "images_per_sec", "elapsed"}   (test_* is the validation set for the 45k/5k split)
  {"kind": "end", "status": "finished" | "diverged" | "failed" | "cancelled", "message"}
On a GPU: bf16 autocast, channels_last, cudnn.benchmark, metrics summed on the device and read every
`log_every` steps (no per-step host sync), optional torch.compile. Under torchrun: DistributedDataParallel.
"""

from __future__ import annotations

import dataclasses
import gc
import math
import time
from dataclasses import dataclass
from typing import Any, Callable, Iterator, Literal, get_args

import torch
import torch.nn.functional as F
from torch import nn

from explorer.training import distributed
from explorer.models.builder import build_model
from explorer.training.data import DataError, augment, load_data, normalize
from explorer.models.spec import ArchSpec, SpecError, coerce, known_fields

Dataset = Literal["cifar10", "synthetic"]
Split = Literal["45k/5k", "50k/10k"]
Schedule = Literal["step", "cosine", "constant"]
# torch.compile mode per device type. CUDA graphs ("reduce-overhead") replay a whole step in one launch: a
# CIFAR ResNet's step is hundreds of tiny kernels, so launch overhead, not arithmetic, bounds it on a GPU.
COMPILE_MODES: dict[str, str | None] = {"cuda": "reduce-overhead", "cpu": None}
# He et al. 2015 sec. 4.2: ResNet-110 uses lr 0.01 "until the training error is below 80% (about 400 iterations)"
WARMUP_MAX_STEPS = 400


@dataclass(frozen=True, kw_only=True)
class Recipe:
    """How to train: the papers' SGD recipe. Defaults are He et al. 2015's CIFAR-10 recipe, scaled to 5 epochs."""

    dataset: Dataset = "synthetic"  # "cifar10" or the offline "synthetic" shapes (labelled synthetic everywhere)
    split: Split = "50k/10k"  # He et al. sec. 4.2 tunes on "45k/5k" train/validation; "50k/10k" = train/test
    epochs: int = 5  # passes over the training split (the papers: 164 for ResNet, 200 WRN, 300 DenseNet)
    batch_size: int = 128  # images per SGD step, over all GPUs together (papers: 128; DenseNet 64)
    lr: float = 0.1  # initial learning rate (papers: 0.1; Shake-Shake 0.2)
    momentum: float = 0.9  # SGD momentum (all papers: 0.9)
    weight_decay: float = 1e-4  # L2 on all weights (ResNet 1e-4, WRN/ResNeXt 5e-4)
    nesterov: bool = False  # Nesterov momentum (WRN, DenseNet, PyramidNet use it)
    schedule: Schedule = "step"  # "step": lr x gamma at each milestone; "cosine": Shake-Shake's, to 0; "constant"
    milestones: tuple[float, ...] = (0.5, 0.75)  # step schedule: fractions of the run (ResNet: 32k, 48k of 64k iters)
    gamma: float = 0.1  # step schedule: lr multiplier at each milestone (ResNet 0.1, WRN 0.2)
    warmup: bool = False  # ResNet-110: lr/10 until train error < 80% (at most ~400 iters), then lr (sec. 4.2)
    warmup_steps: int = 0  # linear warm-up: lr ramps up to lr over the first N steps (Goyal et al. 2017); 0 = off
    seed: int = 0  # initial weights, shuffling and augmentation; the synthetic images themselves are fixed
    train_size: int = 0  # images of the split to train on; 0 = all of it (small values for demos and tests)
    compile: bool = False  # torch.compile the model (minutes of compiling, then faster steps on a GPU)

    def to_dict(self) -> dict[str, Any]:
        data = dataclasses.asdict(self)
        data["milestones"] = list(self.milestones)
        return data

    @classmethod
    def from_dict(cls, data: Any) -> Recipe:
        """Build and validate a recipe from untrusted data (JSON); missing fields take the defaults."""
        known = known_fields(cls, data, "recipe", noun="recipe field")
        values = {name: coerce(name, known[name].type, value, _CHOICES) for name, value in data.items()}
        recipe = cls(**values)
        validate_recipe(recipe)
        return recipe

    def replace(self, **changes: Any) -> Recipe:
        return dataclasses.replace(self, **changes)


_CHOICES = {"Dataset": Dataset, "Split": Split, "Schedule": Schedule}


def _check(ok: bool, name: str, rule: str, value: Any, fix: Any) -> None:
    if not ok:
        raise SpecError(name, f"{rule}; got {value!r}, try {fix}")


def validate_recipe(r: Recipe) -> None:
    """Raise SpecError naming the field, rule, value and a fix for the first bad setting."""
    _check(r.dataset in get_args(Dataset), "dataset", "choose cifar10 or synthetic", r.dataset, "synthetic")
    _check(r.split in get_args(Split), "split", "choose 45k/5k or 50k/10k", r.split, "50k/10k")
    _check(r.schedule in get_args(Schedule), "schedule", "choose step, cosine or constant", r.schedule, "step")
    _check(1 <= r.epochs <= 2000, "epochs", "must be between 1 and 2000", r.epochs, 5)
    _check(1 <= r.batch_size <= 4096, "batch_size", "must be between 1 and 4096 images", r.batch_size, 128)
    _check(0 < r.lr <= 10, "lr", "the learning rate must be in (0, 10]", r.lr, 0.1)
    _check(0 <= r.momentum < 1, "momentum", "must be in [0, 1)", r.momentum, 0.9)
    _check(0 <= r.weight_decay <= 0.1, "weight_decay", "must be in [0, 0.1]", r.weight_decay, 1e-4)
    _check(not r.nesterov or r.momentum > 0, "nesterov", "Nesterov momentum needs momentum > 0", r.nesterov, False)
    _check(all(0 < m < 1 for m in r.milestones) and list(r.milestones) == sorted(r.milestones), "milestones",
           "must be increasing fractions of the run in (0, 1)", list(r.milestones), [0.5, 0.75])
    _check(0 < r.gamma <= 1, "gamma", "the step multiplier must be in (0, 1]", r.gamma, 0.1)
    _check(0 <= r.seed < 2**31, "seed", "must be in [0, 2^31)", r.seed, 0)
    _check(0 <= r.warmup_steps <= 100_000, "warmup_steps", "must be between 0 and 100000 steps", r.warmup_steps, 0)
    _check(0 <= r.train_size <= 50_000, "train_size", "must be 0 (all) or up to 50000 images", r.train_size, 0)


def paper_recipe(spec: ArchSpec, epochs: int = 5) -> Recipe:
    """The family's paper recipe, its schedule scaled from the paper's length to `epochs`."""
    base = Recipe(epochs=epochs, dataset="synthetic")
    family = spec.family
    if family == "wrn":  # Zagoruyko & Komodakis 2016: Nesterov, 5e-4, lr x0.2 at epochs 60, 120, 160 of 200
        return base.replace(weight_decay=5e-4, nesterov=True, milestones=(0.3, 0.6, 0.8), gamma=0.2)
    if family == "resnext":  # Xie et al. 2016: 5e-4, lr /10 at epochs 150 and 225 of 300
        return base.replace(weight_decay=5e-4)
    if family == "shake_shake":  # Gastaldi 2017: lr 0.2, cosine to 0 without restarts
        return base.replace(lr=0.2, schedule="cosine")
    if family in ("densenet", "pyramidnet"):  # Huang et al. / Han et al.: Nesterov (DenseNet: batch 64)
        return base.replace(nesterov=True, batch_size=64 if family == "densenet" else 128)
    if family == "fractalnet":  # Larsson et al. 2016: batch 100, lr 0.02, /10 whenever remaining epochs halve
        return base.replace(batch_size=100, lr=0.02, milestones=(0.5, 0.75, 0.875, 0.9375))
    if family == "vgg":
        return base.replace(weight_decay=5e-4)
    # He et al. 2015 (plain, resnet, highway here too): 1e-4, /10 at 32k and 48k of 64k iterations;
    # 110+ layers warm up (sec. 4.2), and so do the 1001-layer pre-activation nets (Identity Mappings sec. 4).
    return base.replace(warmup=spec.depth >= 110)


def lr_at(recipe: Recipe, step: int, total_steps: int, warming: bool = False) -> float:
    """The learning rate for 0-based `step` of `total_steps`."""
    if warming:
        return recipe.lr / 10
    # Goyal et al. 2017 (1706.02677) sec. 2.2: a gradual ramp avoids the first-steps loss spike of deep nets.
    ramp = min(1.0, (step + 1) / recipe.warmup_steps) if recipe.warmup_steps else 1.0
    if recipe.schedule == "cosine":  # Loshchilov & Hutter 2016 without restarts, as Shake-Shake uses
        return ramp * 0.5 * recipe.lr * (1 + math.cos(math.pi * step / total_steps))
    if recipe.schedule == "step":
        drops = sum(step >= round(m * total_steps) for m in recipe.milestones)
        return ramp * recipe.lr * recipe.gamma ** drops
    return ramp * recipe.lr


def checkpoint_state(model: nn.Module, optimizer: torch.optim.Optimizer, spec: ArchSpec, recipe: Recipe,
                     step: int) -> dict[str, Any]:
    return {"model": model.state_dict(), "optimizer": optimizer.state_dict(), "step": step,
            "spec": spec.to_dict(), "recipe": recipe.to_dict()}


def load_checkpoint(path: str, map_location: str | torch.device = "cpu") -> dict[str, Any]:
    """A checkpoint as saved by train(): tensors and plain data only (weights_only=True refuses code)."""
    return torch.load(path, map_location=map_location, weights_only=True)


class Objective(nn.Module):
    """uint8 batch -> (mean cross-entropy, wrong count). One module, so torch.compile puts normalising, the
    loss and the error count into the net's graph (and its CUDA graph) instead of separate launches."""

    def __init__(self, net: nn.Module, mean: torch.Tensor, std: torch.Tensor, bf16: bool):
        super().__init__()
        self.net, self.bf16 = net, bf16
        self.register_buffer("mean", mean)
        self.register_buffer("std", std)

    def forward(self, x: torch.Tensor, y: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        x = normalize(x, self.mean, self.std).contiguous(memory_format=torch.channels_last)
        with torch.autocast(x.device.type, dtype=torch.bfloat16, enabled=self.bf16):
            logits = self.net(x)
        return F.cross_entropy(logits.float(), y), (logits.argmax(1) != y).sum()


def use_bf16(device: torch.device) -> bool:
    """bf16 autocast on CUDA, and on CPUs with AMX tiles (4x fp32 there; emulated bf16 elsewhere is slower)."""
    if device.type == "cuda":
        return True
    return device.type == "cpu" and getattr(torch.cpu, "_is_amx_tile_supported", lambda: False)()


def train(spec: ArchSpec, recipe: Recipe, *, device: str | torch.device = "cpu", data_dir: str | None = None,
          checkpoint_path: str | None = None, should_stop: Callable[[], bool] | None = None,
          log_every: int = 20) -> Iterator[dict[str, Any]]:
    """Train `spec` with `recipe`, yielding step, epoch and one final end event (see the module docstring)."""
    out_of_memory = False
    try:
        yield from _train(spec, recipe, device, data_dir, checkpoint_path, should_stop or (lambda: False), log_every)
    except torch.OutOfMemoryError:
        out_of_memory = True  # clean up below: inside `except`, the traceback still holds _train's tensors
    except (SpecError, DataError) as err:
        yield _end("failed", str(err))
    except Exception as err:  # the worker records the message; the UI never shows a traceback
        yield _end("failed", f"{type(err).__name__}: {err}")
    if out_of_memory:
        gc.collect()  # _train's frame (model, activations, optimizer state) is garbage now
        torch.cuda.empty_cache()  # hand the cached blocks back, so the GPU stays usable for other runs
        yield _end("failed", f"ran out of GPU memory with batch size {recipe.batch_size}; try a smaller batch "
                             "size, a smaller design, or wait for other runs on this GPU to finish")


def _end(status: str, message: str) -> dict[str, Any]:
    return {"kind": "end", "status": status, "message": message}


def _train(spec: ArchSpec, recipe: Recipe, device: str | torch.device, data_dir: str | None,
           checkpoint_path: str | None, should_stop: Callable[[], bool], log_every: int) -> Iterator[dict[str, Any]]:
    validate_recipe(recipe)
    start = time.perf_counter()
    device = distributed.setup(device)
    cuda = device.type == "cuda"
    if cuda:
        torch.backends.cudnn.benchmark = True  # fixed shapes (drop_last): the autotuned kernels are reused
    bf16 = use_bf16(device)
    torch.manual_seed(recipe.seed)
    data = load_data(recipe, device, data_dir)
    model = build_model(spec, device)
    memory_format = torch.channels_last  # NHWC: cuDNN's and oneDNN's fast convolution layout (CPU: 2.7x here)
    model = model.to(memory_format=memory_format)
    optimizer = torch.optim.SGD(model.parameters(), lr=recipe.lr, momentum=recipe.momentum,
                                weight_decay=recipe.weight_decay, nesterov=recipe.nesterov, fused=cuda or None)
    net: nn.Module = model
    if distributed.active():
        net = nn.parallel.DistributedDataParallel(model, device_ids=[device.index] if cuda else None)
    objective: nn.Module = Objective(net, data.mean, data.std, bf16)
    if recipe.compile:
        objective = torch.compile(objective, mode=COMPILE_MODES.get(device.type))

    n = len(data.train_y)
    batch = min(recipe.batch_size, n)
    local = distributed.shard(batch)
    steps_per_epoch = n // batch  # drop the ragged last batch: fixed shapes for cudnn.benchmark and compile
    total = steps_per_epoch * recipe.epochs
    order_gen = torch.Generator(device=device).manual_seed(recipe.seed)  # same order on every rank
    aug_gen = torch.Generator(device=device).manual_seed(recipe.seed * 1009 + distributed.rank() + 1)
    warming = recipe.warmup
    sums = torch.zeros(2, device=device, dtype=torch.float64)  # loss sum, wrong count: read at log time only
    epoch_sums = torch.zeros(2, device=device, dtype=torch.float64)
    window_start, window_images, step = time.perf_counter(), 0, 0

    for epoch in range(1, recipe.epochs + 1):
        model.train()
        order = torch.randperm(n, device=device, generator=order_gen)
        epoch_start = time.perf_counter()
        epoch_sums.zero_()
        for i in range(steps_per_epoch):
            if should_stop():
                yield _end("cancelled", f"stopped by the user at step {step} of {total}")
                return
            lr = lr_at(recipe, step, total, warming)
            for group in optimizer.param_groups:
                group["lr"] = lr
            idx = order[i * batch:(i + 1) * batch][local]
            y = data.train_y[idx]
            loss, wrong = objective(augment(data.train_x[idx], aug_gen), y)
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            optimizer.step()
            step += 1
            batch_sums = torch.stack([loss.detach().double() * len(y), wrong.double()])
            sums += batch_sums
            epoch_sums += batch_sums
            window_images += len(y) * distributed.world_size()
            if step % log_every == 0 or i == steps_per_epoch - 1:
                loss_sum, wrong_sum = distributed.all_sum(sums.clone()).tolist()  # the one host sync
                sums.zero_()
                seen = window_images
                now = time.perf_counter()
                event = {"kind": "step", "step": step, "epoch": step / steps_per_epoch,
                         "train_loss": loss_sum / seen, "train_error": wrong_sum / seen, "lr": lr,
                         "images_per_sec": seen / (now - window_start), "elapsed": now - start}
                window_start, window_images = now, 0
                if not math.isfinite(event["train_loss"]):
                    yield _end("diverged", f"the training loss became {event['train_loss']} at step {step}; "
                                           f"try a lower learning rate than {recipe.lr} (e.g. {recipe.lr / 10:g})"
                                           + ("" if recipe.warmup else " or turn on warm-up"))
                    return
                # He et al.'s warm-up ends once the net is learning: train error under 80%, or ~400 iterations.
                if warming and (event["train_error"] < 0.8 or step >= min(WARMUP_MAX_STEPS, max(1, total // 10))):
                    warming = False
                yield event
        loss_sum, wrong_sum = distributed.all_sum(epoch_sums.clone()).tolist()
        seen = steps_per_epoch * len(y) * distributed.world_size()
        train_seconds = time.perf_counter() - epoch_start  # training only: the sync above ended the epoch's work
        test_loss, test_error = evaluate(model, data, device, memory_format)
        yield {"kind": "epoch", "epoch": epoch, "step": step, "train_loss": loss_sum / seen,
               "train_error": wrong_sum / seen, "test_loss": test_loss, "test_error": test_error, "lr": lr,
               "images_per_sec": seen / train_seconds, "elapsed": time.perf_counter() - start}
        if checkpoint_path and distributed.rank() == 0:
            torch.save(checkpoint_state(model, optimizer, spec, recipe, step), checkpoint_path)
    yield _end("finished", f"trained {recipe.epochs} epochs ({total} steps) in {time.perf_counter() - start:.1f} s")


@torch.no_grad()
def evaluate(model: nn.Module, data: Any, device: torch.device, memory_format: torch.memory_format,
             batch: int = 1000) -> tuple[float, float]:
    """(mean loss, error fraction) on the evaluation images, unaugmented; summed over ranks' shards."""
    model.eval()
    part = distributed.shard(len(data.eval_y)) if distributed.active() else slice(None)
    xs, ys = data.eval_x[part], data.eval_y[part]
    sums = torch.zeros(2, device=device, dtype=torch.float64)
    for i in range(0, len(ys), batch):
        x = normalize(xs[i:i + batch], data.mean, data.std).contiguous(memory_format=memory_format)
        y = ys[i:i + batch]
        with torch.autocast(device.type, dtype=torch.bfloat16, enabled=use_bf16(device)):
            logits = model(x)
        sums += torch.stack([F.cross_entropy(logits.float(), y, reduction="sum").double(),
                             (logits.argmax(1) != y).sum().double()])
    loss_sum, wrong = distributed.all_sum(sums).tolist()
    seen = len(ys) * distributed.world_size()
    model.train()
    return loss_sum / max(seen, 1), wrong / max(seen, 1)


def main(argv: list[str] | None = None) -> int:
    """`python -m explorer.training.engine --preset resnet20 --epochs 5 --dataset synthetic`: train with a progress bar.

    One process stores the run like the app does (explorer.training.runs); under `torchrun --nproc-per-node=N` every
    rank trains its shard with DDP and rank 0 prints the progress (the run store is for one-process runs).
    """
    import argparse
    import json
    import os

    from tqdm import tqdm

    from explorer.training.data import ENV_VAR
    from explorer.models.presets import PRESETS

    parser = argparse.ArgumentParser(prog="python -m explorer.training.engine", description=main.__doc__.splitlines()[0])
    design = parser.add_mutually_exclusive_group()
    design.add_argument("--preset", default="resnet20", help="a preset name, e.g. resnet20, resnet110, wrn_28_10")
    design.add_argument("--spec", help="a spec JSON file (as the Build page's 'Download spec' gives)")
    parser.add_argument("--epochs", type=int, default=5)
    parser.add_argument("--dataset", choices=get_args(Dataset), default="synthetic")
    parser.add_argument("--split", choices=get_args(Split), default=None)
    parser.add_argument("--batch-size", type=int, default=None)
    parser.add_argument("--lr", type=float, default=None)
    parser.add_argument("--schedule", choices=get_args(Schedule), default=None)
    parser.add_argument("--seed", type=int, default=None)
    parser.add_argument("--warmup-steps", type=int, default=None, help="linear lr warm-up over N steps (0 = off)")
    parser.add_argument("--train-size", type=int, default=None, help="train on the first N images (0 = all)")
    parser.add_argument("--compile", action="store_true", help="torch.compile the model")
    parser.add_argument("--device", default=None, help="cpu, cuda or cuda:N (default: cuda if available)")
    parser.add_argument("--data-dir", default=None, help="data folder (default $EXPLORER_DATA_DIR or ./data)")
    parser.add_argument("--runs-dir", default=None, help="run store folder (default $EXPLORER_RUNS_DIR or ./runs)")
    args = parser.parse_args(argv)
    try:
        if args.spec:
            with open(args.spec) as f:
                spec = ArchSpec.from_json(f.read())
        elif args.preset in PRESETS:
            spec = PRESETS[args.preset]
        else:
            raise SpecError("preset", f"unknown preset {args.preset!r}; try resnet20, resnet56 or wrn_28_10")
        overrides = {"dataset": args.dataset, "split": args.split, "batch_size": args.batch_size, "lr": args.lr,
                     "schedule": args.schedule, "seed": args.seed, "train_size": args.train_size,
                     "warmup_steps": args.warmup_steps,
                     "compile": args.compile or None}
        recipe = Recipe.from_dict({**paper_recipe(spec, args.epochs).to_dict(),
                                   **{k: v for k, v in overrides.items() if v is not None}})
    except (OSError, SpecError) as err:
        print(f"error: {err}")
        return 2
    device = args.device or ("cuda" if torch.cuda.is_available() else "cpu")
    from explorer.training.runs import canonical_device

    try:
        canonical_device(device)  # refuse "gpu" before a run is requested; DDP ranks keep "cuda" (their own GPU)
    except ValueError as err:
        print(f"error: {err}")
        return 2
    total = (recipe.train_size or (45_000 if recipe.split == "45k/5k" else 50_000)) // recipe.batch_size
    bar = tqdm(total=max(total, 1) * recipe.epochs, unit="step", disable=distributed.rank() != 0)
    last: dict[str, Any] = {}

    def on_event(event: dict[str, Any]) -> None:
        last.update(event)
        if distributed.rank() != 0:
            return
        if event["kind"] == "step":
            bar.update(event["step"] - bar.n)
            bar.set_postfix(loss=f"{event['train_loss']:.3f}", err=f"{event['train_error']:.1%}",
                            img_s=f"{event['images_per_sec']:.0f}")
        elif event["kind"] == "epoch":
            bar.write(f"epoch {event['epoch']}: train loss {event['train_loss']:.3f} error "
                      f"{event['train_error']:.2%}, test loss {event['test_loss']:.3f} error "
                      f"{event['test_error']:.2%}, {event['images_per_sec']:.0f} img/s")

    if distributed.world_size() > 1:
        for event in train(spec, recipe, device=device, data_dir=args.data_dir):
            on_event(event)
    else:
        from explorer.training.runs import RunStore, execute

        if args.data_dir:
            os.environ[ENV_VAR] = args.data_dir  # the worker reads the data folder from the environment
        store = RunStore(args.runs_dir)
        run_id, created = store.request(spec, recipe)
        if not created:
            print(f"an identical run exists: {run_id}; following it")
        execute(store, run_id, on_event=on_event, device=device)
    bar.close()
    if distributed.rank() == 0:
        print(json.dumps({"status": last.get("status"), "message": last.get("message")}))
    return 0 if last.get("status") == "finished" else 1


if __name__ == "__main__":
    raise SystemExit(main())
