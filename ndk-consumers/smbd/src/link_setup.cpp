// A connection's NDK objects: creation (NDKPI reference 5.1 steps 2-3), connect/accept, and the
// teardown of step 5 (disconnect, drain until every posted request has completed, close QP, MRs,
// connector, CQ and PD).
#include <algorithm>

#include "link.hpp"

namespace smbd::detail {

namespace {
// How long the teardown waits for flushed requests to come back before closing anyway.
constexpr std::chrono::milliseconds kDrainLimit{3000};
}  // namespace

Link::Link(Role role, const Config& cfg, Ledger& ledger, NDK_ADAPTER* adapter,
           const NDK_ADAPTER_INFO& info)
    : role_(role), cfg_(cfg), ledger_(ledger), adapter_(adapter), adapter_info_(info) {
  params_.technology = info.RdmaTechnology;
}

Link::~Link() = default;

NTSTATUS Link::register_buffer(std::span<std::byte> buffer, ULONG flags, Registered& out) {
  if (buffer.size() > MAXULONG) return STATUS_INVALID_PARAMETER;
  NTSTATUS st =
      create_object(ledger_, control_limit(), &out.mr, [&](auto cb, PVOID ctx, NDK_MR** o) {
        return pd_->Dispatch->NdkCreateMr(pd_, FALSE, cb, ctx, o);
      });
  if (st != STATUS_SUCCESS) return st;
  out.mdl = IoAllocateMdl(buffer.data(), static_cast<ULONG>(buffer.size()), FALSE, FALSE, nullptr);
  if (out.mdl == nullptr) return STATUS_INSUFFICIENT_RESOURCES;
  MmBuildMdlForNonPagedPool(out.mdl);
  st = request(control_limit(), [&](auto cb, PVOID ctx) {
    return out.mr->Dispatch->NdkRegisterMr(out.mr, out.mdl, buffer.size(), flags, cb, ctx);
  });
  if (st != STATUS_SUCCESS) return st;
  out.token = out.mr->Dispatch->NdkGetLocalTokenFromMr(out.mr);
  return STATUS_SUCCESS;
}

void Link::free_mdl(Registered& r) {
  if (r.mdl != nullptr) IoFreeMdl(r.mdl);
  r.mdl = nullptr;
  r.mr = nullptr;
}

Failure Link::create_resources() {
  if (cfg_.receive_credit_max < 2 || cfg_.send_credit_target < 2)
    return {STATUS_INVALID_PARAMETER, "credit targets below 2 are not supported"};
  if (cfg_.max_send_size < 128 || cfg_.max_receive_size < 128 ||
      cfg_.max_fragmented_size < 131072 || cfg_.max_read_write_size == 0)
    return {STATUS_INVALID_PARAMETER, "sizes below the MS-SMBD minimums"};
  recv_slots_ = cfg_.receive_credit_max;
  recv_size_ = cfg_.max_receive_size;
  send_slots_ = cfg_.send_credit_target + 2u;
  send_size_ = std::max<std::uint32_t>(cfg_.max_send_size,
                                       static_cast<std::uint32_t>(wire::NegotiateResponse::kSize));
  sq_depth_ = send_slots_ + extra_sq_depth() + 4;
  const std::uint32_t cq_depth = recv_slots_ + sq_depth_ + 8;
  const NDK_ADAPTER_INFO& ai = adapter_info_;
  if (recv_slots_ > ai.MaxReceiveQueueDepth || sq_depth_ > ai.MaxInitiatorQueueDepth ||
      cq_depth > ai.MaxCqDepth)
    return {STATUS_INVALID_PARAMETER, "the queues would exceed the adapter's limits"};

  NTSTATUS st = create_object(ledger_, control_limit(), &pd_, [&](auto cb, PVOID ctx, NDK_PD** o) {
    return adapter_->Dispatch->NdkCreatePd(adapter_, cb, ctx, o);
  });
  if (st != STATUS_SUCCESS) return {st, "NdkCreatePd"};
  st = create_object(ledger_, control_limit(), &cq_, [&](auto cb, PVOID ctx, NDK_CQ** o) {
    return adapter_->Dispatch->NdkCreateCq(adapter_, cq_depth, on_cq, this, nullptr, cb, ctx, o);
  });
  if (st != STATUS_SUCCESS) return {st, "NdkCreateCq"};
  st = create_object(ledger_, control_limit(), &qp_, [&](auto cb, PVOID ctx, NDK_QP** o) {
    return pd_->Dispatch->NdkCreateQp(pd_, cq_, cq_, this, recv_slots_, sq_depth_, 1, 1, 0, cb, ctx,
                                      o);
  });
  if (st != STATUS_SUCCESS) return {st, "NdkCreateQp"};
  recv_buffer_.assign(std::size_t{recv_slots_} * recv_size_, std::byte{0});
  send_buffer_.assign(std::size_t{send_slots_} * send_size_, std::byte{0});
  st = register_buffer(recv_buffer_, NDK_MR_FLAG_ALLOW_LOCAL_WRITE, recv_reg_);
  if (st != STATUS_SUCCESS) return {st, "registering the receive buffers"};
  st = register_buffer(send_buffer_, NDK_MR_FLAG_ALLOW_LOCAL_READ, send_reg_);
  if (st != STATUS_SUCCESS) return {st, "registering the send buffers"};
  for (std::uint32_t i = send_slots_; i > 0; --i) free_sends_.push_back(i - 1);
  if (Failure f = create_extra(); !f.ok()) return f;
  {
    // Receives go up before the connection (reference 5.1 step 3): the peer's first message
    // must find one.
    std::lock_guard lock(mu_);
    for (std::uint32_t i = 0; i < recv_slots_; ++i)
      if (!post_receive_locked(i)) return failure_;
    cq_->Dispatch->NdkArmCq(cq_, NDK_CQ_NOTIFY_ANY);
  }
  return {};
}

Failure Link::connect(const SOCKADDR* dst, ULONG dst_len) {
  NTSTATUS st = create_object(ledger_, control_limit(), &connector_,
                              [&](auto cb, PVOID ctx, NDK_CONNECTOR** o) {
                                return adapter_->Dispatch->NdkCreateConnector(adapter_, cb, ctx, o);
                              });
  if (st != STATUS_SUCCESS) return {st, "NdkCreateConnector"};
  {
    std::lock_guard lock(mu_);
    handshaking_ = true;
  }
  const Failure f = connect_handshake(dst, dst_len);
  {
    std::lock_guard lock(mu_);
    handshaking_ = false;
    if (!f.ok()) fail_locked(f.status, f.message);
  }
  after_unlock();
  return f.ok() ? Failure{} : f;
}

Failure Link::connect_handshake(const SOCKADDR* dst, ULONG dst_len) {
  NTSTATUS st = STATUS_SUCCESS;
  // The SMB server issues the RDMA reads; the client offers what the adapter allows.
  const ULONG ird = std::min<ULONG>(adapter_info_.MaxInboundReadLimit, 16);
  const ULONG ord = std::min<ULONG>(adapter_info_.MaxOutboundReadLimit, 16);
  st = request(control_limit(), [&](auto cb, PVOID ctx) {
    return connector_->Dispatch->NdkConnect(connector_, qp_, nullptr, 0, const_cast<SOCKADDR*>(dst),
                                            dst_len, ird, ord, nullptr, 0, cb, ctx);
  });
  if (st != STATUS_SUCCESS) return {st, "NdkConnect"};
  {
    std::lock_guard lock(mu_);
    connected_ = true;
  }
  ULONG in = 0, out = 0, len = 0;
  st = connector_->Dispatch->NdkGetConnectionData(connector_, &in, &out, nullptr, &len);
  if (st != STATUS_SUCCESS) return {st, "NdkGetConnectionData"};
  st = request(control_limit(), [&](auto cb, PVOID ctx) {
    return connector_->Dispatch->NdkCompleteConnect(connector_, on_peer_disconnect, this, cb, ctx);
  });
  if (st != STATUS_SUCCESS) return {st, "NdkCompleteConnect"};
  {
    std::lock_guard lock(mu_);
    params_.inbound_read_limit = in;
    params_.outbound_read_limit = out;
    if (state_ == State::down) return failure_;
    state_ = State::negotiating;
    negotiate_deadline_ = SteadyClock::now() + cfg_.negotiate_timeout;
    sends_open_ = true;
    on_connected_locked();
  }
  return {};
}

Failure Link::accept(NDK_CONNECTOR* connector) {
  connector_ = connector;
  ULONG in = 0, out = 0, len = 0;
  NTSTATUS st = connector_->Dispatch->NdkGetConnectionData(connector_, &in, &out, nullptr, &len);
  if (st != STATUS_SUCCESS) return {st, "NdkGetConnectionData"};
  // The peer's offer, within this adapter's limits: the server is the side that reads.
  in = std::min<ULONG>(in, adapter_info_.MaxInboundReadLimit);
  out = std::min<ULONG>(std::max<ULONG>(out, 1), adapter_info_.MaxOutboundReadLimit);
  {
    std::lock_guard lock(mu_);
    params_.inbound_read_limit = in;
    params_.outbound_read_limit = out;
    state_ = State::negotiating;
    negotiate_deadline_ = SteadyClock::now() + cfg_.negotiate_timeout;
    handshaking_ = true;
  }
  st = request(control_limit(), [&](auto cb, PVOID ctx) {
    return connector_->Dispatch->NdkAccept(connector_, qp_, in, out, nullptr, 0, on_peer_disconnect,
                                           this, cb, ctx);
  });
  {
    std::lock_guard lock(mu_);
    handshaking_ = false;
    // Whatever Accept's outcome, the connector carried a connection attempt: disconnect it.
    connected_ = true;
    if (st != STATUS_SUCCESS) {
      fail_locked(st, "NdkAccept");
    } else {
      open_sends_locked();
    }
  }
  after_unlock();
  if (st != STATUS_SUCCESS) return {st, "NdkAccept"};
  return {};
}

Failure Link::wait_negotiated(std::chrono::milliseconds limit) {
  std::unique_lock lock(mu_);
  if (!cv_.wait_for(lock, limit, [&] { return state_ != State::negotiating; }))
    return {STATUS_IO_TIMEOUT, "no MS-SMBD negotiation within the negotiate timeout"};
  if (state_ == State::established) return {};
  return failure_.ok() ? Failure{STATUS_CONNECTION_DISCONNECTED, "the connection went down"}
                       : failure_;
}

bool Link::wait_down(std::chrono::milliseconds limit) {
  std::unique_lock lock(mu_);
  return cv_.wait_for(lock, limit, [&] { return state_ == State::down; });
}

ConnectionInfo Link::info() const {
  std::lock_guard lock(mu_);
  ConnectionInfo i;
  i.failure = failure_;
  i.negotiated = params_.max_send_size != 0;
  i.down = state_ == State::down;
  i.params = params_;
  i.counters = counters_;
  return i;
}

bool Link::shutdown(Failure& teardown) {
  {
    std::lock_guard lock(mu_);
    if (shut_down_) return true;
    closing_ = true;
    state_ = State::down;
    outq_.clear();
    want_disconnect_ = true;
    cv_.notify_all();
  }
  start_disconnect();
  std::unique_lock lock(mu_);
  if (!cv_.wait_for(lock, control_limit(), [&] { return disconnect_done_; })) {
    teardown = {STATUS_IO_TIMEOUT, "NdkDisconnect did not complete"};
    return false;  // its callback is still owed to this Link
  }
  // Drain: every request posted before the flush completes (cancelled); the CQ callback keeps
  // counting them down. A QP that never connected may keep receives the provider holds for the
  // connection; closing it discards them.
  if (connected_ && !cv_.wait_for(lock, kDrainLimit,
                                  [&] { return posted_receives_ == 0 && sq_outstanding_ == 0; })) {
    if (teardown.ok()) teardown = {STATUS_IO_TIMEOUT, "flushed work requests did not all complete"};
  }
  shut_down_ = true;  // the CQ is no longer re-armed
  lock.unlock();
  CloseBatch batch(ledger_);
  batch.close(qp_);
  close_mr(batch, recv_reg_);
  close_mr(batch, send_reg_);
  close_extra(batch);
  batch.close(connector_);
  batch.close(cq_);
  batch.close(pd_);
  const bool closed = batch.wait(control_limit());
  if (!closed) {
    if (teardown.ok()) teardown = {STATUS_IO_TIMEOUT, "a close did not complete"};
    return false;
  }
  free_mdl(recv_reg_);
  free_mdl(send_reg_);
  after_close();
  qp_ = nullptr;
  cq_ = nullptr;
  pd_ = nullptr;
  connector_ = nullptr;
  return true;
}

}  // namespace smbd::detail
