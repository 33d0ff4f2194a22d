#!/usr/bin/env bash
# Our Chakra export run through ASTRA-sim itself (issue 16): builds ASTRA-sim's analytical
# backend (congestion-unaware) from git, synthesizes a trace for one host and for two,
# exports each (`smartinf export --chakra`), runs ASTRA-sim on the files with its own example
# system, network and memory configurations, and prints its simulated iteration next to our
# model's for the same trace (`smartinf replay`).
#
#   scripts/astra-sim-check.sh [PRESET] [DEVICES] [MODE]     (default gpt2-4.0b 3 su+o)
#
# Not part of `make test`. Needs git, cmake >= 3.22, g++, protobuf-compiler and libprotobuf-dev
# (apt). Works in $ASTRA_SIM_DIR (default /var/tmp/astra-sim); builds with nice -n 19 and
# $JOBS (default 2) jobs, once per ASTRA-sim commit ($ASTRA_SIM_COMMIT, default the one checked).
# Clones from GitHub; with $ASTRA_SIM_MIRRORS naming a directory of bare mirrors laid out as
# OWNER+NAME/repo, every clone (ASTRA-sim, its submodules, CMake's yaml-cpp) reads from there.
# A submodule whose pinned commit the source lacks gets ASTRA-sim's newest earlier pin of it that
# the source has (else the source's default branch as of the pin), plus the two edits those older
# pins need to build with ASTRA-sim's head, each said on stderr. docs/STUDIES.md has the figures.
set -euo pipefail
cd "$(dirname "$0")/.."
PRESET=${1:-gpt2-4.0b}
DEVICES=${2:-3}
MODE=${3:-su+o}
DIR=${ASTRA_SIM_DIR:-/var/tmp/astra-sim}
COMMIT=${ASTRA_SIM_COMMIT:-518bd513ae110428cd62eb60efc0f3993fd53c70}
JOBS=${JOBS:-2}
SRC=$DIR/astra-sim
ASTRA=$SRC/build/astra_analytical/build/bin/AstraSim_Analytical_Congestion_Unaware
# What ASTRA-sim's analytical build reads; ns-3 and htsim stay out.
SUBMODULES="extern/graph_frontend/chakra extern/network_backend/analytical extern/remote_memory_backend/analytical extern/helper/fmt extern/helper/spdlog"

say() { echo "astra-sim-check: $*" >&2; }

if [ -n "${ASTRA_SIM_MIRRORS:-}" ]; then
    # Every git run, CMake's included, rewrites GitHub URLs to the mirrors (git's
    # GIT_CONFIG_COUNT settings); local submodule clones need the file protocol allowed.
    n=0
    for mirror in "$ASTRA_SIM_MIRRORS"/*+*/repo; do
        slug=$(basename "$(dirname "$mirror")")
        export "GIT_CONFIG_KEY_$n=url.$mirror.insteadOf" "GIT_CONFIG_VALUE_$n=https://github.com/${slug/+//}.git"
        n=$((n + 1))
    done
    export "GIT_CONFIG_KEY_$n=protocol.file.allow" "GIT_CONFIG_VALUE_$n=always"
    export GIT_CONFIG_COUNT=$((n + 1))
fi

