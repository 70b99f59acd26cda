"""Runner overhead: N trivial check items through the harness vs N trivial pytest tests.

The peer is pytest itself (same machine, same run): a file with one test
parametrized over N values, run as ``python -m pytest -q -p no:cacheprovider``.
The harness runs one check over N items of a folder-less target, as
``python -m harness.cli audit`` with only that plugin loaded, writing its
scorecard (JSON) like pytest writes its terminal report. Both are timed end to
end as subprocesses, best of ``--repeat`` runs, and the harness is also timed
in-process (``Session.run``) to separate start-up from per-item cost.

    .venv/bin/python bench/runner_overhead.py [--items 10000] [--repeat 3] [--jobs 1]
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import textwrap
import time
from pathlib import Path

PLUGIN = textwrap.dedent('''
    from harness import TargetKind, check, hookimpl

    N = int(__import__("os").environ["BENCH_ITEMS"])

    class Target:
        pass

    @check("bench.trivial", title="Trivial", severity="low", requirements=["BENCH-1"], target="bench",
           items=lambda target: ((str(i), i) for i in range(N)))
    def trivial(target, item):
        """Does nothing: measures the runner, not the check."""
        assert item >= 0

    @hookimpl
    def harness_register_checks():
        return [trivial]

    @hookimpl
    def harness_register_requirements():
        from harness import Requirement
        return [Requirement("BENCH-1", "bench", "bench", "https://example.org")]

    @hookimpl
    def harness_register_target_kinds():
        return [TargetKind("bench", {"type": "object"}, lambda config, profile: Target())]
''')

PYTEST_FILE = textwrap.dedent('''
    import os
    import pytest

    @pytest.mark.parametrize("item", range(int(os.environ["BENCH_ITEMS"])))
    def test_trivial(item):
        assert item >= 0
''')

PROFILE = '[subject]\nvendor = "Bench"\nproduct = "Bench"\n\n[targets.bench]\n'


def best_of(repeat: int, command: list[str], env: dict[str, str], cwd: Path) -> float:
    times = []
    for _ in range(repeat):
        start = time.perf_counter()
        done = subprocess.run(command, env=env, cwd=cwd, capture_output=True, text=True)
        times.append(time.perf_counter() - start)
        if done.returncode not in (0,):
            sys.exit(f"{command[2]} failed ({done.returncode}):\n{done.stdout[-2000:]}\n{done.stderr[-2000:]}")
    return min(times)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--items", type=int, default=10_000)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--jobs", type=int, default=1)
    args = parser.parse_args()

    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        (work / "bench_plugin.py").write_text(PLUGIN)
        (work / "test_trivial.py").write_text(PYTEST_FILE)
        (work / "vendor.toml").write_text(PROFILE)
        env = dict(os.environ, BENCH_ITEMS=str(args.items), PYTHONPATH=str(work),
                   HARNESS_DISABLE_PLUGIN_AUTOLOAD="1", HARNESS_PLUGINS="bench_plugin")
        harness_cmd = [sys.executable, "-m", "harness.cli", "audit", "vendor.toml", "-o", "out",
                       "--format", "json", "-j", str(args.jobs)]
        pytest_cmd = [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "test_trivial.py"]
        harness_s = best_of(args.repeat, harness_cmd, env, work)
        pytest_s = best_of(args.repeat, pytest_cmd, env, work)

        sys.path.insert(0, str(work))
        os.environ.update(env)
        from harness.plugins import PluginHost
        from harness.session import AuditOptions, Session

        inproc = []
        for _ in range(args.repeat):
            start = time.perf_counter()
            card = Session(work / "vendor.toml", AuditOptions(jobs=args.jobs), host=PluginHost(autoload=False)).run()
            inproc.append(time.perf_counter() - start)
        assert len(card["results"]) == args.items

    n = args.items
    print(f"runner overhead, {n} trivial items, jobs={args.jobs}, best of {args.repeat}")
    print(f"  harness audit (subprocess, scorecard written): {harness_s:7.2f} s  {n / harness_s:9.0f} items/s")
    print(f"  harness Session.run (in-process):              {min(inproc):7.2f} s  {n / min(inproc):9.0f} items/s")
    print(f"  pytest (subprocess, peer):                     {pytest_s:7.2f} s  {n / pytest_s:9.0f} tests/s")
    print(f"  ratio harness/pytest end to end: {harness_s / pytest_s:.2f}x "
          f"({'faster' if harness_s < pytest_s else 'slower'} than pytest)")


if __name__ == "__main__":
    main()
