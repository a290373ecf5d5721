#!/usr/bin/env python3
"""Runs every shell block of the README, so the README cannot drift from the code.

  readme_test.py SOURCE_ROOT BUILD_ROOT

Every fenced block opened with ```sh is run by bash (-e -u -o pipefail), in order, each in a
fresh scratch folder with the build's `softrnic`, `ndkping` and `ndkperf` first on PATH, its
uninstalled .pc files on PKG_CONFIG_PATH and its libraries on LD_LIBRARY_PATH (what an install
gives), a private control-socket folder, and must exit 0 within its time budget. An HTML comment on the
line before a block changes that:
  <!-- readme-test: source -->        run it from the checkout (the set-up commands)
  <!-- readme-test: skip REASON -->   not run; REASON is printed (e.g. it is this very test)
  <!-- readme-test: timeout SECS -->  a longer budget than the default 300 s
A ```sh block nowhere else than the README's own lines counts; a README with no ```sh block
fails, as does a block that is indented or fenced another way but holds a `softrnic` command
(it would escape the test). Exit 0 when every block ran and passed, 1 otherwise, 77 when the
source-root blocks could not run because this build is not the checkout's `build` folder.
"""
import os
import pathlib
import re
import shutil
import subprocess
import sys
import tempfile

MARK = re.compile(r"<!--\s*readme-test:\s*(\w+)\s*(.*?)\s*-->")


def blocks(text):
    """Yields (line number, marks, language, body) for every fenced block."""
    lines = text.split("\n")
    i = 0
    while i < len(lines):
        m = re.match(r"^```(\S*)\s*$", lines[i])
        if not m:
            i += 1
            continue
        start, lang = i, m.group(1)
        marks = {}
        j = start - 1
        while j >= 0 and MARK.search(lines[j]):
            mm = MARK.search(lines[j])
            marks[mm.group(1)] = mm.group(2)
            j -= 1
        i += 1
        body = []
        while i < len(lines) and not lines[i].startswith("```"):
            body.append(lines[i])
            i += 1
        yield start + 1, marks, lang, "\n".join(body) + "\n"
        i += 1


def stray_commands(text):
    """Indented code lines that run softrnic or a script: they must be in ```sh blocks."""
    out = []
    in_fence = False
    for n, line in enumerate(text.split("\n"), 1):
        if line.startswith("```"):
            in_fence = not in_fence
            continue
        if not in_fence and re.match(r"^( {4}|\t)\s*(softrnic|scripts/|sudo |meson |build/)", line):
            out.append(n)
    return out


def main():
    src = pathlib.Path(sys.argv[1]).resolve()
    build = pathlib.Path(sys.argv[2]).resolve()
    readme = (src / "README.md").read_text()
    failures, ran, skipped_source = [], 0, []
    stray = stray_commands(readme)
    if stray:
        failures.append("README lines %s hold commands outside ```sh blocks" % stray)
    path = os.pathsep.join([str(build / "cli"), str(build / "ndk-tools"), os.environ.get("PATH", "")])
    same_build = (src / "build").resolve() == build
    found = False
    for line, marks, lang, body in blocks(readme):
        if lang != "sh":
            continue
        found = True
        first = body.strip().split("\n")[0]
        if "skip" in marks:
            print("README:%d: not run (%s): %s" % (line, marks["skip"] or "no reason given", first))
            if not marks["skip"]:
                failures.append("README:%d: a skipped block must say why" % line)
            continue
        if "source" in marks and not same_build:
            print("README:%d: not run: this build (%s) is not the checkout's build folder" % (line, build))
            skipped_source.append(line)
            continue
        scratch = pathlib.Path(tempfile.mkdtemp(prefix="softrnic-readme."))
        env = dict(os.environ, PATH=path, SOFTRNIC_CONTROL_DIR=str(scratch / "control"), HOME=str(scratch),
                   PKG_CONFIG_PATH=str(build / "meson-uninstalled"),
                   LD_LIBRARY_PATH=os.pathsep.join([str(build / "lib"), str(build / "ndk-shim")]))
        cwd = src if "source" in marks else scratch
        timeout = int(marks.get("timeout") or 300)
        print("README:%d: running in %s:\n%s" % (line, "the checkout" if cwd == src else "a scratch folder", body),
              flush=True)
        proc = subprocess.Popen(["bash", "-euo", "pipefail", "-c", body], cwd=cwd, env=env,
                                stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                                start_new_session=True)
        try:
            output, _ = proc.communicate(timeout=timeout)
            print(output[-6000:])
            if proc.returncode != 0:
                failures.append("README:%d: exited %d: %s" % (line, proc.returncode, first))
        except subprocess.TimeoutExpired:
            failures.append("README:%d: still running after %d s: %s" % (line, timeout, first))
        finally:
            # The block's session: whatever it left running in the background is ours to stop.
            try:
                os.killpg(proc.pid, 9)
            except ProcessLookupError:
                pass
            proc.wait()
            shutil.rmtree(scratch, ignore_errors=True)
        ran += 1
    if not found:
        failures.append("the README has no ```sh block")
    for f in failures:
        print("FAIL: " + f)
    if failures:
        return 1
    if skipped_source:
        print("SKIPPED: the blocks at README lines %s run only from the checkout's own build folder"
              % skipped_source)
        return 77
    print("%d README blocks ran and passed" % ran)
    return 0


if __name__ == "__main__":
    sys.exit(main())
