"""Full CDA validation throughput (XSD + structuration minimale + 2 generic schematrons + volet) against Saxon-HE Java.

    python bench/dmp_validate.py [--variants 200] [--workers 2] [--per-doc-java 3] [--no-java] [--optimised-only]
                                  [--worker-max-documents 1000]

Documents: the official samples of ``../shared/samples/cda/`` plus ``--variants``
deterministic mutations of them (``harness_plugins.dmp.fixtures.variants``). Every
contender runs in this process's run, on the same documents, with the stylesheets the
rule pack compiled into its cache (compiled at most once, before any timing):

* ours      — the dmp engine: one process per worker, each loading the compiled stylesheets once
              (load time included in the wall time) and replaced after ``--worker-max-documents``
              documents as the dmp target does, lxml XSD + the four schematrons per document;
              once with the optimised stylesheets (the default) and once with ``optimize = false``
              (repeated blocks shared as named templates, no flattening);
* peer (a)  — Saxon-HE Java command line (Debian ``libsaxonhe-java``) run once per document and
              stylesheet, as the official scripts do; timed on the first ``--per-doc-java`` documents
              (a rate: documents per second);
* peer (b)  — Saxon-HE Java run once per stylesheet over a folder of all the documents it applies to
              (``-s:DIR -o:DIR``), the best the reference engine does; pristine stylesheets;
* peer (c)  — lxml parse + XSD alone, one process: the floor.

The Java peers run schematrons only (no XSD), which flatters them. Prints every throughput,
the ratios, the peak RSS of the parent and of each worker (read by the worker itself), and the compile time the
pack's first run paid (from the cache manifest) against what this run compiled (0 when warm).
"""

from __future__ import annotations

import argparse
import os
import re
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
SHARED = Path(os.environ.get("HARNESS_SHARED") or ROOT.parent / "shared")
SAXON_JAR = Path("/usr/share/java/Saxon-HE.jar")


def _setup_path() -> None:
    for entry in (ROOT, ROOT / "plugins"):
        if str(entry) not in sys.path:
            sys.path.insert(0, str(entry))


def write_corpus(folder: Path, variants: int) -> list[Path]:
    from harness_plugins.dmp.fixtures import iter_variants

    samples = sorted((SHARED / "samples" / "cda").glob("*.xml"))
    paths = []
    for path in samples:
        target = folder / path.name
        shutil.copyfile(path, target)
        paths.append(target)
    for i, data in enumerate(iter_variants([p.read_bytes() for p in samples], variants, seed=11)):
        target = folder / f"variant-{i:05d}.xml"
        target.write_bytes(data)
        paths.append(target)
    return paths


def _memory_kb() -> tuple[int, int]:
    """(VmHWM, VmRSS) of this process in kB. Read in the worker itself: the parent's
    ``RUSAGE_CHILDREN`` would also count the moment between fork and exec, when a child
    still maps the parent's pages (the whole corpus, for a large run)."""
    values = {}
    with open("/proc/self/status") as status:
        for line in status:
            if line.startswith(("VmHWM:", "VmRSS:")):
                values[line.split(":")[0]] = int(line.split()[1])
    return values.get("VmHWM", 0), values.get("VmRSS", 0)


def validate_and_measure(src):
    from harness_plugins.dmp import engine

    packed = engine.run_one_packed(src)
    return packed, os.getpid(), _memory_kb()


def run_ours(pack, paths: list[Path], workers: int, optimize: bool, per_worker: int) -> tuple[float, list, dict]:
    """Wall time of the dmp engine over ``paths`` in fresh worker processes (start-up included), replaced
    every ``per_worker`` documents as the dmp target does; the reports, held packed as the dmp target holds
    them (``engine.pack_report``), so the parent's RSS is the audit's; and per worker process: peak
    RSS and RSS after its 100th and its last document (kB)."""
    from harness_plugins.dmp import engine
    from harness_plugins.dmp.pool import RecyclingPool

    sources = [engine.Source(p.name, str(p)) for p in paths]
    start = time.perf_counter()
    reports, memory = [], {}
    pool = RecyclingPool(pack, engine.Options(optimize=optimize), workers, per_worker or len(sources),
                         task=validate_and_measure)
    try:
        pool.warm_up()
        for future in pool.submit_all(sources):
            packed, pid, (hwm, rss) = future.result()
            reports.append(packed)
            seen = memory.setdefault(pid, {"docs": 0, "peak": 0, "rss_at_100": None, "rss_last": 0})
            seen["docs"] += 1
            seen["peak"] = max(seen["peak"], hwm)
            seen["rss_last"] = rss
            if seen["docs"] == 100:
                seen["rss_at_100"] = rss
    finally:
        pool.close()
    elapsed = time.perf_counter() - start
    return elapsed, reports, memory


