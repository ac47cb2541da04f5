# Sourced by scripts/wireshark-matrix.sh and scripts/bench.sh: where each Wireshark version's
# chroot lives, and how a command runs in one. The caller sets chroot_source, the source tree
# that is bind-mounted read-only at /src.

chroot_cache=${ZMTPSCOPE_CHROOT_CACHE:-/var/cache/zmtpscope-chroots}

# VERSION: the chroot's folder (4.4: Debian 13 trixie, 4.6: Debian testing forky), or nothing
# for a version that has no chroot.
chroot_of() {
  case $1 in
    4.4) echo "$chroot_cache/trixie" ;;
    4.6) echo "$chroot_cache/forky" ;;
  esac
}

# Mounts /dev, /proc and the source tree (read-only, at /src) into $root and runs a command
# there; run inside a private mount namespace (unshare) by in_chroot and the matrix's
# in_overlay, so no mount is left behind, whatever stops the command.
enter_root='
  mount --rbind /dev "$root/dev"
  mount -t proc proc "$root/proc"
  mkdir -p "$root/src"
  mount --bind "$src" "$root/src"
  mount -o remount,bind,ro "$root/src"
  cp -L /etc/resolv.conf "$root/etc/resolv.conf" 2>/dev/null || true
  exec chroot "$root" /usr/bin/env -i PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin \
    HOME=/root LANG=C.UTF-8 DEBIAN_FRONTEND=noninteractive "$@"'

# ROOT COMMAND...: runs a command in a private mount namespace, chrooted into ROOT.
in_chroot() {
  local root=$1
  shift
  unshare --mount --propagation private -- /bin/bash -euc '
    root=$1 src=$2; shift 2
    '"$enter_root" in_chroot "$root" "${chroot_source:?}" "$@"
}
