#include "spray.hpp"

#include <linux/if_packet.h>
#include <sys/socket.h>

#include <array>
#include <cerrno>
#include <chrono>
#include <cstdio>
#include <cstring>
#include <map>
#include <random>
#include <thread>

#include "base/counters.hpp"
#include "forge.hpp"
#include "wire/build.hpp"
#include "wire/cm_mad.hpp"
#include "wire/parse.hpp"

namespace softrnic::hostile {

namespace {

using Clk = std::chrono::steady_clock;
namespace mad = wire::cm;

class Spray {
 public:
  Spray(const SprayConfig& o, int fd, int ifindex)
      : o_(o), fd_(fd), ifindex_(ifindex), rng_(o.seed) {}

  // --- the kinds of frames -------------------------------------------------------------------
  void opcodes(const Target& t, int per_opcode) {
    for (int op = 0; op < 256; ++op)
      for (int k = 0; k < per_opcode; ++k)
        random_transport(t, static_cast<std::uint8_t>(op), Icrc::good);
  }
  void rkeys(const Target& t, int n, Icrc icrc) {
    static constexpr std::uint8_t kOps[] = {0x0a, 0x06, 0x0c, 0x13, 0x14, 0x17, 0x2a, 0x0b, 0x64};
    for (int i = 0; i < n; ++i) well_formed(t, kOps[rng_() % std::size(kOps)], icrc);
  }
  void malformed(const Target& t, int n) {
    for (int i = 0; i < n; ++i) broken(t);
  }
  void cm_garbage(const Target& t, int n) {
    for (int i = 0; i < n; ++i) bad_mad(t);
  }
  void neighbour(const Target& t, int n) {
    for (int i = 0; i < n; ++i) neighbour_frame(t);
  }
  void reqs(const Target& t, std::uint64_t n) {
    for (std::uint64_t i = 0; i < n; ++i) spoofed_req(t);
  }

  std::uint64_t send_errors() const { return send_errors_; }
  void report() const {
    for (const auto& [kind, n] : sent_)
      std::printf("attacker: %-10s %llu frames\n", kind.c_str(),
                  static_cast<unsigned long long>(n));
    std::printf("attacker: send errors %llu (first: %s)\n",
                static_cast<unsigned long long>(send_errors_),
                first_error_.empty() ? "none" : first_error_.c_str());
    std::string line;
    parse_drops_.for_each([&](std::string_view name, std::uint64_t v) {
      if (v != 0) line += " " + std::string(name) + "=" + std::to_string(v);
    });
    std::printf("attacker: parser drops of what was sent:%s\n", line.c_str());
    line.clear();
    for (const auto& [proto, n] : parsed_) line += " " + proto + "=" + std::to_string(n);
    std::printf("attacker: parsed as:%s\n", line.c_str());
  }

 private:
  std::uint32_t r32() { return static_cast<std::uint32_t>(rng_()); }
  bool chance(int percent) { return static_cast<int>(rng_() % 100) < percent; }

  // A random address in 198.18.0.0/15 (or fd00:5052::/64) that is none of the devices'.
  wire::Ipv6Addr random_source(bool v6) {
    for (;;) {
      wire::Ipv6Addr a{};
      if (v6) {
        a = {0xfd, 0x00, 0x50, 0x52};
        for (int i = 8; i < 16; ++i) a[i] = static_cast<std::uint8_t>(rng_());
      } else {
        const std::uint32_t host = r32() & 0x1ffff;
        a = wire::ipv4_mapped({198, static_cast<std::uint8_t>(18 + (host >> 16)),
                               static_cast<std::uint8_t>(host >> 8),
                               static_cast<std::uint8_t>(host)});
      }
      bool theirs = false;
      for (const auto& t : o_.targets) theirs = theirs || a == t.ip4 || a == t.ip6;
      if (!theirs) return a;
    }
  }

