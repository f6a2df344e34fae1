"""GPU smoke of explorer.training.engine.train: a real run, an out-of-memory run, and the GPU still usable afterwards.

    python benchmarks/smoke_train_gpu.py            (needs CUDA; prints one JSON line per check)
"""

from __future__ import annotations

import json
import os
import sys
import time

import torch

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from explorer import PRESETS  # noqa: E402
from explorer.training.engine import load_checkpoint, train  # noqa: E402
from explorer.training.events import EpochEvent, Event, StepEvent, to_dict  # noqa: E402
from explorer.training.recipe import Recipe  # noqa: E402


def run(name: str, recipe: Recipe, **kwargs) -> list[Event]:
    start = time.perf_counter()
    events = list(train(PRESETS[name], recipe, device="cuda", **kwargs))
    for e in events:
        if not isinstance(e, StepEvent):
            print(json.dumps({"model": name, **{k: round(v, 4) if isinstance(v, float) else v
                                                for k, v in to_dict(e).items()}}))
    print(json.dumps({"model": name, "wall_s": round(time.perf_counter() - start, 1)}), flush=True)
    return events


def main() -> None:
    print(json.dumps({"gpu": torch.cuda.get_device_name(0), "torch": torch.__version__}))
    # 1. Real training on the full synthetic set: test error must fall and the end must be "finished".
    events = run("resnet20", Recipe(epochs=3, lr=0.1), checkpoint_path="/tmp/ckpt.pt", log_every=50)
    epochs = [e for e in events if isinstance(e, EpochEvent)]
    assert events[-1].status == "finished", events[-1]
    assert epochs[-1].test_error < epochs[0].test_error < 0.9, epochs
    state = load_checkpoint("/tmp/ckpt.pt")
    print(json.dumps({"checkpoint_tensors": len(state["model"]), "step": state["step"]}))
    # 2. Out of memory: a clear "failed", and the memory handed back.
    events = run("resnet1202", Recipe(epochs=1, batch_size=4096, train_size=8192))  # ~1 TB of activations
    print(json.dumps({"after_oom_reserved_GiB": round(torch.cuda.memory_reserved() / 2**30, 2)}))
    assert events[-1].status == "failed" and "memory" in events[-1].message, events[-1]
    assert torch.cuda.memory_reserved() < 2**30, "the OOM run's memory was not handed back"
    # 3. The GPU still trains afterwards.
    events = run("resnet20", Recipe(epochs=2, train_size=128 * 100), log_every=100)
    assert events[-1].status == "finished", events[-1]
    print("SMOKE OK", flush=True)


if __name__ == "__main__":
    main()
