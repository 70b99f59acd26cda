#!/usr/bin/env python3
"""Benchmark: the shared FHIR validator against json.loads, orjson and fhir.resources (R4B).

Generates N NDJSON lines from the official R4 examples (``../shared/fhir/r4-examples``) with
seeded defects mixed in (wrong type, bad date, unknown element, missing required, bad code in a
required binding, array for a single element, bad INS-NIR key, bad RPPS key, truncated JSON),
then times, on the same lines in the same run, one core each:

- ``json.loads`` alone (the floor) and ``orjson.loads``;
- our validator, ``validate_json(line)`` (parse + full validation);
- ``fhir.resources`` R4B models, ``json.loads`` + ``model_validate`` (parse + validate).

Prints throughputs, ratios and how many seeded defects each validator detects (and false
positives on the clean lines).

    python bench/fhir_validator.py                 # 20,000 resources
    python bench/fhir_validator.py --n 100000
    python bench/fhir_validator.py --json          # machine-readable result on stdout
"""

from __future__ import annotations

import argparse
import collections
import gc
import json
import os
import random
import re
import resource
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
for entry in (ROOT, ROOT / "plugins"):
    if str(entry) not in sys.path:
        sys.path.insert(0, str(entry))

import orjson  # noqa: E402

from harness_plugins.fhir.defects import generate, load_examples  # noqa: E402
from harness_plugins.fhir.packs import locate_pack  # noqa: E402
from harness_plugins.fhir.validator import FhirValidator  # noqa: E402


_DATE = re.compile(rb'"(\d{4})-(\d\d)-(\d\d)')


def _vary(line: bytes, i: int, rng: random.Random) -> bytes:
    """Make repeated examples look like distinct records: unique ids (see build_lines) and
    every date of the line shifted by the same multiple of 4 years (order, leap days and
    validity preserved, so no defect is added or removed).
    """
    years = [int(m.group(1)) for m in _DATE.finditer(line)]
    if not years or min(years) < 1950 or max(years) > 2099:
        return line
    delta = 4 * rng.randrange(-10, 1)

    def shift(m):
        return b'"%d-%s-%s' % (int(m.group(1)) + delta, m.group(2), m.group(3))
    return _DATE.sub(shift, line)


