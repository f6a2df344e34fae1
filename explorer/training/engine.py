"""The training engine: a recipe run on data held on the device, yielding typed events (explorer.training.events).

`train(spec, recipe)` yields StepEvent every `log_every` steps, EpochEvent after each epoch's evaluation and one
final EndEvent (finished, diverged, failed or cancelled, with a message); it never raises for bad input.
On a GPU: bf16 autocast, channels_last, cudnn.benchmark, metrics summed on the device and read every
`log_every` steps (no per-step host sync), optional torch.compile. Under torchrun: DistributedDataParallel.
Randomness: the run's own generators, so that two runs with one seed agree and the caller's RNG is untouched.
"""

from __future__ import annotations

import contextlib
import errno
import gc
import os
import pickle
import time
from typing import Any, Callable, Iterator

import torch
import torch.nn.functional as F
from torch import nn

from explorer.models.builder import build_model
from explorer.models.spec import ArchSpec, SpecError
from explorer.training import distributed
from explorer.training.data import DataError, augment, load_data, normalize
from explorer.training.datasets import check_fits, dataset_info, steps_per_epoch
from explorer.training.events import DivergenceWatch, EndEvent, EpochEvent, Event, RunStatus, StepEvent
from explorer.training.recipe import Recipe, lr_at, validate_recipe

# torch.compile mode per device type. CUDA graphs ("reduce-overhead") replay a whole step in one launch: a
# CIFAR ResNet's step is hundreds of tiny kernels, so launch overhead, not arithmetic, bounds it on a GPU.
COMPILE_MODES: dict[str, str | None] = {"cuda": "reduce-overhead", "cpu": None}
# He et al. 2015 sec. 4.2: ResNet-110 uses lr 0.01 "until the training error is below 80% (about 400 iterations)"
WARMUP_MAX_STEPS = 400


def checkpoint_state(model: nn.Module, optimizer: torch.optim.Optimizer, spec: ArchSpec, recipe: Recipe,
                     step: int) -> dict[str, Any]:
    return {"model": model.state_dict(), "optimizer": optimizer.state_dict(), "step": step,
            "spec": spec.to_dict(), "recipe": recipe.to_dict()}


class CheckpointError(ValueError):
    """A checkpoint file that cannot be read as train() saves them. The message names the file and the reason."""


def load_checkpoint(path: str, map_location: str | torch.device = "cpu") -> dict[str, Any]:
    """A checkpoint as saved by train(): tensors and plain data only (weights_only=True refuses code).
    Raises CheckpointError for anything else: code, a truncated or foreign file, a missing file."""
    try:
        state = torch.load(path, map_location=map_location, weights_only=True)
    except pickle.UnpicklingError as err:
        first_line = str(err).strip().splitlines()[0] if str(err).strip() else type(err).__name__
        raise CheckpointError(f"{path}: not a checkpoint of this app (it holds code, not only tensors and data, "
                              f"and weights_only loading refused it: {first_line})") from None
    except (OSError, RuntimeError, EOFError, ValueError) as err:  # truncated: "failed finding central directory"
        first_line = str(err).strip().splitlines()[0] if str(err).strip() else type(err).__name__
        raise CheckpointError(f"{path}: cannot be read as a checkpoint (truncated or damaged: {first_line})") from None
    if not isinstance(state, dict) or not {"model", "spec", "recipe"} <= state.keys():
        raise CheckpointError(f"{path}: not a checkpoint of this app (no model, spec and recipe in it)")
    return state


def save_checkpoint(state: dict[str, Any], path: str) -> None:
    """Save to a temporary file in the same folder, then rename it over `path`: a full disk or a crash leaves the
    previous checkpoint whole instead of a truncated one (torch.save writes in place)."""
    tmp = f"{path}.tmp-{os.getpid()}"
    try:
        torch.save(state, tmp)
        os.replace(tmp, path)
    except RuntimeError as err:
        # torch's zip writer reports a short write as "enforce fail ... unexpected pos", not as ENOSPC
        disk = os.statvfs(os.path.dirname(os.path.abspath(path)))
        previous = os.path.getsize(path) if os.path.exists(path) else 0
        if disk.f_bavail * disk.f_frsize < max(2**20, previous):
            raise OSError(errno.ENOSPC, "No space left on device") from err
        raise
    finally:
        with contextlib.suppress(FileNotFoundError):
            os.remove(tmp)


