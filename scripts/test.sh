#!/usr/bin/env bash
# The README's test command: set everything up, then run the whole suite.
# A skipped test fails the run (HARNESS_FAIL_ON_SKIP=1): a test that cannot run
# here must say so loudly, not hide. Extra arguments go to pytest.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh test
export HARNESS_FAIL_ON_SKIP=1
# Tests run the `harness` and `pytest` commands as users do: from the venv.
export PATH="$PWD/.venv/bin:$PATH"
mkdir -p test-artifacts
# A temp root of this run's own: pytest prunes old basetemp folders of other
# sessions in /tmp/pytest-of-$USER, which breaks a run while another one starts.
PYTEST_DEBUG_TEMPROOT="$(mktemp -d /tmp/harness-tests.XXXXXX)"
chmod 755 "$PYTEST_DEBUG_TEMPROOT"
export PYTEST_DEBUG_TEMPROOT
set +e
.venv/bin/python -m pytest -p no:cacheprovider --junitxml=test-artifacts/junit.xml "$@"
rc=$?
set -e
if [ "$rc" -eq 5 ]; then
    echo "test.sh: pytest collected no tests — treating as a failure" >&2
    exit 1
fi
exit "$rc"
