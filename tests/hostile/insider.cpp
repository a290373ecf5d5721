#include "insider.hpp"

#include <linux/if_packet.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <arpa/inet.h>
#include <net/ethernet.h>

#include <array>
#include <chrono>
#include <cstring>
#include <random>
#include <vector>

#include "forge.hpp"
#include "wire/build.hpp"
#include "wire/cm_mad.hpp"
#include "wire/parse.hpp"

namespace softrnic::hostile {

namespace {

using Clk = std::chrono::steady_clock;
namespace mad = wire::cm;
namespace aeth = wire::aeth;

enum class Key : std::uint8_t { leaked, guessed };

// One request per connection; `expect` is the NAK code it must get (IBA 9.7.5.2.x: a key that is
// not the QP's, or a range outside the region, is a remote access error; an invalidation the QP
// may not do is an invalid request).
struct Probe {
  const char* name;
  std::uint8_t opcode;
  Key key;
  std::uint64_t va;  // kPastEnd / kWrapping: relative to the region's length / 2^64
  std::uint32_t len;
  std::uint8_t expect;
};
constexpr std::uint64_t kPastEnd = 1ull << 62, kWrapping = 1ull << 63;
constexpr Probe kProbes[] = {
    {"write_leaked_key", 0x0a, Key::leaked, 0, 64, aeth::kNakRemoteAccess},
    {"read_leaked_key", 0x0c, Key::leaked, 0, 64, aeth::kNakRemoteAccess},
    {"cmp_swap_leaked_key", 0x13, Key::leaked, 0, 8, aeth::kNakRemoteAccess},
    {"fetch_add_leaked_key", 0x14, Key::leaked, 8, 8, aeth::kNakRemoteAccess},
    {"send_inv_leaked_key", 0x17, Key::leaked, 0, 16, aeth::kNakInvalidRequest},
    {"write_guessed_key", 0x0a, Key::guessed, 0, 64, aeth::kNakRemoteAccess},
    {"read_past_end", 0x0c, Key::leaked, kPastEnd, 64, aeth::kNakRemoteAccess},
    {"read_wrapping", 0x0c, Key::leaked, kWrapping, 64, aeth::kNakRemoteAccess},
};

struct Conn {
  const Probe* probe = nullptr;
  std::uint32_t comm_id = 0, qpn = 0, psn = 0;
  std::uint64_t tid = 0;
  bool rep = false, done = false;
  std::uint32_t peer_comm_id = 0, peer_qpn = 0;
};

class Insider {
 public:
  Insider(const InsiderConfig& c, int fd, int ifindex)
      : c_(c), fd_(fd), ifindex_(ifindex), rng_(c.seed) {}

  InsiderResult run() {
    rx_ = ::socket(AF_PACKET, SOCK_RAW | SOCK_NONBLOCK | SOCK_CLOEXEC, htons(ETH_P_ALL));
    sockaddr_ll at{};
    at.sll_family = AF_PACKET;
    at.sll_protocol = htons(ETH_P_ALL);
    at.sll_ifindex = ifindex_;
    if (rx_ < 0 || ::bind(rx_, reinterpret_cast<sockaddr*>(&at), sizeof at) != 0) {
      r_.detail = "no receive socket\n";
      r_.unexpected = static_cast<int>(std::size(kProbes));
      return r_;
    }
    for (const auto& p : kProbes) {
      Conn c;
      c.probe = &p;
      c.comm_id = r32() | 1;
      c.qpn = 0x100000 | static_cast<std::uint32_t>(conns_.size() + 1);
      c.psn = r32() & 0xffffff;
      c.tid = rng_();
      conns_.push_back(c);
      send_req(conns_.back());
    }
    const auto deadline = Clk::now() + std::chrono::duration<double>(c_.timeout_s);
    std::vector<std::byte> buf(9216);
    while (Clk::now() < deadline && !all_done()) {
      pollfd pfd{rx_, POLLIN, 0};
      ::poll(&pfd, 1, 50);
      for (;;) {
        sockaddr_ll from{};
        socklen_t fl = sizeof from;
        const ssize_t n =
            ::recvfrom(rx_, buf.data(), buf.size(), 0, reinterpret_cast<sockaddr*>(&from), &fl);
        if (n <= 0) break;
        if (from.sll_pkttype == PACKET_OUTGOING) continue;
        receive(ConstByteSpan(buf.data(), static_cast<std::size_t>(n)));
      }
    }
    ::close(rx_);
    for (auto& c : conns_) {
      if (c.done) continue;
      c.rep ? ++r_.unexpected : ++r_.connections_failed;
      r_.detail += std::string(c.probe->name) + (c.rep ? ": no answer\n" : ": no connection\n");
    }
    return r_;
  }

