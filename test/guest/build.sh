#!/usr/bin/env bash
# Build the tiny real guest booted by the VM end-to-end tests (see README.md here
# and DESIGN.md §7): Debian's cloud kernel + a busybox-static initramfs whose init
# loads the virtio/vfat modules, starts qemu-ga, runs test/guest/boot.d/*.sh, prints
# HYVED-GUEST-READY on the serial console, then keeps a root shell on it and powers
# off on an ACPI power-button event (QMP system_powerdown).
#
# Usage: test/guest/build.sh [OUT]
#   OUT defaults to $HYVED_GUEST_DIR, then to <repo>/.guest (each checkout builds its own,
#   since branches change the guest).
# Writes OUT/vmlinuz, OUT/initrd.gz and OUT/VERSION. Re-runs are a no-op when
# OUT/VERSION already matches what would be built.
set -euo pipefail

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
OUT=${1:-${HYVED_GUEST_DIR:-$(cd "$HERE/../.." && pwd)/.guest}}
BOOTD="$HERE/boot.d"
KERNEL_META=linux-image-cloud-amd64
PACKAGES=(qemu-system-x86 qemu-utils ovmf busybox-static cpio xz-utils qemu-guest-agent)
# Modules the guest loads (their dependencies are added from each module's modinfo):
# evdev + button for the ACPI power button, virtio-pci + virtio_console for qemu-ga's
# port, virtio_net for a NIC, virtio_blk + vfat + codepages to read a NoCloud seed.
MODULES=(evdev button virtio_pci virtio_console virtio_net virtio_blk vfat nls_cp437 nls_ascii nls_utf8)

log() { printf 'guest-build: %s\n' "$*" >&2; }
die() { log "error: $*"; exit 1; }

SUDO=()
if [ "$(id -u)" -ne 0 ]; then
  command -v sudo >/dev/null 2>&1 && SUDO=(sudo) || SUDO=()
fi

APT_UPDATED=0
apt_update() {
  if [ "$APT_UPDATED" -eq 0 ]; then
    log "apt-get update"
    "${SUDO[@]}" apt-get -o DPkg::Lock::Timeout=600 update -qq >&2
    APT_UPDATED=1
  fi
}

installed() { dpkg-query -W -f='${Status}' "$1" 2>/dev/null | grep -q 'install ok installed'; }

# 1. Host packages -----------------------------------------------------------
missing=()
for p in "${PACKAGES[@]}"; do installed "$p" || missing+=("$p"); done
if [ "${#missing[@]}" -gt 0 ]; then
  apt_update
  log "installing ${missing[*]}"
  "${SUDO[@]}" env DEBIAN_FRONTEND=noninteractive \
    apt-get -o DPkg::Lock::Timeout=600 install -y -qq "${missing[@]}" >&2
else
  log "host packages present: ${PACKAGES[*]}"
fi

# 2. Resolve the versioned kernel package behind the metapackage ---------------
kernel_pkg() {
  apt-cache depends "$KERNEL_META" 2>/dev/null |
    awk '$1 == "Depends:" && $2 ~ /^linux-image-[0-9]/ { print $2; exit }'
}
resolve_kernel() {
  KPKG=$(kernel_pkg || true)
  if [ -z "$KPKG" ]; then
    apt_update
    KPKG=$(kernel_pkg || true)
  fi
  [ -n "$KPKG" ] || die "cannot resolve the package $KERNEL_META depends on"
  KVER=$(apt-cache policy "$KPKG" | awk '$1 == "Candidate:" { print $2; exit }')
  if [ -z "$KVER" ] || [ "$KVER" = "(none)" ]; then die "no candidate version for $KPKG"; fi
}
resolve_kernel
BBVER=$(dpkg-query -W -f='${Version}' busybox-static)
QGAVER=$(dpkg-query -W -f='${Version}' qemu-guest-agent)
log "kernel package $KPKG $KVER, busybox-static $BBVER, qemu-guest-agent $QGAVER"