  // Addressing toward t: from us, from a random address, or (when allowed) from t's peer.
  Addressing toward(const Target& t, bool v6, bool allow_peer, bool& from_peer) {
    Addressing a;
    a.dst_mac = t.mac;
    a.src_mac = o_.mac;
    a.dst = v6 ? t.ip6 : t.ip4;
    const int roll = static_cast<int>(rng_() % 3);
    from_peer = allow_peer && roll == 2;
    a.src = from_peer   ? (v6 ? t.peer6 : t.peer4)
            : roll == 0 ? (v6 ? o_.ip6 : o_.ip4)
                        : random_source(v6);
    a.src_port = static_cast<std::uint16_t>(0xc000 | (r32() & 0x3fff));
    a.ip_id = static_cast<std::uint16_t>(r32());
    return a;
  }

  // A QPN: a guess (random upper bits over the low slot bits of the first QPs), any 24 bits, QP1,
  // the multicast QPN, or the one seen on the wire, never that one from the peer's address.
  std::uint32_t qpn_for(const Target& t, bool from_peer) {
    for (;;) {
      std::uint32_t q = 0;
      switch (rng_() % (from_peer ? 4 : 6)) {
        case 0:
          q = (r32() & 0xfff000) | (2 + r32() % 30);
          break;
        case 1:
          q = r32() & 0xffffff;
          break;
        case 2:
          q = 1;
          break;
        case 3:
          q = 0xffffff;
          break;
        default:
          q = t.known_qpn;
          break;
      }
      if (!(from_peer && q == t.known_qpn) && q != 0) return q;
    }
  }

  void random_transport(const Target& t, std::uint8_t op, Icrc icrc) {
    bool from_peer = false;
    const bool v6 = chance(25);
    const Addressing a = toward(t, v6, true, from_peer);
    const auto& info = wire::opcode_info(op);
    const std::size_t ext = info.valid() ? info.ext_size : rng_() % 48;
    const std::size_t payload = chance(50) ? rng_() % 64 : rng_() % 1100;
    const auto pad = static_cast<std::uint8_t>(rng_() % 4);
    tx_.assign(12 + ext + payload + pad, std::byte{0});
    for (std::size_t i = 12; i < tx_.size(); ++i) tx_[i] = std::byte(rng_());
    put_bth(tx_, 0, op, pad, chance(90) ? 0xffff : static_cast<std::uint16_t>(r32()),
            qpn_for(t, from_peer), r32() & 0xffffff, chance(50),
            chance(95) ? 0 : static_cast<std::uint8_t>(r32() & 15), chance(20));
    emit("opcodes", a, icrc);
  }

  // A request the opcode's table entry describes, with guessed keys, addresses and lengths.
  void well_formed(const Target& t, std::uint8_t op, Icrc icrc) {
    bool from_peer = false;
    const bool v6 = chance(25);
    const Addressing a = toward(t, v6, true, from_peer);
    const auto& info = wire::opcode_info(op);
    const std::size_t payload = info.payload ? (chance(50) ? 1 + rng_() % 64 : rng_() % 1024) : 0;
    const auto pad = static_cast<std::uint8_t>((4 - payload % 4) % 4);
    tx_.assign(12 + info.ext_size + payload + pad, std::byte{0});
    std::uint32_t qpn = qpn_for(t, from_peer);
    std::size_t off = 12;
    if (info.has(wire::kDeth)) {  // UD: QP1 or a guess, with the GSI Q_Key or a random one
      qpn = chance(50) ? 1 : qpn;
      put32(tx_, off, chance(50) ? mad::kGsiQkey : r32());
      put24(tx_, off + 5, r32() & 0xffffff);
      off += 8;
    }
    if (info.has(wire::kReth)) {
      put64(tx_, off, chance(50) ? rng_() % (256u << 10) : rng_());
      put32(tx_, off + 8, r32());
      put32(tx_, off + 12, chance(50) ? static_cast<std::uint32_t>(payload) : r32() % (1u << 20));
      off += 16;
    }
    if (info.has(wire::kAtomicEth)) {
      put64(tx_, off, (rng_() % 4096) & ~7ull);
      put32(tx_, off + 8, r32());
      put64(tx_, off + 12, rng_());
      put64(tx_, off + 20, rng_());
      off += 28;
    }
    if (info.has(wire::kImmDt) || info.has(wire::kIeth)) {
      put32(tx_, off, r32());  // immediate data, or the key a SEND with invalidate names
      off += 4;
    }
    for (std::size_t i = off; i < off + payload; ++i) tx_[i] = std::byte(rng_());
    put_bth(tx_, 0, op, pad, 0xffff, qpn, r32() & 0xffffff, true);
    emit(icrc == Icrc::good ? "rkeys" : "icrc", a, icrc);
  }

