#!/bin/bash
# `meson install` as a lab would use it, into a scratch DESTDIR: every installed file in its
# standard place (command, libraries, headers, .pc files, scenarios, a man page per command of
# `softrnic cli-model`, bash and zsh completions), man pages that groff renders without a
# warning, a bash completion that completes, and the plain C NDK consumer (ndkping) built with
# `pkg-config softrnic-ndk` alone and run from the installed library; a C++ program built with
# `pkg-config softrnic` alone.
# Usage: install_test.sh BUILD_ROOT SOURCE_ROOT
set -u
build=${1:?build root}
src=${2:?source root}
tmp=$(mktemp -d /tmp/softrnic-install.XXXXXX)
trap 'rm -rf "$tmp"' EXIT
failures=0
fail() { echo "FAIL: $*"; failures=$((failures + 1)); }

root=$tmp/root
if ! meson install -C "$build" --destdir "$root" --no-rebuild --quiet > "$tmp/install.log" 2>&1; then
  cat "$tmp/install.log"
  echo "FAIL: meson install"
  exit 1
fi
prefix=$(meson introspect "$build" --buildoptions |
  python3 -c 'import json,sys; print({o["name"]: o["value"] for o in json.load(sys.stdin)}["prefix"])')
libdir=$(meson introspect "$build" --buildoptions |
  python3 -c 'import json,sys; print({o["name"]: o["value"] for o in json.load(sys.stdin)}["libdir"])')
case $libdir in /*) ;; *) libdir=$prefix/$libdir ;; esac
P=$root$prefix
L=$root$libdir
echo "installed under $P (libdir $L)"

need() { for f in "$@"; do [ -e "$f" ] || fail "not installed: ${f#$root}"; done; }
need "$P/bin/softrnic" "$P/bin/ndkping" "$P/bin/ndkperf" \
  "$L/libsoftrnic.so" "$L/libsoftrnic-ndk.so" "$L/pkgconfig/softrnic.pc" "$L/pkgconfig/softrnic-ndk.pc" \
  "$P/include/softrnic/roce/device.hpp" "$P/include/softrnic-ndk/ndkpi.h" \
  "$P/share/bash-completion/completions/softrnic" "$P/share/man/man1/softrnic.1" \
  "$P/share/man/man1/ndkping.1" "$P/share/man/man1/ndkperf.1"
ls "$L"/libsoftrnic.so.0* > /dev/null 2>&1 || fail "libsoftrnic.so.0 (the soname) not installed"
# The service: the unit under the prefix's systemd folder, naming the installed command, and the
# example config in sysconfdir.
unit=$(find "$root" -path '*/systemd/system/softrnic@.service' | head -1)
if [ -z "$unit" ]; then
  fail "softrnic@.service not installed"
else
  grep -q "^ExecStart=$prefix/bin/softrnic serve --config " "$unit" || fail "softrnic@.service does not run $prefix/bin/softrnic serve --config"
