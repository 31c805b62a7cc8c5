#!/bin/sh
# A minimal cloud-init NoCloud reader for the hyved test guest: a test stand-in for cloud-init, not
# cloud-init itself. It reads the seed hyved builds (FAT volume labelled cidata, on virtio-blk) the
# way cloud-init would for the fields hyved writes, applies them, and reports each on the console
# as "HYVED-NOCLOUD key=value" lines for the tests:
#   meta-data       instance-id, local-hostname
#   user-data       the cloud-config part: root's hash (chpasswd list) into /etc/shadow,
#                   ssh_authorized_keys into /root/.ssh/authorized_keys;
#                   the text/x-shellscript part: run once per instance-id, the marker kept on
#                   the first disc (a FAT volume in the test distribution) when it is writable
#   network-config  version 2: the address of the nic whose MAC matches, plus the lease init's
#                   udhcpc got on it (a NAT nic's fixed IPv4 arrives by QEMU's dhcpstart)
say() { echo "HYVED-NOCLOUD $*"; }

seed=$(findfs LABEL=cidata 2>/dev/null)
if [ -z "$seed" ]; then
  say "seed=none"
  exit 0
fi
mkdir -p /run/cidata /run/root
mount -t vfat -o ro "$seed" /run/cidata || { say "seed=unreadable $seed"; exit 0; }
S=/run/cidata

# JSON-quoted YAML scalars as hyved writes them: key: "value"
field() { sed -n "s/^$1: \"\\(.*\\)\"\$/\\1/p" "$2" | head -n 1; }
iid=$(field instance-id $S/meta-data)
host=$(field local-hostname $S/meta-data)
[ -n "$host" ] && hostname "$host"
say "instance-id=$iid hostname=$(hostname) seed=$seed"

# Root's password hash: cloud-init hands it to chpasswd -e; busybox here has no chpasswd.
hash=$(sed -n 's/^  list: "root:\(.*\)"$/\1/p' $S/user-data | head -n 1)
if [ -n "$hash" ]; then
  grep -q '^root:' /etc/passwd 2>/dev/null || echo 'root:x:0:0:root:/root:/bin/sh' >>/etc/passwd
  echo "root:$hash:19000:0:99999:7:::" >/etc/shadow
  chmod 600 /etc/shadow
  say "shadow=$(grep '^root:' /etc/shadow | cut -d: -f1,2)"
fi

mkdir -p /root/.ssh && chmod 700 /root/.ssh
awk '/^ssh_authorized_keys:/ { k = 1; next }
     k && /^  - "/ { sub(/^  - "/, ""); sub(/"$/, ""); print; next }
     { k = 0 }' $S/user-data >/root/.ssh/authorized_keys
if [ -s /root/.ssh/authorized_keys ]; then
  chmod 600 /root/.ssh/authorized_keys
  say "authorized_keys=$(wc -l </root/.ssh/authorized_keys) md5=$(md5sum </root/.ssh/authorized_keys | cut -d' ' -f1)"
fi

# The x-shellscript part, between its header's blank line and the next delimiter.
boundary=$(sed -n '1s/.*boundary="\([^"]*\)".*/\1/p' $S/user-data)
awk -v b="--$boundary" '$0 == b || $0 == b "--" { p = 0; h = 0; next }
     /^Content-Type: text\/x-shellscript/ { h = 1; next }
     h && /^$/ { p = 1; h = 0; next }
     p { print }' $S/user-data >/run/firstboot.sh
if [ -s /run/firstboot.sh ]; then
  # Once per instance-id: the marker lives on the first disc (not the seed) when it can be written.
  root=''
  for dev in /dev/vd?; do [ "$dev" != "$seed" ] && root=$dev && break; done
  marks=/run/nocloud
  if [ -n "$root" ] && mount -t vfat "$root" /run/root 2>/dev/null; then marks=/run/root/nocloud; fi
  mkdir -p "$marks"
  if [ -e "$marks/$iid" ]; then
    say "firstboot=skipped marks=$marks"
  else
    chmod 700 /run/firstboot.sh
    /run/firstboot.sh
    echo "$iid" >"$marks/$iid"
    sync
    say "firstboot=ran exit=$? marks=$marks"
  fi
  rm -f /run/firstboot.sh
fi

if [ -f $S/network-config ]; then
  mac=$(sed -n 's/^      macaddress: "\(.*\)"$/\1/p' $S/network-config | head -n 1)
  addr=$(sed -n 's/^    addresses: \["\([^"]*\)".*/\1/p' $S/network-config | head -n 1)
  gw=$(sed -n 's/^        via: "\(.*\)"$/\1/p' $S/network-config | head -n 1)
  dev=''
  for n in /sys/class/net/*; do [ "$(cat "$n/address" 2>/dev/null)" = "$mac" ] && dev=${n##*/}; done
  if [ -n "$dev" ] && [ -n "$addr" ]; then
    # init's udhcpc asks QEMU's DHCP for a lease on eth0: with a fixed IPv4 on a NAT nic, hyved
    # made that lease the fixed address (dhcpstart). Wait a little for it, then apply the file.
    n=0
    while [ "$n" -lt 50 ] && ! ip -4 addr show dev "$dev" | grep -q 'inet '; do usleep 100000; n=$((n + 1)); done
    lease=$(ip -4 addr show dev "$dev" | sed -n 's/.*inet \([0-9.]*\).*/\1/p' | head -n 1)
    ip link set "$dev" up
    ip addr add "$addr" dev "$dev" 2>/dev/null
    [ -n "$gw" ] && ip route replace default via "$gw" dev "$dev" 2>/dev/null
    say "net=$dev mac=$mac addr=$(ip -4 addr show dev "$dev" | sed -n 's/.*inet \([0-9./]*\).*/\1/p' | tr '\n' ' ')dhcp=${lease:-none}"
  else
    say "net=none mac=$mac"
  fi
fi
umount /run/root 2>/dev/null
umount /run/cidata
say "done"
