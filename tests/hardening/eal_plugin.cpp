// A stand-in for a driver library smuggled in through eal= (-d): loading it makes the file that
// HARDENING_EAL_MARKER names, so a test can tell whether DPDK loaded it.
#include <cstdio>
#include <cstdlib>

namespace {

[[gnu::constructor]] void mark_loaded() {
  if (const char* marker = std::getenv("HARDENING_EAL_MARKER"); marker != nullptr)
    if (std::FILE* f = std::fopen(marker, "w"); f != nullptr) std::fclose(f);
}

}  // namespace
