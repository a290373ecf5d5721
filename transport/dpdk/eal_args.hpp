// Which DPDK EAL arguments a device spec may carry (eal=, --eal, a config file's eal): none that
// makes rte_eal_init load code, or read or write a file the arguments name. A spec can come from
// the environment (SOFTRNIC_DEVICES, SOFTRNIC_CONFIG in the NDK shim), and an `-d lib.so` there
// would run that library's constructors inside the consumer. Refused (DPDK 22.11's options):
//   -d, --driver-path         load a driver library, or every library of a folder
//   --trace, --trace-dir      write trace files (to $HOME/dpdk-traces or the folder named)
//   --file-prefix with / or ..  the runtime folder, whose files EAL creates, outside its base
//   --vdev of a driver that opens files or sockets by name, or loads code (net_pcap, vhost,
//     memif, virtio_user, af_xdp's xdp_prog=, ...): only net_null, net_ring, net_tap,
//     net_af_packet and net_af_xdp (without xdp_prog) are accepted
// Arguments are read as getopt_long reads them: bundled short options (-vd lib.so), a short
// option's value joined or separate (-dlib.so), --opt=value or --opt value, and long options
// shortened to any prefix (--vd=..., --trace-d ...).
//
// Header-only: the spec grammar (factory/) checks specs when they are read, and eal::init checks
// again before starting DPDK, whatever path the arguments came by.
#pragma once

#include <algorithm>
#include <array>
#include <span>
#include <string>
#include <string_view>

#include "base/result.hpp"

