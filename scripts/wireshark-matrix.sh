#!/usr/bin/env bash
# The Wireshark version matrix: builds the plugin with the project's flags (-Wall -Wextra
# -Werror) and runs every test labelled "plugin" (ctest -L plugin) with each version's own
# tshark; then makes the plugin's .deb there (cpack) and checks it installed in a root of its
# own (packaging/check-package.py).
#
#   scripts/wireshark-matrix.sh [OPTIONS] [VERSION...]   (default: 4.0 4.4 4.6 tools)
#
#   4.0    this machine (Debian 12, bookworm), build in build-matrix/4.0; its .deb is
#          checked in a bookworm chroot that has only tshark (never this machine's
#          system plugin folder: every other test here loads the build's zmq.so)
#   4.4    a Debian 13 (trixie) chroot
#   4.6    a Debian testing (forky) chroot, made with debootstrap's sid script
#   tools  the zmtp-replay and key logger .deb, built here (build-matrix/tools) and
#          checked in the bookworm chroot
#
# A .deb is checked in an overlay of a cached chroot (its changes on a tmpfs, gone when the
# check ends), so the chroots stay as they were made. The .deb files are left in
# build-matrix/packages/.
#
# The chroots are made once with debootstrap (--variant=minbase) and kept under
# $ZMTPSCOPE_CHROOT_CACHE (default /var/cache/zmtpscope-chroots), the build folder inside
# each, so a second run only updates the build and runs the tests. The source tree is
# bind-mounted read-only at /src; every mount is made in a private mount namespace
# (unshare), so none is left behind when the script stops, whatever stops it.
#
# Options:
#   --source DIR   the source tree to build (default: this repository's work tree)
#   --fresh        make the chroots again (deletes the cached ones first)
#   --update       apt-get upgrade the cached chroots before building
#   -R REGEX       run only the plugin tests matching REGEX (ctest -R)
#   --mirror URL   Debian mirror (default: the one this machine's apt uses)
#   --no-packages  build and test only: no .deb made or checked
#   --reuse-build DIR
#                  4.0 and tools: package this machine's build in DIR (built with -Werror and
#                  tested there already, e.g. by scripts/test.sh, as .ci/run does) instead of
#                  building and running the plugin tests again in build-matrix/
#
# Needs root (debootstrap, chroot, mount) and debootstrap (scripts/install-deps.sh).
# Exit status 0 when every version built, passed every test and (unless --no-packages) made a
# .deb that passed its check. Logs: build-matrix/logs/.
set -euo pipefail

repo=$(cd "$(dirname "$0")/.." && pwd)
source_dir=$repo
. "$(dirname "$0")/chroots.sh"  # chroot_of, in_chroot, enter_root
cache=$chroot_cache
jobs=${ZMTPSCOPE_JOBS:-2}
fresh=0
update=0
test_regex=""
mirror=""
packages=1
reuse_build=""
versions=()

usage() { sed -n '2,/^set -euo/p' "$0" | sed '$d; s/^# \{0,1\}//'; }

while [ $# -gt 0 ]; do
  case $1 in
    --source) source_dir=$(cd "${2:?--source needs a folder}" && pwd); shift 2 ;;
    --fresh) fresh=1; shift ;;
    --update) update=1; shift ;;
    -R) test_regex=${2:?-R needs a regular expression}; shift 2 ;;
    --mirror) mirror=${2:?--mirror needs a URL}; shift 2 ;;
    --no-packages) packages=0; shift ;;
    --reuse-build) reuse_build=$(cd "${2:?--reuse-build needs a build folder}" && pwd); shift 2 ;;
    -h | --help) usage; exit 0 ;;
    -*) echo "wireshark-matrix: unknown option $1" >&2; usage >&2; exit 2 ;;
    *) versions+=("$1"); shift ;;
  esac
