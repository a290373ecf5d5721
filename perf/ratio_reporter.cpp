#include "ratio_reporter.hpp"

#include <algorithm>

namespace softrnic::perf {

void RatioReporter::ReportRuns(const std::vector<Run>& runs) {
  std::vector<Run> shown;
  for (const Run& r : runs) {
    if (r.run_type == Run::RT_Aggregate) {
      shown.push_back(r);
      continue;
    }
    if (!r.error_occurred && r.iterations > 0) {
      ns_per_iteration_[r.benchmark_name()].push_back(r.cpu_accumulated_time * 1e9 /
                                                      static_cast<double>(r.iterations));
    }
    // Errors are shown (with their message), and a single repetition has no aggregates.
    if (r.error_occurred || r.repetitions <= 1) shown.push_back(r);
  }
  if (!shown.empty()) ConsoleReporter::ReportRuns(shown);
}

std::optional<double> RatioReporter::median_ns(const std::string& name) const {
  const auto it = ns_per_iteration_.find(name);
  if (it == ns_per_iteration_.end() || it->second.empty()) return std::nullopt;
  std::vector<double> v = it->second;
  const std::size_t mid = v.size() / 2;
  std::nth_element(v.begin(), v.begin() + static_cast<std::ptrdiff_t>(mid), v.end());
  if (v.size() % 2 == 1) return v[mid];
  const double upper = v[mid];
  const double lower = *std::max_element(v.begin(), v.begin() + static_cast<std::ptrdiff_t>(mid));
  return (lower + upper) / 2;
}

std::size_t RatioReporter::repetitions(const std::string& name) const {
  const auto it = ns_per_iteration_.find(name);
  return it == ns_per_iteration_.end() ? 0 : it->second.size();
}

}  // namespace softrnic::perf
