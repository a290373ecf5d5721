#include "journal_log.hpp"

#include <sys/stat.h>

#include <cstdio>
#include <cstdlib>
#include <string>

#include <spdlog/pattern_formatter.h>
#include <spdlog/sinks/stdout_color_sinks.h>
#include <spdlog/sinks/stdout_sinks.h>

namespace softrnic::cli {
namespace {

// %J: "<N>", the syslog priority of the message's level (sd-daemon.h's SD_ERR ... SD_DEBUG).
class SyslogPrefix final : public spdlog::custom_flag_formatter {
 public:
  void format(const spdlog::details::log_msg& msg, const std::tm&, spdlog::memory_buf_t& dest) override {
    const char* p = "<6>";
    switch (msg.level) {
      case spdlog::level::trace:
      case spdlog::level::debug: p = "<7>"; break;
      case spdlog::level::info: p = "<6>"; break;
      case spdlog::level::warn: p = "<4>"; break;
      case spdlog::level::err: p = "<3>"; break;
      case spdlog::level::critical: p = "<2>"; break;
      default: break;
    }
    dest.append(p, p + 3);
  }
  std::unique_ptr<custom_flag_formatter> clone() const override { return std::make_unique<SyslogPrefix>(); }
};

}  // namespace

bool stderr_is_journal() {
  const char* js = secure_getenv("JOURNAL_STREAM");
  if (js == nullptr || *js == '\0') return false;
  unsigned long long dev = 0, ino = 0;
  if (std::sscanf(js, "%llu:%llu", &dev, &ino) != 2) return false;
  struct stat st {};
  if (fstat(2, &st) != 0) return false;
  return static_cast<unsigned long long>(st.st_dev) == dev && static_cast<unsigned long long>(st.st_ino) == ino;
}

std::shared_ptr<spdlog::logger> make_stderr_logger(bool journal) {
  if (!journal) return spdlog::stderr_color_mt("softrnic");
  auto logger = spdlog::stderr_logger_mt("softrnic");
  auto f = std::make_unique<spdlog::pattern_formatter>();
  f->add_flag<SyslogPrefix>('J').set_pattern("%J%v");
  logger->set_formatter(std::move(f));
  return logger;
}

}  // namespace softrnic::cli