# Checks out `commit` in the clone `dir`, leaving out files whose contents the source lacks
# (a mirror may keep large files as names only), and says which.
checkout() {
    local dir=$1 commit=$2 absent missing
    absent=$(git -C "$dir" ls-tree -r "$commit" | awk '$2 == "blob" { print $3 }' |
        git -C "$dir" cat-file --batch-check | awk '$2 == "missing" { print $1 }')
    missing=$(git -C "$dir" ls-tree -r "$commit" | awk -v absent="$absent" '
        BEGIN { n = split(absent, list); for (i = 1; i <= n; i++) gone[list[i]] = 1 }
        $2 == "blob" && ($3 in gone) { print $4 }')
    if [ -n "$missing" ]; then
        say "$(basename "$dir"): the source lacks $(echo "$missing" | wc -l) file(s), left out: $(echo $missing)"
        git -C "$dir" config core.sparseCheckout true
        { echo '/*'; sed 's|^|!/|' <<< "$missing"; } > "$dir/.git/info/sparse-checkout"
        # git still calls their objects invalid as it writes its index: said once above
        git -C "$dir" checkout -q "$commit" 2>&1 | { grep -v -F "$absent" || true; } >&2
    else
        git -C "$dir" checkout -q "$commit"
    fi
}

# The commit of submodule `path` to build: ASTRA-sim's pin, or when the source lacks it the
# newest earlier pin it has, or its default branch as it was when ASTRA-sim set the pin.
pinned() {
    local path=$1 pin older change
    pin=$(git -C "$SRC" ls-tree "$COMMIT" "$path" | awk '{ print $3 }')
    if git -C "$SRC/$path" cat-file -e "$pin^{commit}" 2> /dev/null; then echo "$pin"; return; fi
    for change in $(git -C "$SRC" log --format=%H "$COMMIT" -- "$path"); do
        older=$(git -C "$SRC" ls-tree "$change" "$path" | awk '{ print $3 }')
        if [ -n "$older" ] && git -C "$SRC/$path" cat-file -e "$older^{commit}" 2> /dev/null; then
            say "$path: pinned $pin is not in the source; using ASTRA-sim's earlier pin $older"
            echo "$older"; return
        fi
    done
    change=$(git -C "$SRC" log -1 --format=%cI "$COMMIT" -- "$path")
    older=$(git -C "$SRC/$path" rev-list -1 --before="$change" HEAD)
    say "$path: no pin of it is in the source; using its default branch as of $change, $older"
    echo "$older"
}

build() {
    rm -rf "$SRC"
    git clone -q --no-checkout https://github.com/astra-sim/astra-sim.git "$SRC"
    checkout "$SRC" "$COMMIT"
    local path url commit resolved=""
    for path in $SUBMODULES; do
        url=$(git -C "$SRC" config -f .gitmodules --get "submodule.$path.url")
        rm -rf "${SRC:?}/$path"
        git clone -q --no-checkout "$url" "$SRC/$path"
        commit=$(pinned "$path")
        checkout "$SRC/$path" "$commit"
        resolved+="$path $commit"$'\n'
    done
    local chakra=$SRC/extern/graph_frontend/chakra network=$SRC/extern/network_backend/analytical
    protoc et_def.proto --proto_path="$chakra/schema/protobuf" --cpp_out="$chakra/schema/protobuf"
    # Chakra's feederv3 head (astra-sim's April 2025 pin) declares ETFeeder's alias inside
    # FeederV3, where ASTRA-sim's head does not look (its August pin moved it out).
    if ! printf '#include "src/feeder_v3/et_feeder.h"\nChakra::ETFeeder* feeder;\n' |
        g++ -std=c++17 -fsyntax-only -I "$chakra" -I "$chakra/schema/protobuf" -x c++ - 2> /dev/null; then
        say "chakra: adding Chakra::ETFeeder, the alias ASTRA-sim names"
        echo 'namespace Chakra { using ETFeeder = FeederV3::ETFeeder; }' >> "$chakra/src/feeder_v3/et_feeder.h"
    fi
    # The network backend before its November 2025 pin builds its own yaml-cpp, which ASTRA-sim's
    # head now brings itself (FetchContent): two targets of one name.
    if grep -q 'FetchContent_Declare' "$SRC/CMakeLists.txt" && grep -q '^add_subdirectory(.*extern/yaml-cpp' "$network/CMakeLists.txt"; then
        say "network backend: leaving yaml-cpp to ASTRA-sim's own CMakeLists"
        sed -i 's|^add_subdirectory(.*extern/yaml-cpp.*|# &  (ASTRA-sim brings yaml-cpp)|' "$network/CMakeLists.txt"
    fi
    local started=$SECONDS
    nice -n 19 cmake -S "$SRC/build/astra_analytical" -B "$SRC/build/astra_analytical/build" -DBUILDTARGET=congestion_unaware > "$DIR/cmake.log"
    nice -n 19 cmake --build "$SRC/build/astra_analytical/build" -j "$JOBS" > "$DIR/build.log"
    say "built ASTRA-sim in $((SECONDS - started)) s (nice -n 19, $JOBS jobs)"
    printf '%s\n%s' "$COMMIT" "$resolved" > "$DIR/built"
}

mkdir -p "$DIR"
if [ ! -x "$ASTRA" ] || [ "$(head -1 "$DIR/built" 2> /dev/null)" != "$COMMIT" ]; then build; fi
say "ASTRA-sim $COMMIT, submodules: $(tail -n +2 "$DIR/built" | awk '{ printf "%s %.8s  ", $1, $2 }')"

FLAGS=(-Xswiftc -target-cpu -Xswiftc native -Xcc -march=native)
nice -n 19 swift build --product smartinf "${FLAGS[@]}" > /dev/null
SMARTINF=$(swift build --show-bin-path "${FLAGS[@]}")/smartinf
EXAMPLES=$SRC/examples
RUN=$DIR/check
rm -rf "$RUN" && mkdir -p "$RUN"
cd "$RUN"   # ASTRA-sim writes its log/ here

printf '%-44s %5s %12s %12s\n' trace ranks "ASTRA-sim s" "smartinf s"
for hosts in 1 2; do
    name=$PRESET-$MODE-${hosts}h${DEVICES}d
    nice -n 19 "$SMARTINF" synth --preset "$PRESET" --devices "$DEVICES" --hosts "$hosts" --mode "$MODE" --save "$name.jsonl" > /dev/null
    nice -n 19 "$SMARTINF" export "$name.jsonl" --chakra "$RUN/$name" >&2
    ranks=$((hosts * (1 + DEVICES)))
    network=$EXAMPLES/network/analytical/Ring_${ranks}npus.yml
    if [ ! -f "$network" ]; then   # no example of this size: the 4-NPU ring's links, more NPUs
        network=$RUN/Ring_${ranks}npus.yml
        sed "s/^npus_count: .*/npus_count: [ $ranks ]/" "$EXAMPLES/network/analytical/Ring_4npus.yml" > "$network"
    fi
    groups=()
    [ "$hosts" -gt 1 ] && groups=(--comm-group-configuration="$RUN/$name.comm_group.json")
    nice -n 19 "$ASTRA" --workload-configuration="$RUN/$name" "${groups[@]}" \
        --system-configuration="$EXAMPLES/system/native_collectives/Ring_4chunks.json" \
        --remote-memory-configuration="$EXAMPLES/remote_memory/analytical/no_memory_expansion.json" \
        --network-configuration="$network" > "$name.astra.log" 2>&1 || {
        say "ASTRA-sim failed on $name (exit $?):"; tail -5 "$name.astra.log" >&2; exit 1; }
    grep 'finished,' "$name.astra.log" >&2
    finished=$(grep -c 'finished,' "$name.astra.log")
    [ "$finished" -eq "$ranks" ] || { say "only $finished of $ranks ranks finished; $RUN/$name.astra.log"; exit 1; }
    astra=$(grep -o 'finished, [0-9]* cycles' "$name.astra.log" | awk '$2 > max { max = $2 } END { printf "%.2f", max / 1e9 }')
    ours=$(nice -n 19 "$SMARTINF" replay "$name.jsonl" --json | python3 -c 'import json, sys; print("%.2f" % json.load(sys.stdin)["recorded"]["iteration_s"])')
    printf '%-44s %5d %12s %12s\n' "$PRESET $MODE, $hosts host(s) x $DEVICES devices" "$ranks" "$astra" "$ours"
done
cat << 'EOF'
ASTRA-sim simulates compute and network only (its cycles are nanoseconds; its iteration is its last
rank's finish). Of our storage and link work it sees the transfers between a host and its devices,
timed on its own network (the example ring's 50 GB/s links) instead of our shared link and device
ports and without their sharing, which makes it faster where those dominate; it replays the
transfers inside a rank (flash <-> FPGA, host memory <-> GPU) and the host CPU's work for our
modeled durations, but one at a time with the rank's compute where our model overlaps and
pipelines them, which makes it slower where the devices' update pipeline dominates.
EOF
