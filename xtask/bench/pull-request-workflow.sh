#!/usr/bin/env bash
# Times the steps of .github/workflows/pull-request.yml as a runner would run them: a fresh
# clone of HEAD_REF in CLONE whose workspace crates compile from nothing (rust-cache keeps a
# runner's dependencies and drops its workspace crates), dependencies from this workspace's
# warm target folder, the diffs against BASE_REF, and the comments posted to a local stand-in
# for GitHub's comments API (every GET: no comments; every POST: a new one). BENCHMARKS.md.
set -euo pipefail
workspace="$(cd "$(dirname "$0")/../.." && pwd)"
clone="${CLONE:?set CLONE to a new folder, e.g. /tmp/pr-workflow-1}"
port="${PORT:-47555}"
rm -rf "$clone"
git clone -q "$workspace" "$clone"
cd "$clone"
git checkout -q "${HEAD_REF:-HEAD}"
export CARGO_TARGET_DIR="$workspace/target"
python3 - "$port" <<'PY' &
import json, sys
from http.server import BaseHTTPRequestHandler, HTTPServer
class Comments(BaseHTTPRequestHandler):
    def answer(self, code, body):
        data = json.dumps(body).encode()
        self.send_response(code)
        self.send_header("content-type", "application/json")
        self.send_header("content-length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)
    def do_GET(self):
        self.answer(200, [])
    def do_POST(self):
        self.rfile.read(int(self.headers.get("content-length", 0)))
        self.answer(201, {"id": 1})
    def log_message(self, *args):
        pass
HTTPServer(("127.0.0.1", int(sys.argv[1])), Comments).serve_forever()
PY
stub=$!
trap 'kill $stub' EXIT
started=$SECONDS
step() { local s=$SECONDS; "$@"; echo "== $* : $((SECONDS - s)) s" >&2; }
s=$SECONDS
cargo xtask synth --env all > /dev/null 2>&1
echo "== cargo xtask synth --env all : $((SECONDS - s)) s" >&2
for environment in dev staging prod; do
  s=$SECONDS
  cargo xtask diff --env "$environment" --against "${BASE_REF:-origin/main}" --format markdown \
    > "diff-$environment.md" 2> "diff-$environment.err" || true
  echo "== cargo xtask diff --env $environment : $((SECONDS - s)) s" >&2
done
for environment in dev staging prod; do
  GITHUB_API_URL="http://127.0.0.1:$port" GITHUB_REPOSITORY=brain2/brain2 GITHUB_TOKEN=stand-in \
    step cargo xtask pr-comment --env "$environment" --pull-request 1 --body-file "diff-$environment.md"
done
echo "== all: $((SECONDS - started)) s" >&2