  // A frame wrong at one layer.
  void broken(const Target& t) {
    bool from_peer = false;
    const bool v6 = chance(30);
    Addressing a = toward(t, v6, false, from_peer);
    const std::size_t payload = rng_() % 1024;
    tx_.assign(12 + 16 + payload, std::byte{0});
    for (std::size_t i = 12; i < tx_.size(); ++i) tx_[i] = std::byte(rng_());
    put_bth(tx_, 0, 0x0a, 0, 0xffff, qpn_for(t, false), r32() & 0xffffff);
    const int what = static_cast<int>(rng_() % 20);
    if (what == 0) a.dst = random_source(v6);                       // not their address
    if (what == 1) a.dst_port = static_cast<std::uint16_t>(r32());  // not RoCE's port
    if (what == 2) {  // oversized: above any 1024-byte path MTU
      tx_.resize(12 + 16 + 1400 + (v6 ? 0 : 20));
    }
    if (what == 3) tx_.resize(rng_() % 16);                // no room for BTH + ICRC
    if (what == 4) tx_[1] = std::byte(0x01 + r32() % 15);  // TVer
    if (what == 5) {                                       // pad past the payload
      tx_.resize(12);
      put_bth(tx_, 0, 0x04, 3, 0xffff, qpn_for(t, false), r32() & 0xffffff);
    }
    if (what == 6) {  // RETH cut short
      tx_.resize(12 + 4);
    }
    forge_roce(a, tx_, Icrc::good, frame_);
    const std::size_t l3 = 14, ip_len = v6 ? 40 : 20, l4 = l3 + ip_len;
    auto fix_v4 = [&] {
      put16(frame_, l3 + 10, 0);
      put16(frame_, l3 + 10,
            wire::ones_fold(wire::ones_sum(ConstByteSpan(frame_).subspan(l3, 20))));
    };
    switch (what) {
      case 7:
        frame_.resize(14 + rng_() % (frame_.size() - 14));
        break;  // truncated anywhere
      case 8:   // IP version: 4 in an IPv6 header, 5 in an IPv4 one
        frame_[l3] = std::byte(v6 ? 0x40 | (r32() & 0xf) : 0x55);
        break;
      case 9:  // a hop-by-hop extension header longer than the datagram, or IPv4 options
        if (v6) {
          frame_[l3 + 6] = std::byte(0);
          frame_[l3 + 41] = std::byte(0xff);
        } else {
          frame_[l3] = std::byte(0x46);
        }
        break;
      case 10:  // the IP length says more (or, IPv4, less) than the frame holds
        if (v6) {
          put16(frame_, l3 + 4, static_cast<std::uint16_t>(frame_.size() + 100));
        } else {
          put16(frame_, l3 + 2, static_cast<std::uint16_t>(chance(50) ? 10 : frame_.size() + 100));
        }
        break;
      case 11:  // fragments (IPv4)
        if (!v6) put16(frame_, l3 + 6, chance(50) ? 0x2000 : 0x0010);
        break;
      case 12:  // a wrong IPv4 header checksum (the only case that keeps it wrong)
        if (!v6) put16(frame_, l3 + 10, static_cast<std::uint16_t>(r32() | 1));
        break;
      case 13:
        put16(frame_, l4 + 4, static_cast<std::uint16_t>(chance(50) ? r32() % 8 : frame_.size()));
        break;
      case 14:
        put16(frame_, l4 + 6, static_cast<std::uint16_t>(r32() | 1));
        break;    // UDP checksum
      case 15: {  // an Ethernet trailer of junk, or a VLAN tag (one or two)
        if (chance(50)) {
          for (int i = 0; i < 20; ++i) frame_.push_back(std::byte(rng_()));
        } else {
          const int tags = chance(50) ? 1 : 2;
          for (int k = 0; k < tags; ++k) {
            const std::byte tag[4] = {std::byte{0x81}, std::byte{0x00}, std::byte(r32() & 0x0f),
                                      std::byte(r32())};
            frame_.insert(frame_.begin() + 12, tag, tag + 4);
          }
        }
        break;
      }
      case 16:
        put16(frame_, 12, chance(50) ? 0x8915 : static_cast<std::uint16_t>(r32()));
        break;  // RoCEv1, other
      case 17:  // TCP or ICMP instead of UDP (IPv4)
        if (!v6) frame_[l3 + 9] = std::byte(chance(50) ? 6 : 1);
        break;
      default:
        break;
    }
    if (!v6 && what != 12 && frame_.size() >= l4 && load16(frame_, 12) == 0x0800) fix_v4();
    send_frame("malformed");
  }

