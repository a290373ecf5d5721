// Where a running capture's frames go: a FrameRing (frame_ring.hpp) that the engine thread fills
// and a writer thread that drains it into a PcapWriter. The engine thread never touches the
// file: it copies each frame into the ring (no allocation, no lock, no system call), and a frame
// that finds the ring full is dropped and counted, never waited for, unless the sink was made
// for a program whose engine serves nothing else (CaptureSinkOptions::wait_when_full: the demo).
// The file's own limit (CaptureFileOptions::max_bytes) is applied by the writer thread.
//
// Threads: the producer calls (reserve, publish, offer) belong to one thread at a time (the
// engine's); close() and the destructor to the owner, once the producer has let go of the sink
// (CapturePort::stop, StreamCapture::set_sink(nullptr)); stats() to any thread.
#pragma once

#include <atomic>
#include <condition_variable>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <mutex>
#include <span>
#include <string>
#include <string_view>
#include <thread>

#include "base/bytes.hpp"
#include "base/result.hpp"
#include "capture/frame_ring.hpp"
#include "capture/pcap_file.hpp"

namespace softrnic::capture {

struct CaptureSinkOptions {
  std::size_t ring_bytes = std::size_t{8} << 20;  // room for frames on their way to the file
  bool wait_when_full = false;  // the producer waits for room rather than dropping the frame
  bool writer_thread = true;    // false: only drain() writes (tests)
};

struct CaptureSinkStats {
  std::uint64_t queued = 0;        // frames put in the ring
  std::uint64_t ring_full = 0;     // frames dropped because the ring had no room
  std::uint64_t written = 0;       // frames in the file
  std::uint64_t over_limit = 0;    // frames not written: the file reached its size limit
  std::uint64_t write_errors = 0;  // frames the file refused (disk full, ...)
};

class CaptureSink {
 public:
  [[nodiscard]] static Result<std::shared_ptr<CaptureSink>> create(PcapWriter writer,
                                                                   CaptureSinkOptions options = {});
  CaptureSink(const CaptureSink&) = delete;
  CaptureSink& operator=(const CaptureSink&) = delete;
  ~CaptureSink();  // close(), its error dropped

  // Producer: room for the next frame of a burst (FrameRing::reserve); empty when there is none.
  [[nodiscard]] ByteSpan reserve(std::size_t size);
  // Producer: the frames of a burst that are to be captured, in order, with their lengths. The
  // first ones reserved are queued; the rest (no room was reserved for them) are counted as
  // dropped. comment: as FrameRing::publish (a literal).
  void publish(std::span<const std::uint32_t> lengths, Timestamp ts, std::string_view comment = {});
  // Producer: reserve, copy and publish one frame. False when it was dropped.
  bool offer(ConstByteSpan frame, Timestamp ts, std::string_view comment = {});

  // Consumer: writes every queued frame to the file; returns how many it took from the ring.
  // The writer thread calls it; with writer_thread off, the owner does.
  std::size_t drain();

  // Stops the writer thread once it has written everything queued, then flushes and closes the
  // file. Later calls return the first outcome.
  [[nodiscard]] Result<void> close();

  CaptureSinkStats stats() const;
  bool pcapng() const { return pcapng_; }
  const std::string& path() const { return path_; }

 private:
  CaptureSink(PcapWriter writer, const CaptureSinkOptions& options);
  void run();
  static void bump(std::atomic<std::uint64_t>& c, std::uint64_t by = 1) {
    c.store(c.load(std::memory_order_relaxed) + by, std::memory_order_relaxed);  // one writer
  }

  const CaptureSinkOptions options_;
  const bool pcapng_;
  const std::string path_;
  FrameRing ring_;
  PcapWriter writer_;  // the consumer's
  // Producer's counters.
  std::atomic<std::uint64_t> queued_{0}, ring_full_{0};
  // Consumer's counters.
  std::atomic<std::uint64_t> written_{0}, over_limit_{0}, write_errors_{0};

  std::mutex mu_;  // stop_, closed_, close_result_; the writer thread's wake-up
  std::condition_variable cv_;
  bool stop_ = false;
  bool closed_ = false;
  Result<void> close_result_;
  std::thread thread_;
};

}  // namespace softrnic::capture
