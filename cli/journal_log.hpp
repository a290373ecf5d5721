// Where the command's log lines go. Under systemd, whose journal reads the service's stderr
// ($JOURNAL_STREAM names that stream as DEVICE:INODE), each line starts with its syslog level in
// the sd-daemon(3) form "<N>" (3 error, 4 warning, 6 info, 7 debug) and carries no timestamp or
// colour: the journal stamps and ranks lines itself. Elsewhere: spdlog's coloured stderr logger
// with its default pattern, as before.
#pragma once

#include <memory>

#include <spdlog/logger.h>

namespace softrnic::cli {

// True when stderr is the stream $JOURNAL_STREAM names.
bool stderr_is_journal();

// A logger named "softrnic" on stderr: journal form when journal is true, else the usual one.
std::shared_ptr<spdlog::logger> make_stderr_logger(bool journal);

}  // namespace softrnic::cli
