#include "capture/tcp_reassembler.hpp"

namespace softrnic::capture {

std::int64_t TcpReassembler::offset_of(std::uint32_t seq) const {
  // Sequence numbers wrap at 2^32 (RFC 9293 3.4): the signed 32-bit distance from the next
  // expected byte places a segment before or after it.
  return static_cast<std::int64_t>(delivered_) + static_cast<std::int32_t>(seq - next_seq_);
}

void TcpReassembler::add(const TcpSegment& s, TcpStreamSink& sink) {
  if (ended_) return;
  if (s.rst) {
    finish(s.frame, sink);
    return;
  }
  if (!started_) {
    started_ = true;
    next_seq_ = s.syn ? s.seq + 1 : s.seq;
    if (!s.syn) sink.on_gap(s.frame);  // joined mid-stream: what came before is unknown
  }
  // The SYN occupies one sequence number; data on a SYN starts after it (RFC 9293 3.4).
  const std::uint32_t data_seq = s.syn ? s.seq + 1 : s.seq;
  if (!s.payload.empty()) place(offset_of(data_seq), s.payload, s.frame, sink);
  if (s.fin && !fin_offset_) {
    const std::int64_t fin = offset_of(data_seq + static_cast<std::uint32_t>(s.payload.size()));
    if (fin >= 0) fin_offset_ = static_cast<std::uint64_t>(fin);
  }
  check_fin(s.frame, sink);
}

void TcpReassembler::place(std::int64_t off, ConstByteSpan bytes, std::uint64_t frame,
                           TcpStreamSink& sink) {
  const auto delivered = static_cast<std::int64_t>(delivered_);
  if (off + static_cast<std::int64_t>(bytes.size()) <= delivered) return;  // a retransmission
  if (off <= delivered) {
    deliver_from(static_cast<std::uint64_t>(off), bytes, frame, sink);
    drain(sink);
    return;
  }
  // Ahead of a hole. Keep memory bounded: give up the lowest holes until the segment fits.
  const auto uoff = static_cast<std::uint64_t>(off);
  while (buffered_ + bytes.size() > max_buffered_ && !pending_.empty() &&
         pending_.begin()->first < uoff) {
    skip_to(pending_.begin()->first, frame, sink);
  }
  if (uoff <= delivered_) {
    deliver_from(uoff, bytes, frame, sink);
    drain(sink);
    return;
  }
  if (buffered_ + bytes.size() > max_buffered_) {
    skip_to(uoff, frame, sink);
    deliver_from(uoff, bytes, frame, sink);
    drain(sink);
    return;
  }
  auto [it, inserted] = pending_.try_emplace(uoff, Pending{frame, {}});
  if (!inserted && it->second.bytes.size() >= bytes.size()) return;  // already hold as much
  buffered_ = buffered_ - it->second.bytes.size() + bytes.size();
  it->second.frame = frame;
  it->second.bytes.assign(bytes.begin(), bytes.end());
}

void TcpReassembler::deliver_from(std::uint64_t off, ConstByteSpan bytes, std::uint64_t frame,
                                  TcpStreamSink& sink) {
  std::uint64_t end = off + bytes.size();
  if (fin_offset_ && end > *fin_offset_) end = *fin_offset_;  // nothing follows a FIN
  if (end <= delivered_) return;
  const ConstByteSpan fresh = bytes.subspan(delivered_ - off, end - delivered_);
  delivered_ += fresh.size();
  next_seq_ += static_cast<std::uint32_t>(fresh.size());
  sink.on_bytes(fresh, frame);
}

void TcpReassembler::drain(TcpStreamSink& sink) {
  while (!pending_.empty() && pending_.begin()->first <= delivered_) {
    auto node = pending_.extract(pending_.begin());
    buffered_ -= node.mapped().bytes.size();
    deliver_from(node.key(), node.mapped().bytes, node.mapped().frame, sink);
  }
}

void TcpReassembler::skip_to(std::uint64_t off, std::uint64_t frame, TcpStreamSink& sink) {
  next_seq_ += static_cast<std::uint32_t>(off - delivered_);
  delivered_ = off;
  sink.on_gap(frame);
  drain(sink);
}

void TcpReassembler::check_fin(std::uint64_t frame, TcpStreamSink& sink) {
  if (ended_ || !fin_offset_ || delivered_ < *fin_offset_) return;
  ended_ = true;
  pending_.clear();
  buffered_ = 0;
  sink.on_end(frame);
}

void TcpReassembler::finish(std::uint64_t frame, TcpStreamSink& sink) {
  if (!started_ || ended_) return;
  while (!pending_.empty() && !ended_) {
    skip_to(pending_.begin()->first, frame, sink);
    check_fin(frame, sink);
  }
  if (ended_) return;
  ended_ = true;
  pending_.clear();
  buffered_ = 0;
  sink.on_end(frame);
}

}  // namespace softrnic::capture
