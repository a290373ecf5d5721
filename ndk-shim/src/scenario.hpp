// Consumer test mode: a scenario is a seeded list of timed or triggered events that the shim
// injects while an NDK consumer runs (wire drops and link flaps on the device's fault stage, RNR
// storms, failing creates, forced async modes, delayed callbacks, refused connects, peer
// disconnects, bad remote tokens, CQ overflow). This header is the file format's model and its
// parser; scenario_run.hpp executes one.
//
// File format (TOML, FILE:LINE in every error):
//   seed = 7                        # seeds `faults` and every random choice of the events
//   faults = "loss=0.01"            # optional: wire faults for every RoCEv2 device without any
//                                   # (fault/link_faults.hpp grammar); only when the scenario is
//                                   # loaded before the devices are built (SOFTRNIC_SCENARIO)
//   [[event]]
//   at_ms = 50                      # from the first adapter open; or, with `after`, from then
//   after = "connected"             # "start" (default), "connected" (the first connection
//                                   # established), "bytes:N" (N bytes sent by the devices)
//   action = "link_flap"            # see kActions and parse_scenario's per-action keys
//   device = "a"                    # optional: the device (SOFTRNIC_DEVICES name); default all
//   duration_ms = 200
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "base/result.hpp"
#include "fault/link_faults.hpp"
#include "ndk_windows_types.h"

namespace softrnic::ndk::scenario {

enum class Action : std::uint8_t {
  drop,             // the next `count` frames of a QP / opcode class (dir, qp, ops)
  link_flap,        // every frame both ways for duration_ms
  rnr_storm,        // the consumer's receives are withheld for duration_ms: the peer gets RNR NAKs
  fail_next,        // the next `count` calls of `call` fail with `status`
  async_mode,       // every async call pends (callbacks after delay_ms) or completes inline
  delay_callbacks,  // completion, connect and disconnect callbacks run delay_ms late
  refuse_connect,   // the listener side rejects the next `count` connect requests
  disconnect,       // the shim ends `count` established connections of `device` (a peer disconnect)
  bad_token,        // the next `count` RDMA Read/Write carry a corrupted remote token
  cq_overflow,      // the next `count` NdkCreateCq get an engine CQ of `depth` entries
  count_
};
inline constexpr std::string_view kActions =
    "drop, link_flap, rnr_storm, fail_next, async_mode, delay_callbacks, refuse_connect, "
    "disconnect, bad_token, cq_overflow";
std::string_view action_name(Action a);

// The calls fail_next can fail.
enum class Call : std::uint8_t { create_qp, create_cq, register_mr, create_pd, create_mr, count_ };
inline constexpr std::string_view kCalls =
    "NdkCreateQp, NdkCreateCq, NdkRegisterMr, NdkCreatePd, NdkCreateMr";
std::string_view call_name(Call c);

enum class Trigger : std::uint8_t { start, connected, bytes };

enum class Mode : std::uint8_t { natural, pending, inline_ };

struct Event {
  std::uint32_t line = 0;
  Action action = Action::drop;
  Trigger trigger = Trigger::start;
  std::uint64_t at_ns = 0;  // after the trigger
  std::uint64_t bytes = 0;  // Trigger::bytes
  std::string device;       // empty: every device the action applies to
  std::uint32_t count = 1;
  std::uint64_t duration_ns = 0;
  std::uint64_t delay_ns = 0;
  transport::FaultDirection dir = transport::FaultDirection::tx;
  std::optional<std::uint32_t> qp;
  std::uint32_t ops = 0;  // transport::OpClass bits; 0: any
  Call call = Call::create_qp;
  NTSTATUS status = STATUS_INSUFFICIENT_RESOURCES;
  Mode mode = Mode::natural;
  std::uint32_t depth = 1;
};

struct Scenario {
  std::string file;  // for messages and the log
  std::uint64_t seed = 1;
  std::string faults;  // canonical link-fault text, seeded with `seed` unless it names one
  std::vector<Event> events;
};

// `file` only names the text in messages.
[[nodiscard]] Result<Scenario> parse_scenario(std::string_view text, const std::string& file);
[[nodiscard]] Result<Scenario> load_scenario(const std::string& path);

// One line of text describing the event (for the log and messages).
std::string describe(const Event& e);

}  // namespace softrnic::ndk::scenario

namespace softrnic::ndk::scenario {

// "STATUS_INSUFFICIENT_RESOURCES" etc. for the statuses the shim's headers define; empty for
// others.
std::string_view status_name(NTSTATUS s);
// The status of a name status_name gives; nothing for other names.
std::optional<NTSTATUS> status_of(std::string_view name);

}  // namespace softrnic::ndk::scenario
