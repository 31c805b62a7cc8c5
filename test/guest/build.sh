#!/usr/bin/env bash
# Build the tiny real guest booted by the VM end-to-end tests (see README.md here
# and DESIGN.md §7): Debian's cloud kernel + a busybox-static initramfs whose init
# prints HYVED-GUEST-READY on the serial console and powers off on an ACPI
# power-button event (QMP system_powerdown).
#
# Usage: test/guest/build.sh [OUT]
#   OUT defaults to $HYVED_GUEST_DIR, then to $HOME/.cache/hyved-guest.
# Writes OUT/vmlinuz, OUT/initrd.gz and OUT/VERSION. Re-runs are a no-op when
# OUT/VERSION already matches what would be built.
set -euo pipefail

OUT=${1:-${HYVED_GUEST_DIR:-$HOME/.cache/hyved-guest}}
KERNEL_META=linux-image-cloud-amd64
PACKAGES=(qemu-system-x86 qemu-utils ovmf busybox-static cpio xz-utils)

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
log "kernel package $KPKG $KVER, busybox-static $BBVER"

# 3. Guest userland (its text is part of the stamp) -----------------------------
read -r -d '' INIT_SCRIPT <<'EOF' || true
#!/bin/sh
# hyved test guest init (PID 1): never exits, exiting would panic the kernel.
export PATH=/sbin:/bin:/usr/sbin:/usr/bin
mount -t proc proc /proc
mount -t sysfs sysfs /sys
mount -t devtmpfs devtmpfs /dev
exec 0</dev/console 1>/dev/console 2>&1
insmod /lib/modules/evdev.ko
insmod /lib/modules/button.ko
# -f + &: acpid writes its pid file only after opening /dev/input/event*, so
# waiting for it means a power-button press after the marker is never lost.
acpid -f -c /etc/acpi -a /etc/acpid.conf -l /var/log/acpid.log -p /var/run/acpid.pid &
n=0
while [ ! -s /var/run/acpid.pid ] && [ "$n" -lt 500 ]; do usleep 10000; n=$((n + 1)); done
echo HYVED-GUEST-READY
while true; do sleep 3600; done
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
INIT_HASH=$(printf '%s\n--\n%s\n--\n%s\n' "$INIT_SCRIPT" "$ACPID_CONF" "$POWEROFF_SCRIPT" |
  sha256sum | cut -c1-16)
make_stamp() { printf 'kernel=%s %s\nbusybox=%s\ninit=%s' "$KPKG" "$KVER" "$BBVER" "$INIT_HASH"; }
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

ROOT="$WORK/root"
mkdir -p "$ROOT"/{bin,sbin,usr/bin,usr/sbin,proc,sys,dev,tmp,etc/acpi,var/log,var/run,lib/modules}

# Copy a module, decompressing it: busybox insmod cannot load .ko.xz/.ko.zst/.ko.gz.
copy_module() {
  local rel=$1 base src
  base=$(basename "$rel")
  for src in "$MODDIR/$rel" "$MODDIR/$rel.xz" "$MODDIR/$rel.zst" "$MODDIR/$rel.gz"; do
    [ -f "$src" ] || continue
    case "$src" in
      *.xz)  log "module $rel (xz)";   xz -dc "$src" >"$ROOT/lib/modules/$base" ;;
      *.zst) log "module $rel (zstd)"
             if ! command -v zstd >/dev/null 2>&1; then
               apt_update
               "${SUDO[@]}" env DEBIAN_FRONTEND=noninteractive \
                 apt-get -o DPkg::Lock::Timeout=600 install -y -qq zstd >&2
             fi
             zstd -qdc "$src" >"$ROOT/lib/modules/$base" ;;
      *.gz)  log "module $rel (gzip)"; gzip -dc "$src" >"$ROOT/lib/modules/$base" ;;
      *)     log "module $rel";        cp "$src" "$ROOT/lib/modules/$base" ;;
    esac
    return 0
  done
  die "module $rel not found under $MODDIR"
}
copy_module drivers/input/evdev.ko
copy_module drivers/acpi/button.ko

# 5. Initramfs ------------------------------------------------------------------
log "populating initramfs with /bin/busybox and its applet links"
cp /bin/busybox "$ROOT/bin/busybox"
/bin/busybox --list-full | while read -r applet; do
  [ -e "$ROOT/$applet" ] || [ -L "$ROOT/$applet" ] || ln -s /bin/busybox "$ROOT/$applet"
done
printf '%s\n' "$INIT_SCRIPT" >"$ROOT/init"
printf '%s\n' "$ACPID_CONF" >"$ROOT/etc/acpid.conf"
printf '%s\n' "$POWEROFF_SCRIPT" >"$ROOT/etc/acpi/poweroff"
chmod 755 "$ROOT/init" "$ROOT/etc/acpi/poweroff"
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
