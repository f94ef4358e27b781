#!/usr/bin/env bash
# Prepares everything test/vm/run-in-vm needs to boot a nested-KVM guest under
# QEMU's software emulation: host packages, a Debian kernel (uncompressed), and
# an initramfs. Idempotent: a second run only checks and reuses the cache.
#
# Progress goes to stderr; stdout gets KEY=VALUE lines (VMLINUX, INITRD,
# KERNEL_VERSION, CACHE_DIR) for run-in-vm to read.
#
# Environment:
#   HVTJS_VM_CACHE  cache folder (default ${XDG_CACHE_HOME:-$HOME/.cache}/hvtjs-vm)
set -euo pipefail
export LC_ALL=C

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
cache="${HVTJS_VM_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/hvtjs-vm}"
# Modules the guest needs, by name; their dependencies are resolved from the
# kernel package itself so that a new Debian kernel cannot silently change the order.
guest_modules=(kvm_amd virtio_pci 9pnet_virtio 9p virtio_console tun)
host_packages=(qemu-system-x86 busybox-static kmod cpio xz-utils)

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

# --- which kernel ------------------------------------------------------------
# Without apt's binary cache (Debian's container images disable it) every
# apt-cache call parses all package lists, about 1.5 s here; the answer only
# changes when the lists do, so it is remembered against their fingerprint.
lists_fingerprint() {
  local lists
  eval "$(apt-config shell lists Dir::State::lists/d)"
  # shellcheck disable=SC2012 # names, sizes and times only
  ls -l --time-style=+%s "${lists:-/var/lib/apt/lists/}" 2>/dev/null | sha256sum | cut -c1-16
}
choose_kernel() {
  local fp memo="$cache/kernel-choice"
  fp="$(lists_fingerprint)"
  if [ -f "$memo" ] && [ "$(head -n1 "$memo")" = "$fp" ]; then
    read -r pkg pkg_version < <(sed -n 2p "$memo")
  else
    # linux-image-amd64 pins the exact kernel package and version it wants.
    read -r pkg pkg_version < <(apt-cache show --no-all-versions linux-image-amd64 2>/dev/null |
      sed -n 's/^Depends:.*\(linux-image-[0-9][^ ,]*\) (= \([^)]*\)).*/\1 \2/p')
    if [ -z "$pkg" ] && [ "$apt_updated" = 0 ]; then
      apt_update_once
      choose_kernel
      return
    fi
    [ -n "$pkg" ] && [ -n "$pkg_version" ] ||
      die "apt-cache cannot tell which kernel package linux-image-amd64 depends on"
    printf '%s\n%s %s\n' "$fp" "$pkg" "$pkg_version" >"$memo"
  fi
  kver="${pkg#linux-image-}"
  kdir="$cache/${pkg}_${pkg_version}"
}
choose_kernel

# --- kernel: download, unpack, vmlinux, modules -------------------------------
if [ -f "$kdir/vmlinux" ] && [ -f "$kdir/modules/order" ]; then
  log "kernel $pkg $pkg_version cached in $kdir"
else
  t=$EPOCHREALTIME
  apt_opts=()
  # apt drops to the _apt user for downloads, which cannot write into a
  # private cache folder; as root, download as root without the warning.
  [ "$(id -u)" = 0 ] && apt_opts+=(-o APT::Sandbox::User=root)
  download() {
    work="$kdir.partial"
    rm -rf "$work"
    mkdir -p "$work"
    log "downloading $pkg $pkg_version"
    (cd "$work" && apt-get download -qq "${apt_opts[@]}" "$pkg=$pkg_version" >&2)
  }
  if ! download; then
    # The mirror no longer has that version: refresh the lists, take the new one.
    rm -rf "$work"
    apt_update_once
    choose_kernel
    download || die "apt-get download $pkg=$pkg_version failed"
  fi
  log "downloaded $(du -h "$work"/*.deb | cut -f1) ($(since "$t"))"

  t=$EPOCHREALTIME
  dpkg-deb -x "$work"/*.deb "$work/root"
  log "unpacked ($(since "$t"))"

  t=$EPOCHREALTIME
  bzimage="$work/root/boot/vmlinuz-$kver"
  [ -f "$bzimage" ] || die "no $bzimage in $pkg"
  # As the kernel's scripts/extract-vmlinux does: the payload starts at the
  # first xz stream magic; xz complains about the trailing setup data, which
  # is expected, so judge success by the ELF header of the result instead.
  for off in $(grep -aboP '\xfd7zXZ\x00' "$bzimage" | cut -d: -f1); do
    tail -c "+$((off + 1))" "$bzimage" | xz -dc >"$work/vmlinux" 2>/dev/null || true
    if [ "$(head -c 4 "$work/vmlinux" | od -An -tx1 | tr -d ' ')" = 7f454c46 ]; then
      break
    fi
    rm -f "$work/vmlinux"
  done
  [ -f "$work/vmlinux" ] || die "found no xz-compressed ELF kernel inside $bzimage"
  log "extracted vmlinux, $(du -h --apparent-size "$work/vmlinux" | cut -f1) ($(since "$t"))"

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

  # Only vmlinux and the chosen modules are kept: the unpacked package is ~400 MB.
  rm -rf "$kdir"
  mkdir -p "$kdir"
  mv "$work/vmlinux" "$work/modules" "$kdir/"
  rm -rf "$work"
  for old in "$cache"/linux-image-*; do
    [ "$old" = "$kdir" ] || [ ! -d "$old" ] || {
      log "removing superseded $old"
      rm -rf "$old"
    }
  done
fi

# --- initramfs ---------------------------------------------------------------
busybox=/bin/busybox
file "$busybox" 2>/dev/null | grep -q 'statically linked' ||
  [ "$(dpkg-query -S "$busybox" 2>/dev/null | cut -d: -f1)" = busybox-static ] ||
  die "$busybox is not the static busybox (install busybox-static)"
# Keyed by everything that goes into it, so editing guest-init.sh rebuilds it.
key="$(cat "$here/guest-init.sh" "$kdir/modules/order" "$busybox" | sha256sum | cut -c1-16)"
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
  # Uncompressed: decompressing it would be one more thing the guest kernel
  # does under emulation, on every boot, to save 4 MB of a local file.
  (cd "$staging" && find . -print0 | cpio --null -o -H newc --quiet) >"$initrd.tmp"
  mv "$initrd.tmp" "$initrd"
  rm -rf "$staging"
  # Other checkouts sharing this cache may still use other versions; drop
  # only those that no run has used for a day.
  find "$kdir" -maxdepth 1 -name 'initramfs-*.cpio' ! -path "$initrd" -mtime +0 -delete
  log "built initramfs $(basename "$initrd"), $(du -h "$initrd" | cut -f1) ($(since "$t"))"
fi

log "ready in $(since "$t_start")"
printf 'KERNEL_VERSION=%s\nVMLINUX=%s\nINITRD=%s\nCACHE_DIR=%s\n' \
  "$kver" "$kdir/vmlinux" "$initrd" "$cache"
