#!/usr/bin/env python3
"""Prints 'N passed, N failed, N skipped' from meson's JUnit log.

GoogleTest executables (protocol gtest) appear as one suite holding one case per TEST; other tests
are one case each. A suite that crashed before writing its cases counts as one failure. A test
that meson's own log (testlog.json, next to the JUnit log) calls TIMEOUT, FAIL, ERROR or
UNEXPECTEDPASS counts as a failure even where the JUnit log holds no failure for it (meson writes
a timed-out script test as a bare case)."""
import json
import os
import sys
import xml.etree.ElementTree as ET

BAD = {"TIMEOUT", "FAIL", "ERROR", "UNEXPECTEDPASS"}


def failed_tests(junit_path):
    """Names of the tests meson's JSON log reports as failed in some way."""
    path = os.path.join(os.path.dirname(junit_path), "testlog.json")
    try:
        with open(path) as f:
            return {d["name"] for d in map(json.loads, f) if d.get("result") in BAD}
    except (OSError, ValueError, KeyError):
        return set()


def main(path):
    try:
        root = ET.parse(path).getroot()
    except (OSError, ET.ParseError) as e:
        print(f"no test results ({e})")
        print("0 passed, 1 failed")
        return 1
    passed = failed = skipped = 0
    bad = failed_tests(path)
    accounted = set()  # failed tests of the JSON log whose failure the JUnit log already shows
    for suite in root.iter("testsuite"):
        for case in suite.findall("testcase"):
            owner = next((n for n in bad if n == case.get("name") or n in suite.get("name", "")), None)
            if case.find("failure") is not None or case.find("error") is not None:
                failed += 1
                accounted.add(owner)
            elif owner is not None and owner == case.get("name"):
                failed += 1  # a bare case of a test that timed out or failed
                accounted.add(owner)
            elif case.find("skipped") is not None:
                skipped += 1
            else:
                passed += 1
    failed += len(bad - accounted)  # e.g. a GoogleTest binary killed by its timeout
    line = f"{passed} passed, {failed} failed"
    if skipped:
        line += f", {skipped} skipped"
    print(line)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1]))
