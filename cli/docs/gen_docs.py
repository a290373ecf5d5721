#!/usr/bin/env python3
"""Man pages and shell completions from `softrnic cli-model` (the parser's own description).

  gen_docs.py MODEL.json VERSION OUTDIR COMMAND...

writes OUTDIR/softrnic.1, OUTDIR/softrnic-COMMAND.1 for every COMMAND, OUTDIR/softrnic (bash) and
OUTDIR/_softrnic (zsh). The COMMAND list is what the build installs; it must equal the model's
subcommands, so a new command without a man page breaks the build instead of going unnoticed.
Standard library only.
"""
import json
import pathlib
import re
import sys

FILE_VALUES = {"FILE", "PATH"}
FILE_OPTIONS = {"--config", "--write", "--capture", "--out", "--output"}
DIR_OPTIONS = {"--control-dir"}


def roff(text):
    """Escapes text for a roff body line."""
    text = text.replace("\\", "\\e").replace("-", "\\-")
    return "\n".join(("\\&" + ln) if ln[:1] in (".", "'") else ln for ln in text.split("\n"))


def first_sentence(text):
    """Up to the first ". ", "; " or ": " outside parentheses (a man page NAME line)."""
    text = text.replace("\n", " ").strip()
    depth = 0
    for i, ch in enumerate(text):
        depth += (ch == "(") - (ch == ")")
        if depth == 0 and ch in ".;:" and text[i + 1:i + 2] in (" ", ""):
            return text[:i].strip()
    return text.rstrip(".")


def option_names(o):
    return ["-" + s for s in o["short"]] + ["--" + s for s in o["long"]]


def value_name(o):
    parts = [p.strip() for p in (o["value"] or "VALUE").split(":")]
    return "FILE" if "FILE" in parts else (parts[0] or "VALUE")


def value_rule(o):
    """What the parser checks of the value beyond its type (a range, a set), or ''."""
    parts = [p.strip() for p in (o["value"] or "").split(":")[1:]]
    return ", ".join(p for p in parts if p and p != "FILE")


def option_item(o):
    if o["positional"]:
        head = "\\fI" + roff(o["name"]) + "\\fR"
    else:
        head = ", ".join("\\fB" + roff(n) + "\\fR" for n in option_names(o))
        if not o["flag"]:
            v = "\\fI" + roff(value_name(o)) + "\\fR"
            head += (" [" + v + "]") if o["value_optional"] else (" " + v)
    desc = o["description"]
    extras = []
    if o["required"]:
        extras.append("required")
    if o["repeatable"]:
        extras.append("repeatable")
    if value_rule(o):
        extras.append("value: " + value_rule(o))
    if o["default"]:
        extras.append("default: " + o["default"])
    if extras:
        desc += " (" + "; ".join(extras) + ")"
    return ".TP\n" + head + "\n" + roff(desc) + "\n"


def visible_options(app):
    return [o for o in app["options"] if o["long"] != ["help"] and o["long"] != ["help-all"]]


def synopsis(prog, app):
    parts = ["\\fB" + roff(prog) + "\\fR"]
    for o in visible_options(app):
        if o["positional"]:
            parts.append("\\fI" + roff(o["name"]) + "\\fR" + ("..." if o["repeatable"] else ""))
        elif o["required"]:
            parts.append("\\fB" + roff(option_names(o)[-1]) + "\\fR \\fI" + roff(value_name(o)) + "\\fR")
    if any(not o["positional"] and not o["required"] for o in visible_options(app)):
        parts.insert(1, "[\\fIOPTIONS\\fR]")
    return " ".join(parts)


def header(title, version):
    return ('.TH %s 1 "" "softrnic %s" "softrnic manual"\n' % (title.upper().replace("-", "\\-"), version))


