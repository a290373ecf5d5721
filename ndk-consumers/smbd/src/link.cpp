// The MS-SMBD transport of one connection: completions, credits (3.1.5.1), fragmentation and
// reassembly (3.1.5.2, 3.1.5.8), keep-alives (3.1.6.2). Resources and teardown: link_setup.cpp.
#include <algorithm>
#include <cstring>

#include "link.hpp"

namespace smbd::detail {

namespace {
constexpr ULONG kBatch = 32;
constexpr std::uint32_t kMaxGrant = 0xffff;
}  // namespace

void Link::on_cq(PVOID ctx, NTSTATUS cq_status) { static_cast<Link*>(ctx)->drain(cq_status); }

void Link::drain(NTSTATUS cq_status) {
  {
    std::lock_guard lock(mu_);
    if (cq_status != STATUS_SUCCESS) {
      // Overrun or a fatal CQ error: the CQ and its QP are dead (NDKPI reference 2.9).
      fail_locked(cq_status, "the CQ reported an error");
    } else {
      NDK_RESULT_EX results[kBatch];
      for (;;) {
        const ULONG n = cq_->Dispatch->NdkGetCqResultsEx(cq_, results, kBatch);
        for (ULONG i = 0; i < n; ++i) on_completion_locked(results[i]);
        if (n < kBatch) break;
      }
      pump_locked();
      // One-shot arm: an entry that arrived since the drain fires it at once (reference 2.9).
      if (!shut_down_) cq_->Dispatch->NdkArmCq(cq_, NDK_CQ_NOTIFY_ANY);
    }
    cv_.notify_all();
  }
  after_unlock();
}

void Link::on_completion_locked(const NDK_RESULT_EX& r) {
  const WrKind kind = wr_kind(r.RequestContext);
  if (kind == WrKind::receive) {
    --posted_receives_;
    on_receive_locked(r);
    return;
  }
  --sq_outstanding_;
  if (kind == WrKind::send) {
    free_sends_.push_back(wr_index(r.RequestContext));
    if (r.Status != STATUS_SUCCESS) completion_failed_locked(r.Status, "a send");
    if (fail_when_sent_ && sq_outstanding_ == 0) {
      Failure f = std::move(*fail_when_sent_);
      fail_when_sent_.reset();
      fail_locked(f.status, std::move(f.message));
    }
    return;
  }
  on_work_locked(r);
}

void Link::completion_failed_locked(NTSTATUS status, const char* what) {
  if (status == STATUS_CANCELLED) {
    if (state_ == State::down || closing_) return;  // our own disconnect's flush
    // Flushed without our disconnect: the connection was torn down under us (an iWARP peer's
    // close, for one, ends the connection before its disconnect event arrives).
    fail_locked(STATUS_CONNECTION_DISCONNECTED,
                std::string(what) + " was flushed: the connection went down");
    return;
  }
  fail_locked(status, std::string(what) + " completed with an error");
}

void Link::fail_locked(NTSTATUS status, std::string message) {
  if (state_ == State::down) return;
  state_ = State::down;
  if (!closing_ && failure_.ok()) failure_ = {status, std::move(message)};
  want_disconnect_ = true;
  outq_.clear();
  cv_.notify_all();
}

void Link::on_receive_locked(const NDK_RESULT_EX& r) {
  const std::uint32_t slot = wr_index(r.RequestContext);
  if (r.Status != STATUS_SUCCESS) {
    completion_failed_locked(r.Status, "a receive");
    return;
  }
  if (r.Type == NdkOperationTypeReceiveAndInvalidate) {
    invalidated_.push_back(static_cast<UINT32>(r.TypeSpecificCompletionOutput));
    ++counters_.remote_invalidations;
  }
  if (state_ == State::down || closing_) return;
  ++counters_.messages_received;
  last_received_ = SteadyClock::now();
  keepalive_outstanding_ = false;
  const std::span<const std::byte> msg(recv_buffer_.data() + std::size_t{slot} * recv_size_,
                                       std::min<std::uint32_t>(r.BytesTransferred, recv_size_));
  if (state_ == State::negotiating) {
    // Copied out and the buffer posted again first, so the response can already grant it.
    const std::vector<std::byte> copy(msg.begin(), msg.end());
    if (!post_receive_locked(slot)) return;
    on_negotiate_locked(copy);
    return;
  }
  // MS-SMBD 3.1.5.8: validate before anything of the message is used.
  const auto dt = wire::decode_data_transfer(msg);
  const char* bad = nullptr;
  if (!dt) {
    bad = "shorter than a data transfer header";
  } else if (dt->credits_requested == 0) {
    bad = "CreditsRequested is 0";
  } else if (dt->data_length != 0 &&
             (dt->data_offset % 8 != 0 || dt->data_offset < wire::DataTransfer::kHeaderSize)) {
    bad = "DataOffset is not 8-byte aligned past the header";
  } else if (dt->data_length != 0 &&
             std::uint64_t{dt->data_offset} + dt->data_length > msg.size()) {
    bad = "DataOffset + DataLength is beyond the message";
  } else if (dt->data_length == 0 && dt->remaining_data_length != 0) {
    bad = "an empty fragment announces more data";
  } else if (std::uint64_t{dt->data_length} + dt->remaining_data_length >
             cfg_.max_fragmented_size) {
    bad = "DataLength + RemainingDataLength exceeds MaxFragmentedSize";
  } else if (!reassembly_.empty() &&
             std::uint64_t{dt->data_length} + dt->remaining_data_length != reassembly_remaining_) {
    bad = "a fragment does not continue the message being reassembled";
  } else if (peer_credits_ == 0) {
    bad = "the peer sent a message without a credit";
  }
  if (bad != nullptr) {
    fail_locked(kStatusInvalidNetworkResponse,
                std::string("malformed data transfer message: ") + bad);
    return;
  }
  --peer_credits_;
  send_credits_ = std::min<std::uint32_t>(send_credits_ + dt->credits_granted, kMaxGrant);
  counters_.credits_received += dt->credits_granted;
  receive_credit_target_ = dt->credits_requested;
  if ((dt->flags & wire::kResponseRequested) && !cfg_.ignore_keepalives) response_requested_ = true;
  std::vector<std::byte> complete;
  if (dt->data_length != 0) {
    const auto data = msg.subspan(dt->data_offset, dt->data_length);
    counters_.payload_bytes_received += data.size();
    const bool fragment = dt->remaining_data_length != 0 || !reassembly_.empty();
    if (fragment) ++counters_.fragments_received;
    reassembly_.insert(reassembly_.end(), data.begin(), data.end());
    reassembly_remaining_ = dt->remaining_data_length;
    if (reassembly_remaining_ == 0) complete.swap(reassembly_);
  }
  // The data is copied out: the buffer goes back before the message is acted on, so that the
  // answer can already grant it.
  if (!post_receive_locked(slot)) return;
  if (!complete.empty()) {
    ++counters_.upper_messages_received;
    on_message_locked(std::move(complete));
  }
}

bool Link::post_receive_locked(std::uint32_t slot) {
  NDK_SGE sge{};
  sge.VirtualAddress = recv_buffer_.data() + std::size_t{slot} * recv_size_;
  sge.Length = recv_size_;
  sge.MemoryRegionToken = recv_reg_.token;
  const NTSTATUS st = qp_->Dispatch->NdkReceive(qp_, wr_context(WrKind::receive, slot), &sge, 1);
  if (st != STATUS_SUCCESS) {
    fail_locked(st, "NdkReceive failed inline");
    return false;
  }
  ++posted_receives_;
  return true;
}

// Receives posted and not yet granted. One is held back unless the message spends our last
// credit: so a sender down to one credit can always send (it grants that reserve), and a peer
// never waits for credits from a side that has none to spend.
std::uint32_t Link::grantable_locked(bool spending_last_credit) const {
  std::uint32_t free = posted_receives_ > peer_credits_ ? posted_receives_ - peer_credits_ : 0;
  if (!spending_last_credit) {
    free = free > 0 ? free - 1 : 0;
    const std::uint32_t target = std::max<std::uint32_t>(receive_credit_target_, 1);
    free = std::min(free, target > peer_credits_ ? target - peer_credits_ : 0u);
  }
  return std::min(free, kMaxGrant);
}

bool Link::can_send_locked(std::uint32_t* grant, bool needs_grant_to_matter) const {
  if (free_sends_.empty() || !sq_room_locked() || send_credits_ == 0) return false;
  const bool last = send_credits_ == 1;
  *grant = grantable_locked(last);
  // MS-SMBD 3.1.5.1: never spend the last credit on a message that grants none.
  if (last && *grant == 0) return false;
  return !needs_grant_to_matter || *grant > 0;
}

bool Link::send_data_locked(std::span<const std::byte> payload, std::uint32_t remaining,
                            std::uint16_t flags, std::optional<UINT32> invalidate) {
  std::uint32_t grant = 0;
  if (!can_send_locked(&grant, false)) return false;
  const std::uint32_t slot = free_sends_.back();
  const std::span<std::byte> buf(send_buffer_.data() + std::size_t{slot} * send_size_, send_size_);
  wire::DataTransfer dt;
  dt.credits_requested = cfg_.send_credit_target;
  dt.credits_granted = static_cast<std::uint16_t>(grant);
  dt.flags = flags;
  dt.remaining_data_length = remaining;
  dt.data_offset =
      payload.empty() ? 0 : static_cast<std::uint32_t>(wire::DataTransfer::kDataOffset);
  dt.data_length = static_cast<std::uint32_t>(payload.size());
  wire::encode(dt, buf);
  if (!payload.empty())
    std::memcpy(buf.data() + wire::DataTransfer::kDataOffset, payload.data(), payload.size());
  NDK_SGE sge{};
  sge.VirtualAddress = buf.data();
  sge.Length =
      static_cast<ULONG>(payload.empty() ? wire::DataTransfer::kHeaderSize
                                         : wire::DataTransfer::kDataOffset + payload.size());
  sge.MemoryRegionToken = send_reg_.token;
  PVOID ctx = wr_context(WrKind::send, slot);
  const bool ok = post_sq_locked(invalidate ? "NdkSendAndInvalidate" : "NdkSend", [&] {
    return invalidate ? qp_->Dispatch->NdkSendAndInvalidate(qp_, ctx, &sge, 1, 0, *invalidate)
                      : qp_->Dispatch->NdkSend(qp_, ctx, &sge, 1, 0);
  });
  if (!ok) return false;
  free_sends_.pop_back();
  --send_credits_;
  peer_credits_ += grant;
  ++counters_.messages_sent;
  counters_.credits_granted += grant;
  counters_.payload_bytes_sent += payload.size();
  if (invalidate) ++counters_.send_and_invalidates;
  if (payload.empty()) ++counters_.empty_messages_sent;
  // Any message answers a pending SMB_DIRECT_RESPONSE_REQUESTED.
  if (response_requested_) {
    response_requested_ = false;
    ++counters_.keepalives_answered;
  }
  return true;
}

bool Link::send_unaccounted_locked(std::span<const std::byte> message) {
  if (!sends_open_) {
    held_unaccounted_.emplace_back(message.begin(), message.end());
    return true;
  }
  return post_unaccounted_locked(message);
}

void Link::open_sends_locked() {
  sends_open_ = true;
  auto held = std::move(held_unaccounted_);
  held_unaccounted_.clear();
  for (const auto& m : held)
    if (!post_unaccounted_locked(m)) return;
  pump_locked();
}

bool Link::post_unaccounted_locked(std::span<const std::byte> message) {
  if (free_sends_.empty() || !sq_room_locked() || message.size() > send_size_) {
    fail_locked(STATUS_INSUFFICIENT_RESOURCES, "no send buffer for a negotiation message");
    return false;
  }
  const std::uint32_t slot = free_sends_.back();
  std::byte* buf = send_buffer_.data() + std::size_t{slot} * send_size_;
  std::memcpy(buf, message.data(), message.size());
  NDK_SGE sge{};
  sge.VirtualAddress = buf;
  sge.Length = static_cast<ULONG>(message.size());
  sge.MemoryRegionToken = send_reg_.token;
  if (!post_sq_locked("NdkSend", [&] {
        return qp_->Dispatch->NdkSend(qp_, wr_context(WrKind::send, slot), &sge, 1, 0);
      }))
    return false;
  free_sends_.pop_back();
  ++counters_.messages_sent;
  return true;
}

void Link::enqueue_locked(std::vector<std::byte> message, std::optional<UINT32> invalidate) {
  if (state_ != State::established) return;
  outq_.push_back({std::move(message), 0, invalidate, false});
  pump_locked();
}

Failure Link::send_raw(std::span<const std::byte> message) {
  {
    std::lock_guard lock(mu_);
    if (state_ != State::established)
      return failure_.ok() ? Failure{STATUS_CONNECTION_INVALID, "not connected"} : failure_;
    if (message.size() > params_.max_send_size)
      return {STATUS_INVALID_PARAMETER, "a raw message larger than MaxSendSize"};
    outq_.push_back({std::vector<std::byte>(message.begin(), message.end()), 0, {}, true});
    pump_locked();
  }
  after_unlock();
  return {};
}

void Link::pump_locked() {
  if (state_ != State::established || !sends_open_) return;
  const std::size_t room = params_.max_send_size - wire::DataTransfer::kDataOffset;
  while (!outq_.empty()) {
    OutMessage& m = outq_.front();
    if (m.raw) {
      // Test messages go as they are and take a credit, granting none.
      if (free_sends_.empty() || !sq_room_locked() || send_credits_ == 0) break;
      const std::vector<std::byte> bytes = std::move(m.data);
      outq_.pop_front();
      if (!post_unaccounted_locked(bytes)) return;
      --send_credits_;
      continue;
    }
    const std::size_t chunk = std::min(room, m.data.size() - m.sent);
    const auto remaining = static_cast<std::uint32_t>(m.data.size() - m.sent - chunk);
    const bool last = remaining == 0;
    const bool fragmented = m.data.size() > room;
    std::uint32_t grant = 0;
    if (!can_send_locked(&grant, false)) {
      if (!stalled_ && send_credits_ <= 1) {
        stalled_ = true;
        ++counters_.credit_stalls;
      }
      break;
    }
    if (!send_data_locked(std::span(m.data).subspan(m.sent, chunk), remaining, 0,
                          last ? m.invalidate : std::nullopt))
      return;
    stalled_ = false;
    m.sent += chunk;
    if (fragmented) ++counters_.fragments_sent;
    if (last) {
      ++counters_.upper_messages_sent;
      outq_.pop_front();
    }
  }
  std::uint32_t grant = 0;
  // MS-SMBD 3.1.6.2: the idle timer asks the peer for a response.
  if (keepalive_wanted_ && can_send_locked(&grant, false)) {
    keepalive_wanted_ = false;
    if (!send_data_locked({}, 0, wire::kResponseRequested, std::nullopt)) return;
    ++counters_.keepalives_sent;
  }
  // Answer SMB_DIRECT_RESPONSE_REQUESTED at once when nothing else did.
  if (response_requested_ && can_send_locked(&grant, false)) {
    if (!send_data_locked({}, 0, 0, std::nullopt)) return;
  }
  // A peer with no credits at all cannot even ask: grant it some now (3.1.5.1).
  if (peer_credits_ == 0 && can_send_locked(&grant, true)) {
    if (!send_data_locked({}, 0, 0, std::nullopt)) return;
  }
}

std::uint32_t Link::negotiate_grant_locked(std::uint16_t peer_target) {
  receive_credit_target_ = peer_target;
  return grantable_locked(false);
}

void Link::negotiated_locked(const Negotiated& p, std::uint32_t send_credits,
                             std::uint32_t peer_credits) {
  const NDK_RDMA_TECHNOLOGY tech = params_.technology;
  const ULONG in = params_.inbound_read_limit, out = params_.outbound_read_limit;
  params_ = p;
  params_.technology = tech;
  params_.inbound_read_limit = in;
  params_.outbound_read_limit = out;
  receive_credit_target_ = std::max<std::uint16_t>(p.receive_credit_target, 1);
  send_credits_ = send_credits;
  peer_credits_ = peer_credits;
  counters_.credits_granted += peer_credits;
  counters_.credits_received += send_credits;
  state_ = State::established;
  last_received_ = SteadyClock::now();
  on_established_locked();
  pump_locked();
  cv_.notify_all();
}

void Link::tick(SteadyClock::time_point now) {
  {
    std::lock_guard lock(mu_);
    if (state_ == State::negotiating && now >= negotiate_deadline_) {
      fail_locked(STATUS_IO_TIMEOUT, "no MS-SMBD negotiation within the negotiate timeout");
    } else if (state_ == State::established) {
      const auto idle = now - last_received_;
      if (idle >= cfg_.keepalive_interval + cfg_.keepalive_timeout) {
        fail_locked(STATUS_IO_TIMEOUT, "the peer answered no keep-alive in time");
      } else if (idle >= cfg_.keepalive_interval && !keepalive_outstanding_) {
        keepalive_outstanding_ = true;
        keepalive_wanted_ = true;
        pump_locked();
      }
    }
  }
  after_unlock();
}

void Link::after_unlock() {
  bool start = false;
  {
    std::lock_guard lock(mu_);
    start = want_disconnect_;
  }
  if (start) start_disconnect();
}

void Link::start_disconnect() {
  NDK_CONNECTOR* c = nullptr;
  {
    std::lock_guard lock(mu_);
    if (handshaking_) return;  // connect()/accept() start it when the handshake has returned
    c = connected_ ? connector_ : nullptr;
  }
  if (disconnect_started_.exchange(true)) return;
  if (c == nullptr) {
    disconnect_finished(STATUS_SUCCESS);
    return;
  }
  const NTSTATUS st = c->Dispatch->NdkDisconnect(c, on_disconnect_done, this);
  if (st != STATUS_PENDING) disconnect_finished(st);
}

void Link::on_disconnect_done(PVOID ctx, NTSTATUS status) {
  static_cast<Link*>(ctx)->disconnect_finished(status);
}

void Link::disconnect_finished(NTSTATUS status) {
  // Not connected any more (or never): flush ourselves so that every posted request completes.
  if (status != STATUS_SUCCESS && qp_ != nullptr) qp_->Dispatch->NdkFlush(qp_);
  std::lock_guard lock(mu_);
  disconnect_done_ = true;
  cv_.notify_all();
}

void Link::on_peer_disconnect(PVOID ctx) {
  auto* l = static_cast<Link*>(ctx);
  {
    std::lock_guard lock(l->mu_);
    l->fail_locked(STATUS_CONNECTION_DISCONNECTED, "the peer disconnected");
  }
  // The provider does not flush on a peer's disconnect; our NdkDisconnect does (reference 3.5).
  l->start_disconnect();
}

}  // namespace smbd::detail