  void bad_mad(const Target& t) {
    bool from_peer = false;
    const bool v6 = chance(20);
    const Addressing a = toward(t, v6, false, from_peer);
    std::array<std::byte, mad::kMadSize> m{};
    const int what = static_cast<int>(rng_() % 8);
    if (what == 0) {
      for (auto& b : m) b = std::byte(rng_());
    } else {
      mad::CmMad cm;
      cm.hdr.tid = rng_();
      if (what == 1) {
        mad::Req q = req_to(t, a, chance(50) ? static_cast<std::uint16_t>(r32()) : o_.cm_port);
        if (chance(50)) q.path_mtu = 5;  // above what the link takes
        cm.msg = q;
      } else if (what == 2) {
        mad::Rep rep;
        rep.local_comm_id = r32();
        rep.remote_comm_id = r32();
        rep.local_qpn = r32() & 0xffffff;
        cm.msg = rep;
      } else if (what == 3) {
        mad::Dreq d;
        d.local_comm_id = r32();
        d.remote_comm_id = r32();
        cm.msg = d;
      } else if (what == 4) {
        mad::Rej j;
        j.local_comm_id = r32();
        j.remote_comm_id = r32();
        j.reason = static_cast<std::uint16_t>(r32() % 40);
        cm.msg = j;
      } else {
        mad::Rtu u;
        u.local_comm_id = r32();
        u.remote_comm_id = r32();
        cm.msg = u;
      }
      m = mad::encode_cm_mad(cm);
      if (what == 6) {  // a header this CM does not take: version, class, method or attribute
        switch (rng_() % 5) {
          case 0:
            m[0] = std::byte(2 + r32() % 200);
            break;
          case 1:
            m[1] = std::byte(r32());
            break;
          case 2:
            m[2] = std::byte(1 + 2 * (r32() % 100));
            break;  // never 2
          case 3:
            m[3] = std::byte(0x80 | r32());
            break;  // a response method
          default:
            put16v(m, 16, static_cast<std::uint16_t>(0x17 + r32() % 8));
            break;  // SIDR, LAP, ...
        }
      }
      if (what == 7)  // the fields after the header at random
        for (std::size_t i = mad::kMadHeaderSize; i < m.size(); ++i) m[i] = std::byte(rng_());
    }
    const std::size_t len = chance(10) ? rng_() % mad::kMadSize : mad::kMadSize;
    ud_to_qp1(a, ConstByteSpan(m).first(len), chance(10) ? r32() : mad::kGsiQkey, "cm");
  }

