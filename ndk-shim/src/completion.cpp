#include "completion.hpp"

#include "guard.hpp"
#include "scenario_run.hpp"

namespace softrnic::ndk {

std::shared_ptr<Completion> Completion::request(NDK_FN_REQUEST_COMPLETION cb, PVOID ctx,
                                             const char* call) {
  std::shared_ptr<Completion> c(new Completion());
  c->request_cb_ = cb;
  c->call_ = call != nullptr ? call : "request";
  c->ctx_ = ctx;
  return c;
}

std::shared_ptr<Completion> Completion::create(NDK_FN_CREATE_COMPLETION cb, PVOID ctx,
                                             const char* call) {
  std::shared_ptr<Completion> c(new Completion());
  c->create_cb_ = cb;
  c->call_ = call != nullptr ? call : "create";
  c->ctx_ = ctx;
  return c;
}

std::shared_ptr<Completion> Completion::close(NDK_FN_CLOSE_COMPLETION cb, PVOID ctx,
                                             const char* call) {
  std::shared_ptr<Completion> c(new Completion());
  c->close_cb_ = cb;
  c->call_ = call != nullptr ? call : "close";
  c->ctx_ = ctx;
  return c;
}

bool Completion::finished() const {
  std::lock_guard lock(mu_);
  return finished_;
}

void Completion::finish(NTSTATUS status, NDK_OBJECT_HEADER* object) {
  {
    std::lock_guard lock(mu_);
    if (finished_) return;
    finished_ = true;
    status_ = status;
    object_ = object;
    if (delivery_ != Delivery::callback) {
      cv_.notify_all();
      return;
    }
  }
  // The call returned STATUS_PENDING (or will): the callback is owed, exactly once.
  if (ScenarioRun* run = active_scenario()) {
    const std::uint64_t delay = run->callback_delay_ns();
    run->callback(call_, id_, status, delay);
    if (delay != 0) {
      run->defer(delay, [request = request_cb_, create = create_cb_, close = close_cb_,
                         ctx = ctx_, status, object] {
        if (request) request(ctx, status);
        if (create) create(ctx, status, NT_SUCCESS(status) ? object : nullptr);
        if (close) close(ctx);
      });
      return;
    }
  }
  if (request_cb_) request_cb_(ctx_, status);
  if (create_cb_) create_cb_(ctx_, status, NT_SUCCESS(status) ? object : nullptr);
  if (close_cb_) close_cb_(ctx_);
}

NTSTATUS Completion::start_in(Runtime& rt, AsyncMode mode, const Done& done,
                              std::function<void(const Done&)> call_body,
                              NDK_OBJECT_HEADER** object) {
  // The body runs on the engine thread, where an exception would end the process: it finishes
  // the call instead (a body that finished before it threw keeps its outcome).
  auto body = [call_body = std::move(call_body)](const Done& d) {
    const NTSTATUS thrown = guarded_call(d->call_, [&] {
      call_body(d);
      return STATUS_SUCCESS;
    });
    if (thrown != STATUS_SUCCESS) d->finish(thrown);
  };
  const bool engine = rt.on_engine_thread();
  if (mode == AsyncMode::pending || (!engine && mode == AsyncMode::natural)) {
    done->delivery_ = Completion::Delivery::callback;
    rt.post([done, body = std::move(body)] { body(done); });
    return STATUS_PENDING;
  }
  // Inline: the engine runs the call while the outcome is captured; whatever is not known by
  // the time it returns (a peer's answer, successors still open) pends after all.
  done->delivery_ = Completion::Delivery::capture;
  auto run = [done, body = std::move(body)] {
    body(done);
    std::lock_guard lock(done->mu_);
    if (!done->finished_) done->delivery_ = Completion::Delivery::callback;
    done->ran_ = true;
    done->cv_.notify_all();
  };
  if (engine)
    run();
  else
    rt.post(std::move(run));
  std::unique_lock lock(done->mu_);
  done->cv_.wait(lock, [&] { return done->ran_; });
  if (!done->finished_ || done->delivery_ == Completion::Delivery::callback) return STATUS_PENDING;
  if (object) *object = done->object_;
  return done->status_;
}

NTSTATUS start(Runtime& rt, AsyncMode mode, const Done& done,
               std::function<void(const Done&)> body, NDK_OBJECT_HEADER** object) {
  ScenarioRun* run = active_scenario();
  if (run == nullptr) return Completion::start_in(rt, mode, done, std::move(body), object);
  // Consumer test mode: the scenario may force the mode; the return is recorded.
  done->id_ = run->next_call_id();
  const NTSTATUS st = Completion::start_in(rt, run->mode(mode), done, std::move(body), object);
  run->call_returned(done->call_, done->id_, st);
  return st;
}

}  // namespace softrnic::ndk
