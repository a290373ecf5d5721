#include "wire/mpa_stream.hpp"

#include <algorithm>

namespace softrnic::wire {

static_assert(kMpaMaxFrameSize <= kMaxFpduSize, "the FPDU buffer also gathers Requests/Replies");

MpaStream::MpaStream(const MpaStreamOptions& opts)
    : start_(opts.start),
      stop_on_bad_crc_(opts.stop_on_bad_crc),
      crc_(opts.crc),
      phase_(opts.start == MpaStreamStart::fpdus ? MpaStreamPhase::fpdus
                                                 : MpaStreamPhase::mpa_frame),
      buffer_(std::make_unique_for_overwrite<std::byte[]>(kMaxFpduSize)) {}

bool MpaStream::set_crc(bool on) {
  if (fpdu_bytes_taken_) return on == crc_;
  crc_ = on;
  return true;
}

std::expected<std::size_t, IwarpError> MpaStream::message_size(ConstByteSpan b) const {
  if (phase_ == MpaStreamPhase::mpa_frame) return mpa_frame_size(b);
  return fpdu_size_at(b);
}

void MpaStream::take(std::size_t n) {
  offset_ += n;
  counters_.add(MpaStreamCounter::bytes, n);
  if (phase_ == MpaStreamPhase::fpdus && n > 0) fpdu_bytes_taken_ = true;
}

std::size_t MpaStream::feed(ConstByteSpan chunk, MpaStreamVisitor& v) {
  std::size_t used = 0;
  while (used < chunk.size() && phase_ != MpaStreamPhase::stopped) {
    const ConstByteSpan rest = chunk.subspan(used);
    if (buffered_ == 0) {
      message_offset_ = offset_;
      const auto need = message_size(rest);
      if (!need) {
        const std::size_t n = std::min(rest.size(), kMpaHeaderSize);
        take(n);
        used += n;
        fail(need.error(), rest.first(n), v);
        break;
      }
      if (*need <= rest.size()) {
        // The common case: the whole message is in the chunk; report it in place.
        take(*need);
        used += *need;
        deliver(rest.first(*need), v);
        continue;
      }
      store_bytes(ByteSpan(buffer_.get(), kMaxFpduSize), 0, rest);
      buffered_ = rest.size();
      take(rest.size());
      used += rest.size();
      continue;
    }
    // Gathering: fill up to the header, then (knowing the size) up to the end of the message.
    const ByteSpan buf(buffer_.get(), kMaxFpduSize);
    const auto need = message_size(buf.first(buffered_));
    if (!need) {
      fail(need.error(), buf.first(buffered_), v);
      break;
    }
    const std::size_t n = std::min(*need - buffered_, rest.size());
    store_bytes(buf, buffered_, rest.first(n));
    buffered_ += n;
    take(n);
    used += n;
    if (buffered_ < *need) continue;
    const auto full = message_size(buf.first(buffered_));
    if (!full) {
      fail(full.error(), buf.first(buffered_), v);
      break;
    }
    if (*full == buffered_) {
      const std::size_t size = buffered_;
      buffered_ = 0;
      if (phase_ == MpaStreamPhase::fpdus) counters_.add(MpaStreamCounter::fpdus_reassembled);
      deliver(buf.first(size), v);
    }
  }
  return used;
}

void MpaStream::deliver(ConstByteSpan message, MpaStreamVisitor& v) {
  if (phase_ == MpaStreamPhase::mpa_frame) {
    deliver_mpa_frame(message, v);
  } else {
    deliver_fpdu(message, v);
  }
}

void MpaStream::deliver_mpa_frame(ConstByteSpan message, MpaStreamVisitor& v) {
  const auto f = parse_mpa_frame(message);
  if (!f) return fail(f.error(), message, v);
  const MpaKind expected = start_ == MpaStreamStart::request ? MpaKind::request : MpaKind::reply;
  if (f->kind != expected) return fail(IwarpError::mpa_bad_key, message, v);
  counters_.add(MpaStreamCounter::mpa_frames);
  // RFC 5044 s.7: the Reply's C bit is what both directions use.
  if (f->kind == MpaKind::reply) crc_ = f->crc;
  v.on_mpa_frame(*f, message);
  // Reported after the frame, so that the owner can answer a marker request with a reject.
  if (f->markers) return fail(IwarpError::mpa_markers_requested, message, v);
  if (f->kind == MpaKind::reply && f->reject) return fail(IwarpError::mpa_rejected, message, v);
  phase_ = MpaStreamPhase::fpdus;
}

void MpaStream::deliver_fpdu(ConstByteSpan message, MpaStreamVisitor& v) {
  const auto f = parse_fpdu(message, crc_);
  if (!f) {
    if (f.error() == IwarpError::fpdu_bad_crc) counters_.add(MpaStreamCounter::crc_bad);
    return fail(f.error(), message, v);
  }
  if (f->crc == CrcVerdict::bad) {
    counters_.add(MpaStreamCounter::crc_bad);
    if (stop_on_bad_crc_) return fail(IwarpError::fpdu_bad_crc, message, v);
  }
  counters_.add(MpaStreamCounter::fpdus);
  v.on_fpdu(*f);
}

void MpaStream::fail(IwarpError e, ConstByteSpan bytes, MpaStreamVisitor& v) {
  phase_ = MpaStreamPhase::stopped;
  error_ = e;
  buffered_ = 0;
  counters_.add(MpaStreamCounter::errors);
  v.on_error(e, bytes);
}

}  // namespace softrnic::wire
