"""Training throughput: our engine (explorer.training.engine.train) against the pipeline most public CIFAR repos use.

Reference = torchvision-style Dataset with per-image PIL transforms (RandomCrop(32, padding=4),
RandomHorizontalFlip, ToTensor, Normalize), a DataLoader (2 workers, as kuangliu/pytorch-cifar), fp32,
contiguous tensors and a per-step `.item()` for the running loss and accuracy. Ours = train(): uint8 data on
the device, one-gather augmentation, channels_last, bf16 autocast (GPU; CPUs with AMX), metrics read every
`log_every` steps. Same process, device and batch size. Both train on the synthetic shapes, since CIFAR-10
cannot be downloaded on the benchmark machines; the work per image is identical (32x32x3 uint8).

    python benchmarks/bench_train.py --device cpu --models resnet20,resnet56 --steps 4
    python benchmarks/bench_train.py --device cuda --steps 100 --compile
    python benchmarks/bench_train.py --device cpu --contention 2 --steps 6   # runs at once sharing the cores

--contention N: ours (the first model) alone, then N copies at once, each a fresh process, first with torch's
defaults (every core, spinning OpenMP threads), then with what the queue gives a worker
(explorer.training.packing.worker_env: cores // N threads, OMP_WAIT_POLICY=PASSIVE).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import sys
import time

import torch
import torch.nn.functional as F

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from explorer import PRESETS, build_model, cost  # noqa: E402
from explorer.training.data import synthetic_images  # noqa: E402
from explorer.training.engine import COMPILE_MODES, train  # noqa: E402
from explorer.training.events import EndEvent, EpochEvent  # noqa: E402
from explorer.training.recipe import Recipe  # noqa: E402


class PILDataset(torch.utils.data.Dataset):
    """torchvision.datasets.CIFAR10's __getitem__: a PIL image per index, then the per-image transforms."""

    def __init__(self, images: torch.Tensor, labels: torch.Tensor, transform):
        self.data = images.permute(0, 2, 3, 1).numpy()  # N x 32 x 32 x 3, as CIFAR10.data
        self.targets = labels.tolist()
        self.transform = transform

    def __len__(self) -> int:
        return len(self.targets)

    def __getitem__(self, i: int):
        from PIL import Image

        return self.transform(Image.fromarray(self.data[i])), self.targets[i]


def reference_images_per_sec(name: str, device: str, batch: int, steps: int, warmup: int,
                             images: torch.Tensor, labels: torch.Tensor) -> float:
    import torchvision.transforms as T

    transform = T.Compose([T.RandomCrop(32, padding=4), T.RandomHorizontalFlip(), T.ToTensor(),
                           T.Normalize((0.4914, 0.4822, 0.4465), (0.2470, 0.2435, 0.2616))])
    loader = torch.utils.data.DataLoader(PILDataset(images, labels, transform), batch_size=batch, shuffle=True,
                                         num_workers=2, pin_memory=device.startswith("cuda"), drop_last=True)
    torch.manual_seed(0)
    torch.backends.cudnn.benchmark = True  # as kuangliu/pytorch-cifar sets it
    model = build_model(PRESETS[name], device).train()
    optimizer = torch.optim.SGD(model.parameters(), lr=0.1, momentum=0.9, weight_decay=1e-4)
    train_loss = correct = total = 0
    for i, (x, y) in enumerate(loader):
        if i == warmup:
            if device.startswith("cuda"):
                torch.cuda.synchronize()
            start = time.perf_counter()
        if i == warmup + steps:
            break
        x, y = x.to(device), y.to(device)
        optimizer.zero_grad()
        out = model(x)
        loss = F.cross_entropy(out, y)
        loss.backward()
        optimizer.step()
        train_loss += loss.item()
        correct += out.argmax(1).eq(y).sum().item()
        total += y.size(0)
    if device.startswith("cuda"):
        torch.cuda.synchronize()
    return steps * batch / (time.perf_counter() - start)


def ours_images_per_sec(name: str, device: str, batch: int, steps: int, compile_model: bool) -> float:
    """Steady-state images/s of train(): the best epoch after the first (cuDNN autotuning, compiling)."""
    recipe = Recipe(dataset="synthetic", epochs=3, batch_size=batch, train_size=steps * batch,
                    compile=compile_model, schedule="constant", lr=0.02)
    rates = []
    for event in train(PRESETS[name], recipe, device=device, log_every=10**9):
        if isinstance(event, EpochEvent) and event.epoch > 1:
            rates.append(event.images_per_sec)
        if isinstance(event, EndEvent) and event.status != "finished":
            raise RuntimeError(f"{name}: {event.message}")
    return max(rates)


def contention(name: str, device: str, batch: int, steps: int, copies: int) -> list[dict]:
    """Rows: (setting, copies at once, img/s of each copy), each copy a fresh process (see the docstring)."""
    import subprocess

    from explorer.training.packing import worker_env

    plain = {k: v for k, v in os.environ.items() if k not in ("OMP_NUM_THREADS", "MKL_NUM_THREADS",
                                                               "OMP_WAIT_POLICY", "EXPLORER_PACKED",
                                                               "EXPLORER_PACKED_SET")}
    one = [sys.executable, os.path.abspath(__file__), "--one", name, "--device", device,
           "--batch-size", str(batch), "--steps", str(steps)]
    rows = []
    for setting, n in (("torch defaults", 1), ("torch defaults", copies), ("worker share", 1),
                       ("worker share", copies)):
        env = plain if setting == "torch defaults" else worker_env(plain, "/tmp", device, n)
        procs = [subprocess.Popen(one, env=env, stdout=subprocess.PIPE, text=True) for _ in range(n)]
        rates = [float(p.communicate()[0].strip().splitlines()[-1]) for p in procs]
        rows.append({"setting": setting, "copies": n, "threads": env.get("OMP_NUM_THREADS", "default"),
                     "each": rates, "total": sum(rates), "load": os.getloadavg()[0]})
        print(json.dumps(rows[-1]), flush=True)
    return rows


