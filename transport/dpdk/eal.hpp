// DPDK's Environment Abstraction Layer, started once per process.
//
// rte_eal_init may run only once in a process and cannot be undone and redone, so every DPDK port
// goes through eal::init(), which starts the EAL on the first call and afterwards only checks that
// the caller is content with the EAL that runs:
//   - args empty: "any running EAL will do" (what the port factories ask for);
//   - args given: they must equal the arguments the EAL was started with, else the call fails and
//     says both argument lists.
// A failed start is remembered: DPDK cannot be started a second time in that process, so later
// calls return the same error.
//
// The defaults (default_args) need no hugepages, no PCI device and no shared configuration, so
// they work on any Linux machine, with virtual devices only:
//   --no-huge -m 512          512 MiB of ordinary pages for mempools (IOVA as VA)
//   --no-shconf --no-pci --no-telemetry
//   --file-prefix=softrnic-<pid>   a runtime folder of our own, removed at exit
//   -l <cpu>                  one lcore: the CPU the caller runs on
//   --log-level=*:warning     DPDK's log goes to stderr, and only warnings and errors
// User-supplied arguments replace all of these (argv[0] is always "softrnic"). Arguments that
// would make DPDK load code or touch files they name (-d, --trace-dir, ...: eal_args.hpp) are
// refused before DPDK sees them.
//
// rte_eal_init pins the calling thread to the lcore's CPU; init() restores the thread's previous
// CPU set afterwards, so starting DPDK does not move the caller's thread. The EAL runs until the
// process ends (DPDK 22.11 cannot shut it down safely, see eal.cpp); with the default arguments
// its runtime folder is removed at exit.
//
// Thread-safe: any thread may call init() at any time; one start happens.
#pragma once

#include <span>
#include <string>
#include <vector>

#include "base/result.hpp"

namespace softrnic::transport::eal {

// The arguments used when init() is called without any (argv[1..]).
std::vector<std::string> default_args();

// Starts the EAL with args (argv[1..]), or checks the running one; see the header comment.
[[nodiscard]] Result<void> init(std::span<const std::string> args = {});

// True once the EAL has started successfully.
bool running();

// The arguments the running EAL was started with (argv[1..]); empty when it is not running.
std::vector<std::string> active_args();

}  // namespace softrnic::transport::eal
