"""Benchmark the ceremony TUI: cold start to the first screen, and a 10,000-row review table.

    python bench/bench_tui.py [--rows N] [--runs K] [--skip-cold]

Cold start: a fresh Python process (imports included) opens a rehearsal home (made once on a
throwaway SoftHSM token) and runs the app headless until the overview shows its facts; the
parent times spawn-to-ready. Target: <= 1 s (issue 6).
Review: the review screen with N synthetic requests (no token: the rows are built directly
in `show_batch`'s shape); time to open (table filled), to scroll (20 page-downs, then end),
and to toggle the refused-only filter on and off. Medians of K runs.
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from signer.service.overview import Overview  # noqa: E402
from signer.tui.app import CeremonyApp  # noqa: E402
from signer.tui.screens.review import ReviewScreen  # noqa: E402

CHILD = """
import asyncio, sys
from pathlib import Path
from signer.tui.app import CeremonyApp
from signer.tui.screens.overview import OverviewScreen

async def main():
    app = CeremonyApp(Path(sys.argv[1]))
    async with app.run_test(size=(80, 24)) as pilot:
        while not (isinstance(app.screen, OverviewScreen) and app.overview is not None):
            await pilot.pause()
        await app.workers.wait_for_complete()
        await pilot.pause()
        print("ready", flush=True)

asyncio.run(main())
"""


def cold_start(home: Path, runs: int) -> list[float]:
    times = []
    for _ in range(runs):
        t0 = time.perf_counter()
        proc = subprocess.Popen([sys.executable, "-c", CHILD, str(home)], stdout=subprocess.PIPE,
                                text=True)
        assert proc.stdout is not None
        line = proc.stdout.readline()
        times.append(time.perf_counter() - t0)
        proc.wait()
        if line.strip() != "ready":
            raise SystemExit(f"child did not reach the first screen: {line!r}")
    return times


def synthetic_batch(n: int) -> dict[str, Any]:
    reqs = []
    for i in range(n):
        refused = i % 10 == 3
        reqs.append({
            "id": f"r{i:05d}", "ca": "class1" if i % 3 else "class3", "profile": "server",
            "verdict": "reject" if refused else "accept",
            "reasons": [{"code": "name.unverified",
                         "message": f"host{i}.example.org is not among the verified names"}]
            if refused else [],
            "serial": None, "names": [f"host{i}.example.org", f"www.host{i}.example.org"],
            "key_type": "ec-p256", "needs_approval": False, "approved": False,
            "subscriber": f"m{i}",
        })
    return {"batch": "bench-1", "ra": "ra1", "sequence": 1, "digest": "00" * 32,
            "state": "imported", "requests": reqs, "revocations": [], "rehearsal": True}


FACTS = Overview(
    home="/bench", name="bench", rehearsal=True, module="-", token_label="bench", quorum=None,
    logged_in=False, token_line="bench: locked", share_indices=[], cas=[], log_size=0,
    checkpoint_size=None, checkpoint_root=None, checkpoint_words=None, last_time=None,
    interfaces_up=[], ceremony_time=None,
)


class _Facts:
    async def open(self) -> Overview:
        return FACTS

    async def overview(self) -> Overview:
        return FACTS

    def close(self) -> None:
        pass


async def review_once(data: dict[str, Any]) -> tuple[float, float, float]:
    app = CeremonyApp(Path("/bench"))
    app.jobs = _Facts()  # type: ignore[assignment]
    async with app.run_test(size=(120, 40)) as pilot:
        await app.workers.wait_for_complete()
        await pilot.pause()
        t0 = time.perf_counter()
        await app.push_screen(ReviewScreen(data))
        await pilot.pause()
        t_open = time.perf_counter() - t0
        t0 = time.perf_counter()
        await pilot.press(*["pagedown"] * 20, "end")
        await pilot.pause()
        t_scroll = time.perf_counter() - t0
        t0 = time.perf_counter()
        await pilot.press("f")
        await pilot.pause()
        await pilot.press("f")
        await pilot.pause()
        t_filter = time.perf_counter() - t0
        assert app.screen.query_one("DataTable").row_count == len(data["requests"])
    return t_open, t_scroll, t_filter


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--rows", type=int, default=10_000)
    ap.add_argument("--runs", type=int, default=5)
    ap.add_argument("--skip-cold", action="store_true")
    args = ap.parse_args()
    med = statistics.median
    if not args.skip_cold:
        from bench.common import make_home, tempdir

        home, _, _ = make_home(tempdir("bench-tui-"))
        cold = cold_start(home, args.runs)
        print(f"cold start to first screen: median {med(cold):.3f} s "
              f"(runs: {', '.join(f'{t:.3f}' for t in cold)}; target <= 1 s)")
    data = synthetic_batch(args.rows)
    results = [asyncio.run(review_once(data)) for _ in range(args.runs)]
    opened, scrolled, filtered = (sorted(r[i] for r in results) for i in range(3))
    print(f"review table, {args.rows} rows: open {med(opened):.3f} s, "
          f"scroll (20 page-downs + end) {med(scrolled):.3f} s, "
          f"filter refused-only on+off {med(filtered):.3f} s (medians of {args.runs})")


if __name__ == "__main__":
    main()
