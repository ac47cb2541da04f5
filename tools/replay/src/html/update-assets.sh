#!/usr/bin/env bash
# Rebuilds the uPlot .inc files write_html.cpp includes: each is one raw string literal holding
# the file as it is, uPlot from the npm registry (npm pack uplot@VERSION). charts.js.inc, the
# plotting code, is ours and edited in place.
# usage: update-assets.sh [UPLOT_VERSION]   (run from anywhere; needs npm for uPlot)
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
version=${1:-1.6.32}
wrap() { printf 'R"zmtp_asset('; cat "$1"; printf ')zmtp_asset"\n'; }
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
(cd "$tmp" && npm pack --silent "uplot@$version" > /dev/null && tar xzf uplot-*.tgz)
wrap "$tmp/package/dist/uPlot.iife.min.js" > "$here/uPlot.iife.min.js.inc"
wrap "$tmp/package/dist/uPlot.min.css" > "$here/uPlot.min.css.inc"
cp "$tmp/package/LICENSE" "$here/LICENSE.uPlot"
sha256sum "$tmp/package/dist/uPlot.iife.min.js" "$tmp/package/dist/uPlot.min.css"
