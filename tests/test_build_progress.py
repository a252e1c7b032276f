"""tools/build_progress.py, the Makefile's view of llama-cpp-python's build."""

from __future__ import annotations

import os
import pty
import select
import subprocess
import sys
from pathlib import Path

import pytest

SCRIPT = Path(__file__).parents[1] / "tools" / "build_progress.py"

# What `pip install -v llama-cpp-python==0.3.36` printed (abridged): CMake runs Ninja,
# whose progress lines are "[N/M] command", indented by pip.
PIP_OUTPUT = """\
Collecting llama-cpp-python==0.3.36
  Successfully installed packaging-26.4 pathspec-1.1.1 scikit-build-core-1.1.2
Building wheels for collected packages: llama-cpp-python
  Running command Building wheel for llama-cpp-python (pyproject.toml)
  *** Configuring CMake...
  -- The C compiler identification is GNU 12.2.0
  [1/193] /usr/bin/gcc -DGGML_BUILD -O3 -c ggml.c
  [20/193] /usr/bin/g++ -DGGML_BUILD -O3 -c ggml-cpu.cpp
  [97/193] /usr/bin/g++ -O3 -c llama.cpp
  ggml.c:12:5: error: this is only an example
  [193/193] : && /usr/bin/g++ -shared -o bin/libllama.so
Successfully built llama-cpp-python
Successfully installed llama-cpp-python-0.3.36
"""


def test_a_log_shows_progress_and_pips_verdict(tmp_path: Path) -> None:
    log = tmp_path / "build.log"
    done = subprocess.run(
        [sys.executable, str(SCRIPT), "--log", str(log)],
        input=PIP_OUTPUT,
        capture_output=True,
        text=True,
        check=True,
    )
    lines = done.stdout.splitlines()
    # Not a terminal (a CI log): a line at each tenth of the build reached.
    progress = [line.strip() for line in lines if "compiling" in line]
    assert [line.split(" ...")[0] for line in progress] == [
        "compiling llama.cpp: 1/193 files, 0%",
        "compiling llama.cpp: 20/193 files, 10%",
        "compiling llama.cpp: 97/193 files, 50%",
        "compiling llama.cpp: 193/193 files, 100%",
    ]
    assert "ggml.c:12:5: error: this is only an example" in done.stdout
    assert "Successfully installed llama-cpp-python-0.3.36" in lines
    # The build's own commands and its build dependencies' install are not shown...
    assert "/usr/bin/g++" not in done.stdout and "scikit-build-core" not in done.stdout
    # ...but kept.
    assert log.read_text() == PIP_OUTPUT
    assert lines[-1].endswith(f"whole log: {log})")


def test_on_a_terminal_the_time_ticks_while_the_build_is_silent() -> None:
    # The build prints nothing for minutes at a time (a big file compiling): the line
    # must keep moving.
    parent, child = pty.openpty()
    tool = subprocess.Popen(
        [sys.executable, str(SCRIPT), "--tick", "0.05"], stdin=subprocess.PIPE, stdout=child
    )
    os.close(child)
    assert tool.stdin is not None
    try:
        tool.stdin.write(b"  [3/193] /usr/bin/gcc -c ggml.c\n")
        tool.stdin.flush()
        seen = b""
        # No more input: the status line is rewritten anyway, tick after tick.
        while seen.count(b"\r\x1b[K  compiling llama.cpp: 3/193 files, 1% ...") < 3:
            if not select.select([parent], [], [], 60)[0]:
                pytest.fail(f"the line stopped moving: {seen!r}")
            chunk = os.read(parent, 1024)
            if not chunk:
                pytest.fail(f"the tool stopped writing: {seen!r}")
            seen += chunk
    finally:
        tool.stdin.close()
        tool.wait()
        os.close(parent)
    assert tool.returncode == 0
