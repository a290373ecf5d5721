#!/usr/bin/env bash
# The repository stands alone: everything its tests read is inside it.
#   1. No tracked build, test or script file names a path outside the checkout: /work/..., a
#      ../shared beside it, SOFTRNIC_SHARED or a shared_dir option, the source root / '..' in
#      meson, or a run of ../ (or "..", joined or meson-divided) that climbs above the source root.
#   2. The tracked files alone (`git ls-files`; without git: a copy leaving out build folders),
#      copied into an empty temporary folder, configure with -Dtests=true, build the golden-capture
#      test, and the golden-capture tests pass there: golden_frames (every frame of
#      tests/data/pcaps parses, verifies and rebuilds byte for byte) and capture_checkers (the
#      independent checkers and pcap_verify.sh on the same captures, their SHA-256 and counts).
#   3. Both checks can fail: a planted outside path is found, and golden_frames fails once the
#      copy's tests/data/pcaps is taken away.
# The temporary folder is removed however the test ends. Prints the seconds each step took.
#
#   standalone_test.sh SOURCE_ROOT
set -u
src=$(cd "${1:?source root}" && pwd -P) || exit 2
for tool in meson ninja python3 tar; do
  command -v "$tool" >/dev/null || { echo "FAIL: $tool is not installed"; exit 1; }
done
# The copy must find its data on its own, not through the variables of the run that started us.
unset SOFTRNIC_TEST_DATA SOFTRNIC_SOURCE_ROOT SOFTRNIC_BUILD_ROOT

made=$(mktemp -d "${TMPDIR:-/tmp}/softrnic-ship-XXXXXX") && [ -d "$made" ] || exit 2
trap 'rm -rf "$made"' EXIT
tmp=$(cd "$made" && pwd -P) || exit 2
trap 'exit 130' INT TERM
rc=0
t0=$(date +%s)
step() { echo "[$(( $(date +%s) - t0 )) s] $*"; }

# The tracked files, NUL-separated, relative to $1. Without git (an unpacked tarball), every file
# except the .git folder and meson build folders (those with a meson-private/ inside).
tracked_files() {
  if command -v git >/dev/null && [ "$(git -C "$1" rev-parse --show-toplevel 2>/dev/null)" = "$1" ]; then
    git -C "$1" ls-files -z
    return
  fi
  local prune=(-name .git) dir
  while IFS= read -r dir; do
    prune+=(-o -path "$dir")
  done < <(cd "$1" && find . -mindepth 2 -maxdepth 3 -type d -name meson-private -printf '%h\n')
  (cd "$1" && find . \( "${prune[@]}" \) -prune -o -type f -print0 | sed -z 's#^\./##')
}

# Prints "path:line: text  <- why" for every tracked build/test/script file under $1 that names a
# path outside $1; exit status 1 when there is one.
scan_outside_paths() {
  tracked_files "$1" | python3 -c '
import os, re, sys
root = os.path.realpath(sys.argv[1])
names = [n for n in sys.stdin.buffer.read().decode().split("\0") if n]
build_or_test = re.compile(r"(^|/)(meson\.build|meson_options\.txt)$|^(tests|scripts|perf)/"
                           r"|\.(sh|py)$")
rules = [
    (re.compile(r"/work/"), "an absolute workspace path"),
    (re.compile(r"\.\./shared\b"), "a folder beside the checkout"),
    (re.compile(r"SOFTRNIC_SHARED\b"), "the old variable for material outside the checkout"),
    (re.compile(r"\bshared_dir\b"), "the old option for material outside the checkout"),
]
climb = re.compile(r"(?:\.\./)+(?:\.\.(?=[\x22\x27\s)]|$))?|(?:[\x27\x22]\.\.[\x27\x22]\s*[,/]\s*)+")
above_root = re.compile(r"source_root\(\)\s*/\s*[\x27\x22]\.\.[\x27\x22]")
bad = 0
for name in names:
    if not build_or_test.search(name) or name.startswith("tests/ship/"):
        continue
    path = os.path.join(root, name)
    try:
        data = open(path, "rb").read()
    except OSError:
        continue
    if b"\0" in data:
        continue  # binary data: captures, streams
    here = os.path.dirname(path)
    for number, line in enumerate(data.decode("utf-8", "replace").splitlines(), 1):
        why = [w for r, w in rules if r.search(line)]
        if above_root.search(line):
            why.append("\x27..\x27 above the source root")
        for m in climb.finditer(line):
            ups = m.group(0).count("..")
            if not os.path.realpath(os.path.join(here, *[".."] * ups)).startswith(root):
                why.append("%d levels up from %s leaves the checkout" % (ups, os.path.dirname(name) or "."))
        if why:
            bad += 1
            print("%s:%d: %s  <- %s" % (name, number, line.strip()[:120], "; ".join(why)))
sys.exit(1 if bad else 0)
' "$1"
}

