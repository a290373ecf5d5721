#include "test_support.hpp"

#include <gtest/gtest.h>
#include <stdlib.h>
#include <sys/wait.h>

#include <cstdio>
#include <filesystem>
#include <fstream>
#include <sstream>

#include "capture/pcap_file.hpp"

namespace softrnic::test {

std::string required_env(const char* name) {
  const char* v = std::getenv(name);
  if (v == nullptr || *v == '\0') {
    ADD_FAILURE() << name << " is not set: run the tests with `meson test` (tests/meson.build)";
    return "";
  }
  return v;
}

std::string test_data_dir() { return required_env("SOFTRNIC_TEST_DATA"); }

std::string test_tools_dir() { return required_env("SOFTRNIC_SOURCE_ROOT") + "/tests/tools"; }

std::string golden_pcaps_dir() { return test_data_dir() + "/pcaps"; }

std::string golden_pcaps_readme() { return golden_pcaps_dir() + "/README.md"; }

std::vector<std::string> golden_capture_names(const std::string& readme_md) {
  std::ifstream in(readme_md);
  std::vector<std::string> names;
  std::string line;
  while (std::getline(in, line)) {
    if (line.rfind("## ", 0) != 0) continue;
    std::istringstream words(line.substr(3));
    std::string name;
    words >> name;
    if (name.ends_with(".pcap") || name.ends_with(".pcapng")) names.push_back(name);
  }
  return names;
}

TempDir::TempDir() {
  std::string tmpl = std::filesystem::temp_directory_path().string() + "/softrnic-test-XXXXXX";
  if (mkdtemp(tmpl.data()) == nullptr) {
    ADD_FAILURE() << "mkdtemp failed for " << tmpl;
    return;
  }
  path_ = tmpl;
}

TempDir::~TempDir() {
  if (path_.empty()) return;
  std::error_code ec;
  std::filesystem::remove_all(path_, ec);
}

CommandResult run_command(const std::string& command_line) {
  CommandResult r;
  std::FILE* pipe = popen(command_line.c_str(), "r");
  if (pipe == nullptr) return r;
  char buf[4096];
  std::size_t n;
  while ((n = std::fread(buf, 1, sizeof buf, pipe)) > 0) r.output.append(buf, n);
  const int status = pclose(pipe);
  if (status != -1 && WIFEXITED(status)) r.exit_status = WEXITSTATUS(status);
  return r;
}

std::string shell_quote(const std::string& arg) {
  std::string q = "'";
  for (const char c : arg) {
    if (c == '\'') {
      q += "'\\''";
    } else {
      q += c;
    }
  }
  return q + "'";
}

bool tool_installed(const std::string& name) {
  return run_command("command -v " + shell_quote(name) + " >/dev/null 2>&1").exit_status == 0;
}

std::string tshark_command(const std::string& pcap) {
  std::string cmd = "tshark -n -r " + shell_quote(pcap);
  for (const char* h :
       {"rpcrdma_infiniband", "smb_direct_infiniband", "iser_infiniband", "nvme_rdma", "lnet_ib",
        "eth_over_ib", "fc_infiniband", "sdp_infiniband", "smcr_infiniband", "mellanox_eoib",
        "drbd_rdma", "rpcrdma_iwarp", "smb_direct_iwarp"}) {
    cmd += " --disable-heuristic ";
    cmd += h;
  }
  return cmd + " --disable-protocol tftp -o udp.ignore_ipv6_zero_checksum:TRUE";
}

std::vector<FrameBytes> read_all_frames(const std::string& path) {
  std::vector<FrameBytes> frames;
  auto reader = capture::PcapReader::open(path);
  if (!reader) {
    ADD_FAILURE() << reader.error().to_string();
    return frames;
  }
  for (;;) {
    auto f = reader->next();
    if (!f) {
      ADD_FAILURE() << f.error().to_string();
      break;
    }
    if (!*f) break;
    frames.push_back({(*f)->number, {(*f)->bytes.begin(), (*f)->bytes.end()}});
  }
  return frames;
}

std::vector<std::string> split(const std::string& s, char sep) {
  std::vector<std::string> parts;
  std::string cur;
  for (const char c : s) {
    if (c == sep) {
      parts.push_back(cur);
      cur.clear();
    } else {
      cur += c;
    }
  }
  parts.push_back(cur);
  return parts;
}

}  // namespace softrnic::test
