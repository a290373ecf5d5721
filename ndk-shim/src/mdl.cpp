// The MDL routines of ndk_windows_types.h. An MDL here only records where a consumer buffer
// starts and how long it is: the engine reaches user memory by virtual address, so there are no
// pages to lock and no page-frame array to fill.
#include <cstdint>
#include <new>

#include "ndk_windows_types.h"

namespace {

constexpr std::uintptr_t kPageMask = SOFTRNIC_NDK_PAGE_SIZE - 1;

}  // namespace

extern "C" {

PMDL IoAllocateMdl(PVOID VirtualAddress, ULONG Length, BOOLEAN SecondaryBuffer, BOOLEAN ChargeQuota,
                   PIRP Irp) {
  // SecondaryBuffer only chooses where in an IRP's MDL chain the new MDL goes, and ChargeQuota
  // is obsolete; with no IRPs in user space neither has an effect.
  (void)SecondaryBuffer;
  (void)ChargeQuota;
  if (Irp != nullptr) return nullptr;
  const auto va = reinterpret_cast<std::uintptr_t>(VirtualAddress);
  if (va > UINTPTR_MAX - Length) return nullptr;  // the range would wrap the address space
  MDL* mdl = new (std::nothrow) MDL{};
  if (mdl == nullptr) return nullptr;
  mdl->Size = static_cast<CSHORT>(sizeof(MDL));
  mdl->StartVa = reinterpret_cast<PVOID>(va & ~kPageMask);
  mdl->ByteOffset = static_cast<ULONG>(va & kPageMask);
  mdl->ByteCount = Length;
  return mdl;
}

VOID MmBuildMdlForNonPagedPool(PMDL MemoryDescriptorList) {
  if (MemoryDescriptorList == nullptr) return;
  MemoryDescriptorList->MappedSystemVa = MmGetMdlVirtualAddress(MemoryDescriptorList);
  MemoryDescriptorList->MdlFlags =
      static_cast<CSHORT>(MemoryDescriptorList->MdlFlags | MDL_SOURCE_IS_NONPAGED_POOL);
}

VOID IoFreeMdl(PMDL Mdl) { delete Mdl; }

}  // extern "C"
