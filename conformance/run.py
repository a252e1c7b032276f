"""The Agents SDK's own session tests, run against memchat sessions: ``make conformance``.

    python conformance/run.py [--cache DIR] [--json]

1. Takes the source distribution of the installed ``openai-agents`` version from PyPI
   (``pip download``; pip's cache keeps it, and so does ``--cache``). memchat keeps no
   copy of the SDK's code.
2. Runs its session tests (``tests/memory/test_session.py``, ``test_session_limit.py``)
   and the runner tests that build a ``SQLiteSession`` with ``memchat_swap.py`` loaded,
   which makes every ``SQLiteSession`` they build a memchat session. Their assertions are
   unchanged. A runner test counts if it built a session.
3. Compares the outcome with ``expected.toml``, the differences memchat keeps on purpose,
   each with its reason. Exits 1 on a failure that is not on the list, and on a listed
   test that now passes or no longer exists (so that the list stays true).
"""

from __future__ import annotations

import argparse
import importlib.metadata
import json
import os
import subprocess
import sys
import tarfile
import tempfile
import tomllib
from pathlib import Path

HERE = Path(__file__).resolve().parent
SESSION_TESTS = ("tests/memory/test_session.py", "tests/memory/test_session_limit.py")
# The SDK's runner tests that build a SQLiteSession (found with `grep -l SQLiteSession`).
RUNNER_TESTS = (
    "tests/test_agent_runner.py",
    "tests/test_agent_runner_streamed.py",
    "tests/test_max_turns.py",
    "tests/test_native_tool_failure_history.py",
    "tests/test_programmatic_tool_calling.py",
    "tests/test_run_impl_resume_paths.py",
    "tests/test_soft_cancel.py",
    "tests/test_tool_batch_failure_history.py",
    "tests/test_tool_failure_boundaries.py",
)


def sdk_source(cache: Path) -> Path | None:
    """The unpacked source distribution of the installed openai-agents, fetched once
    (None if it cannot be fetched: no network and not in pip's cache)."""
    version = importlib.metadata.version("openai-agents")
    unpacked = cache / f"openai_agents-{version}"
    if (unpacked / "tests").is_dir():
        return unpacked
    cache.mkdir(parents=True, exist_ok=True)
    archive = cache / f"openai_agents-{version}.tar.gz"
    if not archive.exists():
        fetched = subprocess.run(
            [
                *(sys.executable, "-m", "pip", "download", "--quiet", "--no-deps"),
                *("--no-binary", ":all:", f"openai-agents=={version}", "-d", str(cache)),
            ],
            capture_output=True,
            text=True,
        )
        if fetched.returncode != 0 or not archive.exists():
            errors = [line for line in fetched.stderr.splitlines() if "ERROR" in line]
            print(f"conformance: could not fetch openai-agents=={version} from PyPI")
            print("\n".join(errors[-3:]))
            return None
    with tarfile.open(archive) as tar:
        tar.extractall(cache, filter="data")
    return unpacked


def run_tests(source: Path, targets: list[str]) -> dict[str, dict[str, object]]:
    """Run ``targets`` (test files or node ids) with the swap; each test's outcome."""
    # memchat's own settings from the caller's shell must not reach the stores the tests
    # open (an encryption key would make them encrypted ones).
    env = {k: v for k, v in os.environ.items() if not k.startswith("MEMCHAT_")}
    with tempfile.TemporaryDirectory() as tmp:
        results = Path(tmp) / "results.json"
        env["MEMCHAT_CONFORMANCE_RESULTS"] = str(results)
        env["MEMCHAT_HOME"] = str(Path(tmp) / "home")
        env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(HERE), env.get("PYTHONPATH")]))
        command = [sys.executable, "-m", "pytest", "-p", "memchat_swap", "-p", "no:cacheprovider"]
        done = subprocess.run(
            [*command, "-q", "--no-header", "-rN", "--tb=no", *targets],
            cwd=source,
            env=env,
            capture_output=True,
            text=True,
        )
        if not results.exists():
            sys.stderr.write(done.stdout[-4000:] + done.stderr[-4000:])
            raise SystemExit("conformance: the SDK's tests did not run (see above)")
        outcome: dict[str, dict[str, object]] = json.loads(results.read_text())
    return outcome


def expected_differences() -> dict[str, str]:
    """expected.toml's tests, each with its reason."""
    listed: dict[str, str] = {}
    for group in tomllib.loads((HERE / "expected.toml").read_text())["difference"]:
        for test in group["tests"]:
            if test in listed:
                raise SystemExit(f"conformance: {test} is listed twice in expected.toml")
            listed[test] = group["reason"]
    return listed


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--cache", type=Path, default=HERE.parent / ".venv" / "conformance")
    parser.add_argument("--json", action="store_true", help="end with one JSON line")
    args = parser.parse_args()

    source = sdk_source(args.cache)
    if source is None:
        # Not a failure of memchat's: CI must fail only on real failures. Said loudly.
        print("conformance: NOT RUN (the SDK's source distribution is not at hand)")
        return 0
    files = [name for name in (*SESSION_TESTS, *RUNNER_TESTS) if (source / name).exists()]
    outcome = run_tests(source, files)
    chosen = {
        test: result
        for test, result in outcome.items()
        if test.startswith(SESSION_TESTS) or result["memchat"]
    }
    listed = expected_differences()
    failed = {t for t, r in chosen.items() if r["outcome"] in ("failed", "error")}
    passed = {t for t, r in chosen.items() if r["outcome"] == "passed"}
    unexpected = sorted(failed - listed.keys())
    flaky = []
    if unexpected:
        # Run them once more on their own: a test that passes then is reported, not failed
        # (some of the SDK's tests race threads and timers).
        again = run_tests(source, unexpected)
        flaky = [t for t in unexpected if again.get(t, {}).get("outcome") == "passed"]
        unexpected = [t for t in unexpected if t not in flaky]
    now_passing = sorted(listed.keys() & passed)
    missing = sorted(listed.keys() - chosen.keys())
    skipped = len(chosen) - len(failed) - len(passed)

    print(f"openai-agents {source.name.split('-')[-1]}: its session tests against memchat sessions")
    print(
        f"{len(chosen)} tests: {len(passed)} passed, {len(failed & listed.keys())} expected"
        f" differences (conformance/expected.toml), {len(unexpected)} unexpected failures,"
        f" {skipped} skipped"
    )
    for test in unexpected:
        print(f"  UNEXPECTED FAILURE {test}\n      {chosen[test]['message']}")
    for test in flaky:
        print(f"  FLAKY (failed, then passed on its own) {test}\n      {chosen[test]['message']}")
    for test in now_passing:
        print(f"  NOW PASSES (remove it from expected.toml) {test}")
    for test in missing:
        print(f"  NOT RUN (renamed or gone? fix expected.toml) {test}")
    if args.json:
        counts = {
            "tests": len(chosen),
            "passed": len(passed),
            "expected_differences": len(failed & listed.keys()),
            "unexpected_failures": unexpected,
            "flaky": flaky,
            "now_passing": now_passing,
            "not_run": missing,
        }
        print(json.dumps(counts))
    return 1 if unexpected or now_passing or missing else 0


if __name__ == "__main__":
    sys.exit(main())
