"""The crash-isolating fuzz runner.

Cases run in batches, each batch in a fresh interpreter (a subprocess) that draws its cases from
Hypothesis with a fixed seed, writes each case's source to a progress file before running it, and
reports the cases whose exceptions break the property (oracle.py). When the subprocess dies by a
signal or stops making progress for ``timeout`` seconds, the case in the progress file is the
crasher: it is reported with its reproducer and the batch resumes after it. No Hypothesis
database is written (``database=None``) and the subprocesses run in a temporary directory.

    python -m tests.fuzz.run --cases 100000 --jobs 2          # from the repository root
    python -m tests.fuzz.run --cases 2000 --families shapes --show 5
"""

from __future__ import annotations

import argparse
import itertools
import json
import os
import signal
import subprocess
import sys
import tempfile
import time
import zlib
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict, dataclass, field
from pathlib import Path

TESTS_DIR = Path(__file__).resolve().parent.parent

# Share of a campaign's cases per family: the op table is the widest surface; a trainer or model
# folder case costs ten op cases.
WEIGHTS = {
    "ops": 40,
    "index": 15,
    "tape": 10,
    "api": 10,
    "trainer": 6,
    "shapes": 9,
    "model_dir": 5,
    "threads": 5,
}


@dataclass
class Failure:
    kind: str  # "crash", "hang" or "exception"
    family: str
    seed: int
    index: int  # the case's position in its batch
    detail: str
    script: str  # the case as a runnable script

    def report(self) -> str:
        return (
            f"--- {self.kind} in family {self.family!r} (batch seed {self.seed}, case "
            f"{self.index}): {self.detail.strip()}\n{self.script}"
        )


@dataclass
class BatchResult:
    family: str
    seed: int
    ran: int = 0
    failures: list = field(default_factory=list)


# ---- the subprocess -----------------------------------------------------------------------------


# A case that allocates what it should have refused fails (MemoryError) instead of taking the
# machine's memory. Not under ASan, whose shadow memory is already larger than any limit.
ADDRESS_SPACE_LIMIT = 8 << 30


class _FirstFailure(Exception):
    pass


def child_main(
    family: str, seed: int, n_cases: int, skip: int, progress: str, result: str, first: bool
) -> None:
    """Runs cases ``skip``.. of a batch (up to the first failure when ``first``); exits normally
    unless a case crashes or hangs."""
    if "asan" not in os.environ.get("LD_PRELOAD", ""):
        import resource

        resource.setrlimit(resource.RLIMIT_AS, (ADDRESS_SPACE_LIMIT, ADDRESS_SPACE_LIMIT))
    import numpy as np
    from hypothesis import HealthCheck, Phase, given, settings
    from hypothesis import seed as hypothesis_seed

    import tapegrad as tg
    from fuzz import cases, oracle

    counter = [0]
    default_threads = tg.num_threads()  # restored after every case
    results = open(result, "a")  # one JSON line per failure as it happens, then the count

    def report(record: dict) -> None:
        results.write(json.dumps(record) + "\n")
        results.flush()

    @hypothesis_seed(seed)
    @settings(
        max_examples=n_cases,
        database=None,
        deadline=None,
        phases=[Phase.generate],
        suppress_health_check=list(HealthCheck),
        derandomize=False,
        print_blob=False,
    )
    @given(cases.FAMILIES[family])
    def body(case):
        index = counter[0]
        counter[0] += 1
        if index < skip or index >= n_cases:
            return
        script = case.script()
        with open(progress, "w") as f:
            f.write(f"{index}\n{script}")
        namespace = {"np": np, "tg": tg}
        failed = False
        for step in (case.setup, *case.steps):
            outcome = oracle.run_step(step, namespace)
            if outcome.failure is not None and not failed:  # a case counts once
                failed = True
                report(asdict(Failure("exception", family, seed, index, outcome.failure, script)))
                if first:
                    raise _FirstFailure
            if outcome.error is not None and not case.keep_going:
                break
        tg.set_num_threads(default_threads)

    try:
        body()
    except _FirstFailure:
        pass
    report({"ran": max(0, min(counter[0], n_cases) - skip)})
    results.close()


