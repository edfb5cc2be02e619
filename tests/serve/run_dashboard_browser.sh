#!/usr/bin/env bash
# ctest entry for tests/serve/dashboard_browser_test.mjs: installs the pinned npm clients if they
# are missing (scripts/install-test-clients.sh), then drives Debian's chromium at the dashboard.
# Screenshots go to the build folder's dashboard-screenshots/.
set -euo pipefail
source_dir=$1 cli=$2 clients=$3 shots=$4
chromium=$(command -v chromium || true)
if [ -z "$chromium" ]; then
  echo "dashboard test: Debian's chromium is not installed (scripts/install-deps.sh installs it)" >&2
  exit 1
fi
bash "$source_dir/scripts/install-test-clients.sh" "$clients"
work=$(mktemp -d /tmp/crossgpu-dashboard-XXXXXX)
trap 'rm -rf "$work"' EXIT
node "$source_dir/tests/serve/dashboard_browser_test.mjs" --cli "$cli" --clients "$clients" --work "$work/run" \
  --chromium "$chromium" --shots "$shots"
