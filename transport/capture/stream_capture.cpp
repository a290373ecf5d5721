#include "capture/stream_capture.hpp"

#include <algorithm>
#include <cstring>

#include "wire/ethernet.hpp"
#include "wire/ip.hpp"
#include "wire/l4.hpp"

namespace softrnic::capture {

namespace {

constexpr std::size_t kEth = wire::EthView::kSize;
constexpr std::size_t kTcp = wire::TcpView::kSize;
constexpr std::size_t kMaxV4Payload = 65535 - wire::Ipv4View::kSize - kTcp;
constexpr std::size_t kMaxV6Payload = 65535 - kTcp;
constexpr std::uint32_t kDefaultMss = 1460;
constexpr std::size_t kMpaHeader = 20;  // key, flags, revision, private data length
// Made-up, locally administered MACs: "our" side and the peer's.
constexpr wire::MacAddr kLocalMac = {0x02, 0x00, 0x00, 0x75, 0x64, 0x71};
constexpr wire::MacAddr kPeerMac = {0x02, 0x00, 0x00, 0x75, 0x64, 0x72};

}  // namespace

class StreamCapture::CapturedStream final : public Stream {
 public:
  CapturedStream(StreamCapture& cap, std::unique_ptr<Stream> inner, bool accepted)
      : cap_(cap), inner_(std::move(inner)), accepted_(accepted) {
    if (accepted_) sync();
  }

  std::size_t write(ConstByteSpan data) override {
    sync();
    const std::size_t n = inner_->write(data);
    if (n > 0 && opened_) segments(true, data.first(n));
    return n;
  }
  std::size_t read(ByteSpan out) override {
    sync();
    const std::size_t n = inner_->read(out);
    if (n > 0 && opened_) segments(false, ConstByteSpan(out).first(n));
    sync();
    return n;
  }
  std::size_t readable() const override { return inner_->readable(); }
  std::size_t unsent() const override { return inner_->unsent(); }
  State state() const override { return inner_->state(); }
  std::string error() const override { return inner_->error(); }
  StreamFailure failure() const override { return inner_->failure(); }
  void close() override {
    sync();
    if (opened_ && !fin_out_) {
      flush(true);
      cap_.record(flow_, true, wire::tcpflag::kFin | wire::tcpflag::kAck, {});
      ++flow_.local_seq;
      fin_out_ = true;
    }
    inner_->close();
  }
  void abort() override {
    sync();
    if (opened_ && !fin_out_) {
      cap_.record(flow_, true, wire::tcpflag::kRst | wire::tcpflag::kAck, {});
      fin_out_ = true;
    }
    inner_->abort();
  }
  StreamEndpoint local() const override { return inner_->local(); }
  StreamEndpoint peer() const override { return inner_->peer(); }
  std::uint32_t mss() const override { return inner_->mss(); }

 private:
  // The handshake once the stream is open, the peer's FIN once it closed and its bytes are read.
  void sync() {
    const State s = inner_->state();
    if (!opened_ && (s == State::open || s == State::peer_closed)) {
      opened_ = true;
      flow_.local = inner_->local();
      flow_.peer = inner_->peer();
      using namespace wire::tcpflag;
      const bool active = !accepted_;
      cap_.record(flow_, active, kSyn, {});
      (active ? flow_.local_seq : flow_.peer_seq) = 1;
      cap_.record(flow_, !active, kSyn | kAck, {});
      (active ? flow_.peer_seq : flow_.local_seq) = 1;
      cap_.record(flow_, active, kAck, {});
    }
    if (opened_ && !fin_in_ && s == State::peer_closed && inner_->readable() == 0) {
      flush(false);
      cap_.record(flow_, false, wire::tcpflag::kFin | wire::tcpflag::kAck, {});
      ++flow_.peer_seq;
      fin_in_ = true;
    }
  }