CHILD_BOOT = (
    "import sys; sys.path.insert(0, sys.argv[1]); from fuzz.run import child_main; "
    "child_main(sys.argv[2], int(sys.argv[3]), int(sys.argv[4]), int(sys.argv[5]), sys.argv[6], "
    "sys.argv[7], sys.argv[8] == '1')"
)


# ---- the parent ---------------------------------------------------------------------------------


def _lines(path: Path) -> list:
    try:
        return [line for line in path.read_text().splitlines() if line.endswith("}")]
    except OSError:
        return []


def _read_progress(path: Path) -> tuple[int, str]:
    try:
        index, _, script = path.read_text().partition("\n")
        return int(index), script
    except (OSError, ValueError):
        return -1, ""


def run_batch(
    family: str, seed: int, n_cases: int, timeout: float = 30.0, first: bool = False
) -> BatchResult:
    """Runs one batch in subprocesses, resuming after each crash or hang (``first``: stops at
    the first failure of any kind)."""
    result = BatchResult(family, seed)
    skip = 0
    with tempfile.TemporaryDirectory(prefix="tapegrad-fuzz-") as tmp:
        progress, out, err = Path(tmp, "progress"), Path(tmp, "results"), Path(tmp, "stderr")
        while skip < n_cases:
            for p in (progress, out):
                p.unlink(missing_ok=True)
            argv = [sys.executable, "-c", CHILD_BOOT, str(TESTS_DIR), family, str(seed)]
            argv += [str(n_cases), str(skip), str(progress), str(out), "1" if first else "0"]
            with open(err, "w") as err_file:
                proc = subprocess.Popen(
                    argv,
                    cwd=tmp,
                    stdout=subprocess.DEVNULL,
                    stderr=err_file,
                    start_new_session=True,
                )
                kind = _watch(proc, progress, timeout)
            records = [json.loads(line) for line in _lines(out)]
            result.failures += [Failure(**r) for r in records if "kind" in r]
            ran = [r["ran"] for r in records if "ran" in r]
            if kind is None and ran:
                result.ran += ran[0]
                return result
            index, script = _read_progress(progress)
            stderr_tail = err.read_text(errors="replace")[-3000:]
            if index < skip:  # died before its first case: nothing to resume after
                how = f"runner failed to start (exit code {proc.returncode}, {kind or 'crash'})"
                result.failures.append(
                    Failure("crash", family, seed, skip, f"{how}\n{stderr_tail}", "")
                )
                return result
            if kind is None:
                kind = "crash"
                how = f"exit code {proc.returncode}"
                if proc.returncode < 0:
                    how = f"signal {signal.Signals(-proc.returncode).name}"
            else:
                how = f"no progress for {timeout:g} s"
            result.failures.append(
                Failure(kind, family, seed, index, f"{how}\n{stderr_tail}", script)
            )
            result.ran += index - skip + 1
            skip = index + 1
            if first:
                break
    return result


STARTUP = 120.0  # seconds an interpreter may take to import tapegrad and Hypothesis


def _watch(proc: subprocess.Popen, progress: Path, timeout: float):
    """None when ``proc`` exits by itself; "hang" when its progress file stays unchanged for
    ``timeout`` seconds (the whole process group is killed then)."""
    last, since = None, time.monotonic() + STARTUP - timeout
    while True:
        try:
            proc.wait(timeout=0.05)
            return None
        except subprocess.TimeoutExpired:
            pass
        try:
            stamp = progress.stat().st_mtime_ns
        except OSError:
            stamp = None
        now = time.monotonic()
        if stamp != last:
            last, since = stamp, now
        elif now - since > timeout:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()
            return "hang"