 private:
  std::uint32_t r32() { return static_cast<std::uint32_t>(rng_()); }
  bool all_done() const {
    for (const auto& c : conns_)
      if (!c.done) return false;
    return true;
  }

  Addressing addressing() {
    Addressing a;
    a.dst_mac = c_.target.mac;
    a.src_mac = c_.mac;
    a.src = c_.ip4;
    a.dst = c_.target.ip4;
    a.src_port = static_cast<std::uint16_t>(0xc000 | (r32() & 0x3fff));
    a.ip_id = static_cast<std::uint16_t>(r32());
    return a;
  }

  void send(const std::vector<std::byte>& transport) {
    forge_roce(addressing(), transport, Icrc::good, frame_);
    sockaddr_ll to{};
    to.sll_family = AF_PACKET;
    to.sll_ifindex = ifindex_;
    to.sll_halen = 6;
    std::memcpy(to.sll_addr, c_.target.mac.data(), 6);
    (void)::sendto(fd_, frame_.data(), frame_.size(), 0, reinterpret_cast<sockaddr*>(&to),
                   sizeof to);
  }

  void send_mad(const mad::CmMad& m) {
    const auto bytes = mad::encode_cm_mad(m);
    std::vector<std::byte> t(12 + 8 + bytes.size());
    put_bth(t, 0, 0x64, 0, 0xffff, mad::kGsiQpn, r32() & 0xffffff);
    put32(t, 12, mad::kGsiQkey);
    put24(t, 17, mad::kGsiQpn);
    std::copy(bytes.begin(), bytes.end(), t.begin() + 20);
    send(t);
  }

  // A REQ as rdma_cm sends one, from our own address, with timeouts long enough for a server
  // that takes 2 s to decide.
  void send_req(const Conn& c) {
    mad::Req q;
    q.local_comm_id = c.comm_id;
    q.service_id = mad::ip_service_id(mad::kPortSpaceTcp, c_.cm_port);
    q.local_ca_guid = mad::guid_from_mac(c_.mac);
    q.local_qpn = c.qpn;
    q.responder_resources = q.initiator_depth = 16;
    q.remote_cm_response_timeout = q.local_cm_response_timeout = 20;
    q.starting_psn = c.psn;
    q.retry_count = q.rnr_retry_count = 7;
    q.max_cm_retries = 15;
    q.path_mtu = mad::mtu_enum(1024);
    q.primary.local_gid = c_.ip4;
    q.primary.remote_gid = c_.target.ip4;
    q.primary.local_ack_timeout = 14;
    mad::IpCmHeader h;
    h.src_port = static_cast<std::uint16_t>(r32());
    h.src = c_.ip4;
    h.dst = c_.target.ip4;
    mad::write_ip_cm_header(q.private_data, h);
    mad::CmMad m;
    m.hdr.tid = c.tid;
    m.msg = q;
    send_mad(m);
  }

  void send_probe(const Conn& c) {
    const Probe& p = *c.probe;
    const std::uint32_t rkey = p.key == Key::leaked ? c_.leaked_rkey : r32();
    const std::uint64_t va = p.va == kPastEnd    ? c_.region_len - 8
                             : p.va == kWrapping ? ~0ull - 15
                                                 : p.va;
    std::vector<std::byte> t(12);
    const auto put_reth = [&] {
      t.resize(t.size() + 16);
      put64(t, 12, va);
      put32(t, 20, rkey);
      put32(t, 24, p.len);
    };
    switch (p.opcode) {
      case 0x0a:  // RDMA WRITE ONLY, a payload of 'X'
        put_reth();
        t.resize(t.size() + p.len, std::byte{'X'});
        break;
      case 0x0c:
        put_reth();
        break;  // RDMA READ REQUEST
      case 0x13:
      case 0x14:  // COMPARE_SWAP, FETCH_ADD
        t.resize(12 + 28);
        put64(t, 12, va);
        put32(t, 20, rkey);
        put64(t, 24, 0x5858585858585858ull);
        put64(t, 32, 0);
        break;
      default:  // SEND ONLY WITH INVALIDATE of the key
        t.resize(12 + 4 + p.len, std::byte{'X'});
        put32(t, 12, rkey);
        break;
    }
    put_bth(t, 0, p.opcode, 0, 0xffff, c.peer_qpn, c.psn, true);
    send(t);
  }

