// The server end: the checks of the Negotiate Request and the response (MS-SMBD 3.1.5.5-3.1.5.7),
// and the requests: inline data copied in and out of the file, RDMA requests served by NdkRead
// (the client's WRITE) or NdkWrite (the client's READ) into and out of the file's registration,
// answered by NdkSendAndInvalidate of the client's token when it asked for it.
#include <algorithm>
#include <cstring>

#include "roles.hpp"

namespace smbd::detail {

Failure ServerLink::create_extra() {
  if (file_.empty()) return {};
  // An RDMA Read sink needs local write (the adapter does not report READ_SINK_NOT_REQUIRED).
  const NTSTATUS st =
      register_buffer(file_, NDK_MR_FLAG_ALLOW_LOCAL_WRITE | NDK_MR_FLAG_RDMA_READ_SINK, file_reg_);
  if (st != STATUS_SUCCESS) return {st, "registering the server's file"};
  return {};
}

void ServerLink::on_negotiate_locked(std::span<const std::byte> message) {
  // MS-SMBD 3.1.5.5: the responder's checks.
  const auto q = wire::decode_negotiate_request(message);
  if (!q) return fail_locked(STATUS_INVALID_PARAMETER, "Negotiate Request shorter than 20 bytes");
  const NegotiateOverride& o = cfg_.negotiate_override;
  wire::NegotiateResponse r;
  r.min_version = wire::kVersion;
  r.max_version = wire::kVersion;
  if (q->min_version > wire::kVersion || q->max_version < wire::kVersion) {
    // A version we do not speak: say so, then disconnect once the response has gone out.
    r.negotiated_version = 0;
    r.status = static_cast<std::uint32_t>(STATUS_NOT_SUPPORTED);
    std::byte buf[wire::NegotiateResponse::kSize];
    wire::encode(r, buf);
    fail_when_sent_ = Failure{STATUS_NOT_SUPPORTED, "the client offers no MS-SMBD version 1.0"};
    send_unaccounted_locked(buf);
    return;
  }
  if (q->credits_requested == 0)
    return fail_locked(STATUS_INVALID_PARAMETER, "Negotiate Request asks for 0 credits");
  if (q->max_receive_size < 128)
    return fail_locked(STATUS_INVALID_PARAMETER, "Negotiate Request MaxReceiveSize below 128");
  if (q->max_fragmented_size < 131072)
    return fail_locked(STATUS_INVALID_PARAMETER,
                       "Negotiate Request MaxFragmentedSize below 131072");
  Negotiated p;
  p.receive_credit_target = q->credits_requested;
  p.max_receive_size =
      std::max<std::uint32_t>(128, std::min(cfg_.max_receive_size, q->preferred_send_size));
  p.max_send_size = std::min(cfg_.max_send_size, q->max_receive_size);
  p.max_fragmented_send_size = q->max_fragmented_size;
  p.max_read_write_size = cfg_.max_read_write_size;
  const std::uint32_t grant = negotiate_grant_locked(q->credits_requested);
  r.negotiated_version = o.max_version.value_or(wire::kVersion);
  r.credits_requested = o.credits_requested.value_or(cfg_.send_credit_target);
  r.credits_granted = o.credits_granted.value_or(static_cast<std::uint16_t>(grant));
  r.status = o.status.value_or(0);
  r.max_read_write_size = p.max_read_write_size;
  r.preferred_send_size = o.preferred_send_size.value_or(p.max_send_size);
  r.max_receive_size = o.max_receive_size.value_or(p.max_receive_size);
  r.max_fragmented_size = o.max_fragmented_size.value_or(cfg_.max_fragmented_size);
  p.initial_send_credits = 0;
  std::byte buf[wire::NegotiateResponse::kSize];
  wire::encode(r, buf);
  if (!send_unaccounted_locked(buf)) return;
  if (r.status != 0) {
    fail_when_sent_ = Failure{static_cast<NTSTATUS>(r.status), "refused the negotiation"};
    return;
  }
  // The responder holds no credits until the initiator's first message grants some.
  negotiated_locked(p, 0, r.credits_granted);
}

void ServerLink::respond_locked(const wire::RequestHeader& request, NTSTATUS status,
                                std::span<const std::byte> data, std::optional<UINT32> invalidate) {
  wire::RequestHeader h = request;
  h.flags = wire::kFlagResponse;
  h.status = static_cast<std::uint32_t>(status);
  h.descriptor_count = 0;
  std::vector<std::byte> msg(wire::RequestHeader::kSize);
  wire::encode(h, msg);
  msg.insert(msg.end(), data.begin(), data.end());
  ++counters_.requests;
  enqueue_locked(std::move(msg), invalidate);
}

void ServerLink::on_message_locked(std::vector<std::byte> message) {
  const auto h = wire::decode_request_header(message);
  if (!h || (h->flags & wire::kFlagResponse) != 0)
    return fail_locked(kStatusInvalidNetworkResponse, "a message that is not a request");
  const auto body = std::span<const std::byte>(message).subspan(wire::RequestHeader::kSize);
  if (h->command == wire::Command::echo) return respond_locked(*h, STATUS_SUCCESS, body);
  if (h->command != wire::Command::write && h->command != wire::Command::read)
    return respond_locked(*h, STATUS_NOT_SUPPORTED);
  const bool in_file = h->offset <= file_.size() && h->length <= file_.size() - h->offset;
  if (!in_file) return respond_locked(*h, STATUS_INVALID_PARAMETER);
  std::byte* at = file_.data() + h->offset;
  if (h->channel == wire::Channel::none) {
    if (h->command == wire::Command::write) {
      if (body.size() != h->length) return respond_locked(*h, STATUS_INVALID_PARAMETER);
      std::memcpy(at, body.data(), body.size());
      return respond_locked(*h, STATUS_SUCCESS);
    }
    if (h->length + wire::RequestHeader::kSize > params_.max_fragmented_send_size)
      return respond_locked(*h, STATUS_INVALID_PARAMETER);
    return respond_locked(*h, STATUS_SUCCESS, std::span<const std::byte>(at, h->length));
  }
  const auto d = wire::decode_buffer_descriptor(body);
  const bool channel_ok =
      h->channel == wire::Channel::rdma_v1 || h->channel == wire::Channel::rdma_v1_invalidate;
  if (!channel_ok || h->descriptor_count != 1 || !d || d->length != h->length || h->length == 0 ||
      h->length > params_.max_read_write_size)
    return respond_locked(*h, STATUS_INVALID_PARAMETER);
  Op op;
  op.request = *h;
  op.remote_address = d->offset;
  op.token = d->token;
  queued_.push_back(op);
  start_ops_locked();
}

void ServerLink::start_ops_locked() {
  while (!queued_.empty() && state_ == State::established) {
    const Op& next = queued_.front();
    const bool is_read = next.request.command == wire::Command::write;  // the client's WRITE
    // At most ORD RDMA Reads in flight (the effective outbound read limit).
    if (is_read && reads_in_flight_ >= std::max<ULONG>(params_.outbound_read_limit, 1)) return;
    const auto free = std::find_if(ops_.begin(), ops_.end(), [](const Op& o) { return !o.busy; });
    if (free == ops_.end() || !sq_room_locked()) return;
    const auto index = static_cast<std::uint32_t>(free - ops_.begin());
    NDK_SGE sge{};
    sge.VirtualAddress = file_.data() + next.request.offset;
    sge.Length = next.request.length;
    sge.MemoryRegionToken = file_reg_.token;
    const bool ok = post_sq_locked(is_read ? "NdkRead" : "NdkWrite", [&] {
      return is_read ? qp_->Dispatch->NdkRead(qp_, wr_context(WrKind::rdma_read, index), &sge, 1,
                                              next.remote_address, next.token, 0)
                     : qp_->Dispatch->NdkWrite(qp_, wr_context(WrKind::rdma_write, index), &sge, 1,
                                               next.remote_address, next.token, 0);
    });
    if (!ok) return;
    *free = next;
    free->busy = true;
    queued_.pop_front();
    if (is_read) {
      ++reads_in_flight_;
      ++counters_.rdma_reads;
    } else {
      ++counters_.rdma_writes;
    }
    counters_.rdma_bytes += sge.Length;
  }
}

void ServerLink::on_work_locked(const NDK_RESULT_EX& r) {
  const std::uint32_t index = wr_index(r.RequestContext);
  if (index >= ops_.size()) return;
  Op op = ops_[index];
  ops_[index].busy = false;
  if (wr_kind(r.RequestContext) == WrKind::rdma_read) --reads_in_flight_;
  if (r.Status != STATUS_SUCCESS) {
    completion_failed_locked(r.Status, wr_kind(r.RequestContext) == WrKind::rdma_read
                                           ? "an NdkRead of the client's buffer"
                                           : "an NdkWrite to the client's buffer");
    return;
  }
  // The data is in place (a Read completed; a Write precedes the response on the QP).
  const bool invalidate = op.request.channel == wire::Channel::rdma_v1_invalidate;
  respond_locked(op.request, STATUS_SUCCESS, {},
                 invalidate ? std::optional<UINT32>(op.token) : std::nullopt);
  start_ops_locked();
}

}  // namespace smbd::detail