# 3. Guest userland (its text is part of the stamp) -----------------------------
read -r -d '' INIT_SCRIPT <<'EOF' || true
#!/bin/sh
# hyved test guest init (PID 1): never exits, exiting would panic the kernel.
export PATH=/sbin:/bin:/usr/sbin:/usr/bin HOME=/root TERM=vt100
mount -t proc proc /proc
mount -t sysfs sysfs /sys
mount -t devtmpfs devtmpfs /dev
mkdir -p /dev/pts && mount -t devpts devpts /dev/pts
exec 0</dev/console 1>/dev/console 2>&1
hostname guest
ip link set lo up
# order lists the modules after their dependencies; built-in ones are not in it.
while read -r m; do insmod "/lib/modules/$m.ko"; done </lib/modules/order
# -f + &: acpid writes its pid file only after opening /dev/input/event*, so
# waiting for it means a power-button press after the marker is never lost.
acpid -f -c /etc/acpi -a /etc/acpid.conf -l /var/log/acpid.log -p /var/run/acpid.pid &
# virtio-serial ports appear asynchronously (the host announces them) and there is no
# udev to make /dev/virtio-ports links: look the agent's port up by name, off the boot path.
(
  n=0
  while [ "$n" -lt 100 ]; do
    for f in /sys/class/virtio-ports/*/name; do
      [ "$(cat "$f" 2>/dev/null)" = org.qemu.guest_agent.0 ] || continue
      p=${f%/name}
      exec qemu-ga -m virtio-serial -p "/dev/${p##*/}" -t /var/run -f /var/run/qemu-ga.pid -l /var/log/qemu-ga.log
    done
    usleep 100000; n=$((n + 1))
  done
) &
if [ -e /sys/class/net/eth0 ]; then
  udhcpc -f -S -i eth0 -s /etc/udhcpc.script >/var/log/udhcpc.log 2>&1 &
