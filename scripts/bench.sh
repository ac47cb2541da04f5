#!/usr/bin/env bash
# Runs every benchmark of bench/ and prints one table (figure, limit, ratio, target, met) with
# the machine it ran on, and writes it to bench/RESULTS.md (bench/RESULTS-full.md with --full). Every figure is a ratio measured in
# one run against its limit on the same data (bench/README.md). Builds first, in build-bench
# (Release).
#
#   scripts/bench.sh            default sizes (256 MiB and 1 GiB captures): about 15 minutes
#   scripts/bench.sh --full     the real sizes (1 GiB and 4 GiB captures): ~10 GB of disk, long
#   scripts/bench.sh --quick    tiny sizes, to try the script itself (the figures mean little)
#   --rounds N                  paired rounds per figure (default 5; medians)
#   --data DIR                  where captures go (default build-bench/bench-data)
#   --keep                      keep the captures afterwards
#   --no-build                  use what build-bench already holds
#   --no-results                do not rewrite bench/RESULTS*.md
#   --wireshark "4.0 4.4 4.6"   the Wireshark versions of the plugin figures (default: all
#                               three): 4.0 is this machine's tshark, 4.4 and 4.6 run in the
#                               chroots scripts/wireshark-matrix.sh makes (as root; the
#                               plugin is built there in /var/tmp/zmtpscope-bench-build). A
#                               version whose chroot is absent is skipped with a line saying so.
#
# A rerun on what is built (e.g. after others land speed-ups):
#   scripts/bench.sh --no-build          (build-bench, and the chroots' plugin builds, as they are)
set -euo pipefail
top=$(cd "$(dirname "$0")/.." && pwd)
build=$top/build-bench
full=0 quick=0 rounds=5 data="" keep=0 build_first=1 write_results=1
wireshark_versions="4.0 4.4 4.6"
while [ $# -gt 0 ]; do
    case $1 in
    --full) full=1 ;;
    --quick) quick=1 ;;
    --rounds) rounds=$2; shift ;;
    --data) data=$2; shift ;;
    --keep) keep=1 ;;
    --no-build) build_first=0 ;;
    --no-results) write_results=0 ;;
    --wireshark) wireshark_versions=${2//,/ }; shift ;;
    -h | --help) sed -n '2,/^set -euo/p' "$0" | sed '$d; s/^# \{0,1\}//'; exit 0 ;;
    *) echo "bench.sh: unknown option $1 (see --help)" >&2; exit 2 ;;
    esac
    shift
done
data=${data:-$build/bench-data}

if [ $full = 1 ]; then
    replay_size=1G tshark_size=256M memory_small=1G memory_big=4G decoder_mib=256 curve_mib=128
    short_connections=30000 idle_connections=4000 idle_seconds=600
elif [ $quick = 1 ]; then
    replay_size=16M tshark_size=2M memory_small=16M memory_big=64M decoder_mib=8 curve_mib=4
    short_connections=2000 idle_connections=100 idle_seconds=60
else
    replay_size=256M tshark_size=32M memory_small=256M memory_big=1G decoder_mib=64 curve_mib=32
    short_connections=20000 idle_connections=1000 idle_seconds=600
