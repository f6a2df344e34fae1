"""A class opening the app at once (issue 11, item 2): N websocket sessions, each opening Build on a different preset.

Target, on the 2-core class machine: 30 simultaneous sessions see their design's numbers within 3 s (p95), and
`/_stcore/health` answers within 1 s throughout.

What it does, against a real `streamlit run app.py --server.headless true` (the repo's .streamlit/config.toml):
  baseline   a fresh server, warmed by the teacher's visit (Home, then Build on a design no session opens: the
             imports are done, no preset is cached); then each preset alone, one after another, in a new session:
             the one-at-a-time time to the numbers (--cold: Home only, so the first session imports torch)
  at once    a second fresh server, warmed the same way; then all N sessions connect together, each on its own
             preset, while a thread polls /_stcore/health every 0.1 s
A session is a light websocket client speaking Streamlit's own protocol (protobuf BackMsg/ForwardMsg on
ws://host/_stcore/stream, the classes from streamlit.proto), not a browser. "Numbers" is the moment the delta
carrying the page's first metric arrives: Build's "Parameters" (--page build), or Compare's table (--page compare,
`?designs=<preset>,<next preset>`); "page" is the moment the script finished. Times run from the start of the
websocket connect. Every session stays connected until all have finished, as browsers would.

Run: python benchmarks/bench_class_load.py [--sessions 30] [--page build|compare]
Prints a Markdown table for benchmarks/RESULTS.md. The machine may be shared: each phase records the load average.
"""

from __future__ import annotations

import argparse
import asyncio
import math
import os
import platform
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path

import streamlit
import torch
import websockets
from streamlit.proto.BackMsg_pb2 import BackMsg
from streamlit.proto.ForwardMsg_pb2 import ForwardMsg

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from explorer import PRESETS  # noqa: E402

TARGET_P95_S = 3.0  # time to the numbers, 95th percentile over the sessions
TARGET_HEALTH_S = 1.0  # every health check during the burst
HEALTH_TIMEOUT_S = 10.0
NUMBERS = {"build": ("metric", "Parameters"), "compare": ("dataframe", None)}


@dataclass
class Visit:
    preset: str
    numbers_s: float | None = None  # None: never arrived
    page_s: float | None = None
    error: str = ""
    alert: str = ""  # the page's first alert, shown when the numbers never came


@dataclass
class Server:
    port: int
    proc: subprocess.Popen
    log: Path
    rss_peak_mb: float = 0.0
    health: list[float] = field(default_factory=list)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def rss_mb(self) -> float:
        """Resident memory of the server process (VmRSS from /proc), in MB."""
        try:
            for line in Path(f"/proc/{self.proc.pid}/status").read_text().splitlines():
                if line.startswith("VmRSS:"):
                    return int(line.split()[1]) / 1024
        except OSError:
            pass
        return float("nan")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def health_once(url: str) -> float:
    start = time.perf_counter()
    try:
        with urllib.request.urlopen(f"{url}/_stcore/health", timeout=HEALTH_TIMEOUT_S) as r:
            r.read()
    except OSError:
        return HEALTH_TIMEOUT_S  # a timeout counts as the whole wait (and fails the target)
    return time.perf_counter() - start


SERVER_OPTIONS: list[str] = []  # --set KEY=VALUE, passed to `streamlit run` as --KEY VALUE


def start_server() -> Server:
    port = free_port()
    log = Path(tempfile.mkstemp(prefix="bench_class_load_", suffix=".log")[1])
    streamlit_bin = Path(sys.executable).with_name("streamlit")
    proc = subprocess.Popen(
        [str(streamlit_bin), "run", "app.py", "--server.headless", "true", "--server.port", str(port),
         "--browser.gatherUsageStats", "false", *SERVER_OPTIONS],
        cwd=ROOT, stdout=log.open("w"), stderr=subprocess.STDOUT)
    server = Server(port, proc, log)
    deadline = time.time() + 90
    while time.time() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"streamlit exited ({proc.returncode}):\n{log.read_text()[-2000:]}")
        try:
            with urllib.request.urlopen(f"{server.url}/_stcore/health", timeout=2):
                return server
        except OSError:
            time.sleep(0.3)
    stop_server(server)
    raise RuntimeError("streamlit did not answer /_stcore/health within 90 s")


def stop_server(server: Server) -> None:
    server.proc.terminate()
    try:
        server.proc.wait(10)
    except subprocess.TimeoutExpired:
        server.proc.kill()
        server.proc.wait()
    server.log.unlink(missing_ok=True)


def rerun_message(page: str, query: str) -> bytes:
    msg = BackMsg()
    msg.rerun_script.query_string = query
    msg.rerun_script.page_name = page
    return msg.SerializeToString()


def is_numbers(msg: ForwardMsg, page: str) -> bool:
    if msg.WhichOneof("type") != "delta" or msg.delta.WhichOneof("type") != "new_element":
        return False
    kind, label = NUMBERS.get(page, ("metric", None))
    element = msg.delta.new_element
    if element.WhichOneof("type") != kind:
        return False
    return label is None or element.metric.label == label


