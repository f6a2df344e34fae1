"""Every preset's costs, drawings and torchinfo summary, computed ahead of time into `assets/preset_cache.json.gz`.

Why: a class opening Build on 30 presets at once had the server build and trace 30 meta-device models at the same
time on one GIL, so every session waited for all of them (issue 11, item 2). The pages look a design up here first
and compute only what the file lacks: a design that is not a preset, or every design when the file was written by
other library code.

Regenerate, after any change under explorer/models or explorer/draw (tests/test_precompute.py fails until then):

    python -m explorer.precompute

What keeps a stale entry from being used:
- the file records `code_version()`, a hash of every source file under explorer/models and explorer/draw, of this
  module, and of the torchinfo and graphviz versions; a file from other code is ignored as a whole;
- entries are keyed by the spec's canonical JSON (`ArchSpec.to_json`, sorted keys) and looked up by exact text,
  and each entry's spec must read back to that same key, so an entry never answers for a design it does not describe.

An entry holds what the Build and Compare pages show for a design: the counts (`cost`), the overview DOT, for each
stage the number of blocks the detail view offers and the block DOTs, and the torchinfo summary rows down to
`SUMMARY_DEPTH` (the deepest level the Build page's slider offers).
"""

from __future__ import annotations

import dataclasses
import functools
import gzip
import hashlib
import json
import threading
import time
from collections.abc import Mapping
from importlib import metadata
from pathlib import Path
from typing import Any

from explorer.draw.overview import block_dot, detail_blocks, overview_dot
from explorer.draw.summary import Summary, summarize
from explorer.models.cost import check_budget
from explorer.models.presets import PRESETS
from explorer.models.spec import ArchSpec, SpecError, layout

PACKAGE = Path(__file__).resolve().parent
CACHE_PATH = PACKAGE.parent / "assets" / "preset_cache.json.gz"  # gzip: 0.3 MB instead of 3.8 MB of JSON
HASHED = ("models", "draw")  # the library code whose output the file holds (plus this module)
VERSIONED = ("torchinfo", "graphviz")  # packages whose version changes the summary rows or the DOT text
SUMMARY_DEPTH = 6  # summary rows kept: the Build page's "Summary depth" slider goes to 6
DETAIL_BLOCKS_SHOWN = 2  # the Build page's block choice: the first block and one later block
ROW_FIELDS = ("layer", "depth", "type", "output_shape", "params", "mult_adds")  # a summary row, stored as a list


def code_version() -> str:
    """A hash of the code that computes an entry: a file written by other code is never read."""
    digest = hashlib.sha256()
    sources = [PACKAGE / "precompute.py"] + sorted(p for d in HASHED for p in (PACKAGE / d).rglob("*.py"))
    for path in sources:
        digest.update(path.relative_to(PACKAGE).as_posix().encode() + b"\0" + path.read_bytes() + b"\0")
    for package in VERSIONED:
        digest.update(f"{package}=={metadata.version(package)}\0".encode())
    return digest.hexdigest()[:16]


# ---------------------------------------------------------------- computing entries (the script)

def compute_entry(spec: ArchSpec) -> dict[str, Any]:
    """What the pages show for `spec`, as JSON-ready data. SpecError for a design over the budget."""
    counts = check_budget(spec)
    stages = range(len(layout(spec).stages))
    counts_per_stage = [detail_blocks(spec, s) for s in stages]
    summary = summarize(spec)
    return {
        "spec": spec.to_dict(),
        "cost": dataclasses.asdict(counts),
        "overview": overview_dot(spec),
        "detail_blocks": counts_per_stage,
        "blocks": [[block_dot(spec, s, b) for b in range(min(n, DETAIL_BLOCKS_SHOWN))]
                   for s, n in zip(stages, counts_per_stage)],
        # Kept as JSON text inside the file, parsed only when a page shows it: the rows are 80% of the file, and
        # reading them all up front took the first visitor ~0.8 s on the loaded class machine.
        "summary": json.dumps({
            "rows": [[row[f] for f in ROW_FIELDS] for row in summary.at_depth(SUMMARY_DEPTH)],
            "total_params": summary.total_params,
            "total_mult_adds": summary.total_mult_adds,
            "input_shape": list(summary.input_shape),
            "model_name": summary.model_name,
        }, separators=(",", ":")),
    }


def compute_table(specs: Mapping[str, ArchSpec]) -> dict[str, Any]:
    """The file's content for the named designs (presets by default), keyed by each spec's canonical JSON."""
    version = code_version()
    entries = {}
    for name, spec in specs.items():
        entry = compute_entry(spec)
        entry["preset"] = name
        entries[spec.to_json()] = entry
    if code_version() != version:
        raise RuntimeError("the library's code changed while the presets were computed; run it again")
    return {"version": version, "summary_depth": SUMMARY_DEPTH, "entries": entries}


