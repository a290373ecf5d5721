// Memory operations posted to a send queue: fast register (IBA 10.6.3.5), type 2 bind
// (10.6.7.2.2) and local invalidate (10.6.5). Both wire protocols run them the same way, in send
// queue order when the QP reaches them (RFC 5040 6 for iWARP's STag operations).
#pragma once

#include <cstdint>

#include "roce/wr.hpp"
#include "verbs/memory.hpp"
#include "verbs/types.hpp"

namespace softrnic::roce {

constexpr bool is_memory_op(verbs::WrOpcode op) {
  return op == verbs::WrOpcode::local_inv || op == verbs::WrOpcode::fast_reg_mr ||
         op == verbs::WrOpcode::bind_mw;
}

// Runs wr (one of the is_memory_op opcodes) for QP qpn of protection domain pd; the status is
// the work completion's.
verbs::WcStatus execute_memory_op(verbs::MemoryTable& mem, verbs::PdHandle pd, std::uint32_t qpn,
                                  const SendWr& wr);

// The completion opcode of a send-queue work request.
verbs::WcOpcode send_wc_opcode(verbs::WrOpcode op);

}  // namespace softrnic::roce