async def visit(server: Server, page: str, query: str, visit_: Visit, timeout: float,
                all_done: asyncio.Event | None = None) -> None:
    """One session: connect, ask for the page, read ForwardMsgs until the script finishes."""
    start = time.perf_counter()
    try:
        async with websockets.connect(f"ws://127.0.0.1:{server.port}/_stcore/stream", subprotocols=["streamlit"],
                                      max_size=None, open_timeout=timeout) as ws:
            await ws.send(rerun_message(page, query))
            deadline = start + timeout
            while True:
                data = await asyncio.wait_for(ws.recv(), max(0.01, deadline - time.perf_counter()))
                msg = ForwardMsg()
                msg.ParseFromString(data)
                kind = msg.WhichOneof("type")
                if visit_.numbers_s is None and is_numbers(msg, page):
                    visit_.numbers_s = time.perf_counter() - start
                element = msg.delta.new_element if kind == "delta" else None
                if element is not None and element.WhichOneof("type") == "exception":
                    visit_.error = element.exception.message[:120] or "exception"
                if element is not None and element.WhichOneof("type") == "alert" and not visit_.alert:
                    visit_.alert = " ".join(element.alert.body.split())[:100]  # what a session saw instead
                if kind == "script_finished" and msg.script_finished != ForwardMsg.FINISHED_EARLY_FOR_RERUN:
                    visit_.page_s = time.perf_counter() - start
                    break
            if all_done is not None:  # stay connected like a browser until every session is done
                await all_done.wait()
    except (TimeoutError, asyncio.TimeoutError):
        visit_.error = visit_.error or f"timed out after {timeout:.0f} s"
    except (OSError, websockets.WebSocketException) as err:
        visit_.error = f"{type(err).__name__}: {err}"[:120]


def query_for(page: str, preset: str, names: list[str]) -> str:
    if page == "compare":
        other = names[(names.index(preset) + 1) % len(names)]
        return f"designs={preset},{other}"
    return f"preset={preset}"


WARM_UP = (("", ""), ("build", "family=resnet&depth=8"))  # Home, then a design no session opens


def warm(server: Server, timeout: float, cold: bool) -> float:
    """The teacher's visit before class: Home, then Build on a design none of the sessions opens (imports torch
    and the library, fills no preset's cache). `cold`: Home only, so the first sessions pay the imports."""
    total = 0.0
    for page, query in WARM_UP[:1] if cold else WARM_UP:
        v = Visit(f"/{page}?{query}")
        asyncio.run(visit(server, page, query, v, timeout))
        if v.page_s is None or v.error:
            raise RuntimeError(f"warm-up {v.preset} failed: {v.error}\n{server.log.read_text()[-2000:]}")
        total += v.page_s
    return total


def baseline(page: str, names: list[str], timeout: float, cold: bool) -> tuple[list[Visit], float, str]:
    server = start_server()
    try:
        warm_s = warm(server, timeout, cold)
        visits = []
        for name in names:
            v = Visit(name)
            asyncio.run(visit(server, page, query_for(page, name, names), v, timeout))
            visits.append(v)
        return visits, warm_s, load_average()
    finally:
        stop_server(server)


def at_once(page: str, names: list[str], timeout: float, cold: bool,
            hot: bool = False) -> tuple[list[Visit], Server, float, float, str]:
    server = start_server()
    try:
        warm_s = warm(server, timeout, cold)
        if hot:  # the floor: every session's design already computed on this server
            for name in names:
                asyncio.run(visit(server, page, query_for(page, name, names), Visit(name), timeout))
        rss_warm = server.rss_mb()
        stop = threading.Event()

        def poll() -> None:
            while not stop.is_set():
                server.health.append(health_once(server.url))
                server.rss_peak_mb = max(server.rss_peak_mb, server.rss_mb())
                stop.wait(0.1)

        poller = threading.Thread(target=poll, daemon=True)
        visits = [Visit(name) for name in names]

        async def burst() -> None:
            done = asyncio.Event()
            tasks = [asyncio.create_task(visit(server, page, query_for(page, v.preset, names), v, timeout, done))
                     for v in visits]
            while not all(v.page_s is not None or v.error for v in visits) and not all(t.done() for t in tasks):
                await asyncio.sleep(0.05)
            done.set()
            await asyncio.gather(*tasks)

        poller.start()
        asyncio.run(burst())
        stop.set()
        poller.join()
        return visits, server, warm_s, rss_warm, load_average()
    finally:
        stop_server(server)


def problems(visits: list[Visit]) -> list[str]:
    return [f"{v.preset}: {v.error}" if v.error else f"{v.preset}: no numbers; saw {v.alert!r}"
            for v in visits if v.error or v.numbers_s is None]


def load_average() -> str:
    return " / ".join(f"{x:.2f}" for x in os.getloadavg())


def pick(names: list[str], count: int) -> list[str]:
    """`count` presets spread evenly over the list (every family represented), cycling if more are asked for."""
    if count >= len(names):
        return [names[i % len(names)] for i in range(count)]
    return [names[round(i * (len(names) - 1) / max(1, count - 1))] for i in range(count)]


