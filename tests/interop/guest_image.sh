#!/usr/bin/env bash
# Builds, once, the interop lab's Debian bookworm guest and prints the folder holding it:
#   vmlinuz      Debian's linux-image-amd64 kernel
#   rootfs.cpio  the whole root file system as an uncompressed initramfs (no disk, no second
#                stage, nothing to decompress under TCG: the fastest boot found here)
#   info         kernel version, package versions, build time and size
# Everything comes from Debian packages through the machine's own Debian apt sources
# (mmdebstrap): linux-image-amd64, rdma-core, ibverbs-utils, perftest, rdmacm-utils, iproute2.
# bookworm's kernel ships rdma_rxe but not siw, so siw.ko is compiled in the image's chroot from
# linux-source-6.1 against linux-headers of the very kernel version installed; the compiler,
# headers and source are then dropped, as are the modules the guest does not load.
#
# The cache folder is ${SOFTRNIC_INTEROP_CACHE:-/var/cache/softrnic-interop}/<hash>, the hash
# covering this script and guest/*.sh, so any change rebuilds. Needs root; missing host tools
# (mmdebstrap, cpio, qemu-system-x86) are installed with apt-get. Exit status 0 with the folder on stdout, else 1
# with the reason on stderr (the build log is kept next to the cache).
set -euo pipefail
{  # parsed whole before it runs: editing this file during a build cannot derail the build
here=$(cd "$(dirname "$0")" && pwd)
cache_root=${SOFTRNIC_INTEROP_CACHE:-/var/cache/softrnic-interop}
log() { echo "guest_image: $*" >&2; }
die() { log "$*"; exit 1; }

[ "$(id -u)" -eq 0 ] || die "needs root (mmdebstrap, chroot)"
key=$(cat "$0" "$here"/guest/*.sh | sha256sum | cut -c1-16)
out=$cache_root/bookworm-$key
if [ -f "$out/ok" ]; then echo "$out"; exit 0; fi

mkdir -p "$cache_root"
exec 9>"$cache_root/.lock"
flock 9  # one build at a time; a second caller waits and then finds the cache
if [ -f "$out/ok" ]; then echo "$out"; exit 0; fi

need=()
command -v mmdebstrap >/dev/null || need+=(mmdebstrap)
command -v cpio >/dev/null || need+=(cpio)
command -v qemu-system-x86_64 >/dev/null || need+=(qemu-system-x86)
if [ ${#need[@]} -gt 0 ]; then
  log "installing ${need[*]}"
  DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends "${need[@]}" >&2 ||
    die "cannot install ${need[*]}"
fi

work=$(mktemp -d "$cache_root/build.XXXXXX")
buildlog=$cache_root/build-$key.log
cleanup() {
  # mmdebstrap's unshare mode keeps its mounts in its own namespace; unmount anything left anyway
  # before deleting, so a killed build can never take a host mount down with it.
  local m
  for m in $(findmnt -rn -o TARGET | grep -F "$work/" | sort -r); do umount -l "$m" 2>/dev/null || true; done
  rm -rf --one-file-system "$work"
}
trap cleanup EXIT
start=$(date +%s)

# The machine's Debian sources only (other repositories configured on the host are skipped).
sources=$work/debian.sources
: >"$sources"
for f in /etc/apt/sources.list.d/*.sources; do
  [ -f "$f" ] || continue
  awk 'BEGIN { RS = ""; ORS = "\n\n" } /URIs:[^\n]*debian\.org\/debian/' "$f" >>"$sources"
done
for f in /etc/apt/sources.list /etc/apt/sources.list.d/*.list; do
  [ -f "$f" ] || continue
  grep -E '^deb +(\[[^]]*\] +)?https?://[^ ]*debian\.org/debian(-security)? +bookworm' "$f" >>"$sources" || true
done
if ! grep -q . "$sources"; then
  echo "deb http://deb.debian.org/debian bookworm main" >"$sources"
fi

# The siw build, run inside the chroot (copied in by mmdebstrap).
cat >"$work/build-siw.sh" <<'EOF'
set -eu
kver=$(ls /lib/modules)
[ "$(echo "$kver" | wc -w)" -eq 1 ] || { echo "expected one kernel, found: $kver"; exit 1; }
img=$(dpkg-query -W -f '${Version}' "linux-image-$kver")
hdr=$(dpkg-query -W -f '${Version}' "linux-headers-$kver")
src=$(dpkg-query -W -f '${Version}' linux-source-6.1)
echo "kernel $kver image $img headers $hdr source $src"
[ "$img" = "$hdr" ] && [ "$img" = "$src" ] || { echo "kernel, headers and source versions differ"; exit 1; }
mkdir -p /root/siw
tar -xJf /usr/src/linux-source-6.1.tar.xz -C /root/siw --strip-components=5 \
  linux-source-6.1/drivers/infiniband/sw/siw
make -s -C "/lib/modules/$kver/build" M=/root/siw CONFIG_RDMA_SIW=m -j2 modules
strip --strip-debug /root/siw/siw.ko
install -D -m 0644 /root/siw/siw.ko "/lib/modules/$kver/updates/siw.ko"
# A second siw that insists on MPA CRC (siw's mpa_crc_required is a constant, not a module
# parameter), outside /lib/modules: the interop matrix loads it with insmod in place of siw.
cp -a /root/siw /root/siw-crc
make -s -C "/lib/modules/$kver/build" M=/root/siw-crc clean
sed -i 's/^const bool mpa_crc_required;/const bool mpa_crc_required = true;/' /root/siw-crc/siw_main.c
grep -q '^const bool mpa_crc_required = true;' /root/siw-crc/siw_main.c || { echo "siw_main.c: mpa_crc_required not found"; exit 1; }
make -s -C "/lib/modules/$kver/build" M=/root/siw-crc CONFIG_RDMA_SIW=m -j2 modules
strip --strip-debug /root/siw-crc/siw.ko
install -D -m 0644 /root/siw-crc/siw.ko /lib/siw-crc/siw.ko
depmod "$kver"
modinfo -F vermagic "/lib/modules/$kver/updates/siw.ko"
# Keep only the modules the guest loads, with their dependencies (crc32c by crypto name for siw).
keep=/root/keep-modules
: >"$keep"
# (rxe asks the crypto API for "crc32", siw for "crc32c": by name, so not module dependencies)
for m in virtio_pci virtio_net virtio_console ib_uverbs rdma_ucm ib_umad rdma_rxe siw \
    crc32_generic crc32_pclmul crc32c_generic crc32c_intel sch_netem; do
  modprobe -S "$kver" --show-depends "$m" 2>/dev/null | awk '$1 == "insmod" { print $2 }' >>"$keep" || true
done
grep -q '/siw.ko' "$keep" && grep -q '/rdma_rxe.ko' "$keep" || { echo "siw or rdma_rxe not resolvable"; exit 1; }
find "/lib/modules/$kver" -name '*.ko*' | sort >/root/all-modules
sort -u "$keep" | comm -23 /root/all-modules - | xargs rm -f
depmod "$kver"
# The compiler, headers and source were for siw.ko only.
apt-get -y -q purge --autoremove linux-headers-amd64 "linux-headers-$kver" linux-source-6.1 gcc gcc-12 \
  make libc6-dev binutils xz-utils >/dev/null
EOF

log "building the guest (mmdebstrap; log in $buildlog)"
pkgs=linux-image-amd64,linux-headers-amd64,linux-source-6.1,rdma-core,ibverbs-utils,ibverbs-providers
pkgs+=,perftest,rdmacm-utils,iproute2,kmod,procps,iputils-ping,ethtool,make,gcc,libc6-dev,xz-utils
if ! INITRD=No mmdebstrap --mode=unshare --variant=minbase --include="$pkgs" \
    --aptopt='APT::Install-Recommends "false"' \
    --customize-hook="copy-in $work/build-siw.sh /root" \
    --customize-hook='chroot "$1" sh /root/build-siw.sh' \
    bookworm "$work/root" "$sources" >"$buildlog" 2>&1; then
  tail -30 "$buildlog" >&2
  die "mmdebstrap failed (full log: $buildlog)"
fi

root=$work/root
kver=$(ls "$root/lib/modules")
mkdir -p "$work/out"
cp "$root/boot/vmlinuz-$kver" "$work/out/vmlinuz"
{
  echo "kernel $kver"
  chroot "$root" dpkg-query -W -f '${Package} ${Version}\n' "linux-image-$kver" rdma-core \
    ibverbs-utils perftest rdmacm-utils iproute2
} >"$work/out/info"

# Drop what only the build needed, and what nothing reads at run time.
rm -rf "$root"/usr/src/* "$root"/usr/lib/gcc "$root"/usr/libexec/gcc "$root"/usr/include \
  "$root"/usr/lib/linux-kbuild-* "$root"/usr/lib/udev/hwdb.* "$root"/usr/share/doc "$root"/usr/share/man "$root"/usr/share/info \
  "$root"/usr/share/locale "$root"/var/cache/apt/* "$root"/var/lib/apt/lists/* "$root"/boot/* \
  "$root"/root/siw "$root"/usr/lib/firmware "$root"/usr/share/perl* "$root"/usr/lib/x86_64-linux-gnu/perl*
find "$root/usr/lib" -name '*.a' -delete
install -m 0755 "$here/guest/init.sh" "$root/init"
install -m 0755 "$here/guest/agent.sh" "$root/sbin/softrnic-agent"
(cd "$root" && find . -xdev | LC_ALL=C sort | cpio -o -H newc --quiet) >"$work/out/rootfs.cpio"

secs=$(($(date +%s) - start))
{
  echo "build_seconds $secs"
  echo "rootfs_bytes $(stat -c %s "$work/out/rootfs.cpio")"
} >>"$work/out/info"
touch "$work/out/ok"
rm -rf "$out"
mv "$work/out" "$out"
# Images and logs of earlier versions of this script are never used again.
for old in "$cache_root"/bookworm-* "$cache_root"/build-*.log; do
  case "$old" in "$out" | "$buildlog") ;; *) rm -rf "$old" ;; esac
done
log "built in ${secs} s: $out ($(du -sh "$out" | cut -f1))"
echo "$out"
exit 0
}
