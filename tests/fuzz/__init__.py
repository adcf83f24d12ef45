"""Fuzzing tapegrad's public API (issue 16): Hypothesis strategies that write each case as runnable
Python (cases.py), the property every case must hold (oracle.py), a crash-isolating runner that
runs batches of cases in subprocesses (run.py), and the CI sample (test_fuzz.py).

``python -m tests.fuzz.run --cases 100000`` from the repository root runs the long campaign.
"""
