#!/usr/bin/env python3
"""thread_waits.py PID [SECONDS [STEP]] -- how a running process's threads
shared the CPUs: per thread, the seconds it ran, waited runnable for a CPU
and the times it was put on one (/proc/PID/task/N/schedstat, read every
STEP seconds, default 0.025, for SECONDS, default 20); then, over the looks,
the share of each look the computing threads (those that ran more than
2 ms in it) waited and their mean wait each time they were put on a CPU,
as median, 10th and 90th percentile. The library's watcher (lib/rml.c)
judges contention from the same counters. Reading every STEP costs this
script a little CPU of its own, which shows in the waits at small STEP."""
import os
import time
import sys


def read(pid):
    out = {}
    for t in os.listdir(f"/proc/{pid}/task"):
        try:
            with open(f"/proc/{pid}/task/{t}/schedstat") as f:
                out[t] = tuple(int(v) for v in f.read().split()[:3])
        except OSError:
            pass
    return out


def pct(v, q):
    v = sorted(v)
    return v[min(len(v) - 1, int(len(v) * q))] if v else float("nan")


def main():
    if len(sys.argv) < 2:
        sys.exit("usage: thread_waits.py PID [SECONDS [STEP]]")
    try:
        pid, secs = int(sys.argv[1]), float(sys.argv[2]) if len(sys.argv) > 2 else 20.0
        step = float(sys.argv[3]) if len(sys.argv) > 3 else 0.025
    except ValueError:
        sys.exit("usage: thread_waits.py PID [SECONDS [STEP]] (numbers)")
    if secs <= 0 or step <= 0:
        sys.exit("thread_waits.py: SECONDS and STEP must be positive")
    if not os.path.isdir(f"/proc/{pid}/task"):
        sys.exit(f"thread_waits.py: no process {pid}")
    first = prev = read(pid)
    share, per_slice = [], []
    t0 = time.monotonic()
    while time.monotonic() - t0 < secs:
        time.sleep(step)
        try:
            cur = read(pid)
        except OSError:
            break
        w = n = 0
        for t, v in cur.items():
            if t in prev and v[0] - prev[t][0] > 2e6:
                w += v[1] - prev[t][1]
                n += v[2] - prev[t][2]
        share.append(w / (step * 1e9))
        if n:
            per_slice.append(w / n / 1e3)
        prev = cur
    for t in sorted(prev, key=int):
        if t in first:
            r, w, n = (prev[t][i] - first[t][i] for i in range(3))
            print(f"thread {t}: ran {r / 1e9:.1f} s, waited {w / 1e9:.3f} s, put on a CPU {n} times")
    print(f"looks {len(share)}: wait share median {pct(share, 0.5):.3f} p10 {pct(share, 0.1):.3f} "
          f"p90 {pct(share, 0.9):.3f}; wait per slice (us) median {pct(per_slice, 0.5):.0f} "
          f"p10 {pct(per_slice, 0.1):.0f} p90 {pct(per_slice, 0.9):.0f}")


main()