  void receive(ConstByteSpan frame) {
    auto parsed = wire::parse_frame(frame);
    if (!parsed || parsed->proto != wire::Proto::roce_v4) return;
    const auto& f = *parsed;
    if (wire::ipv4_mapped(f.ipv4().dst()) != c_.ip4) return;
    const std::uint32_t dqp = f.bth().dest_qp().raw();
    const std::uint8_t op = f.bth().opcode();
    if (dqp == mad::kGsiQpn && op == 0x64) return on_mad(f.payload());
    for (auto& c : conns_) {
      if (c.qpn != dqp || !c.rep || c.done) continue;
      std::string outcome;
      if (op == 0x11) {  // ACKNOWLEDGE: an ACK, an RNR NAK or a NAK
        const std::uint8_t syn = wire::aeth_of(f).syndrome;
        const bool ours = f.bth().psn().raw() == c.psn;
        if (ours && aeth::type(syn) == aeth::kTypeNak && aeth::value(syn) == c.probe->expect) {
          ++r_.refused;
          outcome = "refused (NAK code " + std::to_string(aeth::value(syn)) + ")";
        } else if (ours && aeth::type(syn) == aeth::kTypeAck) {
          ++r_.breached;
          outcome = "BREACH: acknowledged";
        } else {
          ++r_.unexpected;
          outcome = "unexpected answer: AETH syndrome " + std::to_string(syn) + " for PSN " +
                    std::to_string(f.bth().psn().raw()) + ", ours " + std::to_string(c.psn);
        }
      } else if (op >= 0x0d && op <= 0x10) {
        ++r_.breached;
        outcome = "BREACH: read response with " + std::to_string(f.payload().size()) + " bytes";
      } else if (op == 0x12) {
        ++r_.breached;
        outcome = "BREACH: atomic result";
      } else {
        continue;
      }
      c.done = true;
      r_.detail += std::string(c.probe->name) + ": " + outcome + "\n";
    }
  }

  void on_mad(ConstByteSpan payload) {
    auto m = mad::decode_cm_mad(payload.first(std::min(payload.size(), mad::kMadSize)));
    if (!m) return;
    if (const auto* rep = std::get_if<mad::Rep>(&m->msg)) {
      for (auto& c : conns_) {
        if (c.comm_id != rep->remote_comm_id || c.rep) continue;
        c.rep = true;
        c.peer_comm_id = rep->local_comm_id;
        c.peer_qpn = rep->local_qpn;
        // As Linux's ib_cm (and our CM) read the PSNs: each side receives from the Starting PSN
        // it sent itself, so the device expects the one in its REP.
        c.psn = rep->starting_psn;
        ++r_.probes;
        mad::Rtu u;
        u.local_comm_id = c.comm_id;
        u.remote_comm_id = c.peer_comm_id;
        mad::CmMad rtu;
        rtu.hdr.tid = c.tid;
        rtu.msg = u;
        send_mad(rtu);
        send_probe(c);
      }
    } else if (const auto* rej = std::get_if<mad::Rej>(&m->msg)) {
      for (auto& c : conns_) {
        if (c.comm_id != rej->remote_comm_id || c.rep || c.done) continue;
        c.done = true;
        ++r_.connections_failed;
        r_.detail +=
            std::string(c.probe->name) + ": rejected, reason " + std::to_string(rej->reason) + "\n";
      }
    }
  }

  const InsiderConfig& c_;
  int fd_, ifindex_, rx_ = -1;
  std::mt19937_64 rng_;
  std::vector<Conn> conns_;
  std::vector<std::byte> frame_;
  InsiderResult r_;
};

}  // namespace

InsiderResult run_insider(const InsiderConfig& cfg, int send_fd, int ifindex) {
  return Insider(cfg, send_fd, ifindex).run();
}

}  // namespace softrnic::hostile