def run_lxml_xsd(xsd_path: Path, paths: list[Path]) -> float:
    from lxml import etree

    from harness.safety import xml_parser

    schema = etree.XMLSchema(etree.parse(str(xsd_path), etree.XMLParser(no_network=True, resolve_entities=False)))
    start = time.perf_counter()
    for path in paths:
        schema.validate(etree.parse(str(path), xml_parser(huge=True)))
    return time.perf_counter() - start


def java_stylesheets(schematrons, manifest: dict, folder: Path) -> dict[str, Path]:
    """The pristine compiled stylesheets, with xml:base set to their .sch so value sets resolve as ours do."""
    out = {}
    for entry in schematrons.entries:
        if manifest["entries"].get(entry.stem, {}).get("status") != "ok":
            continue
        text = entry.files(schematrons.cache_dir)["xsl"].read_text(encoding="utf-8")
        base = schematrons.sch_path(entry).resolve().as_uri()
        text = re.sub(r"<xsl:stylesheet\b", f'<xsl:stylesheet xml:base="{base}"', text, count=1)
        path = folder / f"{entry.stem}.xsl"
        path.write_text(text, encoding="utf-8")
        out[entry.stem] = path
    return out


def plan(reports, schematrons) -> dict[str, list[str]]:
    """stylesheet stem -> document file names it runs on (the generic three on all, the volet on its own)."""
    from harness_plugins.dmp import engine

    groups: dict[str, list[str]] = {}
    for report in map(engine.unpack_report, reports):
        for name in ("structuration_minimale", "modeles_contenus", "modeles_ans", "volet"):
            stage = report.stage(name)
            if stage.entry and stage.status != "skipped":
                groups.setdefault(stage.entry, []).append(Path(report.artefact).name)
    return groups


def java(args: list[str]) -> None:
    subprocess.run(["java", "-Xss8m", "-cp", str(SAXON_JAR), "net.sf.saxon.Transform", *args],
                   stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, check=False, timeout=3600)


def run_java_per_document(sheets: dict[str, Path], groups: dict[str, list[str]], corpus: Path, names: list[str],
                          out: Path) -> float:
    start = time.perf_counter()
    for name in names:
        for stem, docs in groups.items():
            if name in docs:
                java([f"-s:{corpus / name}", f"-xsl:{sheets[stem]}", f"-o:{out / (stem + '-' + name)}"])
    return time.perf_counter() - start


def svrl_reports(folder: Path) -> int:
    """How many non-empty SVRL outputs the Java peer wrote (a peer that failed fast would look fast)."""
    return sum(1 for p in folder.rglob("*") if p.is_file() and b"schematron-output" in p.read_bytes()[:4000])


