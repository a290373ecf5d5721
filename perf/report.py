#!/usr/bin/env python3
"""Gathers the figures perf/run.sh's benchmarks recorded (results.hpp: one JSON object per line)
into one report: report.json (every figure), report.md (tables per benchmark, each figure next to
its same-run baseline and the ratio) and bandwidth.png (RDMA Write bandwidth against message size,
RoCEv2 and iWARP, with memcpy; drawn with gnuplot when it is installed).

Usage: perf/report.py RESULTS.jsonl CONSOLE.txt OUTDIR
"""
import json
import os
import platform
import shutil
import subprocess
import sys
import time


def load(path):
    figures = []
    with open(path, encoding="utf-8") as f:
        for n, line in enumerate(f, 1):
            line = line.strip()
            if not line:
                continue
            try:
                figures.append(json.loads(line))
            except json.JSONDecodeError as e:
                sys.exit(f"report.py: {path}:{n}: not JSON ({e})")
    return figures


def fmt(v, digits=3):
    if v is None:
        return "-"
    if abs(v) >= 1000:
        return f"{v:,.0f}"
    return f"{v:.{digits}g}" if abs(v) < 1 else f"{v:.{digits}f}".rstrip("0").rstrip(".")


def markdown(figures, console, machine):
    out = ["# softrnic performance report", "",
           f"Measured {machine['date']} on {machine['host']} ({machine['cpus']} CPUs, {machine['kernel']}).",
           "Every figure is next to a baseline measured in the same run; absolute numbers on a shared",
           "machine move, the ratios much less. Targets are informative, never asserted.", ""]
    benches = []
    for f in figures:
        if f["bench"] not in benches:
            benches.append(f["bench"])
    for b in benches:
        rows = [f for f in figures if f["bench"] == b and f.get("size") is None]
        if not rows:
            continue
        out += [f"## {b}", "", "| what | value | baseline (same run) | ratio | target |",
                "|---|---|---|---|---|"]
        for f in rows:
            base = f"{f['baseline']}: {fmt(f['baseline_value'])} {f['unit']}" if f["baseline"] else "-"
            target = f["target"] or ""
            if f["met"] is not None and target:
                target += " (met)" if f["met"] else " (missed)"
            ratio = f"{fmt(f['ratio'])}x" if f["ratio"] is not None else "-"
            out.append(f"| {f['what']} | {fmt(f['value'])} {f['unit']} | {base} | {ratio} | {target} |")
        out.append("")
    sweep = [f for f in figures if f.get("size") is not None]
    if sweep:
        out += ["## Bandwidth against message size", "", "![bandwidth](bandwidth.png)", "",
                "| bytes | " + " | ".join(sorted({f["what"] for f in sweep})) + " | memcpy |",
                "|---|" + "---|" * (len({f["what"] for f in sweep}) + 1)]
        for size in sorted({f["size"] for f in sweep}):
            at = {f["what"]: f for f in sweep if f["size"] == size}
            cells = [f"{fmt(at[w]['value'])} GB/s ({fmt(at[w]['ratio'])}x)" if w in at else "-"
                     for w in sorted(at)]
            copy = next(iter(at.values()))["baseline_value"]
            out.append(f"| {int(size)} | " + " | ".join(cells) + f" | {fmt(copy)} GB/s |")
        out.append("")
    out += ["## Console output", "", "```", console.rstrip(), "```", ""]
    return "\n".join(out)


def plot(figures, outdir):
    sweep = [f for f in figures if f.get("size") is not None]
    if not sweep:
        return "no sweep figures: no plot"
    gnuplot = shutil.which("gnuplot")
    if gnuplot is None:
        return "gnuplot is not installed (Debian: gnuplot-nox): no plot"
    series = sorted({f["what"] for f in sweep})
    data = os.path.join(outdir, "bandwidth.dat")
    sizes = sorted({f["size"] for f in sweep})
    with open(data, "w", encoding="utf-8") as d:
        d.write("# bytes " + " ".join(s.replace(" ", "_") for s in series) + " memcpy\n")
        for size in sizes:
            at = {f["what"]: f for f in sweep if f["size"] == size}
            vals = [str(at[s]["value"]) if s in at else "NaN" for s in series]
            d.write(f"{int(size)} {' '.join(vals)} {next(iter(at.values()))['baseline_value']}\n")
    lines = [f"'{data}' using 1:{i + 2} with linespoints lw 2 title '{s}'" for i, s in enumerate(series)]
    lines.append(f"'{data}' using 1:{len(series) + 2} with lines dt 2 title 'memcpy (baseline)'")
    script = "\n".join([
        "set terminal pngcairo size 900,560",
        f"set output '{os.path.join(outdir, 'bandwidth.png')}'",
        "set title 'softrnic RDMA Write bandwidth against message size (one core, same run)'",
        "set logscale x 2", "set logscale y 10", "set format x '%.0b %BB'",
        "set xlabel 'message size'", "set ylabel 'GB/s'", "set grid", "set key top left",
        "plot " + ", \\\n     ".join(lines), ""])
    r = subprocess.run([gnuplot], input=script, text=True, capture_output=True)
    if r.returncode != 0:
        return f"gnuplot failed: {r.stderr.strip()}"
    return "bandwidth.png"


def main():
    if len(sys.argv) != 4:
        sys.exit(__doc__)
    figures = load(sys.argv[1])
    with open(sys.argv[2], encoding="utf-8", errors="replace") as f:
        console = f.read()
    outdir = sys.argv[3]
    os.makedirs(outdir, exist_ok=True)
    machine = {"date": time.strftime("%Y-%m-%d %H:%M %Z"), "host": platform.node(),
               "cpus": os.cpu_count(), "kernel": platform.release()}
    with open(os.path.join(outdir, "report.json"), "w", encoding="utf-8") as f:
        json.dump({"machine": machine, "figures": figures}, f, indent=1)
    with open(os.path.join(outdir, "report.md"), "w", encoding="utf-8") as f:
        f.write(markdown(figures, console, machine))
    print(f"report: {os.path.join(outdir, 'report.md')}, report.json, {plot(figures, outdir)} "
          f"({len(figures)} figures)")


if __name__ == "__main__":
    main()
