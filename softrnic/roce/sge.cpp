#include "roce/sge.hpp"

#include <algorithm>

namespace softrnic::roce {

namespace {
template <class F>
void walk(std::span<const Sge> sg, std::uint32_t offset, std::size_t len, F&& f) {
  std::size_t done = 0;
  for (std::size_t i = 0; i < sg.size() && done < len; ++i) {
    if (offset >= sg[i].length) {
      offset -= sg[i].length;
      continue;
    }
    const std::size_t n = std::min<std::size_t>(sg[i].length - offset, len - done);
    f(i, offset, done, n);
    done += n;
    offset = 0;
  }
}
}  // namespace

// Checked before the first byte moves, so a message is never placed half into memory that went away.
bool all_current(std::span<const verbs::MemRef> refs, std::span<const Sge> sg, std::uint32_t offset,
                 std::size_t len) {
  bool ok = true;
  walk(sg, offset, len, [&](std::size_t i, std::uint32_t, std::size_t, std::size_t) {
    ok = ok && verbs::MemoryTable::current(refs[i]);
  });
  return ok;
}

bool gather(std::span<const verbs::MemRef> refs, std::span<const Sge> sg, std::uint32_t offset,
            ByteSpan dst) {
  if (sg.size() > 1 && !all_current(refs, sg, offset, dst.size())) return false;
  bool ok = true;
  walk(sg, offset, dst.size(), [&](std::size_t i, std::uint32_t off, std::size_t done, std::size_t n) {
    ok = verbs::MemoryTable::copy_out(refs[i], off, dst.subspan(done, n)) && ok;
  });
  return ok;
}

bool scatter(std::span<const verbs::MemRef> refs, std::span<const Sge> sg, std::uint32_t offset,
             ConstByteSpan src) {
  if (sg.size() > 1 && !all_current(refs, sg, offset, src.size())) return false;
  bool ok = true;
  walk(sg, offset, src.size(), [&](std::size_t i, std::uint32_t off, std::size_t done, std::size_t n) {
    ok = verbs::MemoryTable::copy_in(refs[i], off, src.subspan(done, n)) && ok;
  });
  return ok;
}

const std::byte* contiguous(std::span<const verbs::MemRef> refs, std::span<const Sge> sg,
                            std::uint32_t offset, std::uint32_t len) {
  const std::byte* out = nullptr;
  int pieces = 0;
  walk(sg, offset, len, [&](std::size_t i, std::uint32_t off, std::size_t, std::size_t n) {
    if (++pieces == 1 && n == len) out = verbs::MemoryTable::contiguous(refs[i], off, n);
  });
  return pieces == 1 ? out : nullptr;
}

std::uint64_t sge_total(std::span<const Sge> sg) {
  std::uint64_t t = 0;
  for (const auto& s : sg) t += s.length;
  return t;
}

}  // namespace softrnic::roce
