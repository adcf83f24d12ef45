"""Draws bench_replay_mlp's scaling CSV: the compiled MLP step's GFLOP/s against batch size and
against width, with the one-core FMA peak as a line.

    python bench/plot_scaling.py build/cpp/bench/bench_replay_mlp [-o /tmp/scaling.png]
    python bench/plot_scaling.py scaling.csv [-o /tmp/scaling.png]

Given the binary, runs it with ``--scaling`` (about a minute on one core); given any other path,
reads it as the CSV that command prints (columns sweep, batch, width, gflop_per_step,
ms_per_step, gflops, fma_peak_gflops).
"""

from __future__ import annotations

import argparse
import csv
import io
import os
import statistics
import subprocess
import sys

import matplotlib

matplotlib.use("Agg")  # files only, no display
import matplotlib.pyplot as plt


def read_rows(path: str) -> list[dict]:
    if os.access(path, os.X_OK) and not path.endswith(".csv"):
        # Its check line goes to stderr, shown as it runs; the CSV is its stdout.
        text = subprocess.run(
            [path, "--scaling"], check=True, stdout=subprocess.PIPE, text=True
        ).stdout
    else:
        with open(path) as f:
            text = f.read()
    return list(csv.DictReader(io.StringIO(text)))


def plot(rows: list[dict], out: str) -> None:
    # Each row's peak was measured beside it (a shared machine's load moves it): draw the median.
    peak = statistics.median(float(r["fma_peak_gflops"]) for r in rows)
    fig, axes = plt.subplots(1, 2, figsize=(11, 4.2), sharey=True)
    panels = (("batch", "batch size (width 1024)"), ("width", "width W (batch 256)"))
    for ax, (sweep, xlabel) in zip(axes, panels):
        points = [r for r in rows if r["sweep"] == sweep]
        xs = [int(r[sweep]) for r in points]
        ax.plot(xs, [float(r["gflops"]) for r in points], "o-", label="compiled step (replay)")
        if peak > 0:
            ax.axhline(peak, color="gray", linestyle="--", label=f"FMA peak, one core ({peak:.0f})")
        ax.set_xscale("log", base=2)
        ax.set_xticks(xs, [str(x) for x in xs])
        ax.set_xlabel(xlabel)
        ax.set_ylim(bottom=0)
        ax.grid(alpha=0.3)
    axes[0].set_ylabel("GFLOP/s, 1 thread")
    axes[0].legend(loc="lower right")
    fig.suptitle("MLP 784-W-W-10 training step (forward + backward + SGD), tg compiled")
    fig.tight_layout()
    fig.savefig(out, dpi=110)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("source", help="the bench_replay_mlp binary, or a CSV it printed")
    parser.add_argument("-o", "--output", default="/tmp/scaling.png")
    args = parser.parse_args()
    rows = read_rows(args.source)
    if not rows:
        print(f"no rows in {args.source}", file=sys.stderr)
        return 1
    plot(rows, args.output)
    print(f"wrote {args.output} ({len(rows)} sizes)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