  void spoofed_req(const Target& t) {
    const bool v6 = chance(10);
    Addressing a;
    a.dst_mac = t.mac;
    a.src_mac = o_.mac;
    a.dst = v6 ? t.ip6 : t.ip4;
    a.src = random_source(v6);
    a.src_port = static_cast<std::uint16_t>(0xc000 | (r32() & 0x3fff));
    a.ip_id = static_cast<std::uint16_t>(r32());
    mad::CmMad cm;
    cm.hdr.tid = rng_();
    cm.msg = req_to(t, a, o_.cm_port);
    ud_to_qp1(a, mad::encode_cm_mad(cm), mad::kGsiQkey, "reqs");
  }

  // A REQ as rdma_cm sends one, from a's source, with a stranger's private data.
  mad::Req req_to(const Target&, const Addressing& a, std::uint16_t port) {
    mad::Req q;
    q.local_comm_id = r32() | 1;
    q.service_id = mad::ip_service_id(mad::kPortSpaceTcp, port);
    q.local_ca_guid = rng_();
    q.local_qpn = r32() & 0xffffff;
    q.responder_resources = q.initiator_depth = 16;
    q.remote_cm_response_timeout = q.local_cm_response_timeout =
        static_cast<std::uint8_t>(r32() % 32);
    q.starting_psn = r32() & 0xffffff;
    q.retry_count = q.rnr_retry_count = 7;
    q.max_cm_retries = 15;
    q.path_mtu = 3;
    q.primary.local_gid = a.src;
    q.primary.remote_gid = a.dst;
    mad::IpCmHeader h;
    h.ip_version = wire::is_ipv4_mapped(a.src) ? wire::IpVersion::v4 : wire::IpVersion::v6;
    h.src_port = static_cast<std::uint16_t>(r32());
    h.src = chance(95) ? a.src : random_source(!wire::is_ipv4_mapped(a.src));  // a few lie
    h.dst = a.dst;
    mad::write_ip_cm_header(q.private_data, h);
    for (std::size_t i = mad::kIpCmHeaderSize; i < q.private_data.size(); ++i)
      q.private_data[i] = std::byte(rng_());
    return q;
  }

  void ud_to_qp1(const Addressing& a, ConstByteSpan m, std::uint32_t qkey, const char* kind) {
    const auto pad = static_cast<std::uint8_t>((4 - m.size() % 4) % 4);
    tx_.assign(12 + 8 + m.size() + pad, std::byte{0});
    put_bth(tx_, 0, 0x64, pad, 0xffff, 1, r32() & 0xffffff);
    put32(tx_, 12, qkey);
    put24(tx_, 17, chance(90) ? 1 : r32() & 0xffffff);
    std::copy(m.begin(), m.end(), tx_.begin() + 20);
    emit(kind, a, Icrc::good);
  }

  void neighbour_frame(const Target& t) {
    frame_.assign(wire::kMaxFrameSize, std::byte{0});
    Result<std::size_t> n;
    if (chance(60)) {
      wire::ArpSpec s;
      s.eth.dst = chance(50) ? t.mac : wire::MacAddr{0xff, 0xff, 0xff, 0xff, 0xff, 0xff};
      s.eth.src = s.sha = o_.mac;
      s.oper = chance(85) ? wire::ArpView::kRequest : static_cast<std::uint16_t>(3 + r32() % 10);
      s.spa = wire::ipv4_of(random_source(false));
      s.tpa = chance(80) ? wire::ipv4_of(t.ip4) : wire::ipv4_of(random_source(false));
      n = wire::build_arp(s, frame_);
    } else {
      wire::NdSpec s;
      s.eth.dst = t.mac;
      s.eth.src = o_.mac;
      s.ip.version = wire::IpVersion::v6;
      s.ip.src = random_source(true);
      s.ip.dst = t.ip6;
      s.ip.ttl = chance(80) ? 255 : 64;
      s.type =
          chance(80) ? wire::icmpv6::kNeighbourSolicitation : wire::icmpv6::kNeighbourAdvertisement;
      s.target = chance(80) ? t.ip6 : random_source(true);
      s.link_addr = o_.mac;
      n = wire::build_nd(s, frame_);
    }
    if (!n) return;
    frame_.resize(chance(10) ? 14 + rng_() % (*n - 14) : *n);  // some cut short
    send_frame("neighbour");
  }

