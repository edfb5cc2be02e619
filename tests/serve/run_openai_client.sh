#!/usr/bin/env bash
# ctest entry for tests/serve/openai_client_test.mjs: installs the pinned `openai` client if it
# is missing (scripts/install-test-clients.sh), then runs the test in a scratch folder.
set -euo pipefail
source_dir=$1 cli=$2 clients=$3
bash "$source_dir/scripts/install-test-clients.sh" "$clients"
work=$(mktemp -d /tmp/crossgpu-serve-openai-XXXXXX)
trap 'rm -rf "$work"' EXIT
node "$source_dir/tests/serve/openai_client_test.mjs" --cli "$cli" --clients "$clients" --work "$work"