def build_lines(validator: FhirValidator, examples_dir: Path, n: int, defect_rate: float, seed: int):
    examples = load_examples(examples_dir)
    rng = random.Random(seed + 1)
    lines: list[bytes] = []
    kinds: list[str | None] = []
    for i, (kind, res) in enumerate(generate(examples, n, validator, defect_rate=defect_rate, seed=seed)):
        if isinstance(res.get("id"), str) and len(res["id"]) < 50:
            res = dict(res, id=f"{res['id']}-{i}")
        line = _vary(orjson.dumps(res), i, rng)
        if kind is None and rng.random() < defect_rate / 10:
            kind, line = "truncated-json", line[: max(1, len(line) // 2)]
        lines.append(line)
        kinds.append(kind)
    return lines, kinds


def timed(fn, lines, repeat=1):
    """Best-of CPU time of this process (process_time: robust to other load on the machine)."""
    best = None
    for _ in range(repeat):
        gc.collect()
        t0 = time.process_time()
        for line in lines:
            fn(line)
        dt = time.process_time() - t0
        best = dt if best is None or dt < best else best
    return best


def detections(results, kinds):
    """results[i] = True when line i was rejected / has an error."""
    per_kind = collections.Counter()
    seeded = collections.Counter()
    false_pos = 0
    for flagged, kind in zip(results, kinds):
        if kind is None:
            false_pos += flagged
        else:
            seeded[kind] += 1
            per_kind[kind] += flagged
    return per_kind, seeded, false_pos


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--n", type=int, default=20000, help="resources to generate (default 20000)")
    ap.add_argument("--defect-rate", type=float, default=0.2, help="share of lines with a seeded defect")
    ap.add_argument("--seed", type=int, default=42)
    ap.add_argument("--pack", default=None, help="FHIR definitions pack (path or installed name)")
    ap.add_argument("--examples", type=Path, default=None, help="folder of R4 examples (default: the pack's)")
    ap.add_argument("--repeat", type=int, default=1, help="timing repeats (best of)")
    ap.add_argument("--skip-fhir-resources", action="store_true")
    ap.add_argument("--json", action="store_true", help="print the result as JSON")
    args = ap.parse_args(argv)

    t0 = time.perf_counter()
    pack = locate_pack(args.pack)
    validator = FhirValidator(pack)
    load_s = time.perf_counter() - t0
    examples_dir = args.examples or pack.path / "r4-examples"
    lines, kinds = build_lines(validator, examples_dir, args.n, args.defect_rate, args.seed)
    total_bytes = sum(map(len, lines))

    def safe_json(line):
        try:
            return json.loads(line)
        except ValueError:
            return None

    def safe_orjson(line):
        try:
            return orjson.loads(line)
        except ValueError:
            return None

    rates: dict[str, float] = {}
    rates["json.loads"] = len(lines) / timed(safe_json, lines, args.repeat)
    rates["orjson.loads"] = len(lines) / timed(safe_orjson, lines, args.repeat)

    # One-time, per process: the validator generates a specialised walker per FHIR type on first
    # use (~1 ms each); warm it on the distinct examples, as fhir.resources' lazy model imports are.
    t_warm = time.process_time()
    for res in load_examples(examples_dir):
        validator.validate(res)
    warm_s = time.process_time() - t_warm
    ours_flags = []

    def ours(line):
        issues = validator.validate_json(line)
        ours_flags.append(any(i.severity == "error" for i in issues))

    rates["validator"] = len(lines) / timed(ours, lines, 1)
    if args.repeat > 1:
        rates["validator"] = max(rates["validator"], len(lines) / timed(validator.validate_json, lines, args.repeat))
    ours_det = detections(ours_flags, kinds)

    fr_det = None
    fr_version = None
    if not args.skip_fhir_resources:
        try:
            import fhir.resources
            from fhir.resources.R4B import get_fhir_model_class
            fr_version = fhir.resources.__version__
        except ImportError:
            print("fhir.resources is not installed (pip install fhir.resources); skipped", file=sys.stderr)
        else:
            fr_flags = []

            def fr(line):
                try:
                    data = json.loads(line)
                    get_fhir_model_class(data["resourceType"]).model_validate(data)
                    fr_flags.append(False)
                except Exception:
                    fr_flags.append(True)

            for name in {json.loads(x)["resourceType"] for x in lines[:2000] if safe_json(x)}:
                try:  # warm the lazy model imports outside the timing
                    get_fhir_model_class(name)
                except Exception:
                    pass
            rates["fhir.resources"] = len(lines) / timed(fr, lines, 1)
            fr_det = detections(fr_flags, kinds)

    rss_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    result = {
        "n": len(lines),
        "mean_line_bytes": round(total_bytes / len(lines)),
        "pack": validator.rule_packs()[0],
        "validator_load_s": round(load_s, 3),
        "validator_warmup_s": round(warm_s, 3),
        "rates_per_s": {k: round(v) for k, v in rates.items()},
        "ratios": {
            "validator_vs_json.loads": round(rates["validator"] / rates["json.loads"], 3),
            "json.loads_vs_validator": round(rates["json.loads"] / rates["validator"], 2),
            "validator_vs_orjson": round(rates["validator"] / rates["orjson.loads"], 3),
        },
        "seeded": dict(sorted(ours_det[1].items())),
        "detected": {"validator": dict(sorted(ours_det[0].items()))},
        "false_positives": {"validator": ours_det[2]},
        "peak_rss_mb": round(rss_mb),
        "fhir.resources": fr_version,
    }
    if fr_det is not None:
        result["ratios"]["validator_vs_fhir.resources"] = round(rates["validator"] / rates["fhir.resources"], 1)
        result["detected"]["fhir.resources"] = dict(sorted(fr_det[0].items()))
        result["false_positives"]["fhir.resources"] = fr_det[2]

    if args.json:
        print(json.dumps(result, indent=2))
        return 0

    print(f"{len(lines):,} resources from {examples_dir} (mean {result['mean_line_bytes']:,} bytes/line), "
          f"{sum(ours_det[1].values()):,} with a seeded defect; one core, pid {os.getpid()}")
    print(f"validator load (cached definitions): {load_s * 1000:.0f} ms, warm-up (walker generation): "
          f"{warm_s * 1000:.0f} ms; pack {pack.name} {pack.version} sha256:{pack.sha256[:16]}")
    print()
    print(f"{'':<22}{'resources/s':>14}   (CPU time of this process, one core)")
    for name, rate in rates.items():
        print(f"{name:<22}{rate:>14,.0f}")
    print()
    r = result["ratios"]
    print(f"validator / json.loads      = {r['validator_vs_json.loads']:.2f}  "
          f"(json.loads is {r['json.loads_vs_validator']:.2f}x faster; goal: within 5x)")
    if fr_det is not None:
        print(f"validator / fhir.resources  = {r['validator_vs_fhir.resources']:.1f}x  (goal: >= 10x)")
    print()
    names = ["validator"] + (["fhir.resources"] if fr_det is not None else [])
    print(f"{'defect kind':<20}{'seeded':>8}" + "".join(f"{n:>16}" for n in names))
    for kind in sorted(ours_det[1]):
        row = f"{kind:<20}{ours_det[1][kind]:>8}"
        for n in names:
            row += f"{result['detected'][n].get(kind, 0):>16}"
        print(row)
    total = sum(ours_det[1].values())
    row = f"{'total':<20}{total:>8}"
    for n in names:
        row += f"{sum(result['detected'][n].values()):>16}"
    print(row)
    row = f"{'false positives':<20}{len(lines) - total:>8}"
    for n in names:
        row += f"{result['false_positives'][n]:>16}"
    print(row + "   (clean lines flagged)")
    print(f"\npeak RSS {rss_mb:.0f} MB (includes the {len(lines):,} lines held in memory for the comparison)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
