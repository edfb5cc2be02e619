#!/usr/bin/env bash
# ctest entry for the tests/serve/*.mjs tests driving the official `openai` client (by default
# openai_client_test.mjs; the 4th argument names another): installs the pinned client if it is
# missing (scripts/install-test-clients.sh), then runs the test in a scratch folder.
set -euo pipefail
source_dir=$1 cli=$2 clients=$3 test=${4:-openai_client_test.mjs}
bash "$source_dir/scripts/install-test-clients.sh" "$clients"
work=$(mktemp -d /tmp/crossgpu-serve-openai-XXXXXX)
trap 'rm -rf "$work"' EXIT
node "$source_dir/tests/serve/$test" --cli "$cli" --clients "$clients" --work "$work"