def machine(device: str) -> str:
    what = torch.cuda.get_device_name(0) if device.startswith("cuda") else f"{platform.processor() or 'CPU'}"
    return (f"{what}; {os.cpu_count()} CPU cores, torch {torch.__version__}, "
            f"python {platform.python_version()}, threads {torch.get_num_threads()}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--models", default="resnet20,resnet56,resnet110,wrn_28_10")
    parser.add_argument("--steps", type=int, default=50, help="timed steps per pipeline")
    parser.add_argument("--warmup", type=int, default=3, help="reference steps before timing")
    parser.add_argument("--batch-size", type=int, default=128)
    parser.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    parser.add_argument("--compile", action="store_true", help="also time ours with torch.compile")
    parser.add_argument("--compile-models", default="resnet20,resnet56,resnet110",
                        help="models to compile (compiling a deep net takes minutes)")
    parser.add_argument("--compile-modes", default="", help="torch.compile modes to try, comma-separated "
                        "(default: the engine's own, explorer.training.engine.COMPILE_MODES)")
    parser.add_argument("--json", default=None, help="write the rows here too")
    parser.add_argument("--contention", type=int, default=0, help="copies at once (see the docstring)")
    parser.add_argument("--one", default=None, help=argparse.SUPPRESS)  # a contention copy: print ours' img/s
    args = parser.parse_args()
    if args.one:
        print(ours_images_per_sec(args.one, args.device, args.batch_size, args.steps, False))
        return
    if args.contention:
        name = args.models.split(",")[0]
        print(f"# {name} under contention, {args.device}: {machine(args.device)}; batch {args.batch_size}, "
              f"{args.steps} steps an epoch, best of epochs 2-3", flush=True)
        rows = contention(name, args.device, args.batch_size, args.steps, args.contention)
        print("\n| setting | runs at once | threads each | img/s each | img/s together | load (1 min) |")
        print("|---|---|---|---|---|---|")
        for r in rows:
            print(f"| {r['setting']} | {r['copies']} | {r['threads']} | "
                  f"{' / '.join(f'{x:,.0f}' for x in r['each'])} | {r['total']:,.0f} | {r['load']:.1f} |")
        return
    n = (args.steps + args.warmup + 1) * args.batch_size
    images, labels = synthetic_images(n)
    print(f"# Training throughput, {args.device}: {machine(args.device)}")
    print(f"# batch {args.batch_size}, {args.steps} timed steps; synthetic shapes stand in for CIFAR-10", flush=True)
    rows = []
    for name in args.models.split(","):
        row = {"model": name, "batch": args.batch_size,
               "reference": reference_images_per_sec(name, args.device, args.batch_size, args.steps, args.warmup,
                                                     images, labels),
               "ours": ours_images_per_sec(name, args.device, args.batch_size, args.steps, False)}
        if args.compile and name in args.compile_models.split(","):
            device_type = torch.device(args.device).type
            for mode in args.compile_modes.split(",") if args.compile_modes else [COMPILE_MODES[device_type]]:
                COMPILE_MODES[device_type] = None if mode == "default" else mode
                try:
                    rate = ours_images_per_sec(name, args.device, args.batch_size, args.steps, True)
                except Exception as err:  # a compile failure is a finding, not the end of the benchmark
                    print(f"# {name} compile mode {mode}: {type(err).__name__}: {err}", flush=True)
                    continue
                row[f"ours_compiled_{mode}"] = rate
                if rate > row.get("ours_compiled", 0.0):
                    row["ours_compiled"], row["compile_mode"] = rate, mode
        best = max(row["ours"], row.get("ours_compiled", 0.0))
        row["ratio"] = best / row["reference"]
        row["epoch_s"] = 50_000 / best
        row["tflops"] = 6 * cost(PRESETS[name]).macs * best / 1e12
        rows.append(row)
        print(json.dumps(row), flush=True)
    head = "| model | batch | reference img/s | ours img/s |" + (" ours+compile img/s |" if args.compile else "")
    head += " best / reference | s per 50k epoch | TFLOP/s |"
    print("\n" + head)
    print("|" + "---|" * (head.count("|") - 1))
    for r in rows:
        compiled = (f" {r['ours_compiled']:,.0f} ({r['compile_mode']}) |" if "ours_compiled" in r else " - |"
                    ) if args.compile else ""
        print(f"| {r['model']} | {r['batch']} | {r['reference']:,.0f} | {r['ours']:,.0f} |{compiled} "
              f"{r['ratio']:.2f}x | {r['epoch_s']:.2f} | {r['tflops']:.2f} |")
    if args.json:
        with open(args.json, "w") as f:
            json.dump({"machine": machine(args.device), "rows": rows}, f, indent=1)


if __name__ == "__main__":
    main()