  // Bytes of one direction become segments that start at MPA frame / FPDU boundaries (as an
  // RNIC sends them, and as tshark's MPA dissector expects: it finds FPDUs only at the start
  // of a segment): whole units, several to a segment up to the MSS; a partial unit waits for
  // its end (or for the stream's end, then it goes as it is).
  struct Direction {
    std::vector<std::byte> pending;
    bool mpa_frame = true;  // the MPA Request / Reply comes first, FPDUs after it
  };
  static std::size_t unit_at(const Direction& d, std::size_t off) {
    const std::size_t have = d.pending.size() - off;
    const std::byte* p = d.pending.data() + off;
    std::size_t need = 0;
    if (d.mpa_frame) {
      if (have < kMpaHeader) return 0;
      need = kMpaHeader + ((std::to_integer<std::size_t>(p[18]) << 8) | std::to_integer<std::size_t>(p[19]));
    } else {
      if (have < 2) return 0;
      need = 2 + ((std::to_integer<std::size_t>(p[0]) << 8) | std::to_integer<std::size_t>(p[1]));
      need += (4 - need % 4) % 4 + 4;  // pad and CRC
    }
    return have >= need ? need : 0;
  }
  void segments(bool from_local, ConstByteSpan bytes) {
    Direction& d = from_local ? out_ : in_;
    d.pending.insert(d.pending.end(), bytes.begin(), bytes.end());
    std::size_t off = 0, start = 0;
    for (std::size_t unit; (unit = unit_at(d, off)) != 0;) {
      if (off + unit - start > chunk() && off > start) {
        emit(from_local, start, off);
        start = off;
      }
      off += unit;
      d.mpa_frame = false;
    }
    emit(from_local, start, off);
    d.pending.erase(d.pending.begin(), d.pending.begin() + static_cast<std::ptrdiff_t>(off));
  }
  void flush(bool from_local) {
    Direction& d = from_local ? out_ : in_;
    emit(from_local, 0, d.pending.size());
    d.pending.clear();
  }
  std::size_t chunk() const {
    const std::size_t mss = inner_->mss() != 0 ? inner_->mss() : kDefaultMss;
    return std::min(mss, wire::is_ipv4_mapped(flow_.local.ip) ? kMaxV4Payload : kMaxV6Payload);
  }
  void emit(bool from_local, std::size_t from, std::size_t to) {
    const Direction& d = from_local ? out_ : in_;
    while (from < to) {  // more than one segment only for a unit over the MSS
      const std::size_t n = std::min(chunk(), to - from);
      cap_.record(flow_, from_local, wire::tcpflag::kPsh | wire::tcpflag::kAck,
                  ConstByteSpan(d.pending).subspan(from, n));
      (from_local ? flow_.local_seq : flow_.peer_seq) += static_cast<std::uint32_t>(n);
      from += n;
    }
  }

  StreamCapture& cap_;
  std::unique_ptr<Stream> inner_;
  bool accepted_;
  bool opened_ = false, fin_in_ = false, fin_out_ = false;
  Flow flow_;
  Direction out_, in_;
};

class StreamCapture::Listener final : public StreamListener {
 public:
  Listener(StreamCapture& cap, std::unique_ptr<StreamListener> inner)
      : cap_(cap), inner_(std::move(inner)) {}
  std::unique_ptr<Stream> accept() override {
    auto s = inner_->accept();
    if (!s) return nullptr;
    return std::make_unique<CapturedStream>(cap_, std::move(s), true);
  }
  StreamEndpoint local() const override { return inner_->local(); }