def stats(values: list[float | None]) -> tuple[str, str, str, float]:
    got = sorted(v for v in values if v is not None)
    if not got:
        return "-", "-", "-", float("inf")
    p95 = got[math.ceil(0.95 * len(got)) - 1] if len(got) == len(values) else float("inf")
    fmt = lambda x: f"{x:.2f}" if x != float("inf") else "missing"  # noqa: E731
    return fmt(statistics.median(got)), fmt(p95), fmt(got[-1] if len(got) == len(values) else float("inf")), p95


def machine() -> str:
    cpu = platform.processor() or platform.machine()
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    mem = ""
    try:
        mem = f", {int(Path('/proc/meminfo').read_text().split()[1]) / 2**20:.0f} GB RAM"
    except (OSError, ValueError, IndexError):
        pass
    return f"{cpu}, {os.cpu_count()} cores{mem}, {platform.system()} {platform.release()}"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--sessions", type=int, default=30, help="simultaneous sessions (default 30)")
    parser.add_argument("--page", choices=sorted(NUMBERS), default="build", help="page every session opens")
    parser.add_argument("--timeout", type=float, default=120.0, help="seconds before a session counts as stuck")
    parser.add_argument("--cold", action="store_true", help="warm up with Home only (the sessions import torch)")
    parser.add_argument("--hot", action="store_true",
                        help="open every design once before the burst (the floor: all caches filled)")
    parser.add_argument("--set", action="append", default=[], metavar="KEY=VALUE",
                        help="a Streamlit option for the server, e.g. runner.postScriptGC=false (repeatable)")
    parser.add_argument("--skip-baseline", action="store_true", help="only the burst")
    args = parser.parse_args()
    names = pick(list(PRESETS), args.sessions)
    for option in args.set:
        key, _, value = option.partition("=")
        SERVER_OPTIONS.extend([f"--{key}", value])

    print(f"Machine: {machine()}")
    print(f"Versions: Python {platform.python_version()}, streamlit {streamlit.__version__}, torch {torch.__version__},"
          f" websockets {websockets.__version__}")
    print(f"Load average (1/5/15 min) at start: {load_average()}")
    print(f"Server options: .streamlit/config.toml{''.join(' --' + o for o in args.set)}")
    print(f"Page: /{args.page}, {args.sessions} sessions on {len(set(names))} presets: {', '.join(names)}\n")

    rows = []
    if not args.skip_baseline:
        base, warm_s, load = baseline(args.page, names, args.timeout, args.cold)
        n_med, n_p95, n_max, _ = stats([v.numbers_s for v in base])
        p_med, p_p95, p_max, _ = stats([v.page_s for v in base])
        rows.append(f"| one at a time (baseline) | {len(base)} | {n_med} | {n_p95} | {n_max} | {p_med} / {p_max} "
                    f"| - | - | {load} |")
        if problems(base):
            print(f"Baseline sessions with errors ({len(problems(base))}): " + "; ".join(problems(base)[:10]))
        slow = sorted(base, key=lambda v: -(v.numbers_s or 1e9))[:3]
        print("Baseline: warm-up {:.2f} s; slowest alone: {}".format(
            warm_s, ", ".join(f"{v.preset} {v.numbers_s or float('nan'):.2f} s" for v in slow)))
    burst, server, warm_s, rss_warm, load = at_once(args.page, names, args.timeout, args.cold, args.hot)
    n_med, n_p95, n_max, p95 = stats([v.numbers_s for v in burst])
    p_med, p_p95, p_max, _ = stats([v.page_s for v in burst])
    health = server.health or [float("nan")]
    rows.append(f"| {len(burst)} at once | {len(burst)} | {n_med} | {n_p95} | {n_max} | {p_med} / {p_max} "
                f"| {statistics.median(health):.3f} / {max(health):.3f} ({len(health)} checks) "
                f"| {rss_warm:.0f} -> {server.rss_peak_mb:.0f} | {load} |")
    errors = problems(burst)

    print("| sessions | n | numbers median (s) | p95 (s) | max (s) | page median / max (s) | health median / max (s) "
          "| server RSS warm -> peak (MB) | load avg 1/5/15 after |")
    print("|---|---|---|---|---|---|---|---|---|")
    print("\n".join(rows))
    print()
    ok_p95 = p95 <= TARGET_P95_S
    ok_health = max(health) <= TARGET_HEALTH_S
    print(f"Target: numbers p95 <= {TARGET_P95_S:.0f} s: {'PASS' if ok_p95 else 'FAIL'} ({n_p95} s); "
          f"health <= {TARGET_HEALTH_S:.0f} s: {'PASS' if ok_health else 'FAIL'} ({max(health):.3f} s)")
    if errors:
        print(f"Sessions with errors ({len(errors)}): " + "; ".join(errors[:10]))
    slow = sorted(burst, key=lambda v: -(v.numbers_s or 1e9))[:5]
    print("Slowest in the burst: " + ", ".join(f"{v.preset} {v.numbers_s or float('nan'):.2f} s" for v in slow))


if __name__ == "__main__":
    main()
