"""Benchmark: extraction + full contract analysis vs pypdf extraction alone, on a 100-page contract PDF.

    python bench/contracts_pdf.py [--pages 100] [--runs 3]

Generates (reportlab) a 100-page contract made of the demo contracts' clauses,
then times, in the same process and alternately:

- pypdf alone: ``PdfReader`` + ``extract_text()`` on every page;
- the harness: extraction (pypdf in a time-boxed child process, normalisation,
  header/footer removal, segmentation) + every rule of the pack + the findings
  of every check, as ``harness audit`` produces them.

Prints both times (best of N) and the ratio. Goal: ratio <= 2.0. Wall-clock times
move with the load of the machine; the CPU times (this process and its children,
which is where the harness runs pypdf) are printed too, with their own ratio.
"""

from __future__ import annotations

import argparse
import io
import resource
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "plugins"))

from harness_plugins.contracts import demo_docs  # noqa: E402
from harness_plugins.contracts.plugin import ContractsTarget, _finding_for  # noqa: E402

GOAL = 2.0


def make_pdf(pages: int) -> bytes:
    """Repeat the demo clauses until the PDF has at least ``pages`` pages."""
    repeat = 1
    while True:
        data = demo_docs.pdf_bytes(demo_docs.GOOD_TITLE, demo_docs.GOOD_HEADER, demo_docs.GOOD + demo_docs.POOR[1:],
                                   demo_docs.GOOD_TABLE, repeat=repeat)
        from pypdf import PdfReader

        count = len(PdfReader(io.BytesIO(data)).pages)
        if count >= pages:
            return data
        repeat = max(repeat + 1, int(repeat * pages / max(count, 1)))


def pypdf_alone(path: Path) -> int:
    from pypdf import PdfReader

    reader = PdfReader(str(path))
    return sum(len(page.extract_text() or "") for page in reader.pages)


def harness_full(path: Path) -> int:
    target = ContractsTarget({"files": [str(path)]}, path.parent)
    findings = 0
    for item_id, item in target.items():
        analysis = target.analysis(item_id, item)
        assert analysis.doc is not None, analysis.problem
        for rule in target.pack.rules.values():
            findings += len(_finding_for(target, rule, analysis))
    return findings


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--pages", type=int, default=100)
    parser.add_argument("--runs", type=int, default=3)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "contrat-100-pages.pdf"
        path.write_bytes(make_pdf(args.pages))
        from pypdf import PdfReader

        pages = len(PdfReader(str(path)).pages)
        alone, full, alone_cpu, full_cpu = [], [], [], []
        chars = findings = 0
        for _ in range(args.runs):
            c0, t0 = cpu(), time.perf_counter()
            chars = pypdf_alone(path)
            alone.append(time.perf_counter() - t0)
            alone_cpu.append(cpu() - c0)
            c0, t0 = cpu(), time.perf_counter()
            findings = harness_full(path)
            full.append(time.perf_counter() - t0)
            full_cpu.append(cpu() - c0)
    best_alone, best_full = min(alone), min(full)
    ratio = best_full / best_alone
    cpu_ratio = min(full_cpu) / min(alone_cpu)
    print(f"contract PDF: {pages} pages, {chars:,} characters extracted, {findings} findings from 18 rules")
    print(f"pypdf extraction alone          : {best_alone:.3f} s wall, {min(alone_cpu):.3f} s CPU (best of {args.runs})")
    print(f"extraction + full analysis      : {best_full:.3f} s wall, {min(full_cpu):.3f} s CPU (best of {args.runs})")
    print(f"ratio, wall clock (goal <= {GOAL:.1f}) : {ratio:.2f} -> {'OK' if ratio <= GOAL else 'ABOVE GOAL'}")
    print(f"ratio, CPU time                 : {cpu_ratio:.2f}")
    return 0 if ratio <= GOAL else 1


def cpu() -> float:
    """CPU seconds of this process and of its finished children (the harness extracts in children)."""
    own = resource.getrusage(resource.RUSAGE_SELF)
    children = resource.getrusage(resource.RUSAGE_CHILDREN)
    return own.ru_utime + own.ru_stime + children.ru_utime + children.ru_stime


if __name__ == "__main__":
    sys.exit(main())
