#!/usr/bin/env bash
# Set up a fresh Debian machine for the harness: the system programs it drives
# (Chromium + ChromeDriver for the HTML report's browser tests, PostgreSQL for
# the portal's store, Saxon-HE Java as the reference schematron engine the DMP
# benchmark compares against) and a virtualenv with the pinned dependencies.
# Idempotent: what is already there is not installed again.
# Usage: scripts/setup.sh [test]   ("test" also installs the test extras)
set -euo pipefail
cd "$(dirname "$0")/.."

SYSTEM_PACKAGES=(chromium chromium-driver postgresql libsaxonhe-java default-jre-headless)

missing=()
for pkg in "${SYSTEM_PACKAGES[@]}"; do
    dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q "install ok installed" || missing+=("$pkg")
done
if ((${#missing[@]})); then
    echo "setup: installing Debian packages: ${missing[*]}"
    SUDO=""
    if [ "$(id -u)" -ne 0 ]; then SUDO="sudo"; fi
    export DEBIAN_FRONTEND=noninteractive
    $SUDO apt-get update -qq
    $SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi

PYTHON="${PYTHON:-python3}"
if [ ! -x .venv/bin/python ]; then
    echo "setup: creating .venv with $($PYTHON --version)"
    "$PYTHON" -m venv .venv
fi
extras=""
if [ "${1:-}" = "test" ]; then extras="[test]"; fi
echo "setup: installing the harness$extras with constraints.txt"
mkdir -p out
# The packaging tools first (tests build plugins with --no-build-isolation), then the project.
if ! .venv/bin/python -m pip install --disable-pip-version-check -c constraints.txt pip setuptools wheel \
        > out/pip-install.log 2>&1 || ! .venv/bin/python -m pip install --disable-pip-version-check -c constraints.txt -e ".$extras" \
        >> out/pip-install.log 2>&1; then
    tail -50 out/pip-install.log >&2
    echo "setup: pip install failed (full log: out/pip-install.log)" >&2
    exit 1
fi
