// The client end: the Negotiate Request and the checks of the response (MS-SMBD 3.1.5.2/3.1.5.3),
// and requests: inline, or RDMA through a fast-registered buffer described by a Buffer
// Descriptor V1 (MS-SMB2 3.2.4.6/3.2.4.7) whose token the server invalidates.
#include <algorithm>
#include <cstring>

#include "roles.hpp"

namespace smbd::detail {

namespace {
constexpr std::uintptr_t kPage = SOFTRNIC_NDK_PAGE_SIZE;
}  // namespace

Failure ClientLink::create_extra() {
  const ULONG pages = static_cast<ULONG>((cfg_.max_read_write_size + kPage - 1) / kPage + 1);
  if (pages > adapter_info_.FRMRPageCount)
    return {STATUS_IMPLEMENTATION_LIMIT,
            "MaxReadWriteSize needs more FRMR pages than the adapter has"};
  slots_.resize(std::max<std::uint32_t>(cfg_.max_outstanding, 1));
  for (Slot& s : slots_) {
    NTSTATUS st =
        create_object(ledger_, control_limit(), &s.mr, [&](auto cb, PVOID ctx, NDK_MR** o) {
          return pd_->Dispatch->NdkCreateMr(pd_, TRUE, cb, ctx, o);
        });
    if (st != STATUS_SUCCESS) return {st, "NdkCreateMr (fast register)"};
    st = request(control_limit(), [&](auto cb, PVOID ctx) {
      return s.mr->Dispatch->NdkInitializeFastRegisterMr(s.mr, pages, TRUE, cb, ctx);
    });
    if (st != STATUS_SUCCESS) return {st, "NdkInitializeFastRegisterMr"};
    s.pages.resize(pages);
  }
  return {};
}

void ClientLink::close_extra(CloseBatch& batch) {
  for (Slot& s : slots_) {
    batch.close(s.mr);
    s.mr = nullptr;
  }
}

void ClientLink::on_connected_locked() {
  // MS-SMBD 3.1.5.2: the initiator speaks first.
  const NegotiateOverride& o = cfg_.negotiate_override;
  wire::NegotiateRequest req;
  req.min_version = o.min_version.value_or(wire::kVersion);
  req.max_version = o.max_version.value_or(wire::kVersion);
  req.credits_requested = o.credits_requested.value_or(cfg_.send_credit_target);
  req.preferred_send_size = o.preferred_send_size.value_or(cfg_.max_send_size);
  req.max_receive_size = o.max_receive_size.value_or(cfg_.max_receive_size);
  req.max_fragmented_size = o.max_fragmented_size.value_or(cfg_.max_fragmented_size);
  std::byte buf[wire::NegotiateRequest::kSize];
  wire::encode(req, buf);
  send_unaccounted_locked(buf);
}

void ClientLink::on_negotiate_locked(std::span<const std::byte> message) {
  // MS-SMBD 3.1.5.3: the checks of the Negotiate Response.
  const auto r = wire::decode_negotiate_response(message);
  if (!r) return fail_locked(STATUS_INVALID_PARAMETER, "Negotiate Response shorter than 32 bytes");
  if (r->status != 0)
    return fail_locked(static_cast<NTSTATUS>(r->status), "the server refused the negotiation");
  if (r->negotiated_version != wire::kVersion || r->min_version > wire::kVersion ||
      r->max_version < wire::kVersion)
    return fail_locked(STATUS_NOT_SUPPORTED, "the server negotiated another MS-SMBD version");
  if (r->credits_granted == 0 || r->credits_requested == 0)
    return fail_locked(STATUS_INVALID_PARAMETER,
                       "Negotiate Response grants or requests no credits");
  if (r->preferred_send_size > cfg_.max_receive_size || r->max_receive_size < 128 ||
      r->max_fragmented_size < 131072 || r->max_read_write_size == 0)
    return fail_locked(STATUS_INVALID_PARAMETER, "Negotiate Response sizes out of range");
  Negotiated p;
  p.receive_credit_target = r->credits_requested;
  p.initial_send_credits = r->credits_granted;
  p.max_send_size = std::min(cfg_.max_send_size, r->max_receive_size);
  p.max_receive_size = cfg_.max_receive_size;
  p.max_fragmented_send_size = r->max_fragmented_size;
  p.max_read_write_size = std::min(cfg_.max_read_write_size, r->max_read_write_size);
  negotiated_locked(p, r->credits_granted, 0);
}

int ClientLink::free_slot_locked() const {
  for (std::size_t i = 0; i < slots_.size(); ++i)
    if (!slots_[i].busy) return static_cast<int>(i);
  return -1;
}

bool ClientLink::fast_register_locked(int index, std::byte* data, std::size_t size,
                                      bool remote_write) {
  Slot& s = slots_[static_cast<std::size_t>(index)];
  // NDKPI reference 2.4: PAGE_SIZE pages, FBO bytes into the first, base VA = FBO + n * PAGE_SIZE.
  const auto va = reinterpret_cast<std::uintptr_t>(data);
  const auto fbo = static_cast<ULONG>(va % kPage);
  const auto npages = static_cast<ULONG>((fbo + size + kPage - 1) / kPage);
  for (ULONG i = 0; i < npages; ++i)
    s.pages[i].QuadPart = static_cast<LONGLONG>(va - fbo + i * kPage);
  const ULONG flags = remote_write ? NDK_OP_FLAG_ALLOW_REMOTE_WRITE : NDK_OP_FLAG_ALLOW_REMOTE_READ;
  if (!post_sq_locked("NdkFastRegister", [&] {
        return qp_->Dispatch->NdkFastRegister(qp_, wr_context(WrKind::fast_register, index), s.mr,
                                              npages, s.pages.data(), fbo, size, data, flags);
      }))
    return false;
  // Reference 2.3: the remote token is read again once NdkFastRegister has returned.
  s.token = s.mr->Dispatch->NdkGetRemoteTokenFromMr(s.mr);
  s.busy = true;
  s.registered = s.answered = s.invalidated = false;
  ++counters_.fast_registers;
  return true;
}

void ClientLink::slot_progress_locked(int index) {
  Slot& s = slots_[static_cast<std::size_t>(index)];
  if (s.registered && s.answered && s.invalidated) {
    s.busy = false;
    // Only now is the request complete: its buffer is no longer reachable through the token.
    if (const auto it = pending_.find(s.request); it != pending_.end())
      request_done_locked(it->second);
    s.request = 0;
    cv_.notify_all();
  }
}

void ClientLink::request_done_locked(Pending& p) {
  if (p.done) return;
  p.done = true;
  --in_flight_;
  ++counters_.requests;
  cv_.notify_all();
}

void ClientLink::on_work_locked(const NDK_RESULT_EX& r) {
  const auto index = static_cast<int>(wr_index(r.RequestContext));
  if (index < 0 || static_cast<std::size_t>(index) >= slots_.size()) return;
  const WrKind kind = wr_kind(r.RequestContext);
  if (r.Status != STATUS_SUCCESS) {
    completion_failed_locked(
        r.Status, kind == WrKind::invalidate ? "an NdkInvalidate" : "an NdkFastRegister");
    return;
  }
  if (kind == WrKind::fast_register) slots_[static_cast<std::size_t>(index)].registered = true;
  if (kind == WrKind::invalidate) {
    slots_[static_cast<std::size_t>(index)].invalidated = true;
    ++counters_.local_invalidations;
  }
  slot_progress_locked(index);
}

void ClientLink::on_message_locked(std::vector<std::byte> message) {
  const auto h = wire::decode_request_header(message);
  if (!h || (h->flags & wire::kFlagResponse) == 0)
    return fail_locked(kStatusInvalidNetworkResponse, "a message that is not a response");
  const auto it = pending_.find(h->message_id);
  if (it == pending_.end() || it->second.done || it->second.answered)
    return fail_locked(kStatusInvalidNetworkResponse, "a response to no outstanding request");
  Pending& p = it->second;
  p.answered = true;
  p.status = static_cast<NTSTATUS>(h->status);
  const auto body = std::span<const std::byte>(message).subspan(wire::RequestHeader::kSize);
  if (p.status == STATUS_SUCCESS) {
    if (p.command == wire::Command::read && p.slot < 0) {
      if (body.size() != p.read_into.size())
        p.status = kStatusInvalidNetworkResponse;
      else
        std::memcpy(p.read_into.data(), body.data(), body.size());
    } else if (p.command == wire::Command::echo) {
      if (body.size() != p.expect.size() || !std::equal(body.begin(), body.end(), p.expect.begin()))
        p.status = kStatusInvalidNetworkResponse;
    }
  }
  if (p.slot >= 0) {
    Slot& s = slots_[static_cast<std::size_t>(p.slot)];
    s.answered = true;
    const auto inv = std::find(invalidated_.begin(), invalidated_.end(), s.token);
    if (inv != invalidated_.end()) {
      invalidated_.erase(inv);
      s.invalidated = true;
    } else {
      // Not invalidated by the server (RDMA_V1, or a failed request): invalidate it here.
      if (!post_sq_locked("NdkInvalidate", [&] {
            return qp_->Dispatch->NdkInvalidate(
                qp_, wr_context(WrKind::invalidate, static_cast<std::uint32_t>(p.slot)),
                &s.mr->Header, 0);
          }))
        return;
    }
    slot_progress_locked(p.slot);
    return;
  }
  request_done_locked(p);
}

Failure ClientLink::submit_and_wait(std::unique_lock<std::mutex>& lock, bool needs_slot,
                                    std::size_t count,
                                    const std::function<std::uint64_t(std::size_t)>& make) {
  std::vector<std::uint64_t> ids;
  const auto until = SteadyClock::now() + cfg_.request_timeout;
  const std::uint32_t max_in_flight = std::max<std::uint32_t>(cfg_.max_outstanding, 1);
  bool timed_out = false;
  for (std::size_t i = 0; i < count && state_ == State::established; ++i) {
    if (!cv_.wait_until(lock, until, [&] {
          return state_ != State::established || (in_flight_ < max_in_flight && sq_room_locked() &&
                                                  (!needs_slot || free_slot_locked() >= 0));
        })) {
      timed_out = true;
      break;
    }
    if (state_ != State::established) break;
    const std::uint64_t id = make(i);
    if (id == 0) break;
    ids.push_back(id);
  }
  if (!timed_out && !cv_.wait_until(lock, until, [&] {
        return state_ != State::established ||
               std::all_of(ids.begin(), ids.end(),
                           [&](std::uint64_t id) { return pending_[id].done; });
      }))
    timed_out = true;
  if (timed_out && state_ == State::established)
    fail_locked(STATUS_IO_TIMEOUT, "a request got no response within the request timeout");
  Failure result;
  for (std::uint64_t id : ids) {
    const Pending p = pending_[id];
    pending_.erase(id);
    if (result.ok() && p.done && p.status != STATUS_SUCCESS)
      result = {p.status, "the server answered a request with an error"};
  }
  if (result.ok() && state_ != State::established)
    result = failure_.ok() ? Failure{STATUS_CONNECTION_DISCONNECTED, "the connection went down"}
                           : failure_;
  return result;
}

Failure ClientLink::transfer(wire::Command command, std::uint64_t offset, std::byte* data,
                             std::size_t size) {
  Failure result;
  {
    std::unique_lock lock(mu_);
    if (state_ != State::established)
      return failure_.ok() ? Failure{STATUS_CONNECTION_INVALID, "not connected"} : failure_;
    // Inline when small enough and when the whole request fits the peer's reassembly limit.
    const bool inline_io = size <= cfg_.inline_threshold &&
                           size + wire::RequestHeader::kSize <= params_.max_fragmented_send_size;
    const std::size_t chunk =
        inline_io ? std::max<std::size_t>(size, 1) : params_.max_read_write_size;
    const std::size_t count = size == 0 ? 1 : (size + chunk - 1) / chunk;
    result = submit_and_wait(lock, !inline_io, count, [&](std::size_t i) -> std::uint64_t {
      const std::size_t at = i * chunk;
      const std::size_t n = std::min(chunk, size - std::min(at, size));
      wire::RequestHeader h;
      h.command = command;
      h.message_id = next_id_++;
      h.offset = offset + at;
      h.length = static_cast<std::uint32_t>(n);
      Pending p;
      p.command = command;
      std::vector<std::byte> msg(wire::RequestHeader::kSize);
      if (inline_io) {
        h.channel = wire::Channel::none;
        if (command == wire::Command::write)
          msg.insert(msg.end(), data + at, data + at + n);
        else
          p.read_into = std::span(data + at, n);
      } else {
        const int slot = free_slot_locked();
        if (!fast_register_locked(slot, data + at, n, command == wire::Command::read)) return 0;
        p.slot = slot;
        slots_[static_cast<std::size_t>(slot)].request = h.message_id;
        h.channel =
            cfg_.remote_invalidate ? wire::Channel::rdma_v1_invalidate : wire::Channel::rdma_v1;
        h.descriptor_count = 1;
        wire::BufferDescriptor d;
        d.offset = reinterpret_cast<std::uintptr_t>(data + at);
        d.token = slots_[static_cast<std::size_t>(slot)].token;
        d.length = static_cast<std::uint32_t>(n);
        msg.resize(msg.size() + wire::BufferDescriptor::kSize);
        wire::encode(d, std::span(msg).subspan(wire::RequestHeader::kSize));
      }
      wire::encode(h, msg);
      pending_[h.message_id] = p;
      ++in_flight_;
      enqueue_locked(std::move(msg));
      return h.message_id;
    });
  }
  after_unlock();
  return result;
}

Failure ClientLink::echo(std::span<const std::byte> payload) {
  Failure result;
  {
    std::unique_lock lock(mu_);
    if (state_ != State::established)
      return failure_.ok() ? Failure{STATUS_CONNECTION_INVALID, "not connected"} : failure_;
    result = submit_and_wait(lock, false, 1, [&](std::size_t) -> std::uint64_t {
      wire::RequestHeader h;
      h.command = wire::Command::echo;
      h.message_id = next_id_++;
      h.length = static_cast<std::uint32_t>(payload.size());
      std::vector<std::byte> msg(wire::RequestHeader::kSize);
      wire::encode(h, msg);
      msg.insert(msg.end(), payload.begin(), payload.end());
      Pending p;
      p.command = wire::Command::echo;
      p.expect = payload;
      pending_[h.message_id] = p;
      ++in_flight_;
      enqueue_locked(std::move(msg));
      return h.message_id;
    });
  }
  after_unlock();
  return result;
}

}  // namespace smbd::detail
