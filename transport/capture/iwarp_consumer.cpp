#include "capture/iwarp_consumer.hpp"

#include <algorithm>
#include <string>

#include "wire/mpa_stream.hpp"

namespace softrnic::capture {

namespace {

constexpr std::size_t kMpaKeySize = 16;
constexpr std::string_view kRequestKey = "MPA ID Req Frame";

CrcVerdict verdict_of(wire::CrcVerdict v) {
  switch (v) {
    case wire::CrcVerdict::ok: return CrcVerdict::ok;
    case wire::CrcVerdict::bad: return CrcVerdict::bad;
    case wire::CrcVerdict::off: return CrcVerdict::off;
  }
  return CrcVerdict::none;
}

class IwarpConsumer final : public TcpStreamConsumer {
 public:
  IwarpConsumer()
      : from_initiator_({wire::MpaStreamStart::request, false, false}),
        from_responder_({wire::MpaStreamStart::reply, false, false}) {}

  void on_bytes(TcpDirection dir, ConstByteSpan bytes, std::uint64_t frame,
                std::vector<DecodeRecord>& out) override {
    if (state_ == State::not_iwarp) return;
    if (state_ == State::unknown) {
      // The connection is iWARP when the initiator's stream starts with the MPA Request key.
      if (dir != TcpDirection::from_initiator) {
        if (!seen_initiator_bytes_) state_ = State::not_iwarp;  // the responder spoke first
        return;
      }
      seen_initiator_bytes_ = true;
      const std::size_t take = std::min(bytes.size(), kMpaKeySize - key_.size());
      key_.append(reinterpret_cast<const char*>(bytes.data()), take);
      if (key_ != kRequestKey.substr(0, key_.size())) {
        state_ = State::not_iwarp;
        return;
      }
      if (key_.size() < kMpaKeySize) {
        held_.insert(held_.end(), bytes.begin(), bytes.end());
        return;
      }
      state_ = State::iwarp;
      if (!held_.empty()) {
        held_.insert(held_.end(), bytes.begin(), bytes.end());
        feed(dir, held_, frame, out);
        held_.clear();
        return;
      }
    }
    feed(dir, bytes, frame, out);
  }

  void on_gap(TcpDirection dir, std::uint64_t frame, std::vector<DecodeRecord>& out) override {
    if (state_ != State::iwarp) {
      state_ = State::not_iwarp;  // joined mid-stream: framing cannot be recovered
      return;
    }
    DecodeRecord r;
    r.frame = frame;
    r.proto = RecordProto::iwarp;
    r.opcode = "GAP";
    r.note = std::string("bytes missing from the ") +
             (dir == TcpDirection::from_initiator ? "initiator" : "responder") +
             " stream; its FPDUs cannot be framed after this point";
    out.push_back(r);
    stopped(dir) = true;
  }

  void on_end(TcpDirection, std::uint64_t, std::vector<DecodeRecord>&) override {}

 private:
  enum class State : std::uint8_t { unknown, iwarp, not_iwarp };

  // Turns stream events into records for the frame being fed.
  class Visitor final : public wire::MpaStreamVisitor {
   public:
    Visitor(IwarpConsumer& c, TcpDirection dir, std::uint64_t frame, std::vector<DecodeRecord>& out)
        : c_(c), dir_(dir), frame_(frame), out_(out) {}

    void on_mpa_frame(const wire::MpaFrame& f, ConstByteSpan) override {
      DecodeRecord r = base();
      r.opcode = f.kind == wire::MpaKind::request ? "MPA_REQUEST" : "MPA_REPLY";
      r.length = f.private_data.size();
      r.note = "rev " + std::to_string(f.revision) + (f.crc ? " crc" : "") +
               (f.markers ? " markers" : "") + (f.reject ? " reject" : "");
      if (f.ird_ord) {
        r.note += " ird " + std::to_string(f.ird_ord->ird) + " ord " + std::to_string(f.ird_ord->ord);
      }
      out_.push_back(std::move(r));
      // RFC 5044 7.1.2: the Reply's C bit decides CRC for both directions.
      if (f.kind == wire::MpaKind::reply) (void)c_.from_initiator_.set_crc(f.crc);
    }

    void on_fpdu(const wire::ParsedFpdu& p) override {
      DecodeRecord r = base();
      const auto& u = p.ulpdu;
      r.opcode = std::string(u.op().name);
      if (u.ddp.ctrl.tagged) {
        r.stag = u.ddp.tagged.stag.raw();
      } else {
        r.msn = u.ddp.untagged.msn.raw();
      }
      r.length = u.payload.size();
      r.crc = verdict_of(p.crc);
      out_.push_back(std::move(r));
    }

    void on_error(wire::IwarpError e, ConstByteSpan) override {
      DecodeRecord r = base();
      r.opcode = "MALFORMED";
      r.malformed = std::string(wire::iwarp_error_name(e));
      out_.push_back(std::move(r));
    }

   private:
    DecodeRecord base() const {
      DecodeRecord r;
      r.frame = frame_;
      r.proto = RecordProto::iwarp;
      r.note = dir_ == TcpDirection::from_initiator ? "initiator" : "responder";
      return r;
    }
    IwarpConsumer& c_;
    TcpDirection dir_;
    std::uint64_t frame_;
    std::vector<DecodeRecord>& out_;
  };

  void feed(TcpDirection dir, ConstByteSpan bytes, std::uint64_t frame, std::vector<DecodeRecord>& out) {
    if (stopped(dir)) return;
    Visitor v(*this, dir, frame, out);
    auto& s = dir == TcpDirection::from_initiator ? from_initiator_ : from_responder_;
    s.feed(bytes, v);
  }

  bool& stopped(TcpDirection dir) {
    return dir == TcpDirection::from_initiator ? initiator_stopped_ : responder_stopped_;
  }

  State state_ = State::unknown;
  bool seen_initiator_bytes_ = false;
  std::string key_;
  std::vector<std::byte> held_;  // initiator bytes before the key is complete
  wire::MpaStream from_initiator_;
  wire::MpaStream from_responder_;
  bool initiator_stopped_ = false;
  bool responder_stopped_ = false;
};

class IwarpFactory final : public TcpConsumerFactory {
 public:
  std::unique_ptr<TcpStreamConsumer> make(const TcpConnectionId&) override {
    return std::make_unique<IwarpConsumer>();
  }
};

}  // namespace

std::unique_ptr<TcpConsumerFactory> make_iwarp_consumers() { return std::make_unique<IwarpFactory>(); }

}  // namespace softrnic::capture
