// Ctrl-C for long-running commands: the first SIGINT/SIGTERM asks the command to stop cleanly
// (it finishes what it is doing and prints what was done so far); a second one ends the process.
//
// A service (`softrnic serve`) also takes SIGHUP as "reload your configuration", and gives an
// eventfd that every one of these signals writes to, so that a thread sleeping in poll(2) on it
// wakes up at once.
#pragma once

namespace softrnic::cli {

// Installs the handlers (idempotent) and clears an earlier request.
void catch_interrupts();
// As catch_interrupts(), plus SIGHUP (reload_requested()); each of the three signals writes 1 to
// wake_fd (an eventfd, -1: none) from the handler.
void catch_service_signals(int wake_fd);
// True once SIGINT or SIGTERM arrived after catch_interrupts().
bool interrupted();
// True when SIGHUP arrived since the last call (the request is taken).
bool take_reload_request();

}  // namespace softrnic::cli