def no_space(err: OSError, path: str, epoch: int) -> EndEvent:
    return EndEvent(status=RunStatus.FAILED,
                    message=f"no space left on the device: the checkpoint of epoch {epoch} could not be saved to "
                            f"{path} (the previous one is kept, and the metrics up to epoch {epoch}); free some "
                            "disk space and press Start again")


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


class RunRandomness:
    """The run's own random streams. Shuffling and augmentation draw from their own torch.Generators; the
    model's initial weights and random layers (dropout, Shake-Shake, drop-path) draw from torch's global
    generator, so `active()` swaps the run's state into it around the run's own work and the caller's state back
    afterwards. The engine's generator is suspended between events, so code running in between (the Streamlit
    server's other sessions) neither sees nor moves the run's stream."""

    def __init__(self, seed: int, device: torch.device):
        self.cuda = device if device.type == "cuda" else None
        # torch.manual_seed(seed)'s state, made on private generators: the global ones are never seeded
        self.state = (torch.Generator().manual_seed(seed).get_state(),
                      torch.Generator(device=device).manual_seed(seed).get_state() if self.cuda else None)
        self.order = torch.Generator(device=device).manual_seed(seed)  # the same order on every rank
        self.augment = torch.Generator(device=device).manual_seed(seed * 1009 + distributed.rank() + 1)

    def _get(self) -> tuple[torch.Tensor, torch.Tensor | None]:
        return torch.get_rng_state(), torch.cuda.get_rng_state(self.cuda) if self.cuda else None

    def _set(self, state: tuple[torch.Tensor, torch.Tensor | None]) -> None:
        torch.set_rng_state(state[0])
        if self.cuda:
            torch.cuda.set_rng_state(state[1], self.cuda)

    @contextlib.contextmanager
    def active(self) -> Iterator[None]:
        saved = self._get()
        self._set(self.state)
        try:
            yield
        finally:
            self.state = self._get()
            self._set(saved)


def train(spec: ArchSpec, recipe: Recipe, *, device: str | torch.device = "cpu", data_dir: str | None = None,
          checkpoint_path: str | None = None, should_stop: Callable[[], bool] | None = None,
          log_every: int = 20) -> Iterator[Event]:
    """Train `spec` with `recipe`, yielding step, epoch and one final end event (see the module docstring)."""
    out_of_memory = None  # which memory ran out
    try:
        yield from _train(spec, recipe, device, data_dir, checkpoint_path, should_stop or (lambda: False), log_every)
    except torch.OutOfMemoryError:
        out_of_memory = "GPU memory"  # clean up below: inside `except`, the traceback still holds _train's tensors
    except (SpecError, DataError) as err:
        yield EndEvent(status=RunStatus.FAILED, message=str(err))
    except RuntimeError as err:
        if "can't allocate memory" not in str(err):  # the CPU allocator (a CPU worker's memory cap: capacity.py)
            yield EndEvent(status=RunStatus.FAILED, message=f"{type(err).__name__}: {err}")
        else:
            out_of_memory = "memory (RAM)"
    except Exception as err:  # the worker records the message; the UI never shows a traceback
        yield EndEvent(status=RunStatus.FAILED, message=f"{type(err).__name__}: {err}")
    if out_of_memory:
        gc.collect()  # _train's frame (model, activations, optimizer state) is garbage now
        torch.cuda.empty_cache()  # hand the cached blocks back, so the GPU stays usable for other runs
        yield EndEvent(status=RunStatus.FAILED,
                       message=f"ran out of {out_of_memory} with batch size {recipe.batch_size}; try a smaller batch "
                               "size, a smaller design, or wait for other runs on this machine to finish")


