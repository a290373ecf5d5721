#!/usr/bin/env bash
# Builds one libFuzzer target with clang++-16 (ASan + UBSan) and runs it for a bounded time over a
# copy of its corpus in the repository. Exit status: 0 no finding, 1 a finding or a build error,
# 77 skipped (clang++-16 missing; meson counts 77 as skipped).
#
# Usage: run_fuzz.sh --target NAME --seconds N --build-dir DIR [--include DIR]... [--lib FLAG]...
#                    -- SOURCE...
#   --target NAME    the binary is DIR/NAME_fuzz; the corpus is tests/fuzz/corpus/NAME/
#   --seconds N      libFuzzer -max_total_time; 0 only replays the corpus once
#   --build-dir DIR  where the binary and the temporary working corpus go
#   --include DIR    extra include root (softrnic/ is always one), relative to the source root
#   --lib FLAG       extra link flag, e.g. -lpcap (-lisal is always linked)
#   SOURCE...        the fuzz target and the project sources it needs (absolute or relative to
#                    the source root)
# A second target is one more call with its own name and sources (see tests/fuzz/meson.build).
set -uo pipefail

CXX=clang++-16
source_root=$(cd "$(dirname "$0")/../.." && pwd)
target=""
seconds=""
build_dir=""
includes=("softrnic")
libs=()

while (($#)); do
  case "$1" in
    --target) target=$2; shift 2 ;;
    --seconds) seconds=$2; shift 2 ;;
    --build-dir) build_dir=$2; shift 2 ;;
    --include) includes+=("$2"); shift 2 ;;
    --lib) libs+=("$2"); shift 2 ;;
    --) shift; break ;;
    *) echo "run_fuzz: unknown argument $1" >&2; exit 1 ;;
  esac
done
sources=("$@")
if [[ -z $target || -z $build_dir || ! $seconds =~ ^[0-9]+$ || ${#sources[@]} -eq 0 ]]; then
  echo "run_fuzz: need --target, --seconds N, --build-dir and at least one source" >&2
  exit 1
fi

if ! command -v "$CXX" >/dev/null 2>&1; then
  echo "SKIPPED: $CXX not installed"
  exit 77
fi

absolute() { [[ $1 = /* ]] && echo "$1" || echo "$source_root/$1"; }
for i in "${!sources[@]}"; do sources[i]=$(absolute "${sources[i]}"); done
include_flags=()
include_dirs=()
for d in "${includes[@]}"; do
  include_dirs+=("$(absolute "$d")")
  include_flags+=("-I$(absolute "$d")")
done

corpus="$source_root/tests/fuzz/corpus/$target"
if [[ ! -d $corpus ]]; then
  echo "run_fuzz: no corpus at $corpus" >&2
  exit 1
fi

mkdir -p "$build_dir"
build_dir=$(cd "$build_dir" && pwd)
bin="$build_dir/${target}_fuzz"
stamp="$bin.cmdline"

# libstdc++ 12 declares std::expected only when __cpp_concepts says C++20 concepts are complete,
# which clang 16 does not announce; its concepts support is enough for <expected>.
cmd=("$CXX" -std=c++2b -D__cpp_concepts=202002L -Wno-macro-redefined
     -Wall -Wextra -Wpedantic -Werror
     -g -O1 -fno-omit-frame-pointer
     -fsanitize=fuzzer,address,undefined -fno-sanitize-recover=all
     "${include_flags[@]}" "${sources[@]}" -o "$bin" -lisal "${libs[@]}")

# Rebuild when the command changed or any source or header under an include root is newer.
needs_build=1
if [[ -x $bin && -f $stamp && "$(cat "$stamp")" == "${cmd[*]}" ]]; then
  newer=$(find "${sources[@]}" "${include_dirs[@]}" -newer "$bin" \
          \( -name '*.cpp' -o -name '*.hpp' -o -name '*.h' \) -print -quit)
  [[ -z $newer ]] && needs_build=0
fi
if ((needs_build)); then
  echo "run_fuzz: building $bin"
  rm -f "$stamp"
  if ! "${cmd[@]}"; then
    echo "run_fuzz: build of $target failed" >&2
    exit 1
  fi
  echo "${cmd[*]}" >"$stamp"
fi

# Fuzz a copy: new inputs libFuzzer keeps stay out of the repository.
work=$(mktemp -d "$build_dir/$target.XXXXXX")
mkdir -p "$work/corpus" "$work/artifacts"
cp -r "$corpus/." "$work/corpus/"
echo "run_fuzz: $target over $(find "$work/corpus" -type f | wc -l) corpus inputs, ${seconds}s," \
     "working dir $work"

run_args=(-artifact_prefix="$work/artifacts/" -max_len=9400 -timeout=10 -rss_limit_mb=4096
          -error_exitcode=1 -timeout_exitcode=1 -print_final_stats=1)
if ((seconds == 0)); then
  run_args+=(-runs=0)
else
  run_args+=(-max_total_time="$seconds")
fi

# Symbolized reports: left to themselves, clang 16's sanitizers look for llvm-symbolizer-16 only,
# which may be missing where another version's llvm-symbolizer is installed.
if [[ -z ${ASAN_SYMBOLIZER_PATH:-} ]]; then
  for s in llvm-symbolizer-16 llvm-symbolizer; do
    if command -v "$s" >/dev/null 2>&1; then
      export ASAN_SYMBOLIZER_PATH
      ASAN_SYMBOLIZER_PATH=$(command -v "$s")
      break
    fi
  done
fi

ASAN_OPTIONS=${ASAN_OPTIONS:-detect_leaks=1} \
UBSAN_OPTIONS=${UBSAN_OPTIONS:-print_stacktrace=1} \
  "$bin" "${run_args[@]}" "$work/corpus" 2>&1 | tee "$work/fuzz.log" |
  grep --line-buffered -v -E '^#[0-9]+\s+(NEW|REDUCE|pulse)' # keep the log readable; the full one is in $work
status=${PIPESTATUS[0]}

findings=$(find "$work/artifacts" -type f)
if ((status != 0)) || [[ -n $findings ]]; then
  echo "FAILED: $target exited with status $status; full log: $work/fuzz.log"
  for f in $findings; do
    echo "crashing input: $f ($(stat -c %s "$f") bytes)"
    od -An -tx1 -v "$f" | head -64
    echo "reproduce: $bin $f"
  done
  exit 1
fi
rm -rf "$work"
echo "run_fuzz: $target: no finding in ${seconds}s"
exit 0
