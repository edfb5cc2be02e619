#!/usr/bin/env bash
# ctest entry for tests/serve/tls_test.mjs: the pinned `openai` client against `crossgpu serve`
# over HTTPS. The test CA (tests/serve/make_test_tls.sh) is made before node starts, so that
# node's TLS trusts it through NODE_EXTRA_CA_CERTS as a user's system store would.
set -euo pipefail
source_dir=$1 cli=$2 clients=$3
bash "$source_dir/scripts/install-test-clients.sh" "$clients"
work=$(mktemp -d /tmp/crossgpu-serve-tls-XXXXXX)
trap 'rm -rf "$work"' EXIT
bash "$source_dir/tests/serve/make_test_tls.sh" "$work/certs"
NODE_EXTRA_CA_CERTS="$work/certs/ca.pem" node "$source_dir/tests/serve/tls_test.mjs" --cli "$cli" \
  --clients "$clients" --work "$work" --certs "$work/certs"
