// Ctrl-C for long-running commands: the first SIGINT/SIGTERM asks the command to stop cleanly
// (it finishes what it is doing and prints what was done so far); a second one ends the process.
#pragma once

namespace softrnic::cli {

// Installs the handlers (idempotent) and clears an earlier request.
void catch_interrupts();
// True once SIGINT or SIGTERM arrived after catch_interrupts().
bool interrupted();

}  // namespace softrnic::cli
