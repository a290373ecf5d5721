// Gathering from and scattering to scatter/gather lists of checked windows.
#pragma once

#include <cstdint>
#include <span>

#include "roce/wr.hpp"
#include "verbs/memory.hpp"

namespace softrnic::roce {

// Copies dst.size() bytes of the SGE list, starting `offset` bytes into it, to dst. False, with
// nothing copied, when a window the bytes lie in is no longer current (MemoryTable::current):
// the caller ends the message with a protection error.
[[nodiscard]] bool gather(std::span<const verbs::MemRef> refs, std::span<const Sge> sg, std::uint32_t offset,
            ByteSpan dst);
// Copies src into the SGE list at `offset`; the caller has checked that it fits. False, with
// nothing copied, when a window the bytes go to is no longer current.
[[nodiscard]] bool scatter(std::span<const verbs::MemRef> refs, std::span<const Sge> sg, std::uint32_t offset,
             ConstByteSpan src);
// The host address of len bytes of the SGE list starting `offset` bytes into it, when they lie
// in one SGE and are contiguous in memory; nullptr otherwise.
const std::byte* contiguous(std::span<const verbs::MemRef> refs, std::span<const Sge> sg,
                            std::uint32_t offset, std::uint32_t len);
// Every window that [offset, offset + len) of the SGE list touches is still current
// (MemoryTable::current).
bool all_current(std::span<const verbs::MemRef> refs, std::span<const Sge> sg, std::uint32_t offset,
                 std::size_t len);
// Packets of an n-byte message (a READ's responses too): at least one, computed in 64 bits so a length near
// 4 GiB cannot wrap.
inline std::uint32_t read_packets(std::uint64_t n, std::uint32_t pmtu) {
  return static_cast<std::uint32_t>(n == 0 ? 1 : (n + pmtu - 1) / pmtu);
}
std::uint64_t sge_total(std::span<const Sge> sg);

}  // namespace softrnic::roce
