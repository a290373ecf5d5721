#include "capture/capture_sink.hpp"

#include <algorithm>
#include <chrono>
#include <cstring>
#include <system_error>
#include <utility>

namespace softrnic::capture {

namespace {

// How long the writer thread sleeps when the ring is empty. The engine never wakes it (that
// would be a system call per burst): the ring holds what arrives meanwhile.
constexpr auto kIdleWait = std::chrono::milliseconds(1);

}  // namespace

CaptureSink::CaptureSink(PcapWriter writer, const CaptureSinkOptions& options)
    : options_(options),
      pcapng_(writer.pcapng()),
      path_(writer.path()),
      ring_(options.ring_bytes),
      writer_(std::move(writer)) {}

Result<std::shared_ptr<CaptureSink>> CaptureSink::create(PcapWriter writer,
                                                         CaptureSinkOptions options) {
  std::shared_ptr<CaptureSink> sink(new CaptureSink(std::move(writer), options));
  if (options.writer_thread) {
    try {
      sink->thread_ = std::thread([s = sink.get()] { s->run(); });
    } catch (const std::system_error& e) {
      return make_error(Errc::io_error, sink->path_ + ": cannot start the capture writer thread (" +
                                            e.what() + ")");
    }
  }
  return sink;
}

CaptureSink::~CaptureSink() { (void)close(); }

ByteSpan CaptureSink::reserve(std::size_t size) {
  ByteSpan room = ring_.reserve(size);
  if (!room.empty() || !options_.wait_when_full || !thread_.joinable()) return room;
  while (room.empty() && ring_.fits_ever(size)) {
    std::this_thread::yield();
    room = ring_.reserve(size);
  }
  return room;
}

void CaptureSink::publish(std::span<const std::uint32_t> lengths, Timestamp ts,
                          std::string_view comment) {
  const std::size_t queued = ring_.publish(lengths, ts, comment);
  if (queued != 0) bump(queued_, queued);
  if (queued < lengths.size()) bump(ring_full_, lengths.size() - queued);
}

bool CaptureSink::offer(ConstByteSpan frame, Timestamp ts, std::string_view comment) {
  const ByteSpan room = reserve(frame.size());
  if (room.empty()) {
    bump(ring_full_);
    return false;
  }
  std::memcpy(room.data(), frame.data(), frame.size());
  const auto length = static_cast<std::uint32_t>(frame.size());
  publish(std::span(&length, 1), ts, comment);
  return true;
}

std::size_t CaptureSink::drain() {
  std::size_t n = 0;
  while (const auto f = ring_.front()) {
    if (auto r = writer_.write(f->bytes, f->timestamp, f->comment); !r) bump(write_errors_);
    ring_.pop();
    ++n;
  }
  if (n != 0) {
    written_.store(writer_.frames_written(), std::memory_order_relaxed);
    over_limit_.store(writer_.frames_over_limit(), std::memory_order_relaxed);
  }
  return n;
}

void CaptureSink::run() {
  std::unique_lock lock(mu_);
  while (!stop_) {
    lock.unlock();
    const std::size_t n = drain();
    lock.lock();
    if (n == 0) cv_.wait_for(lock, kIdleWait, [this] { return stop_; });
  }
}

Result<void> CaptureSink::close() {
  std::unique_lock lock(mu_);
  if (closed_) return close_result_;
  closed_ = true;
  stop_ = true;
  cv_.notify_all();
  lock.unlock();
  if (thread_.joinable()) thread_.join();
  drain();  // what was queued after the thread's last look
  close_result_ = writer_.close();
  return close_result_;
}

CaptureSinkStats CaptureSink::stats() const {
  return CaptureSinkStats{.queued = queued_.load(std::memory_order_relaxed),
                          .ring_full = ring_full_.load(std::memory_order_relaxed),
                          .written = written_.load(std::memory_order_relaxed),
                          .over_limit = over_limit_.load(std::memory_order_relaxed),
                          .write_errors = write_errors_.load(std::memory_order_relaxed)};
}

}  // namespace softrnic::capture
