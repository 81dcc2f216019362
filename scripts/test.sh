#!/usr/bin/env bash
# Install what the tests need (Korean fonts, Chromium for the browser test, Python packages), then run them.
# Usage: scripts/test.sh [pytest args]     (Debian/Ubuntu; uses sudo when not root)
set -euo pipefail
cd "$(dirname "$0")/.."
SUDO=""; [ "$(id -u)" = 0 ] || SUDO="sudo"
FONTS="fonts-nanum fonts-nanum-extra fonts-nanum-eco fonts-unfonts-core fonts-unfonts-extra fonts-alee fonts-baekmuk fonts-lexi-saebom fonts-lexi-gulim fonts-woowa-bm fonts-naver-d2coding"
if ! dpkg -s chromium fonts-nanum >/dev/null 2>&1; then
  $SUDO apt-get update -q
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -q --no-install-recommends $FONTS chromium fontconfig
fi
python3 -m pip install -q -r requirements-dev.txt
python3 -m pytest -q "$@"