 private:
  StreamCapture& cap_;
  std::unique_ptr<StreamListener> inner_;
};

StreamCapture::StreamCapture(StreamTransport& inner, std::shared_ptr<CaptureSink> sink)
    : inner_(inner), sink_(std::move(sink)), frame_(kEth + 40 + 65535) {}

StreamCapture::~StreamCapture() = default;

Result<std::unique_ptr<StreamListener>> StreamCapture::listen(const StreamEndpoint& local) {
  auto l = inner_.listen(local);
  if (!l) return std::unexpected(l.error());
  return std::unique_ptr<StreamListener>(std::make_unique<Listener>(*this, std::move(*l)));
}

Result<std::unique_ptr<Stream>> StreamCapture::connect(const StreamEndpoint& remote,
                                                       const StreamEndpoint& local) {
  auto s = inner_.connect(remote, local);
  if (!s) return std::unexpected(s.error());
  return std::unique_ptr<Stream>(std::make_unique<CapturedStream>(*this, std::move(*s), false));
}

void StreamCapture::record(Flow& f, bool from_local, std::uint8_t flags, ConstByteSpan payload) {
  if (sink_ == nullptr) return;
  const StreamEndpoint& src = from_local ? f.local : f.peer;
  const StreamEndpoint& dst = from_local ? f.peer : f.local;
  const bool v4 = wire::is_ipv4_mapped(src.ip);
  const std::size_t l3 = v4 ? wire::Ipv4View::kSize : wire::Ipv6View::kSize;
  const std::size_t tcp_len = kTcp + payload.size();
  ByteSpan frame = ByteSpan(frame_).first(kEth + l3 + tcp_len);

  wire::EthMut eth = wire::view_unchecked<wire::EthMut>(frame, 0);
  eth.set_dst(from_local ? kPeerMac : kLocalMac);
  eth.set_src(from_local ? kLocalMac : kPeerMac);
  eth.set_ethertype(v4 ? wire::ethertype::kIpv4 : wire::ethertype::kIpv6);
  std::uint32_t pseudo = 0;
  if (v4) {
    wire::Ipv4Mut ip = wire::view_unchecked<wire::Ipv4Mut>(frame, kEth);
    ip.set_version_ihl(0x45);
    ip.set_tos(0);
    ip.set_total_length(static_cast<std::uint16_t>(l3 + tcp_len));
    ip.set_id(0);
    ip.set_flags_frag(wire::Ipv4View::kDontFragment);
    ip.set_ttl(64);
    ip.set_protocol(wire::ipproto::kTcp);
    ip.set_src(wire::ipv4_of(src.ip));
    ip.set_dst(wire::ipv4_of(dst.ip));
    ip.update_checksum();
    pseudo = wire::pseudo_sum_v4(wire::ipv4_of(src.ip), wire::ipv4_of(dst.ip), wire::ipproto::kTcp,
                                 static_cast<std::uint16_t>(tcp_len));
  } else {
    wire::Ipv6Mut ip = wire::view_unchecked<wire::Ipv6Mut>(frame, kEth);
    ip.set_first_word(0, 0);
    ip.set_payload_length(static_cast<std::uint16_t>(tcp_len));
    ip.set_next_header(wire::ipproto::kTcp);
    ip.set_hop_limit(64);
    ip.set_src(src.ip);
    ip.set_dst(dst.ip);
    pseudo = wire::pseudo_sum_v6(src.ip, dst.ip, wire::ipproto::kTcp, static_cast<std::uint32_t>(tcp_len));
  }
  const std::size_t l4 = kEth + l3;
  wire::TcpMut tcp = wire::view_unchecked<wire::TcpMut>(frame, l4);
  tcp.set_src_port(src.port);
  tcp.set_dst_port(dst.port);
  tcp.set_seq(from_local ? f.local_seq : f.peer_seq);
  tcp.set_ack((flags & wire::tcpflag::kAck) ? (from_local ? f.peer_seq : f.local_seq) : 0);
  tcp.set_offset_byte(static_cast<std::uint8_t>((kTcp / 4) << 4));
  tcp.set_flags(flags);
  tcp.set_window(65535);
  tcp.set_checksum(0);
  tcp.set_urgent(0);
  if (!payload.empty()) std::memcpy(frame.data() + l4 + kTcp, payload.data(), payload.size());
  tcp.set_checksum(wire::ones_fold(wire::ones_sum(ConstByteSpan(frame).subspan(l4), pseudo)));
  // kSynthesizedComment is a literal, as the sink requires of comments.
  const std::string_view comment = sink_->pcapng() ? kSynthesizedComment : std::string_view{};
  if (sink_->offer(frame, wall_now(), comment)) {
    ++stats_.frames;
  } else {
    ++stats_.frames_dropped;
  }
}

}  // namespace softrnic::capture
