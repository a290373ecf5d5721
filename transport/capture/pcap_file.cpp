#include "capture/pcap_file.hpp"

#include <fcntl.h>
#include <pcap/pcap.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <algorithm>
#include <chrono>
#include <cstring>
#include <utility>
#include <vector>

namespace softrnic::capture {

Timestamp wall_now() {
  const auto ns = std::chrono::duration_cast<std::chrono::nanoseconds>(
                      std::chrono::system_clock::now().time_since_epoch())
                      .count();
  return {ns / 1'000'000'000, static_cast<std::uint32_t>(ns % 1'000'000'000)};
}

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
  std::FILE* ng = nullptr;  // pcapng: written here (libpcap writes only pcap)
  std::vector<std::byte> block;
  std::uint64_t frames = 0;
  std::uint64_t bytes = 0;      // in the file, header included
  std::uint64_t max_bytes = 0;  // 0: no limit
  std::uint64_t over_limit = 0;
  bool limit_reached = false;

  // False (and the frame counted) once a record of `size` bytes would pass the limit.
  bool fits(std::size_t size) {
    if (max_bytes != 0 && (limit_reached || bytes + size > max_bytes)) {
      limit_reached = true;
      ++over_limit;
      return false;
    }
    return true;
  }

  bool open() const { return dumper != nullptr || ng != nullptr; }
  void release() {
    if (dumper != nullptr) pcap_dump_close(dumper);
    if (dead != nullptr) pcap_close(dead);
    if (ng != nullptr) std::fclose(ng);
    dumper = nullptr;
    dead = nullptr;
    ng = nullptr;
  }
  ~Impl() { release(); }
};

namespace {

// pcapng blocks (draft-ietf-opsawg-pcapng), written in host byte order: the Section Header's
// byte-order magic tells readers which that is.
constexpr std::uint32_t kShb = 0x0A0D0D0A, kIdb = 1, kEpb = 6, kByteOrderMagic = 0x1A2B3C4D;
constexpr std::uint16_t kOptEnd = 0, kOptComment = 1, kIfTsresol = 9;

void put32(std::vector<std::byte>& b, std::uint32_t v) {
  const auto* p = reinterpret_cast<const std::byte*>(&v);
  b.insert(b.end(), p, p + 4);
}
void put16(std::vector<std::byte>& b, std::uint16_t v) {
  const auto* p = reinterpret_cast<const std::byte*>(&v);
  b.insert(b.end(), p, p + 2);
}
void pad4(std::vector<std::byte>& b) {
  while (b.size() % 4 != 0) b.push_back(std::byte{0});
}
void option(std::vector<std::byte>& b, std::uint16_t code, ConstByteSpan value) {
  put16(b, code);
  put16(b, static_cast<std::uint16_t>(value.size()));
  b.insert(b.end(), value.begin(), value.end());
  pad4(b);
}
// Starts a block (type, room for the length); finish() writes both lengths.
void begin(std::vector<std::byte>& b, std::uint32_t type) {
  b.clear();
  put32(b, type);
  put32(b, 0);
}
void finish(std::vector<std::byte>& b) {
  const auto total = static_cast<std::uint32_t>(b.size() + 4);
  std::memcpy(b.data() + 4, &total, 4);
  put32(b, total);
}

// The sizes libpcap writes: the file header, and a record header before each frame.
constexpr std::size_t kPcapFileHeader = 24, kPcapRecordHeader = 16;

// Opens the capture file as CaptureFileOptions says (pcap_file.hpp), as a stdio stream.
Result<std::FILE*> open_output(const std::string& path, const CaptureFileOptions& o) {
  // O_NONBLOCK: opening a FIFO must not wait for a reader (it is refused below anyway).
  const int flags =
      O_WRONLY | O_CREAT | O_NOFOLLOW | O_CLOEXEC | O_NONBLOCK | (o.overwrite ? 0 : O_EXCL);
  const int fd = ::open(path.c_str(), flags, 0600);
  if (fd < 0) {
    const int err = errno;
    struct stat link {};
    const bool is_link = err == ELOOP || (err == EEXIST && ::lstat(path.c_str(), &link) == 0 &&
                                          S_ISLNK(link.st_mode));
    if (is_link)
      return make_error(Errc::invalid_argument,
                        path + ": cannot create (a symbolic link, which a capture never follows)");
    if (err == EEXIST)
      return make_error(Errc::busy, path + ": cannot create (it exists; a capture replaces a "
                                           "file only when asked to overwrite)");
    return make_error(Errc::io_error, path + ": cannot create (" + std::strerror(err) + ")");
  }
  const auto fail = [&](std::string why) -> Result<std::FILE*> {
    ::close(fd);
    return make_error(Errc::invalid_argument, path + ": cannot create (" + why + ")");
  };
  struct stat st {};
  if (::fstat(fd, &st) != 0) return fail(std::strerror(errno));
  if (!S_ISREG(st.st_mode)) return fail("not a regular file");
  if (o.overwrite) {
    if (::ftruncate(fd, 0) != 0) return fail(std::string("truncate: ") + std::strerror(errno));
    if ((st.st_mode & 07777) != 0600 && ::fchmod(fd, 0600) != 0)
      return fail(std::string("cannot make it mode 0600: ") + std::strerror(errno));
  }
  if (const int fl = ::fcntl(fd, F_GETFL); fl < 0 || ::fcntl(fd, F_SETFL, fl & ~O_NONBLOCK) != 0)
    return fail(std::strerror(errno));
  std::FILE* f = ::fdopen(fd, "wb");
  if (f == nullptr) return fail(std::strerror(errno));
  return f;
}

}  // namespace

