#include "guard.hpp"

#include <cstdio>
#include <exception>
#include <new>

namespace softrnic::ndk {

NTSTATUS status_of_current_exception(const char* where) noexcept {
  try {
    throw;
  } catch (const std::bad_alloc&) {
    std::fprintf(stderr, "softrnic-ndk: %s: out of memory\n", where);
    return STATUS_INSUFFICIENT_RESOURCES;
  } catch (const std::exception& e) {
    std::fprintf(stderr, "softrnic-ndk: %s: internal error: %s\n", where, e.what());
  } catch (...) {
    std::fprintf(stderr, "softrnic-ndk: %s: internal error\n", where);
  }
  return STATUS_INTERNAL_ERROR;
}

}  // namespace softrnic::ndk
