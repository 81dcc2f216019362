#!/usr/bin/env bash
# Install what the tests need (Korean fonts, Chromium for the browser test, Python packages in
# ./.venv), then run them.   Usage: scripts/test.sh [pytest args]   (Debian/Ubuntu; sudo when not root)
set -euo pipefail
cd "$(dirname "$0")/.."
SUDO=""; [ "$(id -u)" = 0 ] || SUDO="sudo"
# the font packages are the ones the shipped runs were trained on (checkpoints/*/data.json names each
# face's package); tests that read the fonts check that all their faces are here (tests/conftest.py)
FONTS="fonts-nanum fonts-nanum-extra fonts-nanum-eco fonts-unfonts-core fonts-unfonts-extra fonts-alee fonts-baekmuk fonts-lexi-saebom fonts-lexi-gulim fonts-woowa-bm fonts-naver-d2coding"
PACKAGES="$FONTS chromium fontconfig python3-venv"
# every package of the list that is not installed (one dpkg-query for all; a package dpkg has never
# seen is not printed, so it counts as missing too); apt-get runs only when one is missing
INSTALLED=" $(dpkg-query -W -f='${Package}:${db:Status-Status} ' $PACKAGES 2>/dev/null || true)"
MISSING=""
for p in $PACKAGES; do
  case "$INSTALLED" in *" $p:installed "*) ;; *) MISSING="$MISSING $p" ;; esac
done
if [ -n "$MISSING" ]; then
  echo "scripts/test.sh: installing$MISSING" >&2
  $SUDO apt-get update -q
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -q --no-install-recommends $MISSING
fi
# a virtual environment (Debian's own Python refuses system-wide pip installs); it sees packages
# already installed system-wide, so nothing is downloaded twice
if [ -n "${VIRTUAL_ENV:-}" ]; then PY=python3; else
  [ -x .venv/bin/python ] || python3 -m venv --system-site-packages .venv
  PY=.venv/bin/python
fi
$PY -m pip install -q -r requirements-dev.txt
export REKOGAN_REQUIRE_BROWSER=1   # Chromium was installed above: a missing browser fails tests/test_browser.py
$PY -m pytest -q "$@"
