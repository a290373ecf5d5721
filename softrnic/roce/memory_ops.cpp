#include "roce/memory_ops.hpp"

namespace softrnic::roce {

using verbs::WcOpcode;
using verbs::WcStatus;
using verbs::WrOpcode;

WcStatus execute_memory_op(verbs::MemoryTable& mem, verbs::PdHandle pd, std::uint32_t qpn,
                           const SendWr& wr) {
  const auto& m = wr.mem;
  switch (wr.opcode) {
    case WrOpcode::local_inv:
      return mem.invalidate(wr.local_key, pd, qpn) ? WcStatus::success : WcStatus::local_protection_error;
    case WrOpcode::fast_reg_mr: {
      const auto* f = mem.find(wr.local_key);
      const bool ours = f && f->pd == pd;
      return ours && mem.fast_register(wr.local_key, m.new_key, {m.pages, m.npages}, m.page_size, m.va,
                                       m.first_page_offset, m.length, m.access)
                 ? WcStatus::success
                 : WcStatus::local_protection_error;
    }
    case WrOpcode::bind_mw: {
      const auto* mw = mem.find(wr.local_key);
      const bool ours = mw && mw->pd == pd;
      return ours && mem.bind_mw(wr.local_key, m.new_key, m.mr_key, m.va, m.length, m.access, qpn)
                 ? WcStatus::success
                 : WcStatus::mw_bind_error;
    }
    default: return WcStatus::local_qp_operation_error;
  }
}

WcOpcode send_wc_opcode(WrOpcode op) {
  switch (op) {
    case WrOpcode::rdma_write:
    case WrOpcode::rdma_write_with_imm: return WcOpcode::rdma_write;
    case WrOpcode::rdma_read: return WcOpcode::rdma_read;
    case WrOpcode::atomic_cmp_swap: return WcOpcode::atomic_cmp_swap;
    case WrOpcode::atomic_fetch_add: return WcOpcode::atomic_fetch_add;
    case WrOpcode::local_inv: return WcOpcode::local_inv;
    case WrOpcode::fast_reg_mr: return WcOpcode::fast_reg_mr;
    case WrOpcode::bind_mw: return WcOpcode::bind_mw;
    default: return WcOpcode::send;
  }
}

}  // namespace softrnic::roce