PcapWriter::PcapWriter(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
PcapWriter::PcapWriter(PcapWriter&&) noexcept = default;
PcapWriter& PcapWriter::operator=(PcapWriter&&) noexcept = default;
PcapWriter::~PcapWriter() = default;

std::uint64_t PcapWriter::frames_written() const { return impl_->frames; }
std::uint64_t PcapWriter::frames_over_limit() const { return impl_->over_limit; }
std::uint64_t PcapWriter::bytes_written() const { return impl_->bytes; }
const std::string& PcapWriter::path() const { return impl_->path; }

Result<PcapWriter> PcapWriter::create(const std::string& path, const CaptureFileOptions& options) {
  auto impl = std::make_unique<Impl>();
  impl->path = path;
  impl->max_bytes = options.max_bytes;
  auto file = open_output(path, options);
  if (!file) return std::unexpected(file.error());
  if (path.size() > 7 && path.ends_with(".pcapng")) {
    impl->ng = *file;
    auto& b = impl->block;
    begin(b, kShb);
    put32(b, kByteOrderMagic);
    put16(b, 1);  // version 1.0
    put16(b, 0);
    put32(b, 0xffffffff);  // section length unknown (-1)
    put32(b, 0xffffffff);
    finish(b);
    std::vector<std::byte> body;
    begin(body, kIdb);
    put16(body, static_cast<std::uint16_t>(kLinkTypeEthernet));
    put16(body, 0);
    put32(body, static_cast<std::uint32_t>(kSnapLength));
    const std::byte nanoseconds[1] = {std::byte{9}};  // timestamps in 10^-9 s
    option(body, kIfTsresol, nanoseconds);
    option(body, kOptEnd, {});
    finish(body);
    b.insert(b.end(), body.begin(), body.end());
    if (std::fwrite(b.data(), 1, b.size(), impl->ng) != b.size())
      return make_error(Errc::io_error, path + ": write failed");
    impl->bytes = b.size();
    return PcapWriter(std::move(impl));
  }
  impl->dead =
      pcap_open_dead_with_tstamp_precision(DLT_EN10MB, kSnapLength, PCAP_TSTAMP_PRECISION_MICRO);
  if (impl->dead == nullptr) {
    std::fclose(*file);
    return make_error(Errc::io_error, path + ": libpcap out of memory");
  }
  impl->dumper = pcap_dump_fopen(impl->dead, *file);  // owns the stream from here on
  if (impl->dumper == nullptr) {
    std::fclose(*file);
    return make_error(Errc::io_error, path + ": cannot create (" + pcap_geterr(impl->dead) + ")");
  }
  impl->bytes = kPcapFileHeader;
  return PcapWriter(std::move(impl));
}

bool PcapWriter::pcapng() const { return impl_->ng != nullptr; }

Result<void> PcapWriter::write(ConstByteSpan frame, Timestamp ts, std::string_view comment) {
  if (!impl_->open()) return make_error(Errc::io_error, impl_->path + ": already closed");
  if (frame.size() > static_cast<std::size_t>(kSnapLength)) {
    return make_error(Errc::invalid_argument, impl_->path + ": frame of " +
                                                  std::to_string(frame.size()) +
                                                  " bytes exceeds the capture snap length");
  }
  if (impl_->ng != nullptr) {
    auto& b = impl_->block;
    begin(b, kEpb);
    put32(b, 0);  // interface 0
    const std::uint64_t ns = static_cast<std::uint64_t>(ts.seconds) * 1'000'000'000ULL + ts.nanoseconds;
    put32(b, static_cast<std::uint32_t>(ns >> 32));
    put32(b, static_cast<std::uint32_t>(ns));
    put32(b, static_cast<std::uint32_t>(frame.size()));
    put32(b, static_cast<std::uint32_t>(frame.size()));
    b.insert(b.end(), frame.begin(), frame.end());
    pad4(b);
    if (!comment.empty()) {
      option(b, kOptComment, {reinterpret_cast<const std::byte*>(comment.data()), std::min<std::size_t>(comment.size(), 65535)});
      option(b, kOptEnd, {});
    }
    finish(b);
    if (!impl_->fits(b.size())) return {};
    if (std::fwrite(b.data(), 1, b.size(), impl_->ng) != b.size())
      return make_error(Errc::io_error, impl_->path + ": write failed after " + std::to_string(impl_->frames) + " frames");
    ++impl_->frames;
    impl_->bytes += b.size();
    return {};
  }
  if (!impl_->fits(kPcapRecordHeader + frame.size())) return {};
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
  impl_->bytes += kPcapRecordHeader + frame.size();
  return {};
}

Result<void> PcapWriter::close() {
  if (!impl_->open()) return {};
  const bool flushed = impl_->ng != nullptr ? std::fflush(impl_->ng) == 0 : pcap_dump_flush(impl_->dumper) == 0;
  impl_->release();
  if (!flushed) return make_error(Errc::io_error, impl_->path + ": flush failed");
  return {};
}

}  // namespace softrnic::capture
