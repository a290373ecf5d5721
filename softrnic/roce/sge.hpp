// Gathering from and scattering to scatter/gather lists of checked windows.
#pragma once

#include <cstdint>
#include <span>

#include "roce/wr.hpp"
#include "verbs/memory.hpp"

namespace softrnic::roce {

// Copies dst.size() bytes of the SGE list, starting `offset` bytes into it, to dst.
void gather(std::span<const verbs::MemRef> refs, std::span<const Sge> sg, std::uint32_t offset,
            ByteSpan dst);
// Copies src into the SGE list at `offset`; the caller has checked that it fits.
void scatter(std::span<const verbs::MemRef> refs, std::span<const Sge> sg, std::uint32_t offset,
             ConstByteSpan src);
// The host address of len bytes of the SGE list starting `offset` bytes into it, when they lie
// in one SGE and are contiguous in memory; nullptr otherwise.
const std::byte* contiguous(std::span<const verbs::MemRef> refs, std::span<const Sge> sg,
                            std::uint32_t offset, std::uint32_t len);
std::uint64_t sge_total(std::span<const Sge> sg);

}  // namespace softrnic::roce
