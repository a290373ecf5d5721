// Capture files: reading pcap and pcapng (from a path or from bytes in memory) and writing pcap
// or pcapng (by the file name: *.pcapng is pcapng, with per-frame comments; anything else pcap).
// libpcap stays behind this header: callers see frames as byte spans and errors as Result.
#pragma once

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>

#include "base/bytes.hpp"
#include "base/result.hpp"

namespace softrnic::capture {

// Link-layer types (the tcpdump.org LINKTYPE_ registry) the decoder knows by name.
inline constexpr std::uint32_t kLinkTypeEthernet = 1;

struct Timestamp {
  std::int64_t seconds = 0;
  std::uint32_t nanoseconds = 0;
};

// Wall-clock time, as captures record it (they are compared with other tools').
Timestamp wall_now();

struct CapturedFrame {
  std::uint64_t number = 0;  // 1-based, in file order (what Wireshark calls frame.number)
  Timestamp timestamp;
  std::uint32_t link_type = kLinkTypeEthernet;
  ConstByteSpan bytes;                // the captured bytes; valid until the next call to next()
  std::uint32_t original_length = 0;  // length on the wire; more than bytes.size() when snapped
};

class PcapReader {
 public:
  // Opens a pcap or pcapng file.
  [[nodiscard]] static Result<PcapReader> open(const std::string& path);
  // Reads a capture held in memory (the bytes are copied). `name` appears in error messages.
  [[nodiscard]] static Result<PcapReader> from_bytes(ConstByteSpan bytes,
                                                     std::string name = "<memory>");

  PcapReader(PcapReader&&) noexcept;
  PcapReader& operator=(PcapReader&&) noexcept;
  ~PcapReader();

  // The next frame, nothing at the end of the capture, or an error for a damaged record.
  [[nodiscard]] Result<std::optional<CapturedFrame>> next();

  const std::string& name() const;

 private:
  struct Impl;
  explicit PcapReader(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

// How a capture file is opened. Captures hold other people's payloads and may be asked for by a
// less trusted party (a control socket's client): the file is made new, mode 0600, and never
// through a symbolic link, unless overwrite says an existing regular file may be replaced.
struct CaptureFileOptions {
  bool overwrite = false;       // replace an existing regular file (truncated, made 0600)
  std::uint64_t max_bytes = 0;  // the file's size limit in bytes, headers included; 0: none
};

// Writes Ethernet frames to a pcap file (microsecond timestamps, the most widely read format).
// The file is opened O_CREAT | O_EXCL | O_NOFOLLOW (O_EXCL left out with overwrite, which still
// refuses anything but a regular file). Once a frame would take the file past max_bytes, neither
// it nor any later frame is written: write() succeeds and frames_over_limit() counts them.
class PcapWriter {
 public:
  [[nodiscard]] static Result<PcapWriter> create(const std::string& path,
                                                 const CaptureFileOptions& options = {});

  PcapWriter(PcapWriter&&) noexcept;
  PcapWriter& operator=(PcapWriter&&) noexcept;
  ~PcapWriter();  // closes the file; call close() to learn about write errors

  // comment: pcapng only (an opt_comment on the frame's Enhanced Packet Block, which Wireshark
  // shows as frame.comment); ignored for pcap.
  [[nodiscard]] Result<void> write(ConstByteSpan frame, Timestamp ts, std::string_view comment = {});
  bool pcapng() const;
  // Flushes and closes; later writes fail.
  [[nodiscard]] Result<void> close();

  std::uint64_t frames_written() const;
  // Frames not written because of max_bytes.
  std::uint64_t frames_over_limit() const;
  // Bytes in the file so far, its header included.
  std::uint64_t bytes_written() const;
  const std::string& path() const;

 private:
  struct Impl;
  explicit PcapWriter(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

}  // namespace softrnic::capture
