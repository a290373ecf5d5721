// Fuzz target for the `softrnic decode` file reader: arbitrary bytes as a pcap/pcapng capture,
// decoded the way the command does it (TCP reassembly and the iWARP reader included). Any crash,
// sanitizer report or inconsistent summary is a finding.
#include <cstdint>
#include <cstdio>
#include <cstdlib>

#include "capture/decoder.hpp"
#include "capture/iwarp_consumer.hpp"
#include "capture/pcap_file.hpp"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  using namespace softrnic;
  auto reader = capture::PcapReader::from_bytes(as_bytes_of(data, size), "fuzz");
  if (!reader) return 0;
  const auto consumers = capture::make_iwarp_consumers();
  std::uint64_t records = 0;
  std::uint64_t last_frame = 0;
  const auto summary = capture::decode_capture(*reader, consumers.get(), [&](const capture::DecodeRecord& r) {
    ++records;
    if (r.frame == 0 || r.frame > 1u << 30) {
      std::fprintf(stderr, "record names impossible frame %llu\n", static_cast<unsigned long long>(r.frame));
      std::abort();
    }
    last_frame = r.frame > last_frame ? r.frame : last_frame;
  });
  if (summary && summary->records != records) {
    std::fprintf(stderr, "summary counts %llu records, %llu were passed on\n",
                 static_cast<unsigned long long>(summary->records), static_cast<unsigned long long>(records));
    std::abort();
  }
  return 0;
}
