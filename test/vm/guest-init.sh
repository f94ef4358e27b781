#!/bin/busybox sh
# /init of the nested-KVM guest (packed into the initramfs by setup.sh).
# run-in-vm shares three folders over 9p: the job folder (tag hvtjob: config,
# the command script, and where the exit status goes), the host's root
# (hvtroot, read-only) and the checkout (hvtcheckout, read-write). The command
# runs chrooted into the host root, so the host's own node, gcc and ip work;
# a guest of another architecture than the host's has its own userland in the
# initramfs (/userland: busybox, node, their libraries) and runs chrooted into
# that instead, with the host root at /host.
/bin/busybox --install -s /bin
export PATH=/bin

mount -t proc proc /proc
mount -t sysfs sysfs /sys
mount -t devtmpfs devtmpfs /dev

# Until the job folder is mounted, the console log is the only way out.
say() { echo "hvtjs-init: $*" >/dev/console; }
# A setup failure is reported as status 125 with its reason, so run-in-vm can
# tell it apart from a failing command.
fail() {
  say "$*"
  if [ -n "$job_mounted" ]; then
    echo "$*" >/job/init-error
    echo 125 >/job/status
  fi
  sync
  poweroff -f
}

# A module that fails to load is reported once the job folder is mounted, so
# that run-in-vm can show why (kvm-amd fails on a CPU model without SVM).
failed_modules=
while read -r ko; do
  insmod "/lib/modules/$ko" 2>/dev/console || failed_modules="$failed_modules $ko"
done </lib/modules/order

p9='trans=virtio,version=9p2000.L,msize=512000'
job_mounted=
mount -t 9p -o "$p9" hvtjob /job || fail "cannot mount the job folder"
job_mounted=1
. /job/config
stamp() { [ "$HVTJS_VM_VERBOSE" != 1 ] || say "$(cut -d' ' -f1 /proc/uptime) s: $*"; }
stamp "modules loaded, job folder mounted"
[ -z "$failed_modules" ] ||
  fail "insmod failed:$failed_modules (guest console has the kernel's reason)"

# cache=loose: without a page cache every exec and every import re-reads
# its files over 9p (measured: a gcc + node run went from 43 s to 10 s with the
# root cached; a one-file vitest run from 69 s to 48 s with the checkout too).
# It is safe here because the host does not change these files while a
# command runs; what the guest writes to the checkout is flushed by the sync
# before power-off.
if [ -d /userland ]; then
  mount --bind /userland /newroot || fail "cannot bind the userland"
  mkdir -p /newroot/host /newroot/proc /newroot/sys /newroot/dev /newroot/tmp /newroot/run
  for d in sbin usr/bin usr/sbin; do
    mkdir -p "/newroot/$(dirname "$d")"
    [ -e "/newroot/$d" ] || ln -s /bin "/newroot/$d"
  done
  chroot /newroot /bin/busybox --install -s /bin
  mount -t 9p -o "$p9,ro,cache=loose" hvtroot /newroot/host || fail "cannot mount the host root"
else
  mount -t 9p -o "$p9,ro,cache=loose" hvtroot /newroot || fail "cannot mount the host root"
fi
mount -t proc proc /newroot/proc
mount -t sysfs sysfs /newroot/sys
mount -t devtmpfs devtmpfs /newroot/dev
mkdir -p /newroot/dev/pts /newroot/dev/shm
mount -t devpts -o newinstance,ptmxmode=0666 devpts /newroot/dev/pts
mount -t tmpfs -o mode=1777 tmpfs /newroot/dev/shm
mount -t tmpfs -o mode=1777 tmpfs /newroot/tmp
mount -t tmpfs -o mode=755 tmpfs /newroot/run
mkdir -p /newroot/run/hvtjs-job
mount --bind /job /newroot/run/hvtjs-job
# The mkdir matters when the checkout lies under /tmp or /run, now fresh tmpfs.
mkdir -p "/newroot$HVTJS_VM_CHECKOUT"
mount -t 9p -o "$p9,cache=loose" hvtcheckout "/newroot$HVTJS_VM_CHECKOUT" ||
  fail "cannot mount the checkout"

[ -c /dev/kvm ] || fail "no /dev/kvm: $HVTJS_VM_NO_KVM_HINT"
[ -c /dev/net/tun ] || fail "no /dev/net/tun after loading tun"
ip link set lo up || fail "cannot bring lo up"
stamp "file systems mounted"

port() {
  for p in /sys/class/virtio-ports/*; do
    if [ "$(cat "$p/name" 2>/dev/null)" = "$1" ]; then
      echo "/dev/${p##*/}"
      return
    fi
  done
  fail "no virtio serial port named $1"
}
out="$(port hvtjs.stdout)"
err="$(port hvtjs.stderr)"

cut -d' ' -f1 /proc/uptime >/job/boot-seconds
# env -i: the command gets only what run-in-vm chose to pass in cmd.sh.
chroot /newroot /usr/bin/env -i /bin/sh /run/hvtjs-job/cmd.sh </dev/null >"$out" 2>"$err"
echo $? >/job/status.tmp
stamp "command exited"
mv /job/status.tmp /job/status
sync
poweroff -f
