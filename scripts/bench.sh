#!/usr/bin/env bash
# Runs every benchmark of bench/ and prints one table (figure, limit, ratio, target, met) with
# the machine it ran on, and writes it to bench/RESULTS.md (bench/RESULTS-full.md with --full). Every figure is a ratio measured in
# one run against its limit on the same data (bench/README.md). Builds first, in build-bench
# (Release).
#
#   scripts/bench.sh            default sizes (256 MiB and 1 GiB captures): a few minutes
#   scripts/bench.sh --full     the real sizes (1 GiB and 4 GiB captures): ~10 GB of disk, long
#   scripts/bench.sh --quick    tiny sizes, to try the script itself (the figures mean little)
#   --rounds N                  paired rounds per figure (default 5; medians)
#   --data DIR                  where captures go (default build-bench/bench-data)
#   --keep                      keep the captures afterwards
#   --no-build                  use what build-bench already holds
#   --no-results                do not rewrite bench/RESULTS*.md
set -euo pipefail
top=$(cd "$(dirname "$0")/.." && pwd)
build=$top/build-bench
full=0 quick=0 rounds=5 data="" keep=0 build_first=1 write_results=1
while [ $# -gt 0 ]; do
    case $1 in
    --full) full=1 ;;
    --quick) quick=1 ;;
    --rounds) rounds=$2; shift ;;
    --data) data=$2; shift ;;
    --keep) keep=1 ;;
    --no-build) build_first=0 ;;
    --no-results) write_results=0 ;;
    -h | --help) sed -n '2,15p' "$0"; exit 0 ;;
    *) echo "bench.sh: unknown option $1 (see --help)" >&2; exit 2 ;;
    esac
    shift
done
data=${data:-$build/bench-data}

if [ $full = 1 ]; then
    replay_size=1G tshark_size=256M memory_small=1G memory_big=4G decoder_mib=256 curve_mib=128
elif [ $quick = 1 ]; then
    replay_size=16M tshark_size=2M memory_small=16M memory_big=64M decoder_mib=8 curve_mib=4
else
    replay_size=256M tshark_size=32M memory_small=256M memory_big=1G decoder_mib=64 curve_mib=32
fi

if [ $build_first = 1 ]; then
    cmake -S "$top" -B "$build" -G Ninja -DCMAKE_BUILD_TYPE=Release \
        -DCMAKE_CXX_FLAGS_RELEASE="-O3 -DNDEBUG" > /dev/null
    cmake --build "$build" -j2 --target zmtp_synth_tool bench_decoder bench_curve \
        zmtp_pcap_floor zmtp_run_pair zmtp_replay zmq_plugin >&2
fi
synth=$build/bench/zmtp-synth
replay=$build/tools/replay/zmtp-replay
floor=$build/bench/zmtp-pcap-floor
pair=$build/bench/zmtp-run-pair
check=$top/bench/check_synth_replay.py
plugins=$build/dissector/plugins