namespace softrnic::transport::eal {

namespace detail {

enum class Value { none, required, optional };
struct LongOption {
  std::string_view name;
  Value value;
};

// DPDK 22.11's long EAL options (lib/eal/common/eal_common_options.c), and --driver-path, which
// it does not have but which is refused in case a later one does.
inline constexpr std::array<LongOption, 43> kLongOptions = {{
    {"allow", Value::required},
    {"base-virtaddr", Value::required},
    {"block", Value::required},
    {"create-uio-dev", Value::none},
    {"driver-path", Value::required},
    {"file-prefix", Value::required},
    {"force-max-simd-bitwidth", Value::required},
    {"help", Value::none},
    {"huge-dir", Value::required},
    {"huge-unlink", Value::optional},
    {"huge-worker-stack", Value::optional},
    {"in-memory", Value::none},
    {"iova-mode", Value::required},
    {"lcores", Value::required},
    {"legacy-mem", Value::none},
    {"log-level", Value::required},
    {"main-lcore", Value::required},
    {"master-lcore", Value::required},
    {"match-allocations", Value::none},
    {"mbuf-pool-ops-name", Value::required},
    {"no-hpet", Value::none},
    {"no-huge", Value::none},
    {"no-pci", Value::none},
    {"no-shconf", Value::none},
    {"no-telemetry", Value::none},
    {"pci-blacklist", Value::required},
    {"pci-whitelist", Value::required},
    {"proc-type", Value::required},
    {"single-file-segments", Value::none},
    {"socket-limit", Value::required},
    {"socket-mem", Value::required},
    {"syslog", Value::optional},
    {"telemetry", Value::none},
    {"trace", Value::required},
    {"trace-bufsz", Value::required},
    {"trace-dir", Value::required},
    {"trace-mode", Value::required},
    {"vdev", Value::required},
    {"vfio-intr", Value::required},
    {"vfio-vf-token", Value::required},
    {"vmware-tsc-map", Value::none},
    {"numa-mem", Value::required},
    {"numa-limit", Value::required},
}};
// Short options that take a value (the rest, -h and -v, take none).
inline constexpr std::string_view kShortWithValue = "abcdlmnrsSw";
// Long options refused outright, and those whose value is checked.
inline constexpr std::array<std::string_view, 3> kRefused = {"driver-path", "trace", "trace-dir"};
inline constexpr std::array<std::string_view, 2> kChecked = {"file-prefix", "vdev"};

// Virtual device drivers (and their aliases) that take no file, socket or program by name.
inline constexpr std::array<std::string_view, 9> kSafeVdevDrivers = {
    "net_null",      "eth_null",      "net_ring",   "eth_ring",  "net_tap",
    "net_af_packet", "eth_af_packet", "net_af_xdp", "eth_af_xdp"};

// The option getopt_long takes --name for: the one of that name, else the only one name is a
// prefix of; nullptr when it names none or several (DPDK then refuses the argument itself).
inline const LongOption* resolve(std::string_view name) {
  const LongOption* found = nullptr;
  int prefixed = 0;
  for (const LongOption& o : kLongOptions) {
    if (o.name == name) return &o;
    if (o.name.starts_with(name)) {
      found = &o;
      ++prefixed;
    }
  }
  return prefixed == 1 ? found : nullptr;
}

inline Result<void> refuse(std::string_view arg, std::string_view why) {
  return make_error(Errc::invalid_argument,
                    "eal: '" + std::string(arg) + "' refused: " + std::string(why));
}

inline Result<void> check_vdev(std::string_view arg, std::string_view value) {
  const std::string_view driver = value.substr(0, value.find(','));
  const bool safe = std::ranges::any_of(kSafeVdevDrivers, [&](std::string_view d) {
    // A device is named after its driver, with an instance suffix: net_null0.
    return driver.starts_with(d) &&
           driver.find_first_not_of("0123456789_", d.size()) == std::string_view::npos;
  });
  if (!safe)
    return refuse(arg,
                  "this virtual device may open files or sockets, or load code, that its "
                  "arguments name (accepted drivers: net_null, net_ring, net_tap, "
                  "net_af_packet, net_af_xdp)");
  if (value.find(",xdp_prog") != std::string_view::npos)
    return refuse(arg, "xdp_prog loads an XDP program from a file");
  return {};
}

inline Result<void> check_long(std::string_view arg, std::string_view name,
                               std::string_view value) {
  if (name == "driver-path" || name == "d") return refuse(arg, "it loads driver libraries");
  if (name == "trace" || name == "trace-dir") return refuse(arg, "it writes trace files");
  if (name == "file-prefix" &&
      (value.find('/') != std::string_view::npos || value.find("..") != std::string_view::npos))
    return refuse(arg,
                  "a file prefix may not hold '/' or '..' (it names the folder where DPDK "
                  "makes its runtime files)");
  if (name == "vdev") return check_vdev(arg, value);
  return {};
}

}  // namespace detail

// Ok, or an error naming the first argument refused and why.
[[nodiscard]] inline Result<void> check_args(std::span<const std::string> args) {
  using namespace detail;
  for (std::size_t i = 0; i < args.size(); ++i) {
    const std::string_view a = args[i];
    const bool has_next = i + 1 < args.size();
    if (a.size() > 2 && a.starts_with("--")) {
      const std::size_t eq = a.find('=');
      const std::string_view given = a.substr(2, eq == a.npos ? a.npos : eq - 2);
      const LongOption* o = resolve(given);
      if (o == nullptr) {
        for (const auto group : {std::span<const std::string_view>(kRefused),
                                 std::span<const std::string_view>(kChecked)})
          for (const std::string_view r : group)
            if (r.starts_with(given))
              return refuse(a, "it may stand for --" + std::string(r) + ", which is checked here");
        continue;
      }
      const bool separate = eq == a.npos && o->value == Value::required && has_next;
      const std::string_view value =
          eq != a.npos ? a.substr(eq + 1) : (separate ? std::string_view(args[i + 1]) : "");
      if (auto r = check_long(a, o->name, value); !r) return r;
      if (separate) ++i;  // the value is not an option
      continue;
    }
    if (a.size() > 1 && a.starts_with('-') && a != "--") {
      // A bundle of short options; the first that takes a value ends it.
      for (std::size_t j = 1; j < a.size(); ++j) {
        if (a[j] == 'd') return check_long(a, "d", {});
        if (kShortWithValue.find(a[j]) != std::string_view::npos) {
          if (j + 1 == a.size()) ++i;  // its value is the next argument
          break;
        }
      }
    }
  }
  return {};
}

}  // namespace softrnic::transport::eal
