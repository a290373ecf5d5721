// The service manager's readiness protocol (sd_notify(3)) without libsystemd: one datagram of
// "KEY=VALUE" lines to the AF_UNIX socket named by $NOTIFY_SOCKET (a path, or an abstract socket
// when it starts with '@'). `softrnic serve` sends READY=1 once every device is up, RELOADING=1
// and READY=1 around a reload, STOPPING=1 when it stops, and STATUS= lines a person reads in
// `systemctl status`. Without $NOTIFY_SOCKET nothing is sent.
#pragma once

#include <string>
#include <string_view>

namespace softrnic::cli {

// Sends state ("READY=1\nSTATUS=...") to $NOTIFY_SOCKET. True when it was sent; false when the
// variable is unset, names no usable socket, or the send failed.
bool notify_service_manager(std::string_view state);

// "MONOTONIC_USEC=N": CLOCK_MONOTONIC now, which systemd expects with RELOADING=1 (Type=notify-reload).
std::string monotonic_usec_field();

}  // namespace softrnic::cli