def batch_seed(base: int, family: str, batch: int) -> int:
    return zlib.crc32(f"{base}/{family}/{batch}".encode())


def plan(n_cases: int, families, batch_size: int, base_seed: int) -> list:
    """(family, seed, cases) batches sharing ``n_cases`` among ``families`` by WEIGHTS, the
    families interleaved (a campaign stopped early has covered each)."""
    total = sum(WEIGHTS[f] for f in families)
    per_family = []
    for family in families:
        share = max(1, round(n_cases * WEIGHTS[family] / total))
        per_family.append(
            [
                (family, batch_seed(base_seed, family, b), min(batch_size, share - start))
                for b, start in enumerate(range(0, share, batch_size))
            ]
        )
    return [b for row in itertools.zip_longest(*per_family) for b in row if b is not None]


def run_campaign(
    batches, jobs: int = 1, timeout: float = 30.0, first: bool = False, log=None
) -> list:
    """Every batch, ``jobs`` at a time; ``log(result)`` is called as each one ends."""

    def one(batch):
        result = run_batch(*batch, timeout=timeout, first=first)
        if log is not None:
            log(result)
        return result

    with ThreadPoolExecutor(max_workers=jobs) as pool:
        return list(pool.map(one, batches))


def summary(results) -> str:
    by_family: dict = {}
    for r in results:
        row = by_family.setdefault(r.family, {"cases": 0, "crash": 0, "hang": 0, "exception": 0})
        row["cases"] += r.ran
        for f in r.failures:
            row[f.kind] += 1
    lines = [f"{'family':<10} {'cases':>8} {'crashes':>8} {'hangs':>6} {'unexpected':>10}"]
    for fam, row in by_family.items():
        lines.append(
            f"{fam:<10} {row['cases']:>8} {row['crash']:>8} {row['hang']:>6} {row['exception']:>10}"
        )
    t = {
        k: sum(row[k] for row in by_family.values())
        for k in ("cases", "crash", "hang", "exception")
    }
    lines.append(
        f"{'total':<10} {t['cases']:>8} {t['crash']:>8} {t['hang']:>6} {t['exception']:>10}"
    )
    return "\n".join(lines)


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cases", type=int, default=10_000, help="cases in all (default 10000)")
    parser.add_argument("--families", default=",".join(WEIGHTS), help="comma-separated families")
    parser.add_argument("--seed", type=int, default=0, help="base seed of every batch")
    parser.add_argument("--batch", type=int, default=500, help="cases per subprocess")
    parser.add_argument("--timeout", type=float, default=30.0, help="seconds without progress")
    parser.add_argument("--jobs", type=int, default=1, help="batches run side by side")
    parser.add_argument("--show", type=int, default=3, help="reproducers printed per family")
    parser.add_argument("--json", help="write every failure to this file")
    args = parser.parse_args(argv)
    families = [f for f in args.families.split(",") if f]
    unknown = sorted(set(families) - set(WEIGHTS))
    if unknown:
        parser.error(f"unknown families {unknown}; choose from {sorted(WEIGHTS)}")
    start = time.monotonic()

    def log(r: BatchResult) -> None:
        kinds = [f.kind for f in r.failures]
        counts = ", ".join(f"{k} {kinds.count(k)}" for k in sorted(set(kinds))) or "none"
        print(f"batch {r.family}/{r.seed}: {r.ran} cases, failures: {counts}", flush=True)

    batches = plan(args.cases, families, args.batch, args.seed)
    results = run_campaign(batches, args.jobs, args.timeout, log=log)
    failures = [f for r in results for f in r.failures]
    shown: dict = {}
    for f in failures:
        shown[f.family] = shown.get(f.family, 0) + 1
        if shown[f.family] <= args.show:
            print(f.report())
    print(summary(results))
    print(f"{time.monotonic() - start:.0f} s")
    if args.json:
        Path(args.json).write_text(json.dumps([asdict(f) for f in failures], indent=1))
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
