"""Do the training lessons show their effect? Run lesson 1's four nets through the run store, as the page does, then
lesson 7's lesion study on the trained runs.

    python benchmarks/lesson_runs.py                         # the lesson's default short recipe
    python benchmarks/lesson_runs.py --epochs 15 --concurrent 2 --root /tmp/lesson-runs

Prints each net's train error per epoch, the final errors with wall time, the lesson's own verdict lines, and
the lesion summary (intact error, mean and worst error with one block deleted). The baseline it compares
against is the papers' ordering: plain-56 worse than plain-20 (He et al. Fig. 6 left), ResNet-56 better than
ResNet-20 (Fig. 6 middle), and deleting one block hurting the plain net far more than the residual one (Veit et
al. Fig. 3). Reuses finished identical runs in --root, so a second call only re-prints.
"""

from __future__ import annotations

import argparse
import os
import platform
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def markdown(frame) -> str:
    """A pandas frame as a markdown table (no tabulate dependency)."""
    lines = ["| " + " | ".join(map(str, frame.columns)) + " |", "|" + "---|" * len(frame.columns)]
    lines += ["| " + " | ".join(map(str, row)) + " |" for row in frame.itertuples(index=False)]
    return "\n".join(lines)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--root", default=None, help="run store folder (default: a new temporary folder)")
    parser.add_argument("--epochs", type=int, default=None, help="default: the lesson's short recipe")
    parser.add_argument("--train-size", type=int, default=None, help="default: the lesson's short recipe")
    parser.add_argument("--seed", type=int, default=0, help="weights, shuffling and augmentation")
    parser.add_argument("--concurrent", type=int, default=2, help="runs training at once (EXPLORER_MAX_CONCURRENT)")
    parser.add_argument("--threads", type=int, default=1, help="CPU threads per run")
    args = parser.parse_args()
    # Set before torch is imported here and inherited by the workers that launch() starts.
    os.environ["EXPLORER_MAX_CONCURRENT"] = str(args.concurrent)
    os.environ["OMP_NUM_THREADS"] = str(args.threads)

    import torch

    from explorer.lessons import classruns, degradation, lesion
    from explorer.training.events import ENDED
    from explorer.training.runs import RunStore

    defaults = classruns.short_recipe()
    recipe = classruns.short_recipe(epochs=args.epochs or defaults.epochs,
                                    train_size=args.train_size or defaults.train_size).replace(seed=args.seed)
    store = RunStore(args.root or tempfile.mkdtemp(prefix="lesson-runs-"))
    start = time.perf_counter()
    queued = classruns.queue(store, degradation.DESIGNS, recipe)
    runs = {q.label: q.run_id for q in queued}
    print(f"store {store.root}; recipe: {recipe.dataset}, seed {recipe.seed}, {recipe.epochs} epochs on "
          f"{recipe.train_size:,} images, batch {recipe.batch_size}, lr {recipe.lr}, "
          f"warm-up {recipe.warmup_steps} steps; "
          f"torch {torch.__version__}, {platform.machine()}, {os.cpu_count()} cores", flush=True)
    while any(store.get(r).status not in ENDED for r in runs.values()):
        time.sleep(10)
        done = {label: len(store.metrics(r, "epoch")) for label, r in runs.items()}
        print(f"{time.perf_counter() - start:6.0f} s  epochs done: {done}", flush=True)

    frame = classruns.curves(store, runs)
    train = frame[frame["split"] == "train"].pivot(index="epoch", columns="net", values="error")
    print("\ntrain error (%) per epoch\n" + markdown(train.round(1).reset_index()))
    status = classruns.status_table(store, runs)
    seconds = {}
    for label, run_id in runs.items():
        run = store.get(run_id)
        seconds[label] = (run.ended - run.started) if run.ended and run.started else float("nan")
    status["wall s"] = [round(seconds[label]) for label in status["net"]]
    print("\n" + markdown(status.drop(columns=["run"]).round(1)))
    final = train.iloc[-1].to_dict() if len(train) else {}
    print("\nlesson 1 verdict:\n" + "\n".join(f"- {line}" for line in degradation.verdict(final)))

    print(f"\nlesson 7: delete one block at a time ({lesion.EVAL_IMAGES:,} of the run's test images)")
    harm = {}  # mean error increase with one block deleted
    for label in ("plain-20", "ResNet-20", "plain-56", "ResNet-56"):
        if not store.checkpoint_path(runs[label]).exists():
            continue
        trained = lesion.load_run(store, runs[label])
        images, labels = lesion.eval_batch(trained.recipe)
        summary = lesion.summary(lesion.lesion_study(trained.model, images, labels))
        harm[label] = summary["mean with one block deleted"] - summary["intact"]
        print(f"- {label}: intact {summary['intact']:.1f}%, one block deleted: mean "
              f"{summary['mean with one block deleted']:.1f}%, worst {summary['worst']:.1f}%")

    level = degradation.LEVEL  # closer final errors are run-to-run noise
    p20, p56, r20, r56 = (final.get(net, float("nan")) for net in ("plain-20", "plain-56", "ResNet-20", "ResNet-56"))
    checks = [
        ("plain-56 worse than plain-20 (train)", "yes" if p56 > p20 + level else "NOT YET"),
        ("ResNet-56 better than ResNet-20 (train)",
         "yes" if r56 < r20 - level else "level (both fit)" if r56 <= r20 + level else "NOT YET"),
        ("ResNet-56 better than plain-56 (train)", "yes" if r56 < p56 - level else "NOT YET"),
        *((f"one deleted block hurts plain-20 more than {net}",
           "yes" if harm.get("plain-20", 0) > harm.get(net, 100) else "NOT YET") for net in ("ResNet-56", "ResNet-20")),
    ]
    print("\n| papers' finding | shown |\n|---|---|")
    for name, shown in checks:
        print(f"| {name} | {shown} |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