fi
# The large-frame CURVE workload (issue 15): DEALER/ROUTER, 64 KiB-1 MiB boxes over many
# segments. Each connection's first exchange is about 1 MiB whatever --bytes says, so the
# tshark captures have fewer connections (24: 48 MiB for --bytes 32M).
large_curve=(-m curve -p dealer-router --size 65536-1048576)

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
problems=() skipped=() tshark_dirs=()
cleanup() {
    [ ${#tshark_dirs[@]} -eq 0 ] || rm -rf "${tshark_dirs[@]}"
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

# The Wireshark versions of the plugin figures: this machine's tshark, or a chroot made by
# scripts/wireshark-matrix.sh (4.4: trixie, 4.6: forky).
host_wireshark=$(tshark -v 2>/dev/null | sed -n '1s/.*(Wireshark) \([0-9]*\.[0-9]*\).*/\1/p')
chroot_build=/var/tmp/zmtpscope-bench-build  # inside the chroot
chroot_source=$top
. "$top/scripts/chroots.sh"  # chroot_of, in_chroot

# VERSION: why its plugin figures cannot run here (nothing when they can).
wireshark_missing() {
    local version=$1 root
    [ "$version" = "$host_wireshark" ] && return
    root=$(chroot_of "$version")
    if [ -z "$root" ]; then
        echo "Wireshark $version is neither this machine's ($host_wireshark) nor in the test matrix"
    elif [ ! -x "$root/usr/bin/tshark" ]; then
        echo "no chroot with tshark at $root (scripts/wireshark-matrix.sh makes it)"
    elif [ "$(id -u)" -ne 0 ]; then
        echo "the chroot $root needs root"
    elif [ $build_first = 0 ] && [ ! -f "$root$chroot_build/dissector/plugins/$version/epan/zmq.so" ]; then
        echo "--no-build, and no plugin built in $root$chroot_build"
    fi
}

# VERSION: builds the plugin (Release, -O3) in the version's chroot.
build_chroot_plugin() {
    local root
    root=$(chroot_of "$1")
    # The tree is at /src in there: a build folder made from another tree is made again.
    if [ "$(cat "$root$chroot_build.source" 2>/dev/null)" != "$top" ]; then
        rm -rf "${root:?}$chroot_build"
        echo "$top" > "$root$chroot_build.source"
    fi
    in_chroot "$root" cmake -S /src -B "$chroot_build" -G Ninja -DCMAKE_BUILD_TYPE=Release \
        -DCMAKE_CXX_FLAGS_RELEASE="-O3 -DNDEBUG" -DZMTPSCOPE_PLUGIN=ON -DZMTPSCOPE_TOOLS=OFF \
        -DZMTPSCOPE_BENCH=OFF -DZMTPSCOPE_TESTS=OFF -DZMTPSCOPE_PLUGIN_TESTS=OFF > /dev/null &&
        in_chroot "$root" cmake --build "$chroot_build" -j2 --target zmq_plugin >&2
}

# VERSION FILE...: copies the plugin and the files where that version's tshark reads them;
# sets tshark_cmd (tshark with the plugin, as nobody when root: 4.0 ignores plugin folders as
# root, see scripts/zmq-tshark) and tshark_dir (the copies' folder as tshark sees it).
tshark_setup() {
    local version=$1 root="" plugin_build=$plugins dir
    shift
    if [ "$version" != "$host_wireshark" ]; then
        root=$(chroot_of "$version")
        plugin_build=$root$chroot_build/dissector/plugins
    fi
    dir=$(mktemp -d "$root/tmp/zmtp-bench-tshark.XXXXXX")
    tshark_dirs+=("$dir")
    cp -r "$plugin_build" "$dir/plugins"
    cp "$@" "$dir/"
    mkdir "$dir/home"
    chmod -R a+rX "$dir"
    chmod 0777 "$dir/home"
    tshark_dir=${dir#"$root"}
    if [ -n "$root" ]; then
        tshark_cmd=(chroot --userspec=65534:65534 "$root" /usr/bin/env -i PATH=/usr/bin:/bin)
    elif [ "$(id -u)" -eq 0 ]; then
        tshark_cmd=(setpriv --reuid=nobody --regid=nogroup --clear-groups env)
    else
        tshark_cmd=(env)
    fi
    tshark_cmd+=(HOME="$tshark_dir/home" WIRESHARK_PLUGIN_DIR="$tshark_dir/plugins" tshark -n)
}

# VERSION NAME [KEYS]: zmtp-replay against tshark with the plugin on data/NAME.pcap, and the
# same response times from both (bench/check_response_times.py).
replay_vs_tshark() {
    local version=$1 name=$2 keys=${3:-} tshark_keys=() replay_keys=()
    if [ -n "$keys" ]; then
        replay_keys=(-k "$data/$keys")
        tshark_keys=(-o "zmq.keylog_file:$tshark_dir/$keys")
    fi
    bench "$pair" --figure "zmtp-replay vs tshark $version + plugin, $name ($tshark_size)" \
        --limit-name "tshark -T fields -e zmq.response_time" --target ">= 20" --ratio speed \
        --rounds "$rounds" --subject-output "$data/replay.csv" --limit-output "$data/tshark.txt" \
        -- "$replay" -q --threads 1 --csv "${replay_keys[@]}" "$data/$name.pcap" \
        --vs "${tshark_cmd[@]}" -r "$tshark_dir/$name.pcap" "${tshark_keys[@]}" \
        -o tcp.reassemble_out_of_order:TRUE -T fields -e zmq.response_time
    python3 "$top/bench/check_response_times.py" "$data/replay.csv" "$data/tshark.txt" \
        "$data/$name.stats" | tee -a "$log" >&2 ||
        problems+=("$name on Wireshark $version: zmtp-replay and tshark differ (see $log)")
}

# VERSION NAME WHAT TARGET [TSHARK OPTIONS...]: tshark with the plugin against
# --disable-protocol zmq.
plugin_cost() {
    local version=$1 name=$2 what=$3 target=$4
    shift 4
    local fields=(-o tcp.reassemble_out_of_order:TRUE "$@" -T fields -e zmq.response_time)
    bench "$pair" --figure "tshark $version with the plugin vs --disable-protocol zmq, $what ($tshark_size)" \
        --limit-name "tshark, TCP dissection only" --target "$target" --ratio cost \
        --rounds "$rounds" -- "${tshark_cmd[@]}" -r "$tshark_dir/$name.pcap" "${fields[@]}" \
        --vs "${tshark_cmd[@]}" -r "$tshark_dir/$name.pcap" --disable-protocol zmq "${fields[@]}"
}

# VERSION: every plugin figure on that version's tshark.
plugin_figures() {
    local version=$1
    tshark_setup "$version" "$data"/tshark-{small,large,large-lo}.pcap "$data"/tshark-large{,-lo}.keys
    say "plugin figures on Wireshark $version: $("${tshark_cmd[@]}" -v | head -1)"
    replay_vs_tshark "$version" tshark-small
    # Small messages: the plugin's cost must stay low (issue 15: <= 1.25); large CURVE frames
    # get more room (<= 1.5).
    plugin_cost "$version" tshark-small "NULL 0-1 KiB messages" "<= 1.25"
    local lo
    for lo in "" -lo; do
        local where=Ethernet
        [ -n "$lo" ] && where=loopback
        replay_vs_tshark "$version" "tshark-large$lo" "tshark-large$lo.keys"
        plugin_cost "$version" "tshark-large$lo" "CURVE 64 KiB-1 MiB, $where, keys" "<= 1.5" \
            -o "zmq.keylog_file:$tshark_dir/tshark-large$lo.keys"
        plugin_cost "$version" "tshark-large$lo" "CURVE 64 KiB-1 MiB, $where, no keys" "<= 1.5"
    done
    rm -rf "${tshark_dirs[-1]}"
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

# 4. and 5. The plugin figures on every Wireshark version: zmtp-replay against tshark with
# the plugin (the same response times from both), and the plugin's cost against tshark's TCP
# dissection alone, on small NULL messages and on large CURVE frames (Ethernet and loopback,
# with and without keys), TCP out-of-order reassembly on, as a user who wants complete
# results sets it.
make_capture tshark-small -c 100 --bytes "$tshark_size" --size 0-1024
make_capture tshark-large "${large_curve[@]}" -c 24 --bytes "$tshark_size"
make_capture tshark-large-lo "${large_curve[@]}" -c 24 --bytes "$tshark_size" --loopback
for version in $wireshark_versions; do
    why=$(wireshark_missing "$version")
    if [ -z "$why" ] && [ "$version" != "$host_wireshark" ] && [ $build_first = 1 ] &&
        ! build_chroot_plugin "$version"; then
        why="the plugin did not build in $(chroot_of "$version")"
    fi
    if [ -n "$why" ]; then
        say "plugin figures on Wireshark $version skipped: $why"
        skipped+=("plugin figures on Wireshark $version: $why")
        continue
    fi
    plugin_figures "$version"
done
rm -f "$data"/tshark-*.pcap

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

# 8. zmtp-replay on large CURVE frames (64 KiB-1 MiB boxes) vs bare read + bare decryption.
for lo in "" --loopback; do
    name=curve-large${lo:+-lo} where=Ethernet
    [ -n "$lo" ] && where=loopback
    make_capture "$name" "${large_curve[@]}" -c 120 --bytes "$replay_size" $lo
    bench "$pair" --figure "zmtp-replay, CURVE 64 KiB-1 MiB, $where ($replay_size)" \
        --limit-name "bare libpcap read + bare decryption" --target ">= 0.6" --ratio speed \
        --rounds "$rounds" -- "$replay" -q --threads 1 -k "$data/$name.keys" "$data/$name.pcap" \
        --vs "$floor" "$data/$name.pcap" --decrypt-stats "$data/$name.stats"
    rm -f "$data/$name.pcap"
done

# 9. Many short connections (NULL REQ/REP, a handshake, 10 exchanges and FIN each, 200 open
# at once): one thread against the bare read, then two threads against one (wall time).
make_capture short -c "$short_connections" --exchanges-per-connection 10 --open-at-once 200 \
    --size 0-1024 --bytes 64G
bench "$pair" --figure "zmtp-replay, $short_connections short connections" \
    --limit-name "bare libpcap read" --target ">= 0.5" --ratio speed --rounds "$rounds" \
    -- "$replay" -q --threads 1 "$data/short.pcap" --vs "$floor" "$data/short.pcap"
bench "$pair" --figure "zmtp-replay --threads 2 vs --threads 1, $short_connections short connections" \
    --limit-name "zmtp-replay --threads 1 (wall time)" --target ">= 1.6" --ratio wall-speed \
    --rounds "$rounds" -- "$replay" -q --threads 2 "$data/short.pcap" \
    --vs "$replay" -q --threads 1 "$data/short.pcap"
rm -f "$data/short.pcap"

# 10. Many idle connections: heartbeats only (each side PINGs every second), a long span.
make_capture idle -c "$idle_connections" --idle --heartbeat 1000 --duration "$idle_seconds" \
    --bytes 64G
bench "$pair" --figure "zmtp-replay, $idle_connections idle connections, heartbeats over ${idle_seconds} s" \
    --limit-name "bare libpcap read" --target ">= 0.5" --ratio speed --rounds "$rounds" \
    -- "$replay" -q --threads 1 "$data/idle.pcap" --vs "$floor" "$data/idle.pcap"
rm -f "$data/idle.pcap"

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
    for p in "${skipped[@]}"; do echo "SKIPPED: $p"; done
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
        for p in "${skipped[@]}"; do echo; echo "**Skipped:** $p"; done
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
