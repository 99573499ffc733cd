#!/usr/bin/env python3
"""Benchmarks the stackc CLI as users run it: whole processes, wall time and peak RSS.

Called by scripts/bench.sh (which builds the release binary). Standard library only.

- `stackc build` of generated stacks of N apps (fixtures written to a temp dir, never
  checked in), RUNS runs each, from an empty output directory;
- `stackc check`, `stackc build --check` (no drift) and a rebuild with nothing to change,
  on the bundled demo stack;

and prints a Markdown table: min and median wall time (time.perf_counter around
spawn..wait) and the largest peak RSS of the runs (ru_maxrss from wait4, per process),
then the growth ratio of the medians between consecutive sizes.
"""

import os
import shutil
import statistics
import sys
import tempfile
import time


def run(argv):
    """Runs argv with stdout/stderr to /dev/null; returns (seconds, peak RSS KiB, status)."""
    devnull = os.open(os.devnull, os.O_WRONLY)
    actions = [(os.POSIX_SPAWN_DUP2, devnull, 1), (os.POSIX_SPAWN_DUP2, devnull, 2)]
    start = time.perf_counter()
    pid = os.posix_spawn(argv[0], argv, os.environ, file_actions=actions)
    _, status, usage = os.wait4(pid, 0)
    elapsed = time.perf_counter() - start
    os.close(devnull)
    return elapsed, usage.ru_maxrss, os.waitstatus_to_exitcode(status)


def fixture(path, apps):
    with open(path, "w", encoding="utf-8") as f:
        f.write('[stack]\nname = "bench"\n')
        for i in range(1, apps + 1):
            f.write(
                f'[apps.app-{i}]\nimage = "ghcr.io/acme/app:{i}"\nport = 8080\n'
                f'traces = {"true" if i % 2 else "false"}\n'
                f'env = {{ INDEX = "{i}", GREETING = "hello $USER #{i}" }}\n'
            )


def measure(argv, runs, before=None):
    times, rss = [], 0
    for _ in range(runs):
        if before:
            before()
        elapsed, peak, code = run(argv)
        if code != 0:
            sys.exit(f"bench: {' '.join(argv)} exited {code}")
        times.append(elapsed)
        rss = max(rss, peak)
    return min(times), statistics.median(times), rss


def ms(seconds):
    return f"{seconds * 1000:.1f} ms" if seconds < 1 else f"{seconds:.2f} s"


def main():
    binary, repo, runs = sys.argv[1], sys.argv[2], int(sys.argv[3])
    sizes = [int(n) for n in sys.argv[4:]] or [10, 100, 1000, 10000]
    rows, medians = [], []
    with tempfile.TemporaryDirectory() as tmp:
        for n in sizes:
            d = os.path.join(tmp, str(n))
            os.makedirs(d)
            stack = os.path.join(d, "stack.toml")
            fixture(stack, n)
            out = os.path.join(d, "generated")
            lo, med, rss = measure(
                [binary, "build", stack],
                runs,
                before=lambda out=out: shutil.rmtree(out, ignore_errors=True),
            )
            medians.append((n, med))
            rows.append((f"`build`, {n:,} apps", lo, med, rss))
        demo = os.path.join(tmp, "demo")
        os.makedirs(demo)
        shutil.copy(os.path.join(repo, "examples/demo/stack.toml"), demo)
        stack = os.path.join(demo, "stack.toml")
        for label, argv in [
            ("`check`, demo", [binary, "check", stack]),
            ("`build` (first), demo", [binary, "build", stack]),
        ]:
            out = os.path.join(demo, "generated")
            lo, med, rss = measure(
                argv, runs, before=lambda out=out: shutil.rmtree(out, ignore_errors=True)
            )
            rows.append((label, lo, med, rss))
        run([binary, "build", stack])
        for label, argv in [
            ("`build --check`, demo, no drift", [binary, "build", "--check", stack]),
            ("`build`, demo, nothing changed", [binary, "build", stack]),
        ]:
            lo, med, rss = measure(argv, runs)
            rows.append((label, lo, med, rss))

    print(f"{runs} runs each; wall time of the whole process, peak RSS of the largest run.\n")
    print("| command | wall min | wall median | peak RSS |")
    print("| --- | ---: | ---: | ---: |")
    for label, lo, med, rss in rows:
        print(f"| {label} | {ms(lo)} | {ms(med)} | {rss / 1024:.0f} MB |")
    print("\n| growth | median ratio |")
    print("| --- | ---: |")
    for (n0, m0), (n1, m1) in zip(medians, medians[1:]):
        print(f"| {n0:,} -> {n1:,} apps (x{n1 // n0}) | {m1 / m0:.1f}x |")


if __name__ == "__main__":
    main()