def command_page(app, version):
    prog = "softrnic " + app["name"]
    out = [header("softrnic-" + app["name"], version)]
    out.append(".SH NAME\nsoftrnic\\-%s \\- %s\n" % (roff(app["name"]), roff(first_sentence(app["description"]))))
    out.append(".SH SYNOPSIS\n" + synopsis(prog, app) + "\n")
    out.append(".SH DESCRIPTION\n" + roff(app["description"]) + "\n")
    if app["footer"].strip():
        out.append(".PP\n" + roff(app["footer"].strip()) + "\n")
    opts = visible_options(app)
    if opts:
        out.append(".SH OPTIONS\n" + "".join(option_item(o) for o in opts))
    out.append(".SH SEE ALSO\n.BR softrnic (1)\n")
    return "".join(out)


def main_page(model, version):
    out = [header("softrnic", version)]
    out.append(".SH NAME\nsoftrnic \\- %s\n" % roff(first_sentence(model["description"].split(": ", 1)[-1])))
    out.append(".SH SYNOPSIS\n\\fBsoftrnic\\fR [\\fIOPTIONS\\fR] \\fICOMMAND\\fR [\\fIARGS\\fR]\n")
    out.append(".SH DESCRIPTION\n" + roff(model["description"]) + "\n.PP\n"
               "Each command has its own page, \\fBsoftrnic\\-\\fICOMMAND\\fR(1), and its own "
               "\\fB\\-\\-help\\fR.\n")
    out.append(".SH COMMANDS\n")
    for s in model["subcommands"]:
        out.append(".TP\n\\fB%s\\fR\n%s\n" % (roff(s["name"]), roff(s["description"])))
    opts = visible_options(model)
    if opts:
        out.append(".SH OPTIONS\n" + "".join(option_item(o) for o in opts))
    out.append(".SH SEE ALSO\n" + ",\n".join(".BR softrnic\\-%s (1)" % roff(s["name"]) for s in model["subcommands"])
               + "\n")
    return "".join(out)


def completes_files(o):
    if o["flag"]:
        return None
    if set(o["long"]) & {n[2:] for n in DIR_OPTIONS}:
        return "dir"
    if value_name(o) in FILE_VALUES or {"--" + n for n in o["long"]} & FILE_OPTIONS:
        return "file"
    if o["positional"] and o["name"].upper() in ("FILE", "FILES"):
        return "file"
    return None


def bash_completion(model):
    lines = ["# bash completion for softrnic, generated from `softrnic cli-model`", "_softrnic() {",
             "  local cur prev cmd i", "  cur=${COMP_WORDS[COMP_CWORD]}", "  prev=${COMP_WORDS[COMP_CWORD-1]}",
             "  cmd=", "  for ((i = 1; i < COMP_CWORD; i++)); do", "    case ${COMP_WORDS[i]} in"]
    names = [s["name"] for s in model["subcommands"]]
    lines.append("      %s) cmd=${COMP_WORDS[i]}; break ;;" % "|".join(names))
    lines += ["    esac", "  done", "  local opts values files dirs", "  case $cmd in"]
    for app in [model] + model["subcommands"]:
        opts, values, files, dirs = [], [], [], []
        for o in visible_options(app) + [{"short": ["h"], "long": ["help"], "positional": False, "flag": True,
                                         "name": "", "value": ""}]:
            if o["positional"]:
                continue
            names_o = option_names(o)
            opts += names_o
            if not o["flag"]:
                values += names_o
                kind = completes_files(o)
                if kind == "file":
                    files += names_o
                elif kind == "dir":
                    dirs += names_o
        pos_files = any(o["positional"] and completes_files(o) == "file" for o in app["options"])
        label = '""' if app is model else app["name"]
        lines.append("    %s) opts=%r; values=%r; files=%r; dirs=%r; posfiles=%d ;;" % (
            label, " ".join(opts), " " + " ".join(values) + " ", " " + " ".join(files) + " ",
            " " + " ".join(dirs) + " ", 1 if pos_files else 0))
    lines += ["  esac",
              '  if [[ $dirs == *" $prev "* ]]; then COMPREPLY=($(compgen -d -- "$cur")); return; fi',
              '  if [[ $files == *" $prev "* ]]; then COMPREPLY=($(compgen -f -- "$cur")); return; fi',
              '  if [[ $values == *" $prev "* ]]; then COMPREPLY=(); return; fi',
              '  if [[ $cur == -* ]]; then COMPREPLY=($(compgen -W "$opts" -- "$cur")); return; fi',
              '  if [[ -z $cmd ]]; then COMPREPLY=($(compgen -W "%s" -- "$cur")); return; fi' % " ".join(names),
              '  if ((posfiles)); then COMPREPLY=($(compgen -f -- "$cur")); return; fi',
              "  COMPREPLY=()", "}", "complete -o filenames -F _softrnic softrnic", ""]
    # The per-command variable is named posfiles; declare it local too.
    lines[lines.index("  local opts values files dirs")] = "  local opts values files dirs posfiles"
    return "\n".join(lines)