mkdir -p "$data"
log=$data/bench.log
: > "$log"
problems=()
tshark_dir=""
cleanup() {
    [ -n "$tshark_dir" ] && rm -rf "$tshark_dir"
    if [ $keep = 0 ]; then rm -f "$data"/*.pcap "$data"/*.keys; fi
}
trap cleanup EXIT

say() { echo "$*" | tee -a "$log" >&2; }
# Runs a benchmark: its lines go to the log (RESULT lines make the table) and to stderr.
bench() {
    local out
    out=$(mktemp)
    "$@" > "$out" || problems+=("$(basename "$1") failed: $*")
    cat "$out" >> "$log"
    grep -v '^RESULT' "$out" >&2 || true
    rm -f "$out"
}

# NAME ZMTP-SYNTH-OPTIONS...: a capture, then a check that zmtp-replay decodes all of it (a
# ratio over a capture that is not fully decoded would mean nothing).
make_capture() {
    local name=$1
    shift
    local keys=()
    [[ " $* " == *" -m curve "* ]] && keys=(-k "$data/$name.keys")
    "$synth" -o "$data/$name.pcap" --stats "$data/$name.stats" "${keys[@]}" "$@" 2>> "$log"
    if ! "$replay" -q --json "${keys[@]}" "$data/$name.pcap" > "$data/$name.report.json" ||
        ! python3 "$check" "$data/$name.report.json" "$data/$name.stats" >> "$log"; then
        problems+=("$name: zmtp-replay did not decode the whole capture (see $log)")
    fi
    say "capture $name: $(du -h "$data/$name.pcap" | cut -f1), zmtp-synth $*"
}

# tshark with the plugin from build-bench; as root it runs as nobody from a private copy
# (Wireshark 4.0 ignores plugin folders when run as root, see scripts/zmq-tshark).
tshark_setup() {  # CAPTURE: sets tshark_cmd and tshark_capture
    if [ "$(id -u)" -ne 0 ]; then
        tshark_cmd=(env WIRESHARK_PLUGIN_DIR="$plugins" tshark)
        tshark_capture=$1
        return
    fi
    tshark_dir=$(mktemp -d /tmp/zmtp-bench-tshark.XXXXXX)
    cp -r "$plugins" "$tshark_dir/plugins"
    cp "$1" "$tshark_dir/"
    mkdir "$tshark_dir/home"
    chmod -R a+rX "$tshark_dir"
    chmod 0777 "$tshark_dir/home"
    tshark_cmd=(setpriv --reuid=nobody --regid=nogroup --clear-groups
        env HOME="$tshark_dir/home" WIRESHARK_PLUGIN_DIR="$tshark_dir/plugins" tshark)
    tshark_capture=$tshark_dir/$(basename "$1")
}

load_at_start=$(cut -d" " -f1 /proc/loadavg)
say "zmtpscope benchmarks, $(date -u '+%Y-%m-%d %H:%M UTC'), $([ $full = 1 ] && echo full || echo default) sizes, $rounds rounds"

# 1. libzmtp's stream decoder vs a header-only walk (in process).
bench "$build/bench/bench_decoder" --mib "$decoder_mib" --rounds "$rounds"

# 2. CURVE decryption in zmtp::Session vs bare crypto_box_open_easy_afternm (in process).
bench "$build/bench/bench_curve" --mib "$curve_mib" --rounds "$rounds"

# 3. zmtp-replay end to end vs a bare libpcap read (+ bare decryption for CURVE).
make_capture null-small -c 100 --bytes "$replay_size" --size 0-1024
make_capture null-mixed -c 100 --bytes "$replay_size" --size mixed -p dealer-router
make_capture curve-small -m curve -c 100 --bytes "$replay_size" --size 0-1024
make_capture curve-64 -m curve -c 100 --bytes "$replay_size" --size 64 -p dealer-router
for name in null-small null-mixed; do
    bench "$pair" --figure "zmtp-replay, NULL $name capture ($replay_size)" \
        --limit-name "bare libpcap read" --target ">= 0.5" --ratio speed --rounds "$rounds" \
        -- "$replay" -q --threads 1 "$data/$name.pcap" --vs "$floor" "$data/$name.pcap"
done
for name in curve-small curve-64; do
    bench "$pair" --figure "zmtp-replay, CURVE $name capture ($replay_size)" \
        --limit-name "bare libpcap read + bare decryption" --target ">= 0.6" --ratio speed \
        --rounds "$rounds" -- "$replay" -q --threads 1 -k "$data/$name.keys" "$data/$name.pcap" \
        --vs "$floor" "$data/$name.pcap" --decrypt-stats "$data/$name.stats"
done
rm -f "$data"/null-mixed.pcap "$data"/curve-*.pcap

# 4. and 5. The same response times from zmtp-replay and from tshark with the plugin; the
# plugin's cost against tshark's TCP dissection alone.
make_capture tshark -c 100 --bytes "$tshark_size" --size 0-1024
tshark_setup "$data/tshark.pcap"
bench "$pair" --figure "zmtp-replay vs tshark + plugin, response times ($tshark_size)" \
    --limit-name "tshark -T fields -e zmq.response_time" --target ">= 20" --ratio speed \
    --rounds "$rounds" --subject-output "$data/replay.csv" --limit-output "$data/tshark.txt" \
    -- "$replay" -q --threads 1 --csv "$data/tshark.pcap" \
    --vs "${tshark_cmd[@]}" -n -r "$tshark_capture" -T fields -e zmq.response_time
bench "$pair" --figure "tshark with the plugin vs --disable-protocol zmq ($tshark_size)" \
    --limit-name "tshark, TCP dissection only" --target "<= 1.5" --ratio cost --rounds "$rounds" \
    -- "${tshark_cmd[@]}" -n -r "$tshark_capture" -T fields -e zmq.response_time \
    --vs "${tshark_cmd[@]}" -n -r "$tshark_capture" --disable-protocol zmq -T fields \
    -e zmq.response_time
# Replies (both tools) and PONGs (the plugin also times them) must all be there.
exchanges=$(python3 -c "import json,sys; print(json.load(open(sys.argv[1]))['exchanges'])" "$data/tshark.stats")
heartbeats=$(python3 -c "import json,sys; print(json.load(open(sys.argv[1]))['heartbeats'])" "$data/tshark.stats")
replay_times=$(awk -F, 'NR > 1 && $7 != ""' "$data/replay.csv" | wc -l)
tshark_times=$(tr ',' '\n' < "$data/tshark.txt" | grep -c . || true)
say "response times: zmtp-replay $replay_times (exchanges: $exchanges), tshark $tshark_times (exchanges + PONGs: $((exchanges + heartbeats)))"
[ "$replay_times" = "$exchanges" ] || problems+=("zmtp-replay gave $replay_times response times for $exchanges exchanges")
[ "$tshark_times" = "$((exchanges + heartbeats))" ] ||
    problems+=("tshark gave $tshark_times response times for $exchanges exchanges and $heartbeats PONGs")
rm -f "$data/tshark.pcap"

# 6. Peak memory of zmtp-replay: a capture 4 times larger, the same connections.
make_capture memory-small -c 1000 --bytes "$memory_small" --size 0-1024 --seed 11
make_capture memory-big -c 1000 --bytes "$memory_big" --size 0-1024 --seed 11
bench "$pair" --figure "zmtp-replay peak memory, $memory_big vs $memory_small capture, 1000 connections" \
    --limit-name "zmtp-replay on the $memory_small capture" --target "<= 1.2" --ratio memory \
    --rounds 1 -- "$replay" -q --threads 1 "$data/memory-big.pcap" \
    --vs "$replay" -q --threads 1 "$data/memory-small.pcap"
rm -f "$data"/memory-*.pcap

# 7. zmtp-replay on every core: --threads 2 against --threads 1, wall time, CURVE, many
# connections (the one figure in wall time: the other builds on the machine skew it).
make_capture threads -m curve -c 1000 --bytes "$replay_size" --size 0-1024
bench "$pair" --figure "zmtp-replay --threads $(nproc) vs --threads 1, CURVE, 1000 connections ($replay_size)" \
    --limit-name "zmtp-replay --threads 1 (wall time)" --target ">= 1.7" --ratio wall-speed \
    --rounds "$rounds" -- "$replay" -q --threads "$(nproc)" -k "$data/threads.keys" \
    "$data/threads.pcap" --vs "$replay" -q --threads 1 -k "$data/threads.keys" "$data/threads.pcap"

# The table.
machine="$(nproc) cores, $(sed -n 's/^model name[[:space:]]*: //p' /proc/cpuinfo | head -1)"
load_at_end=$(cut -d" " -f1 /proc/loadavg)
table=$(grep '^RESULT' "$log" | cut -f2-)
{
    echo
    echo "machine: $machine"
    printf '%s\n' "$table" | awk -F'\t' '
        BEGIN { printf "%-86s  %-38s  %8s  %-7s  %s\n", "figure", "limit", "ratio", "target", "met?" }
        { printf "%-86s  %-38s  %8s  %-7s  %s\n", $1, $2, $3, $4, $5 }'
    for p in "${problems[@]}"; do echo "PROBLEM: $p"; done
} | tee -a "$log"

results_file=$top/bench/RESULTS.md
[ $full = 1 ] && results_file=$top/bench/RESULTS-full.md
if [ $write_results = 1 ] && [ $quick = 0 ]; then
    {
        echo "# Benchmark results"
        echo
        echo "Latest run of \`scripts/bench.sh$(if [ $full = 1 ]; then echo ' --full'; fi)\` ($rounds rounds), $(date -u '+%Y-%m-%d %H:%M UTC')."
        echo "Machine: $machine, $(free -g | awk '/^Mem:/ {print $2}') GiB of memory; load average (1 min)"
        echo "$load_at_start when the run started, $load_at_end when it ended. Build: Release, -O3. What each"
        echo "figure means: bench/README.md."
        echo
        echo "| figure | limit | ratio | target | met? |"
        echo "|---|---|---:|---|---|"
        printf '%s\n' "$table" | awk -F'\t' '{ printf "| %s | %s | %s | %s | %s |\n", $1, $2, $3, $4, $5 }'
        for p in "${problems[@]}"; do echo; echo "**Problem:** $p"; done
        echo
        echo "## Details"
        echo
        echo '```'
        grep -v '^RESULT' "$log" | grep -v '^zmtp-synth: '
        echo '```'
    } > "$results_file"
    echo "bench.sh: wrote ${results_file#"$top"/}" >&2
fi
[ ${#problems[@]} -eq 0 ]
