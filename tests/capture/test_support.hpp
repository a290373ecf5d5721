// Helpers shared by the capture, golden-frame, tshark and CLI tests: where the test data and the
// checkers live, temporary directories, running a command, and reading a whole capture.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

namespace softrnic::test {

// An environment variable the test runner must set (tests/meson.build test_env); fails the
// calling test (via ADD_FAILURE) and returns "" when it is missing.
std::string required_env(const char* name);

// $SOFTRNIC_TEST_DATA: the repository's tests/data (pcaps/ holds the golden captures).
std::string test_data_dir();

// The repository's tests/tools: pcap_verify.sh and the independent ICRC / MPA CRC checkers.
std::string test_tools_dir();

// The golden captures' folder, tests/data/pcaps, and its README.md, which lists them.
std::string golden_pcaps_dir();
std::string golden_pcaps_readme();

// The capture names listed as "## name.pcap" headings in a README, in file order.
std::vector<std::string> golden_capture_names(const std::string& readme_md);

// A fresh mkdtemp directory, removed with everything in it on destruction.
class TempDir {
 public:
  TempDir();
  ~TempDir();
  TempDir(const TempDir&) = delete;
  TempDir& operator=(const TempDir&) = delete;
  const std::string& path() const { return path_; }
  std::string file(const std::string& name) const { return path_ + "/" + name; }

 private:
  std::string path_;
};

struct CommandResult {
  int exit_status = -1;  // -1 when the command did not exit normally
  std::string output;    // stdout (stderr too when the command line redirects it)
};

// Runs a shell command line and captures its standard output.
CommandResult run_command(const std::string& command_line);

// Quotes one argument for /bin/sh.
std::string shell_quote(const std::string& arg);

bool tool_installed(const std::string& name);

// tshark's command line for checking our frames: payload heuristics off (they would take RoCE
// payloads for RPC-over-RDMA, SMB Direct, ...), TFTP off, zero IPv6 UDP checksums accepted.
std::string tshark_command(const std::string& pcap);

struct FrameBytes {
  std::uint64_t number = 0;
  std::vector<std::byte> bytes;
};

// Every frame of a capture; fails the calling test when it cannot be read.
std::vector<FrameBytes> read_all_frames(const std::string& path);

std::vector<std::string> split(const std::string& s, char sep);

}  // namespace softrnic::test
