// The iWARP reader of `softrnic decode`: a TCP connection whose initiator opens with an MPA
// Request is decoded as MPA/DDP/RDMAP, one record per MPA Request/Reply and per FPDU, with the
// CRC verdict the Reply negotiated. Any other connection stays plain TCP.
#pragma once

#include <memory>

#include "capture/tcp_stream_consumer.hpp"

namespace softrnic::capture {

std::unique_ptr<TcpConsumerFactory> make_iwarp_consumers();

}  // namespace softrnic::capture