def zsh_escape(text):
    return (text.replace("\\", "\\\\").replace("'", "'\\''").replace("[", "\\[").replace("]", "\\]")
            .replace(":", "\\:").replace("\n", " "))


def zsh_specs(app):
    specs = []
    for o in visible_options(app):
        kind = completes_files(o)
        action = "_files -/" if kind == "dir" else "_files" if kind == "file" else ""
        desc = zsh_escape(first_sentence(o["description"]) if o["description"] else o["name"])
        if o["positional"]:
            specs.append("'%s:%s:%s'" % ("*" if o["repeatable"] else "", zsh_escape(o["name"]), action))
            continue
        rep = "*" if o["repeatable"] else ""
        for n in option_names(o):
            if o["flag"]:
                specs.append("'%s%s[%s]'" % (rep, n, desc))
            else:
                specs.append("'%s%s[%s]:%s:%s'" % (rep, n, desc, zsh_escape(value_name(o)), action))
    return specs


def zsh_completion(model):
    out = ["#compdef softrnic", "# zsh completion for softrnic, generated from `softrnic cli-model`", "",
           "_softrnic() {", "  local curcontext=$curcontext state line", "  typeset -A opt_args",
           "  local -a commands", "  commands=("]
    for s in model["subcommands"]:
        out.append("    '%s:%s'" % (s["name"], zsh_escape(first_sentence(s["description"]))))
    out += ["  )", "  _arguments -C \\"]
    out += ["    %s \\" % s for s in zsh_specs(model)]
    out += ["    '1: :->command' \\", "    '*:: :->args'", "  case $state in",
            "    command) _describe -t commands 'softrnic command' commands ;;", "    args)",
            "      case $words[1] in"]
    for s in model["subcommands"]:
        specs = zsh_specs(s)
        out.append("        %s) _arguments %s ;;" % (s["name"], " ".join(specs) if specs else "''"))
    out += ["      esac ;;", "  esac", "}", "", '_softrnic "$@"', ""]
    return "\n".join(out)


def main():
    if len(sys.argv) < 4:
        sys.exit(__doc__)
    model = json.loads(pathlib.Path(sys.argv[1]).read_text())
    version, outdir, listed = sys.argv[2], pathlib.Path(sys.argv[3]), sys.argv[4:]
    names = [s["name"] for s in model["subcommands"]]
    if sorted(names) != sorted(listed):
        sys.exit("gen_docs.py: the build lists commands %s but softrnic has %s: update cli/docs/meson.build"
                 % (sorted(listed), sorted(names)))
    outdir.mkdir(parents=True, exist_ok=True)
    (outdir / "softrnic.1").write_text(main_page(model, version))
    for s in model["subcommands"]:
        (outdir / ("softrnic-%s.1" % s["name"])).write_text(command_page(s, version))
    (outdir / "softrnic").write_text(bash_completion(model))
    (outdir / "_softrnic").write_text(zsh_completion(model))


if __name__ == "__main__":
    main()
