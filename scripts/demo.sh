#!/usr/bin/env bash
# The README's demo command: set up, then audit the embedded demo vendor
# (its FHIR, $export and document endpoints served on 127.0.0.1 by the
# harness itself) and write the scorecard, JUnit, SARIF and HTML report to out/.
# Usage: scripts/demo.sh [good|poor] [extra harness demo options]
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
variant="${1:-good}"
shift || true
set +e
.venv/bin/harness demo --vendor "$variant" -o "out/demo-$variant" "$@"
rc=$?
set -e
if [ "$rc" -le 1 ]; then
    .venv/bin/harness validate-scorecard "out/demo-$variant/scorecard.json"
fi
echo "demo.sh: scorecard and report in out/demo-$variant/ (harness exit code $rc)"
# Exit 1 only means the demo vendor has failing checks (demo-poor always does).
if [ "$rc" -le 1 ]; then exit 0; fi
exit "$rc"