  static void put16v(std::array<std::byte, mad::kMadSize>& m, std::size_t off, std::uint16_t v) {
    m[off] = std::byte(v >> 8);
    m[off + 1] = std::byte(v);
  }

  void emit(const char* kind, const Addressing& a, Icrc icrc) {
    forge_roce(a, tx_, icrc, frame_);
    send_frame(kind);
  }

  void send_frame(const char* kind) {
    pace();
    auto parsed = wire::parse_frame(frame_);
    if (!parsed)
      parse_drops_.add(parsed.error());
    else
      ++parsed_[std::string(wire::proto_name(parsed->proto))];
    sockaddr_ll to{};
    to.sll_family = AF_PACKET;
    to.sll_ifindex = ifindex_;
    to.sll_halen = 6;
    std::memcpy(to.sll_addr, frame_.data(), 6);
    for (int tries = 0;; ++tries) {
      if (::sendto(fd_, frame_.data(), frame_.size(), 0, reinterpret_cast<sockaddr*>(&to),
                   sizeof to) >= 0)
        break;
      if (errno == ENOBUFS && tries < 100) {
        std::this_thread::sleep_for(std::chrono::microseconds(200));
        continue;
      }
      if (first_error_.empty())
        first_error_ = std::string(std::strerror(errno)) + " (" + kind + ")";
      ++send_errors_;
      break;
    }
    ++sent_[kind];
    ++total_;
  }

  // At most o_.pps frames a second, checked every 32 frames.
  void pace() {
    if (total_ % 32 != 0 || o_.pps == 0) return;
    const auto due = start_ + std::chrono::nanoseconds(total_ * 1'000'000'000ull / o_.pps);
    if (Clk::now() < due) std::this_thread::sleep_until(due);
  }

  const SprayConfig& o_;
  int fd_, ifindex_;
  std::mt19937_64 rng_;
  std::vector<std::byte> tx_, frame_;
  std::map<std::string, std::uint64_t> sent_, parsed_;
  Counters<wire::DropReason> parse_drops_;
  std::uint64_t total_ = 0, send_errors_ = 0;
  std::string first_error_;
  Clk::time_point start_ = Clk::now();
};

}  // namespace

std::uint64_t run_spray(const SprayConfig& cfg, int fd, int ifindex) {
  Spray at(cfg, fd, ifindex);
  const auto t0 = Clk::now();
  const auto elapsed = [&] { return std::chrono::duration<double>(Clk::now() - t0).count(); };
  for (const auto& t : cfg.targets) {
    at.opcodes(t, 8);
    at.rkeys(t, 3000, Icrc::good);
    at.rkeys(t, 3000, Icrc::bad);
    at.malformed(t, 4000);
    at.cm_garbage(t, 3000);
    at.neighbour(t, 1000);
  }
  for (const auto& t : cfg.targets)
    if (t.name == cfg.cm_target) at.reqs(t, cfg.reqs);
  std::printf("attacker: every kind sent once in %.1f s; a random mix until %.0f s\n", elapsed(),
              cfg.seconds);
  std::fflush(stdout);
  std::mt19937_64 mix(cfg.seed + 1);
  while (elapsed() < cfg.seconds) {
    const auto& t = cfg.targets[mix() % cfg.targets.size()];
    switch (mix() % 6) {
      case 0:
        at.opcodes(t, 1);
        break;
      case 1:
        at.rkeys(t, 200, Icrc::good);
        break;
      case 2:
        at.rkeys(t, 200, Icrc::bad);
        break;
      case 3:
        at.malformed(t, 200);
        break;
      case 4:
        at.cm_garbage(t, 200);
        break;
      default:
        at.reqs(t, t.name == cfg.cm_target ? 500 : 0);
        at.neighbour(t, 50);
        break;
    }
  }
  at.report();
  return at.send_errors();
}

}  // namespace softrnic::hostile
