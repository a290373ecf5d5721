// A console reporter that also keeps the time of every repetition of every benchmark, so that a
// benchmark can be compared with a baseline measured in the same run (same machine state, same
// clock): ratios are taken between medians over repetitions.
#pragma once

#include <benchmark/benchmark.h>

#include <map>
#include <optional>
#include <string>
#include <vector>

namespace softrnic::perf {

class RatioReporter : public benchmark::ConsoleReporter {
 public:
  explicit RatioReporter(OutputOptions options) : ConsoleReporter(options) {}

  // Keeps the repetitions, shows only their aggregates (mean, median, stddev, cv).
  void ReportRuns(const std::vector<Run>& runs) override;

  // Median over repetitions of the CPU time of one iteration, in nanoseconds; nothing when the
  // benchmark did not run (filtered out) or failed. CPU time, not wall time: on a shared machine
  // wall time also counts the waits for a CPU.
  std::optional<double> median_ns(const std::string& name) const;
  std::size_t repetitions(const std::string& name) const;

 private:
  std::map<std::string, std::vector<double>> ns_per_iteration_;
};

}  // namespace softrnic::perf
