// Why iWARP input (an MPA Request/Reply, an FPDU, a DDP/RDMAP ULPDU) was not accepted. One list for
// the three layers so that a stream parser reports any of them the same way; each has a name and a
// counter (iwarp_<name>). A receive error ends the connection (RFC 5040 error management): the
// caller sends a TERMINATE where it can and closes the TCP stream.
#pragma once

#include <cstdint>
#include <string_view>

namespace softrnic::wire {

#define SOFTRNIC_IWARP_ERRORS(X)                                                             \
  X(mpa_truncated)             /* fewer bytes than the Request/Reply header says */          \
  X(mpa_bad_key)               /* not "MPA ID Req Frame" / "MPA ID Rep Frame" as expected */ \
  X(mpa_bad_revision)          /* Rev other than 1 (RFC 5044) or 2 (RFC 6581) */             \
  X(mpa_private_data_too_long) /* private data length over 512 (RFC 5044) */                 \
  X(mpa_ird_ord_missing)       /* Rev 2 + Enhanced with less than the 4-byte block */        \
  X(mpa_markers_requested)     /* M=1: markers are not supported, the caller rejects */      \
  X(mpa_rejected)              /* the Reply has R=1: the responder refused the connection */ \
  X(fpdu_truncated)            /* fewer bytes than ULPDU_LENGTH, pad and CRC need */         \
  X(fpdu_bad_crc)              /* CRC32c of the FPDU does not match its CRC field */         \
  X(ddp_header_truncated)      /* ULPDU shorter than the DDP header its T bit names */       \
  X(ddp_bad_version)           /* DV != 1 (RFC 5041 DDP control field) */                    \
  X(ddp_bad_queue_number)      /* QN is not the one the RDMAP opcode uses */                 \
  X(rdmap_bad_version)         /* RV != 1 (RFC 5040 RDMAP control field) */                  \
  X(rdmap_unknown_opcode)      /* opcode 0xC..0xF: not defined */                            \
  X(rdmap_rfc7306_unsupported) /* opcode 0x8..0xB: immediate data and atomics */             \
  X(rdmap_tagged_mismatch)     /* T bit disagrees with the opcode's DDP model */             \
  X(rdmap_header_truncated)    /* Read Request or Terminate header does not fit */           \
  X(rdmap_unexpected_payload)  /* bytes after a Read Request header */

enum class IwarpError : std::uint8_t {
#define SOFTRNIC_X(n) n,
  SOFTRNIC_IWARP_ERRORS(SOFTRNIC_X)
#undef SOFTRNIC_X
  count_
};

constexpr std::string_view counter_name(IwarpError e) {
  switch (e) {
#define SOFTRNIC_X(n) \
  case IwarpError::n: \
    return "iwarp_" #n;
    SOFTRNIC_IWARP_ERRORS(SOFTRNIC_X)
#undef SOFTRNIC_X
    case IwarpError::count_:
      break;
  }
  return "iwarp_unknown";
}

// The error without the counter prefix, for messages.
constexpr std::string_view iwarp_error_name(IwarpError e) { return counter_name(e).substr(6); }

}  // namespace softrnic::wire
