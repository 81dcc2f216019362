#!/usr/bin/env bash
# Install what the tests need (Korean fonts, Chromium for the browser test, Python packages in
# ./.venv), then run them.   Usage: scripts/test.sh [pytest args]   (Debian/Ubuntu; sudo when not root)
set -euo pipefail
cd "$(dirname "$0")/.."
SUDO=""; [ "$(id -u)" = 0 ] || SUDO="sudo"
FONTS="fonts-nanum fonts-nanum-extra fonts-nanum-eco fonts-unfonts-core fonts-unfonts-extra fonts-alee fonts-baekmuk fonts-lexi-saebom fonts-lexi-gulim fonts-woowa-bm fonts-naver-d2coding"
if ! dpkg -s chromium fonts-nanum fonts-woowa-bm >/dev/null 2>&1 || ! python3 -m venv --help >/dev/null 2>&1; then
  $SUDO apt-get update -q
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -q --no-install-recommends $FONTS chromium fontconfig python3-venv
fi
# a virtual environment (Debian's own Python refuses system-wide pip installs); it sees packages
# already installed system-wide, so nothing is downloaded twice
if [ -n "${VIRTUAL_ENV:-}" ]; then PY=python3; else
  [ -x .venv/bin/python ] || python3 -m venv --system-site-packages .venv
  PY=.venv/bin/python
fi
$PY -m pip install -q -r requirements-dev.txt
$PY -m pytest -q "$@"
