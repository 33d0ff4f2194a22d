#!/usr/bin/env bash
# Renders a study report's index.html to a PNG with headless Chromium, and checks the PNG.
#
#   scripts/render-report.sh DIR OUT.png
#
# DIR holds the report (`index.html`, written by `smartinf report` / StudyReport.write). Needs
# Debian's `chromium` package (apt-get install -y chromium); exits 2 with a message when no
# chromium binary is on PATH. The window is 1400×3000, so the PNG is 1400 px wide.
set -euo pipefail

if [ "$#" -ne 2 ]; then
    echo "usage: $0 DIR OUT.png" >&2
    exit 64
fi
dir=$1
out=$2
if [ ! -f "$dir/index.html" ]; then
    echo "render-report: no index.html in $dir" >&2
    exit 1
fi

browser=""
for name in chromium chromium-browser; do
    if command -v "$name" >/dev/null 2>&1; then browser=$(command -v "$name"); break; fi
done
if [ -z "$browser" ]; then
    echo "render-report: no chromium or chromium-browser on PATH; install it with: apt-get install -y chromium" >&2
    exit 2
fi

abs_dir=$(cd "$dir" && pwd)
case "$out" in /*) abs_out=$out ;; *) abs_out="$PWD/$out" ;; esac
mkdir -p "$(dirname "$abs_out")"
rm -f "$abs_out"

# A throwaway profile, so runs do not share state or touch the user's.
profile=$(mktemp -d "${TMPDIR:-/tmp}/render-report-profile.XXXXXX")
trap 'rm -rf "$profile"' EXIT

log="$profile/chromium.log"
if ! timeout 120 "$browser" --headless --no-sandbox --disable-gpu --hide-scrollbars \
        --user-data-dir="$profile" --screenshot="$abs_out" --window-size=1400,3000 \
        "file://$abs_dir/index.html" >"$log" 2>&1; then
    echo "render-report: $browser failed; its output:" >&2
    cat "$log" >&2
    exit 1
fi

# The PNG must exist, start with the PNG signature, and be more than a blank page.
if [ ! -s "$abs_out" ]; then
    echo "render-report: $browser wrote no $abs_out; its output:" >&2
    cat "$log" >&2
    exit 1
fi
signature=$(head -c 8 "$abs_out" | od -An -tx1 | tr -d ' \n')
if [ "$signature" != "89504e470d0a1a0a" ]; then
    echo "render-report: $abs_out is not a PNG (starts with $signature)" >&2
    exit 1
fi
size=$(wc -c <"$abs_out")
if [ "$size" -lt 20000 ]; then
    echo "render-report: $abs_out is only $size bytes: the page probably did not render" >&2
    exit 1
fi
# Width and height from the IHDR chunk (bytes 16–23, big-endian).
width=$((16#$(od -An -tx1 -j16 -N4 "$abs_out" | tr -d ' \n')))
height=$((16#$(od -An -tx1 -j20 -N4 "$abs_out" | tr -d ' \n')))
echo "render-report: $abs_out ${width}x${height}, $size bytes ($browser)"
