#!/bin/bash
# The renderer comparison of BENCHMARKS.md ("Renderers compared"): each renderer draws the same
# graph with preset positions in headless Chromium with software GL, then a scripted pan and
# zoom; one browser per run. Results go to results.jsonl in a temporary folder, one JSON line
# each. Usage: [GLFLAGS=...] web/bench/renderers.sh [sizes] [renderers]
#   e.g. web/bench/renderers.sh "2000 10000" "ours sigma cytoscape-webgl cytoscape"
#   GLFLAGS="--disable-gpu" for the CPU-drawn 2D canvas of the browser tests (no WebGL then).
set -euo pipefail
HERE=$(cd "$(dirname "$0")" && pwd)
SIZES=${1:-"2000 10000"}
LIBS=${2:-"ours sigma cytoscape-webgl cytoscape"}
GLFLAGS=${GLFLAGS:-"--use-angle=swiftshader --enable-unsafe-swiftshader"}
WORK=$(mktemp -d)
cd "$WORK"
# The libraries from npm, at the versions measured (not vendored: only our renderer ships).
npm pack --silent cytoscape@3.34.4 sigma@3.0.3 graphology@0.26.0 >/dev/null
for f in *.tgz; do mkdir -p "${f%.tgz}" && tar xzf "$f" -C "${f%.tgz}"; done
cp cytoscape-3.34.4/package/dist/cytoscape.min.js sigma-3.0.3/package/dist/sigma.min.js \
  graphology-0.26.0/package/dist/graphology.umd.min.js .
cp "$HERE/renderers.html" index.html
cp "$HERE/../src/graph.js" graph.js
touch results.jsonl
PORT=$(python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
python3 "$HERE/renderers-serve.py" "$PORT" & SERVER=$!
trap 'kill $SERVER' EXIT
sleep 1
for n in $SIZES; do for lib in $LIBS; do
  before=$(wc -l < results.jsonl)
  rm -rf profile
  # shellcheck disable=SC2086
  chromium --headless=new --no-sandbox $GLFLAGS \
    --disable-dev-shm-usage --no-first-run --disable-background-networking --window-size=1280,900 \
    --user-data-dir="$WORK/profile" "http://127.0.0.1:$PORT/index.html?lib=$lib&n=$n" >/dev/null 2>&1 & CHROME=$!
  now=$before
  for _ in $(seq 1 240); do
    now=$(wc -l < results.jsonl)
    [ "$now" -gt "$before" ] && break
    sleep 0.5
  done
  [ "$now" -gt "$before" ] || echo "{\"lib\":\"$lib\",\"n\":$n,\"timeout\":true}" >> results.jsonl
  kill $CHROME; wait $CHROME 2>/dev/null || true
done; done
cat results.jsonl
echo "load average: $(cut -d' ' -f1-3 /proc/loadavg)"
