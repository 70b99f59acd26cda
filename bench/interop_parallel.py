"""Interop family against demo-good: wall time and request count, sequential vs ``-j 4``.

    python bench/interop_parallel.py [--runs 3] [--latency-ms 0 20] [--jobs 4]

For each simulated server latency (the demo server's ``[server] latency_ms``, 0 = raw
loopback) it audits demo-good's interop family with one worker and with ``--jobs``
workers, ``--runs`` times each, and prints the median wall time, the number of HTTP
requests the target sent (identical in both modes: every request is memoized and sent
once) and the sequential / parallel ratio. The demo server runs in the same process,
so at 0 ms the ratio mostly measures Python overhead; with latency it shows what the
bounded concurrency buys against a real, remote endpoint.
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def audit_once(jobs: int) -> tuple[float, int, dict]:
    from harness.session import AuditOptions, Session
    from harness.testing import demo_profile, serve_demo

    with serve_demo("good") as url:
        session = Session(demo_profile("good"), AuditOptions(families=("interop",), jobs=jobs,
                                                             variables={"HARNESS_DEMO_URL": url}))
        start = time.perf_counter()
        card = session.run()
        elapsed = time.perf_counter() - start
    target = session.targets.get("fhir")
    return elapsed, (target.request_count if target is not None else -1), card


def with_latency(latency_ms: int) -> tempfile.TemporaryDirectory | None:
    """A copy of demo-good whose FHIR server answers after ``latency_ms`` (HARNESS_FIXTURES points at it)."""
    if latency_ms <= 0:
        os.environ.pop("HARNESS_FIXTURES", None)
        return None
    tmp = tempfile.TemporaryDirectory(prefix="interop-bench-")
    source = ROOT / "fixtures" / "vendors" / "demo-good"
    dest = Path(tmp.name) / "vendors" / "demo-good"
    shutil.copytree(source, dest)  # the whole vendor: its profile names files of other families too
    behaviour = dest / "fhir" / "behaviour.toml"
    behaviour.write_text(behaviour.read_text(encoding="utf-8") + f"\n[server]\nlatency_ms = {latency_ms}\n",
                         encoding="utf-8")
    os.environ["HARNESS_FIXTURES"] = tmp.name
    return tmp


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--jobs", type=int, default=4)
    parser.add_argument("--latency-ms", type=int, nargs="+", default=[0, 20])
    args = parser.parse_args(argv)
    print(f"interop family on demo-good, median of {args.runs} run(s); sequential = -j 1, parallel = -j {args.jobs}")
    print(f"{'latency':>8} {'seq s':>8} {'par s':>8} {'requests':>9} {'seq/par':>8}")
    for latency in args.latency_ms:
        tmp = with_latency(latency)
        try:
            seq = [audit_once(1) for _ in range(args.runs)]
            par = [audit_once(args.jobs) for _ in range(args.runs)]
        finally:
            if tmp is not None:
                tmp.cleanup()
                os.environ.pop("HARNESS_FIXTURES", None)
        for _, _, card in seq + par:
            bad = [r for r in card["results"] if r["status"] not in ("pass", "not_applicable")]
            if bad:
                print(f"warning: {len(bad)} interop result(s) not passing, e.g. {bad[0]['check_id']}",
                      file=sys.stderr)
                break
        seq_t = statistics.median(t for t, _, _ in seq)
        par_t = statistics.median(t for t, _, _ in par)
        requests = {n for _, n, _ in seq + par}
        shown = "/".join(str(n) for n in sorted(requests))
        print(f"{latency:>6}ms {seq_t:>8.2f} {par_t:>8.2f} {shown:>9} {seq_t / par_t:>7.2f}x")
    return 0


if __name__ == "__main__":
    sys.path.insert(0, str(ROOT))
    sys.exit(main())
