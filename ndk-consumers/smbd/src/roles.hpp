// The two ends of a connection: the client issues requests (client_link.cpp), the server serves
// them from its file (server_link.cpp). Both run their protocol in the Link's hooks.
#pragma once

#include <array>
#include <deque>
#include <functional>
#include <unordered_map>

#include "link.hpp"

namespace smbd::detail {

class ClientLink final : public Link {
 public:
  ClientLink(const Config& cfg, Ledger& ledger, NDK_ADAPTER* adapter, const NDK_ADAPTER_INFO& info)
      : Link(Role::client, cfg, ledger, adapter, info) {}

  // WRITE (data is read, never written) or READ of [offset, offset + size) in chunks, up to
  // max_outstanding requests in flight; waits for every response.
  [[nodiscard]] Failure transfer(wire::Command command, std::uint64_t offset, std::byte* data,
                                 std::size_t size);
  [[nodiscard]] Failure echo(std::span<const std::byte> payload);

 private:
  // A fast-register MR lent to one RDMA request: busy from the registration until the token is
  // invalidated (by the server's SendAndInvalidate, or by our NdkInvalidate).
  struct Slot {
    NDK_MR* mr = nullptr;
    std::vector<NDK_LOGICAL_ADDRESS> pages;
    UINT32 token = 0;
    std::uint64_t request = 0;  // the request it serves
    bool busy = false;
    bool registered = false, answered = false, invalidated = false;
  };
  struct Pending {
    wire::Command command = wire::Command::echo;
    int slot = -1;
    std::span<std::byte> read_into;     // inline READ
    std::span<const std::byte> expect;  // ECHO
    bool answered = false;              // the response arrived
    bool done = false;                  // ... and the buffer's token is invalidated
    NTSTATUS status = STATUS_SUCCESS;
  };

  Failure create_extra() override;
  std::uint32_t extra_sq_depth() const override { return 2 * cfg_.max_outstanding + 2; }
  void close_extra(CloseBatch& batch) override;
  void on_connected_locked() override;
  void on_negotiate_locked(std::span<const std::byte> message) override;
  void on_message_locked(std::vector<std::byte> message) override;
  void on_work_locked(const NDK_RESULT_EX& r) override;

  int free_slot_locked() const;
  bool fast_register_locked(int slot, std::byte* data, std::size_t size, bool remote_write);
  void slot_progress_locked(int slot);
  void request_done_locked(Pending& p);
  // Runs requests built by `make` (called with mu_ held, returns the message id or 0) until
  // `count` are submitted, then waits for all of them.
  Failure submit_and_wait(std::unique_lock<std::mutex>& lock, bool needs_slot, std::size_t count,
                          const std::function<std::uint64_t(std::size_t)>& make);

  std::vector<Slot> slots_;
  std::unordered_map<std::uint64_t, Pending> pending_;
  std::uint64_t next_id_ = 1;
  std::uint32_t in_flight_ = 0;
};

class ServerLink final : public Link {
 public:
  ServerLink(const Config& cfg, Ledger& ledger, NDK_ADAPTER* adapter, const NDK_ADAPTER_INFO& info,
             std::span<std::byte> file)
      : Link(Role::server, cfg, ledger, adapter, info), file_(file) {}

 private:
  static constexpr std::uint32_t kOps = 16;  // RDMA operations in flight per connection
  struct Op {
    bool busy = false;
    wire::RequestHeader request;
    std::uint64_t remote_address = 0;
    UINT32 token = 0;
  };

  Failure create_extra() override;
  std::uint32_t extra_sq_depth() const override { return kOps + 2; }
  void close_extra(CloseBatch& batch) override { close_mr(batch, file_reg_); }
  void after_close() override { free_mdl(file_reg_); }
  void on_negotiate_locked(std::span<const std::byte> message) override;
  void on_message_locked(std::vector<std::byte> message) override;
  void on_work_locked(const NDK_RESULT_EX& r) override;

  void respond_locked(const wire::RequestHeader& request, NTSTATUS status,
                      std::span<const std::byte> data = {}, std::optional<UINT32> invalidate = {});
  void start_ops_locked();

  std::span<std::byte> file_;
  Registered file_reg_;
  std::deque<Op> queued_;
  std::array<Op, kOps> ops_{};
  std::uint32_t reads_in_flight_ = 0;
};

}  // namespace smbd::detail
