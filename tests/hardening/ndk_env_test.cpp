// A device spec from the environment (SOFTRNIC_DEVICES, read by the NDK shim inside a consumer
// process) cannot smuggle a driver library into that process through eal=.
#include <gtest/gtest.h>
#include <sys/stat.h>

#include <cstdlib>
#include <string>

#include "hardening_support.hpp"
#include "wskndk.h"

namespace softrnic::hardening_test {
namespace {

TEST(NdkEnvironment, ASpecCannotLoadALibraryIntoTheConsumer) {
  const char* plugin = std::getenv("HARDENING_EAL_PLUGIN");
  ASSERT_NE(plugin, nullptr) << "HARDENING_EAL_PLUGIN (set by tests/hardening/meson.build)";
  TempDir dir;
  const std::string marker = dir.file("plugin-was-loaded");
  setenv("HARDENING_EAL_MARKER", marker.c_str(), 1);
  const std::string devices =
      "name=a,port=ring:peer=b,eal=--no-huge -m 64 --no-shconf --no-pci --no-telemetry -l 0 -d " +
      std::string(plugin) + ";name=b,port=ring:peer=a";
  setenv("SOFTRNIC_DEVICES", devices.c_str(), 1);
  SOFTRNIC_NDK_ADAPTER_ENTRY entries[4];
  ULONG count = 4;
  EXPECT_NE(NdkListAdapters(entries, &count), STATUS_SUCCESS);
  struct stat st {};
  EXPECT_NE(lstat(marker.c_str(), &st), 0) << "the shim's DPDK loaded " << plugin;
}

}  // namespace
}  // namespace softrnic::hardening_test