fi
for f in /etc/hyved/boot.d/*.sh; do
  [ -f "$f" ] && sh "$f"
done
n=0
while [ ! -s /var/run/acpid.pid ] && [ "$n" -lt 500 ]; do usleep 10000; n=$((n + 1)); done
echo HYVED-GUEST-READY
# A root shell on the console with it as controlling tty (job control, ^C), respawned on exit.
# It runs in PID 1's foreground: a job started with & would inherit SIGINT ignored.
while true; do setsid cttyhack sh -l; usleep 200000; done
EOF
read -r -d '' PROFILE <<'EOF' || true
PS1='guest# '
export PS1
EOF
# udhcpc's hook: $ip, $subnet, $router and $dns come from the lease.
read -r -d '' UDHCPC_SCRIPT <<'EOF' || true
#!/bin/sh
case "$1" in
  deconfig) ifconfig "$interface" 0.0.0.0 up ;;
  bound|renew)
    ifconfig "$interface" "$ip" netmask "${subnet:-255.255.255.0}" up
    if [ -n "$router" ]; then
      while route del default dev "$interface" 2>/dev/null; do :; done
      for r in $router; do route add default gw "$r" dev "$interface"; break; done
    fi
    : >/etc/resolv.conf
    for d in $dns; do echo "nameserver $d" >>/etc/resolv.conf; done
    ;;
esac
exit 0
EOF
read -r -d '' OS_RELEASE <<'EOF' || true
NAME="hyved test guest"
ID=hyved-guest
VERSION_ID=1
PRETTY_NAME="hyved test guest 1"
EOF
# busybox acpid maps the power-button key (evdev KEY_POWER) to the event text
# "button/power PWRF 00000080"; each -a line is "KEY FILE": the first KEY that is a
# substring of that text selects FILE, run as ./FILE inside the -c directory.
# (Without an -a file the built-in table maps "PWRF" to "PWRF/00000080", i.e.
# /etc/acpi/PWRF/00000080; a line "PWRF/00000080 poweroff" never matches.)
read -r -d '' ACPID_CONF <<'EOF' || true
PWRF poweroff
EOF
read -r -d '' POWEROFF_SCRIPT <<'EOF' || true
#!/bin/sh
exec /bin/busybox poweroff -f
EOF
# boot.d hooks count by name and content.
bootd_listing() {
  local f
  for f in "$BOOTD"/*; do
    [ -f "$f" ] || continue
    printf '%s\n' "$(basename "$f")"
    cat "$f"
  done
}
INIT_HASH=$(printf '%s\n--\n' "$INIT_SCRIPT" "$ACPID_CONF" "$POWEROFF_SCRIPT" "$PROFILE" "$UDHCPC_SCRIPT" \
  "$OS_RELEASE" "${MODULES[*]}" "$(bootd_listing)" | sha256sum | cut -c1-16)
make_stamp() {
  printf 'kernel=%s %s\nbusybox=%s\nqemu-ga=%s\ninit=%s' "$KPKG" "$KVER" "$BBVER" "$QGAVER" "$INIT_HASH"
}
STAMP=$(make_stamp)

if [ -f "$OUT/VERSION" ] && [ -s "$OUT/vmlinuz" ] && [ -s "$OUT/initrd.gz" ] &&
   [ "$(cat "$OUT/VERSION")" = "$STAMP" ]; then
  log "up to date: $OUT ($KPKG $KVER, init $INIT_HASH)"
  exit 0
fi

WORK=$(mktemp -d "${TMPDIR:-/tmp}/hyved-guest.XXXXXX")
trap 'rm -rf "$WORK"' EXIT
mkdir "$WORK/dl"
# apt-get download (as root) drops privileges to _apt and warns if it cannot write.
if [ "$(id -u)" -eq 0 ] && id _apt >/dev/null 2>&1; then
  chmod 755 "$WORK" && chown _apt "$WORK/dl"
fi

# 4. Kernel and modules ----------------------------------------------------------
log "downloading $KPKG=$KVER"
if ! (cd "$WORK/dl" && apt-get download -qq "$KPKG=$KVER" >&2); then
  [ "$APT_UPDATED" -eq 0 ] || die "apt-get download $KPKG=$KVER failed"
  log "download failed, package lists may be stale: retrying after apt-get update"
  apt_update
  resolve_kernel
  STAMP=$(make_stamp)
  log "downloading $KPKG=$KVER"
  (cd "$WORK/dl" && apt-get download -qq "$KPKG=$KVER" >&2)
fi
debs=("$WORK"/dl/*.deb)
DEB=${debs[0]}
[ -f "$DEB" ] || die "apt-get download left no .deb"
log "extracting $(basename "$DEB")"
dpkg-deb -x "$DEB" "$WORK/kpkg"
kernels=("$WORK"/kpkg/boot/vmlinuz-*)
VMLINUZ=${kernels[0]}
[ -f "$VMLINUZ" ] || die "no boot/vmlinuz-* in $DEB"
moddirs=("$WORK"/kpkg/lib/modules/*/kernel)
MODDIR=${moddirs[0]}
[ -d "$MODDIR" ] || die "no lib/modules/*/kernel in $DEB"

KROOT=${MODDIR%/kernel}

ROOT="$WORK/root"
mkdir -p "$ROOT"/{bin,sbin,usr/bin,usr/sbin,proc,sys,dev,tmp,root,etc/acpi,etc/hyved/boot.d,var/log,var/run,lib/modules}