def run_java_folder(sheets: dict[str, Path], groups: dict[str, list[str]], corpus: Path, work: Path) -> float:
    folders = {}
    for stem, docs in groups.items():  # one input folder per stylesheet (links, not copies), built before timing
        folder = work / f"in-{stem}"
        folder.mkdir()
        for name in docs:
            os.symlink(corpus / name, folder / name)
        folders[stem] = folder
    start = time.perf_counter()
    for stem, folder in folders.items():
        target = work / f"out-{stem}"
        target.mkdir()
        java([f"-s:{folder}", f"-xsl:{sheets[stem]}", f"-o:{target}"])
    return time.perf_counter() - start


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--variants", type=int, default=200, help="generated variants besides the samples")
    parser.add_argument("--workers", type=int, default=2, help="validation processes for ours")
    parser.add_argument("--per-doc-java", type=int, default=3, help="documents timed for peer (a)")
    parser.add_argument("--no-java", action="store_true", help="skip the Saxon-HE Java peers")
    parser.add_argument("--worker-max-documents", type=int, default=1000,
                        help="replace a worker after this many documents, as the dmp target does (0: never)")
    parser.add_argument("--optimised-only", action="store_true",
                        help="skip our optimize = false run (for long runs such as --variants 10000)")
    args = parser.parse_args()
    _setup_path()
    from harness.rulepacks import open_pack
    from harness_plugins.dmp import engine
    from harness_plugins.dmp.pack import SchematronPack

    pack = open_pack(SHARED / "rules" / "ci-sis")
    schematrons = SchematronPack(pack)
    t0 = time.perf_counter()
    manifest = schematrons.ensure_compiled()
    print(f"rule pack {pack.sha256[:12]}: first run compiled {len(manifest['entries'])} entry points in "
          f"{manifest['compile_s']:.1f} s; this run compiled {schematrons.compiled_now} "
          f"({time.perf_counter() - t0:.2f} s to find the cache)")
    with tempfile.TemporaryDirectory(prefix="dmp-bench-") as tmp:
        work = Path(tmp)
        corpus = work / "corpus"
        corpus.mkdir()
        paths = write_corpus(corpus, args.variants)
        total_mb = sum(p.stat().st_size for p in paths) / 1e6
        n = len(paths)
        print(f"{n} documents ({total_mb:.1f} MB): {n - args.variants} official samples + {args.variants} variants")

        rows: list[tuple[str, float]] = []
        elapsed, reports, memory = run_ours(pack, paths, args.workers, optimize=True,
                                           per_worker=args.worker_max_documents)
        rows.append((f"ours, {args.workers} workers, optimised stylesheets", n / elapsed))
        memory_p: dict = {}
        if not args.optimised_only:
            elapsed_p, _, memory_p = run_ours(pack, paths, args.workers, optimize=False,
                                              per_worker=args.worker_max_documents)
            rows.append((f"ours, {args.workers} workers, optimize = false (shared blocks only)", n / elapsed_p))
        errors = sum(1 for r in map(engine.unpack_report, reports) for s in r.stages.values() if s.status == "error")
        rows.append(("peer (c) lxml parse + XSD only, 1 process", n / run_lxml_xsd(schematrons.xsd_path, paths)))

        java_ok = not args.no_java and SAXON_JAR.is_file() and shutil.which("java")
        if java_ok:
            sheets = java_stylesheets(schematrons, manifest, work)
            groups = plan(reports, schematrons)
            (work / "out-a").mkdir()
            names = [p.name for p in paths[: args.per_doc_java]]
            per_doc = run_java_per_document(sheets, groups, corpus, names, work / "out-a")
            rows.append((f"peer (a) Saxon-HE Java CLI per document ({len(names)} docs timed)", len(names) / per_doc))
            rows.append(("peer (b) Saxon-HE Java CLI once per stylesheet over the folder", n / run_java_folder(
                sheets, groups, corpus, work)))
            expected_a = sum(1 for name in names for docs in groups.values() if name in docs)
            print(f"Java wrote {svrl_reports(work / 'out-a')}/{expected_a} SVRL reports in (a) and "
                  f"{sum(svrl_reports(p) for p in work.glob('out-*') if p.name != 'out-a')}/"
                  f"{sum(len(d) for d in groups.values())} in (b)")
        elif not args.no_java:
            print(f"Saxon-HE Java not found ({SAXON_JAR}, java on PATH): peers (a) and (b) not measured")

    print()
    width = max(len(label) for label, _ in rows)
    for label, rate in rows:
        print(f"  {label:<{width}}  {rate:9.2f} docs/s")
    ours = rows[0][1]
    print()
    for label, rate in rows[1:]:
        print(f"  ours (optimised) / {label}: {ours / rate:.2f}x")
    parent_rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    print(f"\npeak RSS of the parent (holds every report): {parent_rss / 1024:.0f} MB")
    for label, measured in (("optimised", memory), ("optimize = false", memory_p)):
        for pid, m in sorted(measured.items()):
            at_100 = f"{m['rss_at_100'] / 1024:.0f} MB" if m["rss_at_100"] else "-"
            print(f"  worker {pid} ({label}): {m['docs']} documents, peak RSS {m['peak'] / 1024:.0f} MB, "
                  f"RSS after its 100th document {at_100}, after its last {m['rss_last'] / 1024:.0f} MB")
    print(f"stage errors in our run: {errors}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
