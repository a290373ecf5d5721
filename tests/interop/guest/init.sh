#!/bin/sh
# PID 1 of the interop guest (the whole root file system is the initramfs, so there is no second
# stage): mount the kernel file systems, load the virtio and RDMA modules, bring the NICs up and
# hand over to the command agent on the virtio-serial port. Addresses and RDMA links are set by
# the host test through the agent, so one image serves every rig.
PATH=/usr/sbin:/usr/bin:/sbin:/bin
export PATH
mount -t proc proc /proc
mount -t sysfs sysfs /sys
mount -t devtmpfs devtmpfs /dev
mkdir -p /dev/pts /dev/shm
mount -t devpts devpts /dev/pts
mount -t tmpfs tmpfs /dev/shm
mount -t tmpfs tmpfs /tmp
mount -t tmpfs tmpfs /run
hostname interop-guest
echo "softrnic-interop: init on $(uname -r)"

for m in virtio_pci virtio_net virtio_console crc32_pclmul crc32_generic crc32c_intel crc32c_generic \
    ib_uverbs rdma_ucm rdma_rxe siw; do
  modprobe "$m" || echo "softrnic-interop: modprobe $m failed"
done

# Both NICs sit on one bridge: answer ARP only for the NIC's own address (no ARP flux), so rxe0
# (eth0) and siw0 (eth1) each own their address on the wire.
sysctl -qw net.ipv4.conf.all.arp_ignore=1 net.ipv4.conf.all.arp_announce=2
sysctl -qw net.ipv6.conf.all.accept_dad=0 net.ipv6.conf.default.accept_dad=0
sysctl -qw net.ipv6.conf.all.autoconf=0 net.ipv6.conf.default.autoconf=0
sysctl -qw net.ipv6.conf.all.accept_ra=0 net.ipv6.conf.default.accept_ra=0
ip link set lo up
for i in eth0 eth1; do ip link set "$i" up; done
echo "softrnic-interop: up ($(cut -d' ' -f1 /proc/uptime) s)"

# The agent must never leave PID 1: restart it if it ever exits, and reap orphans meanwhile.
while :; do
  /sbin/softrnic-agent
  echo "softrnic-interop: agent exited ($?), restarting"
  sleep 1
done
