// Machine-readable figures next to the printed tables: with SOFTRNIC_PERF_RESULTS=FILE set, every
// figure a benchmark records is appended to FILE as one JSON line; perf/run gathers them into
// its report (markdown, JSON and the bandwidth plot).
#pragma once

#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <utility>

namespace softrnic::perf {

struct Figure {
  std::string bench;           // e.g. "roce_bench"
  std::string what;            // what was measured
  double value = 0;            // in unit
  std::string unit;            // "M msg/s", "GB/s", "us", ...
  std::string baseline;        // what it is compared with, measured in the same run
  double baseline_value = 0;   // in unit
  double ratio = NAN;          // value / baseline_value, or as the benchmark defines it
  std::string target;          // the informative target, if any ("<= 1.3x")
  int met = -1;                // 1 met, 0 missed, -1 no target
  double size = NAN;           // message size in bytes, for sweeps
};

inline std::string json_string(const std::string& s) {
  std::string o = "\"";
  for (const char c : s) {
    if (c == '"' || c == '\\') {
      o += '\\';
      o += c;
    } else if (static_cast<unsigned char>(c) < 0x20) {
      char b[8];
      std::snprintf(b, sizeof b, "\\u%04x", c);
      o += b;
    } else {
      o += c;
    }
  }
  return o + "\"";
}

inline std::string json_number(double v) {
  if (!std::isfinite(v)) return "null";
  char b[40];
  std::snprintf(b, sizeof b, "%.10g", v);
  return b;
}

inline void record(std::string bench, std::string what, double value, std::string unit,
                   std::string baseline, double baseline_value, double ratio,
                   std::string target = "", int met = -1, double size = NAN) {
  Figure f;
  f.bench = std::move(bench);
  f.what = std::move(what);
  f.value = value;
  f.unit = std::move(unit);
  f.baseline = std::move(baseline);
  f.baseline_value = baseline_value;
  f.ratio = ratio;
  f.target = std::move(target);
  f.met = met;
  f.size = size;
  const char* path = std::getenv("SOFTRNIC_PERF_RESULTS");
  if (path == nullptr || *path == 0) return;
  FILE* out = std::fopen(path, "a");
  if (out == nullptr) return;
  const std::string line =
      "{\"bench\":" + json_string(f.bench) + ",\"what\":" + json_string(f.what) +
      ",\"value\":" + json_number(f.value) + ",\"unit\":" + json_string(f.unit) +
      ",\"baseline\":" + json_string(f.baseline) +
      ",\"baseline_value\":" + json_number(f.baseline_value) + ",\"ratio\":" + json_number(f.ratio) +
      ",\"target\":" + json_string(f.target) +
      ",\"met\":" + (f.met < 0 ? std::string("null") : f.met ? "true" : "false") +
      ",\"size\":" + json_number(f.size) + "}\n";
  std::fputs(line.c_str(), out);
  std::fclose(out);
}

}  // namespace softrnic::perf
