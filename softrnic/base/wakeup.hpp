// A way for another thread to wake an engine thread that waits for work (cli's `serve --idle
// block`): the control queue calls wake() after queueing an operation, so a request from a control
// socket does not wait for the engine's next timer or packet. wake() must be cheap, thread-safe
// and must not block (an eventfd write).
#pragma once

namespace softrnic {

class Wakeup {
 public:
  virtual void wake() noexcept = 0;

 protected:
  ~Wakeup() = default;
};

}  // namespace softrnic