# Copy a module as NAME.ko, decompressing it: busybox insmod cannot load .ko.xz/.ko.zst/.ko.gz.
copy_module() {
  local src=$1 dst=$2
  case "$src" in
    *.xz)  xz -dc "$src" >"$dst" ;;
    *.zst) if ! command -v zstd >/dev/null 2>&1; then
             apt_update
             "${SUDO[@]}" env DEBIAN_FRONTEND=noninteractive \
               apt-get -o DPkg::Lock::Timeout=600 install -y -qq zstd >&2
           fi
           zstd -qdc "$src" >"$dst" ;;
    *.gz)  gzip -dc "$src" >"$dst" ;;
    *)     cp "$src" "$dst" ;;
  esac
}
# Adds a module after its dependencies (from its modinfo "depends=", as there is no
# modules.dep before depmod runs) to ORDER; a module built into the kernel needs nothing.
declare -A SEEN=()
ORDER=()
add_module() {
  local name=$1 pat src deps d
  [ -z "${SEEN[$name]:-}" ] || return 0
  SEEN[$name]=1
  pat=${name//_/[_-]}
  if grep -qE "/${pat}\.ko(\.(xz|zst|gz))?\$" "$KROOT/modules.builtin" 2>/dev/null; then
    log "module $name is built in"
    return 0
  fi
  src=$(find "$MODDIR" -regextype posix-extended -regex ".*/${pat}\.ko(\.(xz|zst|gz))?" | head -n1)
  [ -n "$src" ] || die "module $name not found under $MODDIR"
  copy_module "$src" "$ROOT/lib/modules/$name.ko"
  deps=$(tr '\0' '\n' <"$ROOT/lib/modules/$name.ko" | sed -n 's/^depends=//p' | head -n1)
  for d in ${deps//,/ }; do add_module "$d"; done
  ORDER+=("$name")
}
for m in "${MODULES[@]}"; do add_module "$m"; done
printf '%s\n' "${ORDER[@]}" >"$ROOT/lib/modules/order"
log "modules: ${ORDER[*]}"

# qemu-ga is dynamically linked: take it with every library ldd names, at the same paths.
QGA=$(command -v qemu-ga || echo /usr/sbin/qemu-ga)
[ -x "$QGA" ] || die "qemu-ga not found (package qemu-guest-agent)"
mkdir -p "$ROOT/usr/sbin"
cp "$QGA" "$ROOT/usr/sbin/qemu-ga"
for lib in $(ldd "$QGA" | awk '$2 == "=>" && $3 ~ /^\// { print $3 } $1 ~ /^\// { print $1 }'); do
  mkdir -p "$ROOT$(dirname "$lib")"
  cp -L "$lib" "$ROOT$lib"
done

# 5. Initramfs ------------------------------------------------------------------
log "populating initramfs with /bin/busybox, its applet links and qemu-ga"
cp /bin/busybox "$ROOT/bin/busybox"
/bin/busybox --list-full | while read -r applet; do
  [ -e "$ROOT/$applet" ] || [ -L "$ROOT/$applet" ] || ln -s /bin/busybox "$ROOT/$applet"
done
printf '%s\n' "$INIT_SCRIPT" >"$ROOT/init"
printf '%s\n' "$ACPID_CONF" >"$ROOT/etc/acpid.conf"
printf '%s\n' "$POWEROFF_SCRIPT" >"$ROOT/etc/acpi/poweroff"
printf '%s\n' "$PROFILE" >"$ROOT/etc/profile"
printf '%s\n' "$UDHCPC_SCRIPT" >"$ROOT/etc/udhcpc.script"
printf '%s\n' "$OS_RELEASE" >"$ROOT/etc/os-release"
chmod 755 "$ROOT/init" "$ROOT/etc/acpi/poweroff" "$ROOT/etc/udhcpc.script"
for f in "$BOOTD"/*; do [ -f "$f" ] && cp "$f" "$ROOT/etc/hyved/boot.d/"; done
# The kernel opens /dev/console before running /init; init re-opens it after
# mounting devtmpfs anyway, so the node is only a nicety when we cannot mknod.
mknod -m 600 "$ROOT/dev/console" c 5 1 2>/dev/null || log "no mknod (not root): relying on devtmpfs for /dev/console"

log "packing newc cpio + gzip"
find "$ROOT" -exec touch -h -d @0 {} + # reproducible archive
(cd "$ROOT" && find . -mindepth 1 | LC_ALL=C sort | cpio -o -H newc -R 0:0 --reproducible --quiet) |
  gzip -9n >"$WORK/initrd.gz"

# 6. Install into OUT (VERSION last, so a partial build never looks current) ----
mkdir -p "$OUT"
rm -f "$OUT/VERSION"
cp "$VMLINUZ" "$OUT/vmlinuz.tmp" && mv -f "$OUT/vmlinuz.tmp" "$OUT/vmlinuz"
cp "$WORK/initrd.gz" "$OUT/initrd.gz.tmp" && mv -f "$OUT/initrd.gz.tmp" "$OUT/initrd.gz"
printf '%s\n' "$STAMP" >"$OUT/VERSION"
log "wrote $OUT/vmlinuz ($(stat -c %s "$OUT/vmlinuz") bytes), $OUT/initrd.gz ($(stat -c %s "$OUT/initrd.gz") bytes), $OUT/VERSION"
