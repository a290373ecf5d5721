// The NDK part of `softrnic demo`: the SMB-Direct-like consumer (ndk-consumers/smbd), written
// purely against NDKPI, runs through the NDK shim on in-process adapter pairs — RoCEv2 over IPv4
// and IPv6 on a DPDK net_ring pair (the loopback wire when DPDK cannot start), iWARP over the
// kernel's loopback TCP — negotiating, writing a file-sized payload (RDMA Reads by the server of
// fast-registered client memory), reading it back (RDMA Writes), timing small echoes, every byte
// verified. NTSTATUS stays inside this file's implementation.
#pragma once

#include <cstddef>

#include "demo_report.hpp"

namespace softrnic::cli {

struct NdkDemoOptions {
  double loss = 0;        // probability per frame on each RoCEv2 end's transmit (faults=loss)
  bool loopback = false;  // RoCEv2 on the in-memory loopback wire instead of net_ring
  bool roce = true, iwarp = true;
  std::size_t payload = std::size_t{64} << 20;  // written and read back per transport
  std::size_t echoes = 200;                     // small request/response round trips timed
  // Consumer test mode (softrnic_ndk_ext.h): the sessions run under this scenario file, loaded
  // before the adapters exist (so its wire faults apply); its summary is printed at the end.
  std::string scenario;
  std::string scenario_log;  // JSON lines; empty: none
};

// Appends one phase per transport and operation (negotiate, write, read, echo) to report. Sets
// SOFTRNIC_DEVICES, so it must be the first use of the NDK shim in the process.
void run_ndk_demo(const NdkDemoOptions& options, Progress& progress, DemoReport& report);

}  // namespace softrnic::cli
