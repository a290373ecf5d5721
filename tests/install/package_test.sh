#!/bin/bash
# The Debian package, built from the tree as a packager would: the repository's tracked files
# copied into an empty folder, `dpkg-buildpackage -us -uc -b`, then lintian on the result (no
# errors allowed), every package's runtime dependencies Debian's own packages, and the files
# each package must carry. It rebuilds the whole tree, so it runs only with -Dpackage_test=true;
# otherwise, or without dpkg-buildpackage/lintian, it says SKIPPED with the reason.
# Usage: package_test.sh SOURCE_ROOT ENABLED
set -u
src=${1:?source root}
enabled=${2:-false}
if [ "$enabled" != true ]; then
  echo "SKIPPED: the package test rebuilds the whole tree; enable it with meson configure -Dpackage_test=true"
  exit 77
fi
for tool in dpkg-buildpackage lintian dh; do
  command -v $tool > /dev/null || { echo "SKIPPED: $tool is not installed (scripts/setup.sh installs it)"; exit 77; }
done
tmp=$(mktemp -d /tmp/softrnic-package.XXXXXX)
trap 'rm -rf "$tmp"' EXIT
failures=0
fail() { echo "FAIL: $*"; failures=$((failures + 1)); }

mkdir "$tmp/softrnic"
if git -C "$src" rev-parse --is-inside-work-tree > /dev/null 2>&1; then
  (cd "$src" && git ls-files -z --cached --others --exclude-standard | xargs -0 cp --parents -t "$tmp/softrnic")
else
  (cd "$src" && tar --exclude=./build --exclude='./obj-*' -cf - .) | tar -xf - -C "$tmp/softrnic"
fi
start=$(date +%s)
if ! (cd "$tmp/softrnic" && dpkg-buildpackage -us -uc -b > "$tmp/build.log" 2>&1); then
  tail -40 "$tmp/build.log"
  echo "FAIL: dpkg-buildpackage"
  exit 1
fi
echo "dpkg-buildpackage: $(($(date +%s) - start)) s"
changes=$(ls "$tmp"/softrnic_*.changes)
debs=$(ls "$tmp"/*.deb)
echo "$debs"
for p in softrnic libsoftrnic0 libsoftrnic-ndk0 libsoftrnic-dev; do
  ls "$tmp"/${p}_*.deb > /dev/null 2>&1 || fail "no package $p"
done

# lintian: warnings are shown, errors fail.
lintian --fail-on error --tag-display-limit 0 "$changes" > "$tmp/lintian.log" 2>&1
rc=$?
cat "$tmp/lintian.log"
[ $rc -eq 0 ] || fail "lintian reports errors"

# Runtime dependencies: every one is a package Debian has (apt-cache knows it).
for deb in $debs; do
  deps=$(dpkg-deb -f "$deb" Depends | tr ',|' '\n\n' | sed 's/(.*)//; s/^ *//; s/ *$//' | grep -v '^$')
  for d in $deps; do
    case $d in softrnic | libsoftrnic*) continue ;; esac  # the packages built here
    apt-cache show "$d" > /dev/null 2>&1 || fail "$(basename "$deb") depends on $d, which Debian does not have"
  done
done

# What each package carries.
has() {  # PACKAGE PATH-REGEX
  dpkg-deb -c "$tmp"/$1_*.deb | awk '{print $6}' | grep -qE "$2" || fail "$1 lacks $2"
}
has softrnic '^\./usr/bin/softrnic$'
has softrnic '^\./usr/bin/ndkping$'
has softrnic '^\./usr/share/man/man1/softrnic-serve\.1\.gz$'
has softrnic '^\./usr/share/bash-completion/completions/softrnic$'
has softrnic '^\./usr/share/zsh/vendor-completions/_softrnic$'
has softrnic '^\./usr/share/softrnic/scenarios/link-flap\.toml$'
has libsoftrnic0 '^\./usr/lib/[^/]+/libsoftrnic\.so\.0'
has libsoftrnic-ndk0 '^\./usr/lib/[^/]+/libsoftrnic-ndk\.so\.0'
has libsoftrnic-dev '^\./usr/include/softrnic-ndk/ndkpi\.h$'
has libsoftrnic-dev '^\./usr/lib/[^/]+/pkgconfig/softrnic-ndk\.pc$'

if [ $failures -ne 0 ]; then
  echo "$failures failure(s)"
  exit 1
fi
echo "package: 4 packages built, lintian without errors, dependencies from Debian"
