#!/usr/bin/env python3
"""A man page from a tool's own --help text, so the page cannot drift from the tool.

  help_to_man.py TOOL VERSION SUMMARY OUT.1 -- COMMAND...

runs COMMAND (the built tool with --help), turns "usage:" into SYNOPSIS, every "  -x, --long ARG
description" line into an OPTIONS entry and the other lines into DESCRIPTION paragraphs.
Standard library only.
"""
import re
import subprocess
import sys

OPTION = re.compile(r"^\s{2,}(-\S.*?)\s{2,}(\S.*)$")


def roff(text):
    text = text.replace("\\", "\\e").replace("-", "\\-")
    return ("\\&" + text) if text[:1] in (".", "'") else text


def main():
    if len(sys.argv) < 7 or sys.argv[5] != "--":
        sys.exit(__doc__)
    tool, version, summary, out = sys.argv[1:5]
    help_text = subprocess.run(sys.argv[6:], check=True, capture_output=True, text=True).stdout
    synopsis, options, prose = "", [], []
    for line in help_text.splitlines():
        if line.startswith("usage: "):
            synopsis = line[len("usage: "):]
        elif OPTION.match(line):
            options.append(OPTION.match(line).groups())
        elif line.strip():
            prose.append(line.strip())
    if not synopsis or not options:
        sys.exit("help_to_man.py: %s --help printed no usage line or no options" % tool)
    page = ['.TH %s 1 "" "softrnic %s" "softrnic manual"\n' % (tool.upper(), version),
            ".SH NAME\n%s \\- %s\n" % (roff(tool), roff(summary)),
            ".SH SYNOPSIS\n%s\n" % roff(synopsis),
            ".SH DESCRIPTION\n%s\n" % roff(summary[:1].upper() + summary[1:] + ".")]
    page += [".PP\n%s\n" % roff(p) for p in prose]
    page.append(".SH OPTIONS\n")
    page += [".TP\n\\fB%s\\fR\n%s\n" % (roff(names), roff(desc)) for names, desc in options]
    page.append(".SH SEE ALSO\n.BR softrnic (1)\n")
    with open(out, "w") as f:
        f.write("".join(page))


if __name__ == "__main__":
    main()
