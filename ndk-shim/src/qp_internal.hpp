// QP helpers the connection code needs (engine thread).
#pragma once

#include "objects.hpp"

namespace softrnic::ndk {

// Hands the receives posted before the connection to the engine, which now takes them.
void release_held_receives(Qp& q);
// Moves the QP to error (pending work completes with STATUS_CANCELLED), held receives included.
void flush_engine_qp(Qp& q);

}  // namespace softrnic::ndk