fi
[ -n "$(find "$root" -path '*/etc/softrnic/example.toml')" ] || fail "etc/softrnic/example.toml not installed"
zsh_file=$(ls "$P"/share/zsh/*/_softrnic 2> /dev/null | head -1)
[ -n "$zsh_file" ] || fail "zsh completion _softrnic not installed under share/zsh"
n_src=$(ls "$src"/scenarios/*.toml | wc -l)
n_inst=$(ls "$P"/share/softrnic/scenarios/*.toml 2> /dev/null | wc -l)
[ "$n_src" -gt 0 ] && [ "$n_src" -eq "$n_inst" ] || fail "scenarios: $n_inst installed of $n_src"

# The installed command runs from the installed library, and has a page per command.
export LD_LIBRARY_PATH=$L
"$P/bin/softrnic" --version | grep -q '^softrnic ' || fail "installed softrnic --version"
commands=$("$P/bin/softrnic" cli-model | python3 -c 'import json,sys; print(" ".join(s["name"] for s in json.load(sys.stdin)["subcommands"]))')
[ -n "$commands" ] || fail "softrnic cli-model lists no commands"
for c in $commands; do
  page=$P/share/man/man1/softrnic-$c.1
  if [ ! -f "$page" ]; then fail "no man page for softrnic $c"; continue; fi
  # Every long option of the command appears in its page.
  text=$(groff -man -rHY=0 -Tascii -P-cbou "$page" 2> /dev/null)
  for o in $("$P/bin/softrnic" cli-model | python3 -c "import json,sys
m = json.load(sys.stdin)
s = [x for x in m['subcommands'] if x['name'] == '$c'][0]
print(' '.join('--' + l for o in s['options'] for l in o['long'] if l != 'help'))"); do
    grep -qF -- "$o" <<< "$text" || fail "softrnic-$c.1 does not show $o"
  done
done
for page in "$P"/share/man/man1/*.1; do
  warn=$(groff -man -Tutf8 -ww -z "$page" 2>&1)
  [ -z "$warn" ] || fail "groff warns on $(basename "$page"): $warn"
done
man -l "$P/share/man/man1/softrnic-serve.1" 2> /dev/null | grep -q -- '--config' ||
  fail "man -l softrnic-serve.1 does not show --config"

# bash completion: commands, then a command's options, then files for --config.
complete_words() {
  bash -c 'source "$1"; shift; COMP_WORDS=("$@"); COMP_CWORD=$(($# - 1)); _softrnic; printf "%s\n" "${COMPREPLY[@]}"' \
    _ "$P/share/bash-completion/completions/softrnic" "$@"
}
complete_words softrnic se | grep -qx serve || fail "bash: 'softrnic se<TAB>' does not offer serve"
complete_words softrnic serve --c | grep -qx -- --config || fail "bash: 'softrnic serve --c<TAB>' lacks --config"
complete_words softrnic write_bw -- | grep -qx -- --size || fail "bash: 'softrnic write_bw --<TAB>' lacks --size"
touch "$tmp/devices.toml"
(cd "$tmp" && complete_words softrnic serve --config devi) | grep -qx devices.toml ||
  fail "bash: 'softrnic serve --config devi<TAB>' does not complete the file"
if command -v zsh > /dev/null; then
  zsh -n "$zsh_file" || fail "zsh -n _softrnic"
else
  echo "zsh not installed: the zsh completion's syntax is not checked"
fi

# An NDK consumer built from the installed .pc alone (no include path into the source or build).
export PKG_CONFIG_SYSROOT_DIR=$root PKG_CONFIG_PATH=$L/pkgconfig PKG_CONFIG_LIBDIR=$L/pkgconfig
flags=$(pkg-config --cflags --libs softrnic-ndk) || fail "pkg-config softrnic-ndk"
echo "pkg-config softrnic-ndk: $flags"
case "$flags" in *"$src"* | *"$build"*) fail "softrnic-ndk.pc points into the source or build tree" ;; esac
mkdir -p "$tmp/consumer"
cp "$src"/ndk-tools/ndkping.c "$src"/ndk-tools/ndk_tool.c "$src"/ndk-tools/ndk_roles.c \
  "$src"/ndk-tools/ndk_server.c "$src"/ndk-tools/*.h "$tmp/consumer/"
if cc -std=c11 -Wall -o "$tmp/ndkping" "$tmp"/consumer/*.c $flags -lpthread 2> "$tmp/cc.log"; then
  # Two devices joined by the in-memory wire: no root, no port, nothing outside the process.
  out=$(SOFTRNIC_DEVICES="name=a,port=loopback:peer=b,ip4=198.18.0.1/24;name=b,port=loopback:peer=a,ip4=198.18.0.2/24" \
    timeout 120 "$tmp/ndkping" --loopback -n 200 --json 2>&1)
  rc=$?
  echo "$out"
  [ $rc -eq 0 ] || fail "ndkping built against the installed files exited $rc"
  python3 -c 'import json,sys; d=json.loads(sys.argv[1].strip().splitlines()[-1]); sys.exit(0 if d.get("replies_verified") == 200 and d.get("ok") is True else 1)' "$out" ||
    fail "ndkping did not report 200 verified replies"
  ldd "$tmp/ndkping" | grep -q "$L/libsoftrnic-ndk.so" || fail "ndkping did not load the installed library"
else
  cat "$tmp/cc.log"
  fail "the C consumer does not build with pkg-config softrnic-ndk"
fi
flags=$(pkg-config --cflags --libs softrnic) || fail "pkg-config softrnic"
cat > "$tmp/engine.cpp" << 'CPP'
#include "roce/device.hpp"
#include "verbs/memory.hpp"
int main() { return sizeof(softrnic::roce::Device) > 0 ? 0 : 1; }
CPP
g++ $flags -o "$tmp/engine" "$tmp/engine.cpp" $flags 2> "$tmp/gxx.log" && "$tmp/engine" ||
  { head -30 "$tmp/gxx.log"; fail "a C++ program does not build and run with pkg-config softrnic"; }

if [ $failures -ne 0 ]; then
  echo "$failures failure(s)"
  exit 1
fi
echo "install: every file in place, pages and completions generated, consumers built from the .pc files"