def write(path: Path = CACHE_PATH, specs: Mapping[str, ArchSpec] | None = None) -> dict[str, Any]:
    """Compute every preset (or `specs`) and write the file atomically; returns what was written."""
    table = compute_table(PRESETS if specs is None else specs)
    tmp = path.with_name(path.name + ".tmp")
    text = json.dumps(table, separators=(",", ":"), sort_keys=True) + "\n"
    # No name and no time in the gzip header: the same code writes the same bytes (no churn in git).
    with open(tmp, "wb") as raw, gzip.GzipFile(filename="", fileobj=raw, mode="wb", mtime=0) as out:
        out.write(text.encode())
    tmp.replace(path)
    with _LOCK:
        _TABLES.pop(path, None)
    _stored_summary.cache_clear()
    return table


# ---------------------------------------------------------------- reading entries (the pages)

_TABLES: dict[Path, dict[str, dict]] = {}
_LOCK = threading.Lock()


def entries(path: Path = CACHE_PATH) -> dict[str, dict]:
    """The file's entries when it was written by this code, else none. Read once per process."""
    with _LOCK:
        if path not in _TABLES:
            _TABLES[path] = _read(path)
        return _TABLES[path]


def _read(path: Path) -> dict[str, dict]:
    try:
        with gzip.open(path, "rt", encoding="utf-8") as f:
            table = json.load(f)
    except (OSError, EOFError, ValueError):
        return {}  # no file or a broken one: the pages compute everything, as before the file existed
    if not isinstance(table, dict) or table.get("version") != code_version() \
            or table.get("summary_depth") != SUMMARY_DEPTH or not isinstance(table.get("entries"), dict):
        return {}
    return {key: entry for key, entry in table["entries"].items() if _describes(key, entry)}


def _describes(key: str, entry: object) -> bool:
    """The entry's own spec reads back to its key: a hand-edited or mismatched entry is dropped."""
    if not isinstance(entry, dict) or not isinstance(entry.get("spec"), dict):
        return False
    try:
        return ArchSpec.from_dict(entry["spec"]).to_json() == key
    except SpecError:
        return False


def lookup(spec_json: str, path: Path = CACHE_PATH) -> dict | None:
    """The precomputed entry for exactly this design, or None."""
    return entries(path).get(spec_json)


def cost_of(spec_json: str) -> dict:
    """The design's Cost as a dict (SpecError over the budget): precomputed for presets, else counted."""
    hit = lookup(spec_json)
    if hit is not None:
        return dict(hit["cost"])
    return dataclasses.asdict(check_budget(ArchSpec.from_json(spec_json)))


def overview_of(spec_json: str) -> str:
    hit = lookup(spec_json)
    return hit["overview"] if hit is not None else overview_dot(ArchSpec.from_json(spec_json))


def detail_blocks_of(spec_json: str, stage: int) -> int:
    """`explorer.draw.overview.detail_blocks` (how many blocks the stage's detail view offers), precomputed."""
    hit = lookup(spec_json)
    if hit is not None and 0 <= stage < len(hit["detail_blocks"]):
        return hit["detail_blocks"][stage]
    return detail_blocks(ArchSpec.from_json(spec_json), stage)


def block_of(spec_json: str, stage: int, block: int) -> str:
    hit = lookup(spec_json)
    if hit is not None and 0 <= stage < len(hit["blocks"]) and 0 <= block < len(hit["blocks"][stage]):
        return hit["blocks"][stage][block]
    return block_dot(ArchSpec.from_json(spec_json), stage, block)


def summary_of(spec_json: str) -> Summary:
    """The torchinfo summary; a precomputed one holds the rows down to SUMMARY_DEPTH."""
    if lookup(spec_json) is None:
        return summarize(ArchSpec.from_json(spec_json))
    return _stored_summary(spec_json)


@functools.lru_cache(maxsize=64)  # a rerun (a new summary depth) does not rebuild resnet1202's 7,800 rows
def _stored_summary(spec_json: str) -> Summary:
    s = json.loads(lookup(spec_json)["summary"])
    return Summary(rows=tuple(dict(zip(ROW_FIELDS, row)) for row in s["rows"]), total_params=s["total_params"],
                   total_mult_adds=s["total_mult_adds"], input_shape=tuple(s["input_shape"]),
                   model_name=s["model_name"])


def main() -> None:
    start = time.perf_counter()
    try:
        table = write()
    except RuntimeError as err:  # another edit landed meanwhile: the file would be stale at once
        raise SystemExit(f"not written: {err}") from None
    size = CACHE_PATH.stat().st_size
    print(f"wrote {CACHE_PATH} ({len(table['entries'])} presets, {size / 1e6:.1f} MB, code {table['version']}) "
          f"in {time.perf_counter() - start:.0f} s")


if __name__ == "__main__":
    main()
