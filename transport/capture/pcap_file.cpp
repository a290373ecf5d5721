#include "capture/pcap_file.hpp"

#include <pcap/pcap.h>

#include <cerrno>
#include <cstdio>
#include <cstring>
#include <utility>
#include <vector>

namespace softrnic::capture {

namespace {

// The largest frame a capture record may hold (libpcap's own limit for Ethernet).
constexpr int kSnapLength = 262144;

std::string not_a_capture(const std::string& name, const char* why) {
  return name + ": not a pcap or pcapng capture (" + why + ")";
}

}  // namespace

struct PcapReader::Impl {
  std::string name;
  std::vector<std::byte> buffer;  // backing store of an in-memory capture
  pcap_t* pcap = nullptr;
  std::uint32_t link_type = 0;
  std::uint64_t frames = 0;

  ~Impl() {
    if (pcap != nullptr) pcap_close(pcap);  // also closes the FILE it was opened from
  }
};

namespace {

// Hands `file` to libpcap, which then owns it; closes it on failure (libpcap does not).
Result<pcap_t*> open_offline(const std::string& name, std::FILE* file) {
  char errbuf[PCAP_ERRBUF_SIZE] = {};
  pcap_t* p = pcap_fopen_offline_with_tstamp_precision(file, PCAP_TSTAMP_PRECISION_NANO, errbuf);
  if (p == nullptr) {
    std::fclose(file);
    return make_error(Errc::malformed, not_a_capture(name, errbuf));
  }
  return p;
}

}  // namespace

PcapReader::PcapReader(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
PcapReader::PcapReader(PcapReader&&) noexcept = default;
PcapReader& PcapReader::operator=(PcapReader&&) noexcept = default;
PcapReader::~PcapReader() = default;

const std::string& PcapReader::name() const { return impl_->name; }

Result<PcapReader> PcapReader::open(const std::string& path) {
  auto impl = std::make_unique<Impl>();
  impl->name = path;
  std::FILE* file = std::fopen(path.c_str(), "rb");
  if (file == nullptr) {
    return make_error(errno == ENOENT ? Errc::not_found : Errc::io_error,
                      path + ": cannot open (" + std::strerror(errno) + ")");
  }
  auto pcap = open_offline(impl->name, file);
  if (!pcap) return std::unexpected(pcap.error());
  impl->pcap = *pcap;
  impl->link_type = static_cast<std::uint32_t>(pcap_datalink(impl->pcap));
  return PcapReader(std::move(impl));
}

Result<PcapReader> PcapReader::from_bytes(ConstByteSpan bytes, std::string name) {
  auto impl = std::make_unique<Impl>();
  impl->name = std::move(name);
  // fmemopen rejects an empty buffer on some C libraries: answer it here, the same way.
  if (bytes.empty()) return make_error(Errc::malformed, not_a_capture(impl->name, "empty"));
  impl->buffer.assign(bytes.begin(), bytes.end());
  std::FILE* file = fmemopen(impl->buffer.data(), impl->buffer.size(), "rb");
  if (file == nullptr) {
    return make_error(Errc::io_error,
                      impl->name + ": cannot read from memory (" + std::strerror(errno) + ")");
  }
  auto pcap = open_offline(impl->name, file);
  if (!pcap) return std::unexpected(pcap.error());
  impl->pcap = *pcap;
  impl->link_type = static_cast<std::uint32_t>(pcap_datalink(impl->pcap));
  return PcapReader(std::move(impl));
}

Result<std::optional<CapturedFrame>> PcapReader::next() {
  pcap_pkthdr* hdr = nullptr;
  const u_char* data = nullptr;
  const int rc = pcap_next_ex(impl_->pcap, &hdr, &data);
  if (rc == PCAP_ERROR_BREAK) return std::optional<CapturedFrame>{};  // end of file
  if (rc != 1) {
    return make_error(Errc::malformed, impl_->name + ": damaged capture after frame " +
                                           std::to_string(impl_->frames) + " (" +
                                           pcap_geterr(impl_->pcap) + ")");
  }
  CapturedFrame f;
  f.number = ++impl_->frames;
  f.timestamp.seconds = hdr->ts.tv_sec;
  f.timestamp.nanoseconds = static_cast<std::uint32_t>(hdr->ts.tv_usec);  // nanosecond precision
  f.link_type = impl_->link_type;
  f.bytes = as_bytes_of(data, hdr->caplen);
  f.original_length = hdr->len;
  return f;
}

struct PcapWriter::Impl {
  std::string path;
  pcap_t* dead = nullptr;
  pcap_dumper_t* dumper = nullptr;
  std::uint64_t frames = 0;

  void release() {
    if (dumper != nullptr) pcap_dump_close(dumper);
    if (dead != nullptr) pcap_close(dead);
    dumper = nullptr;
    dead = nullptr;
  }
  ~Impl() { release(); }
};

PcapWriter::PcapWriter(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
PcapWriter::PcapWriter(PcapWriter&&) noexcept = default;
PcapWriter& PcapWriter::operator=(PcapWriter&&) noexcept = default;
PcapWriter::~PcapWriter() = default;

std::uint64_t PcapWriter::frames_written() const { return impl_->frames; }

Result<PcapWriter> PcapWriter::create(const std::string& path) {
  auto impl = std::make_unique<Impl>();
  impl->path = path;
  impl->dead =
      pcap_open_dead_with_tstamp_precision(DLT_EN10MB, kSnapLength, PCAP_TSTAMP_PRECISION_MICRO);
  if (impl->dead == nullptr) return make_error(Errc::io_error, path + ": libpcap out of memory");
  impl->dumper = pcap_dump_open(impl->dead, path.c_str());
  if (impl->dumper == nullptr) {
    return make_error(Errc::io_error, path + ": cannot create (" + pcap_geterr(impl->dead) + ")");
  }
  return PcapWriter(std::move(impl));
}

Result<void> PcapWriter::write(ConstByteSpan frame, Timestamp ts) {
  if (impl_->dumper == nullptr) return make_error(Errc::io_error, impl_->path + ": already closed");
  if (frame.size() > static_cast<std::size_t>(kSnapLength)) {
    return make_error(Errc::invalid_argument, impl_->path + ": frame of " +
                                                  std::to_string(frame.size()) +
                                                  " bytes exceeds the capture snap length");
  }
  pcap_pkthdr hdr{};
  hdr.ts.tv_sec = static_cast<time_t>(ts.seconds);
  hdr.ts.tv_usec = static_cast<suseconds_t>(ts.nanoseconds / 1000);
  hdr.caplen = static_cast<bpf_u_int32>(frame.size());
  hdr.len = hdr.caplen;
  // libpcap's callback signature passes the dumper as an opaque u_char* (pcap_dump(3PCAP)).
  pcap_dump(reinterpret_cast<u_char*>(impl_->dumper), &hdr,
            static_cast<const u_char*>(static_cast<const void*>(frame.data())));
  if (std::ferror(pcap_dump_file(impl_->dumper)) != 0) {
    return make_error(Errc::io_error, impl_->path + ": write failed after " +
                                          std::to_string(impl_->frames) + " frames");
  }
  ++impl_->frames;
  return {};
}

Result<void> PcapWriter::close() {
  if (impl_->dumper == nullptr) return {};
  const bool flushed = pcap_dump_flush(impl_->dumper) == 0;
  impl_->release();
  if (!flushed) return make_error(Errc::io_error, impl_->path + ": flush failed");
  return {};
}

}  // namespace softrnic::capture
