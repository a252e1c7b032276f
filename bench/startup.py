"""Start-up time of ``memchat`` commands that run no model.

Runs each command ``--runs`` times as a new process (the console script of the Python
running this bench), in a fresh data directory with a database already made, and prints
the fastest and the median wall time of each, and the median CPU time (user + system),
which a machine busy with other work inflates less. ``python -c pass`` is the floor: the
interpreter's own start. It also says whether each command imported the Agents SDK or
openai (read from ``-X importtime``).

    python bench/startup.py [--runs 15] [--goal 0.5] [--json]

Exits non-zero when a command's median CPU time misses ``--goal`` seconds (on an idle
machine the wall time is about the CPU time; on a shared one it waits for the CPU).
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

MEMCHAT = str(Path(sys.executable).with_name("memchat"))
COMMANDS: dict[str, list[str]] = {
    "python -c pass (floor)": [sys.executable, "-c", "pass"],
    "memchat --version": [MEMCHAT, "--version"],
    "memchat --help": [MEMCHAT, "--help"],
    "memchat sessions list": [MEMCHAT, "sessions", "list", "--user", "bench"],
    "memchat users list": [MEMCHAT, "users", "list"],
    "memchat memory list": [MEMCHAT, "memory", "list", "--user", "bench"],
}
HEAVY = ("agents", "openai")


def timed(command: list[str], env: dict[str, str]) -> tuple[float, float]:
    """Wall time and CPU time (user + system) of one run of ``command``."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    started = time.perf_counter()
    subprocess.run(command, env=env, check=True, stdout=subprocess.DEVNULL)
    wall = time.perf_counter() - started
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    return wall, (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)


def heavy_imports(command: list[str], env: dict[str, str]) -> list[str]:
    """Which of HEAVY the command imported (read from ``-X importtime``)."""
    if command[0] != MEMCHAT:
        return []
    done = subprocess.run(
        [sys.executable, "-X", "importtime", MEMCHAT, *command[1:]],
        env=env,
        check=True,
        capture_output=True,
        text=True,
    )
    names = {line.rsplit("|", 1)[-1].strip() for line in done.stderr.splitlines()}
    return [name for name in HEAVY if name in names]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--runs", type=int, default=15)
    parser.add_argument("--goal", type=float, default=0.5, help="seconds, median CPU time")
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as home:
        env = {**os.environ, "MEMCHAT_HOME": home, "MEMCHAT_USER": "bench"}
        # Bytecode is cached as after any install (the first, warming run writes it): a
        # PYTHONDONTWRITEBYTECODE left in the environment would compile memchat anew
        # every run.
        env = {k: v for k, v in env.items() if k not in ("MEMCHAT_DB", "PYTHONDONTWRITEBYTECODE")}
        # The database and the user exist, as on any machine past its first chat.
        subprocess.run(
            [MEMCHAT, "memory", "add", "colour", "teal", "--user", "bench"],
            env=env,
            check=True,
            stdout=subprocess.DEVNULL,
        )
        results = {}
        for name, command in COMMANDS.items():
            timed(command, env)  # warm the file cache
            runs = [timed(command, env) for _ in range(args.runs)]
            walls = [wall for wall, _ in runs]
            results[name] = {
                "fastest": min(walls),
                "median": statistics.median(walls),
                "cpu": statistics.median(cpu for _, cpu in runs),
                "imports": heavy_imports(command, env),
            }
    missed = [
        name
        for name, result in results.items()
        if name.startswith("memchat") and result["cpu"] > args.goal
    ]
    print(f"load average {os.getloadavg()[0]:.1f} on {os.cpu_count()} CPUs")
    print(f"{'command':<26} {'fastest':>8} {'median':>8} {'CPU':>8}  imports")
    for name, result in results.items():
        imports = ", ".join(result["imports"]) or "-"
        print(
            f"{name:<26} {result['fastest']:>7.3f}s {result['median']:>7.3f}s"
            f" {result['cpu']:>7.3f}s  {imports}"
        )
    verdict = f"missed: {missed}" if missed else "met"
    print(f"goal: median CPU time under {args.goal} s; {verdict}")
    if args.json:
        print(json.dumps(results))
    sys.exit(1 if missed else 0)


if __name__ == "__main__":
    main()
