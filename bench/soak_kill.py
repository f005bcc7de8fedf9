"""Soak: SIGKILL the batch ceremony at random points, resume, and count invariant violations.

    python bench/soak_kill.py [--trials 60] [--seed 7] [--batch 40] [--chunk 8] [--only STEP]

Each trial copies a prepared rehearsal home, runs import -> sign -> revoke + CRL -> export with
one step killed by SIGKILL (at a deterministic kill point, or when the ceremony log has grown by
a random number of lines), retries that step as an operator would (recovering a torn log tail
when the appliance refuses it), finishes the ceremony and checks I2-I4, "one certificate per
accepted request", whole outputs, and `signer audit verify` (tests/hardening/killharness.py).
Prints one row per trial and a summary; exits 1 if any trial found a violation.
"""

from __future__ import annotations

import argparse
import random
import sys
import time
from collections import Counter
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.common import AT, make_home, tempdir  # noqa: E402
from tests.hardening.killharness import (  # noqa: E402
    STEPS,
    has_recover_verb,
    prepare,
    random_trials,
    run_trial,
)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--trials", type=int, default=60)
    ap.add_argument("--seed", type=int, default=7)
    ap.add_argument("--batch", type=int, default=40)
    ap.add_argument("--chunk", type=int, default=8)
    ap.add_argument("--only", choices=STEPS)
    args = ap.parse_args()
    work = tempdir("soak-kill-")
    t0 = time.perf_counter()
    home, pin_file, _ = make_home(work)
    prep = prepare(home, pin_file, work / "prep", args.batch, AT)
    print(f"work dir {work}; prepared in {time.perf_counter() - t0:.1f}s; "
          f"recovery via {'`signer audit recover`' if has_recover_verb() else 'repair_truncated_tail'}")
    rng = random.Random(args.seed)
    trials = random_trials(rng, args.trials, args.batch, args.chunk)
    if args.only:
        for t in trials:
            t.step = args.only
    print(f"{'#':>3} {'step':<7} {'kill point':<18} {'killed':<6} {'refused':<7} "
          f"{'recov':<5} {'secs':>5}  violations")
    bad = 0
    kinds: Counter[str] = Counter()
    for i, trial in enumerate(trials, 1):
        run_trial(prep, work / f"t{i}", trial)
        kinds[trial.how.split(":")[0]] += 1
        bad += bool(trial.problems)
        print(f"{i:>3} {trial.step:<7} {trial.how:<18} {'yes' if trial.killed else 'no':<6} "
              f"{'yes' if trial.refused_first else 'no':<7} {'yes' if trial.recovered else 'no':<5} "
              f"{trial.seconds:>5.1f}  {len(trial.problems)}", flush=True)
        for p in trial.problems:
            print(f"      - {p}")
    killed = sum(t.killed for t in trials)
    print(f"\n{len(trials)} trials ({killed} killed mid-step; kinds {dict(kinds)}), "
          f"{bad} with violations, {time.perf_counter() - t0:.0f}s")
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main())
