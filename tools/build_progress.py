"""Shows a long ``pip install -v`` build as one progress line with the elapsed time.

usage: pip install -v PACKAGE 2>&1 | python tools/build_progress.py [--log FILE] [--tick S]

The Makefile pipes llama-cpp-python's build (3-5 minutes on 2 cores) through it, so a
newcomer sees it move instead of a silent terminal. Its build runs CMake with Ninja, whose
progress lines start ``[12/189]`` (Make's start ``[ 6%]``: both are read). On a terminal
the line is rewritten in place, ticking every second; elsewhere (a CI log) a line is
printed at each tenth of the build and every 30 seconds of silence. pip's own verdict
(``Successfully installed``, ``Using cached``, errors) is passed through, and the whole
output is kept in ``--log`` for when something goes wrong.
"""

from __future__ import annotations

import argparse
import queue
import re
import sys
import threading
import time
from typing import TextIO

PROGRESS = re.compile(r"^\s*\[\s*(?:(\d+)/(\d+)|(\d+)%)\]")
# pip's own lines start at the margin (its build's are indented); errors come from anywhere.
SHOWN = re.compile(r"^(Successfully|Using cached|ERROR)|error:")
# On a CI log: a line at least this often while nothing else is printed.
QUIET_LINE_EVERY = 30.0


def elapsed(seconds: float) -> str:
    minutes, secs = divmod(int(seconds), 60)
    return f"{minutes}:{secs:02d}"


class Progress:
    """What the build has reached, written as a status line."""

    def __init__(self, out: TextIO, live: bool) -> None:
        self.out = out
        self.live = live
        self.started = time.monotonic()
        self.done: int | None = None
        self.total: int | None = None
        self.percent: int | None = None
        self.last_line = self.started
        self.last_tenth = -1

    def step(self, line: str) -> None:
        found = PROGRESS.match(line)
        if found is None:
            return
        if found[1] is not None:
            self.done, self.total = int(found[1]), int(found[2])
            self.percent = 100 * self.done // max(self.total, 1)
        else:
            self.percent = int(found[3])
        if not self.live and self.percent // 10 > self.last_tenth:
            self.last_tenth = self.percent // 10
            self.print_line()

    def status(self) -> str:
        took = elapsed(time.monotonic() - self.started)
        if self.percent is None:
            return f"  preparing the build... {took}"
        files = f"{self.done}/{self.total} files, " if self.total else ""
        return f"  compiling llama.cpp: {files}{self.percent}% ... {took}"

    def tick(self) -> None:
        if self.live:
            self.out.write("\r\033[K" + self.status())
            self.out.flush()
        elif time.monotonic() - self.last_line >= QUIET_LINE_EVERY:
            self.print_line()

    def print_line(self) -> None:
        self.out.write(self.status() + "\n")
        self.out.flush()
        self.last_line = time.monotonic()

    def show(self, line: str) -> None:
        """Print a line of pip's own, on a line of its own."""
        if self.live:
            self.out.write("\r\033[K")
        self.out.write(line.rstrip() + "\n")
        self.out.flush()
        self.last_line = time.monotonic()


def _read(source: TextIO, lines: queue.Queue[str | None]) -> None:
    for line in source:
        lines.put(line)
    lines.put(None)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--log", help="keep the whole output in this file")
    parser.add_argument("--tick", type=float, default=1.0, help="seconds between updates")
    args = parser.parse_args()
    progress = Progress(sys.stdout, live=sys.stdout.isatty())
    log = open(args.log, "w", encoding="utf-8") if args.log else None  # noqa: SIM115
    lines: queue.Queue[str | None] = queue.Queue()
    threading.Thread(target=_read, args=(sys.stdin, lines), daemon=True).start()
    while True:
        try:
            line = lines.get(timeout=args.tick)
        except queue.Empty:
            progress.tick()
            continue
        if line is None:
            break
        if log is not None:
            log.write(line)
        progress.step(line)
        if SHOWN.search(line) and not PROGRESS.match(line):
            progress.show(line)
    if progress.live:
        progress.out.write("\r\033[K")
    if log is not None:
        log.close()
    took = elapsed(time.monotonic() - progress.started)
    progress.out.write(f"  ({took}{'; whole log: ' + args.log if args.log else ''})\n")


if __name__ == "__main__":
    main()