step "scanning the tracked build, test and script files of $src for paths outside it"
if ! hits=$(scan_outside_paths "$src"); then
  echo "FAIL: tracked files name paths outside the checkout:"; echo "$hits"; rc=1
fi

step "copying the tracked files to $tmp/src"
mkdir -p "$tmp/src"
tracked_files "$src" | tar -C "$src" --null -T - --ignore-failed-read -cf - 2>/dev/null |
  tar -C "$tmp/src" -xf - || { echo "FAIL: copying the tracked files"; exit 1; }
echo "$(find "$tmp/src" -type f | wc -l) files, $(du -sm "$tmp/src" | cut -f1) MB"
[ -f "$tmp/src/tests/data/pcaps/README.md" ] || { echo "FAIL: tests/data/pcaps/README.md is not tracked"; rc=1; }

# The scan must find what it is there to find.
mkdir -p "$tmp/probe/tests/x"
printf '#!/bin/sh\ndata=${SOFTRNIC_SHARED:-/work/shared}/pcaps\ncd "$(dirname "$0")/../../../.."\n' \
  >"$tmp/probe/tests/x/probe.sh"
printf "data = meson.project_source_root() / '..' / 'shared'\n" >"$tmp/probe/meson.build"
probe=$(scan_outside_paths "$tmp/probe")
for want in "workspace path" "old variable" "'..' above the source root" "4 levels up"; do
  case "$probe" in *"$want"*) ;; *) echo "FAIL: the scan misses a planted path ($want):"; echo "$probe"; rc=1 ;; esac
done

step "meson setup (-Dtests=true) in the copy"
if ! meson setup "$tmp/build" "$tmp/src" -Dtests=true -Dperf=false -Dfuzz=false >"$tmp/setup.log" 2>&1; then
  echo "FAIL: meson setup in the copy:"; tail -30 "$tmp/setup.log"; exit 1
fi
step "building tests/capture/golden_frames in the copy"
if ! ninja -C "$tmp/build" -j "$(nproc)" tests/capture/golden_frames >"$tmp/build.log" 2>&1; then
  echo "FAIL: building in the copy:"; tail -30 "$tmp/build.log"; exit 1
fi
step "running golden_frames and capture_checkers in the copy"
listed=$(grep -c '^## .*\.pcap' "$tmp/src/tests/data/pcaps/README.md" 2>/dev/null)
if ! meson test -C "$tmp/build" --no-rebuild --print-errorlogs golden_frames capture_checkers \
    >"$tmp/test.log" 2>&1; then
  echo "FAIL: the golden-capture tests fail in the copy:"; tail -40 "$tmp/test.log"; rc=1
fi
grep -E '^ *[0-9]+/[0-9]+ ' "$tmp/test.log"
ran=$(grep -oE 'PASSED  \] [0-9]+ test' "$tmp/build/meson-logs/testlog.txt" | grep -oE '[0-9]+' | head -1)
if [ "${ran:-0}" -lt $(( ${listed:-0} + 1 )) ] || [ "${listed:-0}" -lt 12 ]; then
  echo "FAIL: golden_frames passed ${ran:-0} test cases; the README lists ${listed:-0} captures (want one case each, and the listing check)"
  rc=1
fi

step "taking tests/data/pcaps away from the copy: golden_frames must fail"
mv "$tmp/src/tests/data/pcaps" "$tmp/pcaps-away"
if meson test -C "$tmp/build" --no-rebuild golden_frames >"$tmp/test-away.log" 2>&1; then
  echo "FAIL: golden_frames passes without tests/data/pcaps:"; tail -20 "$tmp/test-away.log"; rc=1
else
  echo "golden_frames fails without tests/data/pcaps, as it must"
fi

step "done"
[ $rc -eq 0 ] && echo "the repository stands alone: golden captures and checkers found inside it, no outside path"
exit $rc