done
[ ${#versions[@]} -gt 0 ] || versions=(4.0 4.4 4.6 tools)
chroot_source=$source_dir  # what in_chroot mounts at /src

if [ "$(id -u)" -ne 0 ]; then
  echo "wireshark-matrix: run as root (debootstrap, chroot and mount need it)" >&2
  exit 2
fi
[ -f "$source_dir/dissector/CMakeLists.txt" ] || {
  echo "wireshark-matrix: $source_dir is not a zmtpscope source tree" >&2
  exit 2
}

# The Debian mirror this machine's apt uses (deb822 "URIs:" or one-line "deb" entries).
host_mirror() {
  local url
  url=$(cat /etc/apt/sources.list /etc/apt/sources.list.d/*.list /etc/apt/sources.list.d/*.sources \
          2>/dev/null | grep -E '^[[:space:]]*(URIs:|deb[[:space:]])' |
        grep -oE 'https?://[^[:space:]]+/debian/?([[:space:]]|$)' | head -1 | tr -d '[:space:]')
  echo "${url:-http://deb.debian.org/debian}"
}
[ -n "$mirror" ] || mirror=$(host_mirror)

# What the plugin's build and its tests need (tests/plugin: python3, tshark, editcap and
# mergecap from wireshark-common, setpriv from util-linux, libsodium through ctypes; cpack's
# DEB generator: dpkg-shlibdeps from dpkg-dev, file).
chroot_packages=(libwireshark-dev wireshark-dev tshark wireshark-common cmake ninja-build g++
                 pkg-config libsodium-dev libglib2.0-dev python3 util-linux ca-certificates
                 dpkg-dev file)
# Where this machine's (4.0) plugin and the tools packages are installed and checked: Debian
# 12 with tshark, as a user of the packages has it (and python3 for the check).
check_packages=(tshark python3 ca-certificates)
cmake_options=(-G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo -DZMTPSCOPE_PLUGIN=ON
               -DZMTPSCOPE_TOOLS=OFF -DZMTPSCOPE_BENCH=OFF -DZMTPSCOPE_TESTS=OFF
               -DZMTPSCOPE_PLUGIN_TESTS=ON)

logs=$repo/build-matrix/logs
debs=$repo/build-matrix/packages
mkdir -p "$logs" "$cache" "$debs"
# One run at a time per cache: two would share the chroots and their build folders.
exec 9>"$cache/.lock"
flock -n 9 || { echo "wireshark-matrix: another run holds $cache/.lock" >&2; exit 2; }

now() { date +%s; }
say() { echo "[$1] $2"; }

# Like in_chroot, but in an overlay of the chroot $1 whose changes go to a tmpfs that goes
# away with the namespace: what a command installs there is gone afterwards. build-matrix/
# packages is mounted read-only at /debs.
in_overlay() {
  local lower=$1
  shift
  mkdir -p "$cache/.overlay"
  unshare --mount --propagation private -- /bin/bash -euc '
    lower=$1 src=$2 debs=$3 top=$4; shift 4
    mount -t tmpfs -o size=4g zmtpscope-overlay "$top"
    mkdir "$top/upper" "$top/work" "$top/root"
    mount -t overlay overlay -o "lowerdir=$lower,upperdir=$top/upper,workdir=$top/work" "$top/root"
    root=$top/root
    mkdir -p "$root/debs"
    mount --bind "$debs" "$root/debs"
    mount -o remount,bind,ro "$root/debs"
    '"$enter_root" in_overlay "$lower" "$source_dir" "$debs" "$cache/.overlay" "$@"
}

# Deletes a chroot folder, never crossing into a mounted file system.
remove_tree() {
  local dir=$1
  [ -e "$dir" ] || return 0
  if findmnt -rn -o TARGET | grep -q "^$dir\(/\|$\)"; then
    echo "wireshark-matrix: something is mounted under $dir; not deleting it" >&2
    return 1
  fi
  rm -rf --one-file-system "$dir"
}

# Makes (or reuses) the chroot of a Debian suite with the packages $7 (a space-separated
# list). Sets chroot_seconds (0 when reused) and apt_seconds.
prepare_chroot() {
  local version=$1 suite=$2 script=$3 root=$4 apt_options=$5 log=$6 wanted_packages=$7 start
  chroot_seconds=0
  apt_seconds=0
  if [ $fresh = 1 ]; then remove_tree "$root"; fi
  if [ ! -f "$root/.zmtpscope-debootstrap-done" ]; then
    command -v debootstrap >/dev/null || {
      echo "wireshark-matrix: debootstrap is not installed (scripts/install-deps.sh)" >&2
      return 1
    }
    remove_tree "$root"
    mkdir -p "$(dirname "$root")"
    say "$version" "debootstrap $suite from $mirror into $root"
    start=$(now)
    # In its own mount namespace: the /proc and /sys debootstrap mounts go with it.
    unshare --mount --propagation private -- debootstrap --variant=minbase --components=main \
      "$suite" "$root" "$mirror" $script >>"$log" 2>&1 || {
      echo "wireshark-matrix: debootstrap $suite failed (see $log)" >&2
      return 1
    }
    chroot_seconds=$(($(now) - start))
    touch "$root/.zmtpscope-debootstrap-done"
  fi
  start=$(now)
  local wanted="$wanted_packages $apt_options"
  if [ "$(cat "$root/.zmtpscope-packages" 2>/dev/null)" != "$wanted" ] || [ $update = 1 ]; then
    say "$version" "apt-get install $wanted_packages"
    # $apt_options is a list of -o options, split on purpose.
    # shellcheck disable=SC2086
    in_chroot "$root" /bin/sh -ec "
      echo 'wireshark-common wireshark-common/install-setuid boolean false' | debconf-set-selections
      apt-get -q $apt_options update
      apt-get -q -y $apt_options upgrade
      apt-get -q -y $apt_options install --no-install-recommends $wanted_packages
      apt-get clean" >>"$log" 2>&1 || {
      echo "wireshark-matrix: apt-get in the $suite chroot failed (see $log)" >&2
      return 1
    }
    echo "$wanted" >"$root/.zmtpscope-packages"
  fi
  apt_seconds=$(($(now) - start))
}

# Results, one line per version, printed at the end.
summary=()
failed=0

# Runs "$@" (a command that configures, builds and tests), timing each step from its output.
run_version() {
  local version=$1 kind=$2 root=${3:-} log=$logs/$1.log
  local build_dir start total_start build_seconds test_seconds result tests
  : >"$log"
  total_start=$(now)
  chroot_seconds=0 apt_seconds=0
  local wireshark=""
  case $kind in
    host)
      build_dir=$repo/build-matrix/$version
      # A build folder made from another source tree is made again (CMake refuses it).
      if [ -f "$build_dir/CMakeCache.txt" ] &&
         ! grep -qx "CMAKE_HOME_DIRECTORY:INTERNAL=$source_dir" "$build_dir/CMakeCache.txt"; then
        rm -rf "$build_dir"
      fi
      wireshark=$(pkg-config --modversion wireshark 2>/dev/null || echo none)
      if [ "${wireshark%.*}" != "$version" ]; then
        summary+=("$version  this machine has Wireshark $wireshark, not $version: skipped")
        failed=1
        return
      fi
      ;;
    chroot)
      build_dir=/var/tmp/zmtpscope-build
      local suite=$4 script=$5 apt_options=$6
      if ! prepare_chroot "$version" "$suite" "$script" "$root" "$apt_options" "$log" \
             "${chroot_packages[*]}"; then
        summary+=("$version  $suite chroot could not be made (see $log)")
        failed=1
        return
      fi
      wireshark=$(in_chroot "$root" pkg-config --modversion wireshark 2>>"$log" || echo none)
      # The tree is always at /src in there: after a run on another tree, file times say
      # nothing about what changed, so the build folder is made again.
      if [ "$(cat "$root/var/tmp/zmtpscope-build.source" 2>/dev/null)" != "$source_dir" ]; then
        rm -rf "$root$build_dir"
        echo "$source_dir" >"$root/var/tmp/zmtpscope-build.source"
      fi
      if [ "${wireshark%.*}" != "$version" ]; then
        summary+=("$version  the $suite chroot has Wireshark $wireshark, not $version")
        failed=1
        return
      fi
      ;;
  esac
  run() { if [ "$kind" = host ]; then "$@"; else in_chroot "$root" "$@"; fi; }

  if [ "$kind" = host ] && [ -n "$reuse_build" ]; then
    reuse_host_build "$version" "$wireshark" "$log"
    return
  fi
  say "$version" "Wireshark $wireshark: configure and build (log: $log)"
  start=$(now)
  if run cmake -S "$([ "$kind" = host ] && echo "$source_dir" || echo /src)" -B "$build_dir" \
       "${cmake_options[@]}" >>"$log" 2>&1 &&
     run cmake --build "$build_dir" -j "$jobs" >>"$log" 2>&1; then
    result=built
  else
    result="BUILD FAILED"
  fi
  build_seconds=$(($(now) - start))
  tests="no tests run"
  test_seconds=0
  if [ "$result" = built ]; then
    say "$version" "ctest -L plugin${test_regex:+ -R $test_regex}"
    start=$(now)
    local ctest_args=(--test-dir "$build_dir" -L plugin --output-on-failure --timeout 600)
    [ -z "$test_regex" ] || ctest_args+=(-R "$test_regex")
    run ctest "${ctest_args[@]}" >"$log.ctest" 2>&1 || true
    cat "$log.ctest" >>"$log"
    test_seconds=$(($(now) - start))
    local line total nfailed nskipped
    line=$(grep -E '^[0-9]+% tests passed, [0-9]+ tests? failed out of [0-9]+' "$log.ctest" || true)
    if [ -n "$line" ]; then
      total=$(sed -E 's/.* out of ([0-9]+).*/\1/' <<<"$line")
      nfailed=$(sed -E 's/.*passed, ([0-9]+) tests? failed.*/\1/' <<<"$line")
      # Skipped tests (exit 77, e.g. zmtp-port on 4.0) count as passed in ctest's line.
      nskipped=$(grep -cE '^[[:space:]]*[0-9]+ - .* \(Skipped\)' "$log.ctest" || true)
      tests="$((total - nfailed - nskipped)) passed, $nfailed failed"
      [ "$nskipped" = 0 ] || tests="$tests, $nskipped skipped"
      [ "$nfailed" = 0 ] || failed=1
      local names
      # "  7 - plugin: keys-table (Failed)    plugin" (the labels follow)
      names=$(sed -n '/following tests FAILED/,$s/^[[:space:]]*[0-9]\{1,\} - \(.*\) ([A-Za-z ]*).*$/\1/p' \
              "$log.ctest" | sed 's/^plugin: //' | paste -sd, -)
      [ -z "$names" ] || tests="$tests ($names)"
    else
      tests="ctest ran no test"
      failed=1
    fi
    rm -f "$log.ctest"
  else
    failed=1
  fi
  local total_seconds=$(($(now) - total_start))
  summary+=("$(printf '%-5s %-7s %-13s %-44s debootstrap %4ss  apt %4ss  build %4ss  tests %4ss  total %4ss' \
    "$version" "$wireshark" "$result" "$tests" "$chroot_seconds" "$apt_seconds" "$build_seconds" \
    "$test_seconds" "$total_seconds")")
  say "$version" "${summary[-1]}"
  if [ $packages = 1 ] && [ "$result" = built ]; then
    package_and_check "$version" "$kind" "$root" "$build_dir" zmtpscope-wireshark-plugin \
      --plugin-deb --abi "$version"
  fi
}

# --reuse-build: this machine's plugin was built with -Werror and its tests were run in
# $reuse_build (scripts/test.sh); only its package is made here and checked.
reuse_host_build() {
  local version=$1 wireshark=$2 log=$3
  if ! ls "$reuse_build"/dissector/plugins/"$version"/epan/zmq.so >/dev/null 2>&1; then
    summary+=("$version  no zmq.so for $version under $reuse_build/dissector/plugins: build it first")
    failed=1
    return
  fi
  summary+=("$(printf '%-5s %-7s %-13s %s' "$version" "$wireshark" reused \
    "built and tested in $reuse_build (scripts/test.sh)")")
  say "$version" "${summary[-1]}"
  [ $packages = 1 ] || return 0
  package_and_check "$version" host "" "$reuse_build" zmtpscope-wireshark-plugin \
    --plugin-deb --abi "$version"
}

# The chroot the 4.0 plugin and the tools packages are checked in (bookworm, tshark only).
# Sets check_root, or returns 1.
prepare_check_chroot() {
  local version=$1 log=$2
  check_root=$cache/bookworm
  prepare_chroot "$version" bookworm "" "$check_root" "" "$log" "${check_packages[*]}"
}

# Makes the .deb of package $5 in the build folder $4 (cpack), copies it to build-matrix/
# packages and checks it with packaging/check-package.py ARGS ("$6 DEB" then the rest) in an
# overlay of the version's chroot (this machine's builds: of the bookworm check chroot).
# Adds one line to the summary.
package_and_check() {
  local version=$1 kind=$2 root=$3 build_dir=$4 package=$5 deb_option=$6
  shift 6
  local log=$logs/$version.log start cpack_seconds check_seconds deb host_build check_root
  local setup="" outcome
  host_build=$build_dir
  [ "$kind" = host ] || host_build=$root$build_dir
  say "$version" "cpack -G DEB, then $package checked in a chroot of its own"
  start=$(now)
  rm -rf "$host_build/packages"
  deb=""
  if run /bin/sh -c "cd '$build_dir' && cpack -G DEB" >>"$log" 2>&1; then
    deb=$(find "$host_build/packages" -maxdepth 1 -name "${package}_*.deb" 2>/dev/null | head -1)
  fi
  cpack_seconds=$(($(now) - start))
  if [ -z "$deb" ]; then
    summary+=("$(printf '%-5s package %s: cpack made no .deb (see %s)' "$version" "$package" "$log")")
    failed=1
    return
  fi
  cp "$deb" "$debs/"
  deb=$(basename "$deb")
  start=$(now)
  if [ "$kind" = host ]; then
    if ! prepare_check_chroot "$version" "$log"; then
      summary+=("$(printf '%-5s package %s: the bookworm check chroot could not be made (see %s)' \
        "$version" "$deb" "$log")")
      failed=1
      return
    fi
    setup=" (bookworm chroot: debootstrap ${chroot_seconds}s, apt ${apt_seconds}s)"
  else
    check_root=$root
  fi
  in_overlay "$check_root" python3 /src/packaging/check-package.py --captures /src/captures \
    "$deb_option" "/debs/$deb" "$@" >"$log.check" 2>&1 || true
  cat "$log.check" >>"$log"
  check_seconds=$(($(now) - start))
  outcome=$(tail -1 "$log.check")
  rm -f "$log.check"
  [ "$outcome" = ok ] || failed=1
  summary+=("$(printf '%-5s package %-56s %s  cpack %4ss  check %4ss%s' "$version" "$deb" \
    "$outcome" "$cpack_seconds" "$check_seconds" "$setup")")
  say "$version" "${summary[-1]}"
}

# zmtp-replay and the key logger: built on this machine, packaged, checked in bookworm.
run_tools() {
  local version=tools kind=host root="" build_dir=$repo/build-matrix/tools log=$logs/tools.log start
  : >"$log"
  if [ $packages = 0 ]; then
    summary+=("tools skipped (--no-packages)")
    return
  fi
  run() { "$@"; }
  if [ -n "$reuse_build" ]; then
    summary+=("$(printf '%-5s reused the tools built and tested in %s' tools "$reuse_build")")
    package_and_check tools host "" "$reuse_build" zmtpscope-tools --tools-deb
    return
  fi
  if [ -f "$build_dir/CMakeCache.txt" ] &&
     ! grep -qx "CMAKE_HOME_DIRECTORY:INTERNAL=$source_dir" "$build_dir/CMakeCache.txt"; then
    rm -rf "$build_dir"
  fi
  say tools "configure and build zmtp-replay, zmtp-send and libzmtp-keylog.so (log: $log)"
  start=$(now)
  if ! cmake -S "$source_dir" -B "$build_dir" -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo \
         -DZMTPSCOPE_PLUGIN=OFF -DZMTPSCOPE_TOOLS=ON -DZMTPSCOPE_TESTS=OFF -DZMTPSCOPE_BENCH=OFF \
         >>"$log" 2>&1 ||
     ! cmake --build "$build_dir" -j "$jobs" >>"$log" 2>&1; then
    summary+=("tools BUILD FAILED (see $log)")
    failed=1
    return
  fi
  summary+=("$(printf '%-5s built zmtp-replay, zmtp-send and libzmtp-keylog.so in %ss' tools \
    "$(($(now) - start))")")
  package_and_check tools host "" "$build_dir" zmtpscope-tools --tools-deb
}

matrix_start=$(now)
for version in "${versions[@]}"; do
  case $version in
    4.0) run_version 4.0 host ;;
    4.4) run_version 4.4 chroot "$(chroot_of 4.4)" trixie "" "" ;;
    # Forky has no debootstrap script of its own: sid's fits. The mirror's forky Release
    # can be past its Valid-Until date, so apt is told not to check it.
    4.6) run_version 4.6 chroot "$(chroot_of 4.6)" forky /usr/share/debootstrap/scripts/sid \
           "-o Acquire::Check-Valid-Until=false" ;;
    tools) run_tools ;;
    *) summary+=("$version  unknown version (known: 4.0 4.4 4.6 tools)"); failed=1 ;;
  esac
done

echo
echo "Wireshark matrix ($(($(now) - matrix_start)) s, source $source_dir):"
printf '  %s\n' "${summary[@]}"
exit $failed