def _train(spec: ArchSpec, recipe: Recipe, device: str | torch.device, data_dir: str | None,
           checkpoint_path: str | None, should_stop: Callable[[], bool], log_every: int) -> Iterator[Event]:
    validate_recipe(recipe)
    check_fits(spec, recipe.dataset)
    start = time.perf_counter()
    device = distributed.setup(device)
    cuda = device.type == "cuda"
    if cuda:
        torch.backends.cudnn.benchmark = True  # fixed shapes (drop_last): the autotuned kernels are reused
    bf16 = use_bf16(device)
    rng = RunRandomness(recipe.seed, device)
    data = load_data(recipe, device, data_dir)
    with rng.active():
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
    per_epoch = steps_per_epoch(n, recipe.batch_size)
    total = per_epoch * recipe.epochs
    warming = recipe.warmup
    sums = torch.zeros(2, device=device, dtype=torch.float64)  # loss sum, wrong count: read at log time only
    epoch_sums = torch.zeros(2, device=device, dtype=torch.float64)
    window_start, window_images, step = time.perf_counter(), 0, 0
    watch = DivergenceWatch(recipe, len(dataset_info(recipe).classes))

    for epoch in range(1, recipe.epochs + 1):
        model.train()
        order = torch.randperm(n, device=device, generator=rng.order)
        epoch_start = time.perf_counter()
        epoch_sums.zero_()
        for i in range(per_epoch):
            if should_stop():
                yield EndEvent(status=RunStatus.CANCELLED, message=f"stopped by the user at step {step} of {total}")
                return
            lr = lr_at(recipe, step, total, warming)
            for group in optimizer.param_groups:
                group["lr"] = lr
            idx = order[i * batch:(i + 1) * batch][local]
            y = data.train_y[idx]
            with rng.active():
                loss, wrong = objective(augment(data.train_x[idx], rng.augment), y)
                optimizer.zero_grad(set_to_none=True)
                loss.backward()
            optimizer.step()
            step += 1
            batch_sums = torch.stack([loss.detach().double() * len(y), wrong.double()])
            sums += batch_sums
            epoch_sums += batch_sums
            window_images += len(y) * distributed.world_size()
            if step % log_every == 0 or i == per_epoch - 1:
                loss_sum, wrong_sum = distributed.all_sum(sums.clone()).tolist()  # the one host sync
                sums.zero_()
                now = time.perf_counter()
                event = StepEvent(step=step, epoch=step / per_epoch, train_loss=loss_sum / window_images,
                                  train_error=wrong_sum / window_images, lr=lr,
                                  images_per_sec=window_images / (now - window_start), elapsed=now - start)
                window_start, window_images = now, 0
                if diverged := watch.step(event.train_loss, step):
                    yield diverged
                    return
                # He et al.'s warm-up ends once the net is learning: train error under 80%, or ~400 iterations.
                if warming and (event.train_error < 0.8 or step >= min(WARMUP_MAX_STEPS, max(1, total // 10))):
                    warming = False
                yield event
        loss_sum, wrong_sum = distributed.all_sum(epoch_sums.clone()).tolist()
        seen = per_epoch * len(y) * distributed.world_size()
        train_seconds = time.perf_counter() - epoch_start  # training only: the sync above ended the epoch's work
        test_loss, test_error = evaluate(model, data, device, memory_format)
        yield EpochEvent(epoch=epoch, step=step, train_loss=loss_sum / seen, train_error=wrong_sum / seen,
                         test_loss=test_loss, test_error=test_error, lr=lr, images_per_sec=seen / train_seconds,
                         elapsed=time.perf_counter() - start)
        if diverged := watch.epoch(loss_sum / seen):
            yield diverged
            return
        if checkpoint_path and distributed.rank() == 0:
            try:
                save_checkpoint(checkpoint_state(model, optimizer, spec, recipe, step), checkpoint_path)
            except OSError as err:
                if err.errno != errno.ENOSPC:
                    raise
                yield no_space(err, checkpoint_path, epoch)
                return
    yield EndEvent(status=RunStatus.FINISHED,
                   message=f"trained {recipe.epochs} epochs ({total} steps) in {time.perf_counter() - start:.1f} s")


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


if __name__ == "__main__":  # the old entry point: point to the new one instead of exiting silently
    raise SystemExit("the training command line is now `python -m explorer.training` (explorer/training/cli.py)")
