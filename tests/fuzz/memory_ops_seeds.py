#!/usr/bin/env python3
"""Writes the seed corpus of the memory_ops fuzz target (tests/fuzz/corpus/memory_ops/).

  memory_ops_seeds.py [--out DIR]

Each seed is a scenario in the input format memory_ops_fuzz.cpp decodes (its header comment
lists the operations; the encoders below follow its reading order byte for byte): the memory
protection tests' races (a WRITE or SEND whose target goes away between packets, an FRMR
invalidated and fast-registered again mid-WRITE, READ responses after the source went, a
posted SEND whose memory goes, a window dying with its QP), ordinary traffic on RC and UC
(sends, writes, reads, atomics, windows, fast-registered regions), loss and timeouts, and
crafted frames. Objects are named by allocation order on their device, QPs by creation order.
Files are named <scenario>.bin; existing files in the output directory are kept.
"""
import argparse
import pathlib
import struct

OPS = ["register_mr", "deregister", "reregister_mr", "alloc_frmr", "fast_register",
       "invalidate", "alloc_mw", "bind_mw", "create_pair", "destroy_qp", "qp_to_error",
       "post_send", "post_recv", "poll", "advance_clock", "wire_mode", "release_held",
       "craft_frame"]
SEND_OPCODES = ["send", "send_with_imm", "send_with_inv", "rdma_write", "rdma_write_with_imm",
                "rdma_read", "atomic_cmp_swap", "atomic_fetch_add"]
LOCAL_WRITE, REMOTE_WRITE, REMOTE_READ, REMOTE_ATOMIC, MW_BIND, ZERO_BASED = 1, 2, 4, 8, 16, 32
ALL_REMOTE = LOCAL_WRITE | REMOTE_WRITE | REMOTE_READ | REMOTE_ATOMIC
VA_HOST, VA_MADE_UP, VA_ZERO_BASED = 0, 1, 3
PASS, HOLD, DROP = 0, 1, 2
IN_ORDER, NEWEST_FIRST, EVERY_OTHER, TWICE = 0, 1, 2, 3
SYNC = 0xc0  # a qp pick from here on: call the table instead of posting a work request


class Seed:
    def __init__(self, seed=0, zero_copy=False, no_ack_coalescing=False, small_pool=False):
        self.b = bytearray([seed, (1 if zero_copy else 0) | (2 if no_ack_coalescing else 0) |
                            (4 if small_pool else 0)])

    def _op(self, name, *fields):
        self.b.append(OPS.index(name))
        for kind, v in fields:
            self.b += struct.pack("<" + kind, v)
        return self

    def register_mr(self, dev, buf, length, access, off=0, va=VA_HOST, pd=0):
        return self._op("register_mr", ("B", dev | pd << 1), ("B", 0), ("B", buf), ("B", off // 8),
                        ("H", length), ("B", access), ("B", va))

    def reregister_mr(self, dev, obj, buf, length, access, off=0, va=VA_HOST):
        return self._op("reregister_mr", ("B", dev), ("B", obj), ("B", buf), ("B", off // 8),
                        ("H", length), ("B", access), ("B", va), ("B", 0))

    def deregister(self, dev, obj, tweak=0):
        return self._op("deregister", ("B", dev), ("B", obj), ("B", tweak))

    def alloc_frmr(self, dev, max_pages=4, pd=0):
        return self._op("alloc_frmr", ("B", dev | pd << 1), ("B", max_pages - 1))

    def fast_register(self, dev, qp, obj, new_key, pages, page_size_log, length, access,
                      fbo=0, va=VA_ZERO_BASED):
        """pages: (buffer, offset // 64) pairs; page size 256 << page_size_log."""
        self._op("fast_register", ("B", dev), ("B", qp), ("B", obj), ("B", 0), ("B", new_key),
                 ("B", len(pages)), ("B", page_size_log), ("H", fbo), ("B", 0),
                 ("H", length), ("B", access), ("B", va))
        for buf, off in pages:
            self.b += bytes([buf, off])
        return self

    def invalidate(self, dev, qp, obj, tweak=0, with_qp=False):
        return self._op("invalidate", ("B", dev | (2 if with_qp else 0)), ("B", qp), ("B", obj),
                        ("B", tweak))

    def alloc_mw(self, dev, pd=0):
        return self._op("alloc_mw", ("B", dev | pd << 1))

    def bind_mw(self, dev, qp, mw, mr, new_key, off, length, access, with_qp=False):
        return self._op("bind_mw", ("B", dev | (2 if with_qp else 0)), ("B", qp), ("B", mw),
                        ("B", 0), ("B", mr), ("B", 0), ("B", new_key), ("h", off),
                        ("H", length), ("B", access))

    def create_pair(self, uc=False, pmtu_log=0, access_a=7, access_b=7, timeout=4, retry=3,
                    rnr_retry=7, ord_=3, ird=3, min_rnr=0, psn_a=0, psn_b=0):
        """pmtu 256 << pmtu_log; timeout 4.096 us << (4 + timeout)."""
        return self._op("create_pair", ("B", 1 if uc else 0), ("B", pmtu_log),
                        ("B", access_a | access_b << 3), ("B", timeout | retry << 3 | rnr_retry << 5),
                        ("B", ord_ | ird << 2 | min_rnr << 4), ("B", psn_a), ("B", psn_b))

    def destroy_qp(self, dev, qp):
        return self._op("destroy_qp", ("B", dev), ("B", qp))

    def qp_to_error(self, dev, qp):
        return self._op("qp_to_error", ("B", dev), ("B", qp))

    def _sges(self, sges):
        self.b.append(len(sges))
        for obj, off, length in sges:
            # lengths from 8 KiB up take the long form (top bit set)
            self.b += struct.pack("<BBhH", obj, 0, off, length | 0x8000 if length >= 0x2000 else length)

    def post_send(self, dev, qp, opcode, sges, remote_obj=0, remote_off=0, signaled=True,
                  fence=False, inline=False, imm=0, compare=0, swap=0, remote_tweak=0):
        flags = (1 if signaled else 0) | (2 if fence else 0) | (8 if inline else 0)
        self._op("post_send", ("B", dev), ("B", qp), ("B", SEND_OPCODES.index(opcode)), ("B", flags))
        self._sges(sges)
        self.b += struct.pack("<BBhIBB", remote_obj, remote_tweak, remote_off, imm, compare, swap)
        return self

    def post_recv(self, dev, qp, sges):
        self._op("post_recv", ("B", dev), ("B", qp))
        self._sges(sges)
        return self

    def poll(self, rounds=32):
        return self._op("poll", ("B", rounds - 1))

    def advance_clock(self, shift):
        """Advances the clock by 2^(8 + shift) ns."""
        return self._op("advance_clock", ("B", shift))

    def wire_mode(self, side, mode):
        return self._op("wire_mode", ("B", side | mode << 1))

    def release_held(self, side, n, order=IN_ORDER):
        return self._op("release_held", ("B", side | order << 1), ("B", n - 1))

    def craft_frame(self, to, change, recent=0, opcode_pick=0, psn_delta=0, qp=0, key_obj=0,
                    key_how=0, va_delta=0, dma_len=0, payload_len=0, fill=0, syndrome=0, cut=0,
                    flip_at=0, flip=0):
        return self._op("craft_frame", ("B", to | recent << 1), ("H", change), ("B", opcode_pick),
                        ("h", psn_delta), ("B", qp), ("B", key_obj), ("B", key_how),
                        ("h", va_delta), ("H", dma_len), ("H", payload_len), ("B", fill),
                        ("B", syndrome), ("H", cut), ("H", flip_at), ("B", flip))


# craft_frame change bits
SCRATCH, OPCODE, QPN, PSN, PSN_EXPECTED, KEY_VA, DMA_LEN, DMA_LEN_RAW, PAYLOAD, AETH, ACK_REQ, \
    CUT, FLIP, FIX_ICRC, TWICE_ON_WIRE = (1 << i for i in range(15))


def scenarios():
    s = {}

    # A WRITE's target deregistered (and another region registered) between its packets.
    x = Seed(1).create_pair(pmtu_log=0)
    x.register_mr(0, 4, 1024, LOCAL_WRITE).register_mr(1, 3, 1024, LOCAL_WRITE | REMOTE_WRITE)
    x.wire_mode(0, HOLD).post_send(0, 0, "rdma_write", [(0, 0, 1024)]).poll(2).wire_mode(0, PASS)
    x.release_held(0, 1).poll(1).deregister(1, 0)
    x.register_mr(1, 2, 1024, LOCAL_WRITE | REMOTE_WRITE).release_held(0, 3).poll(32)
    s["write_target_deregistered_midway"] = x

    # The same through an FRMR invalidated and fast-registered over other pages.
    x = Seed(2).create_pair(pmtu_log=0)
    x.register_mr(0, 4, 1024, LOCAL_WRITE).alloc_frmr(1, 4)
    x.fast_register(1, SYNC, 0, 0x21, [(4, 0), (4, 16)], 2, 2048,
                    LOCAL_WRITE | REMOTE_WRITE | ZERO_BASED)
    x.wire_mode(0, HOLD).post_send(0, 0, "rdma_write", [(0, 0, 1024)]).poll(2).wire_mode(0, PASS)
    x.release_held(0, 1).poll(1).invalidate(1, SYNC, 0)
    x.fast_register(1, SYNC, 0, 0x21, [(3, 0), (5, 0)], 2, 2048,
                    LOCAL_WRITE | REMOTE_WRITE | ZERO_BASED)
    x.release_held(0, 3).poll(32)
    s["write_through_frmr_reregistered_midway"] = x

    # A SEND whose receive buffer is deregistered after its first packet.
    x = Seed(3).create_pair(pmtu_log=0)
    x.register_mr(0, 4, 1024, LOCAL_WRITE).register_mr(1, 3, 1024, LOCAL_WRITE)
    x.post_recv(1, 0, [(0, 0, 1024)])
    x.wire_mode(0, HOLD).post_send(0, 0, "send", [(0, 0, 1024)]).poll(2).wire_mode(0, PASS)
    x.release_held(0, 1).poll(1).deregister(1, 0).register_mr(1, 2, 1024, LOCAL_WRITE)
    x.release_held(0, 3).poll(32)
    s["send_sink_deregistered_midway"] = x

    # A READ of 80 responses (more than a turn sends), its source deregistered and new regions
    # registered while it is being answered; the responses held meanwhile are released after.
    x = Seed(4).create_pair(pmtu_log=0)
    x.register_mr(0, 6, 20480, LOCAL_WRITE).register_mr(1, 6, 20480, LOCAL_WRITE | REMOTE_READ)
    x.post_send(0, 0, "rdma_read", [(0, 0, 20480)]).wire_mode(1, HOLD).poll(2)
    x.deregister(1, 0).register_mr(1, 6, 20480, LOCAL_WRITE | REMOTE_READ)
    x.register_mr(1, 4, 4096, LOCAL_WRITE | REMOTE_READ).wire_mode(1, PASS)
    x.release_held(1, 16).release_held(1, 16).release_held(1, 16).release_held(1, 16)
    x.poll(32).advance_clock(20).poll(32)
    s["read_source_deregistered_while_answering"] = x

    # The READ's sink deregistered while its responses are held.
    x = Seed(5).create_pair(pmtu_log=1)
    x.register_mr(0, 3, 2048, LOCAL_WRITE).register_mr(1, 4, 2048, LOCAL_WRITE | REMOTE_READ)
    x.post_send(0, 0, "rdma_read", [(0, 0, 2048)]).wire_mode(1, HOLD).poll(3)
    x.release_held(1, 1).deregister(0, 0).release_held(1, 8).poll(32)
    s["read_sink_deregistered_between_responses"] = x

    # A posted SEND fenced behind a READ; its memory deregistered before it starts.
    x = Seed(6).create_pair(pmtu_log=2)
    x.register_mr(1, 2, 512, LOCAL_WRITE | REMOTE_READ).post_recv(1, 0, [(0, 0, 512)])
    x.register_mr(0, 4, 1024, LOCAL_WRITE).register_mr(0, 3, 1024, LOCAL_WRITE)
    x.post_send(0, 0, "rdma_read", [(0, 0, 64)]).post_send(0, 0, "send", [(1, 0, 512)], fence=True)
    x.poll(1).deregister(0, 1).poll(32)
    s["fenced_send_memory_deregistered"] = x

    # A type 2 window bound through a QP, used, then the QP destroyed and the window used again.
    x = Seed(7).create_pair(pmtu_log=1)
    x.register_mr(1, 4, 4096, LOCAL_WRITE | MW_BIND | ZERO_BASED, va=VA_ZERO_BASED)
    x.alloc_mw(1).bind_mw(1, 0, 1, 0, 0x42, 0, 2048, REMOTE_WRITE | ZERO_BASED)
    x.register_mr(0, 3, 2048, LOCAL_WRITE).poll(4)
    x.post_send(0, 0, "rdma_write", [(0, 0, 512)], remote_obj=1).poll(16)
    x.destroy_qp(1, 0).post_send(0, 0, "rdma_write", [(0, 0, 512)], remote_obj=1).poll(32)
    x.deregister(1, 0).deregister(1, 1).deregister(1, 0).poll(4)
    s["window_dies_with_its_qp"] = x

    # Ordinary RC traffic: sends with immediate, writes, reads, both atomics, inline.
    x = Seed(8).create_pair(pmtu_log=1)
    x.register_mr(0, 4, 4096, ALL_REMOTE).register_mr(1, 4, 4096, ALL_REMOTE)
    x.post_recv(1, 0, [(0, 0, 2048)]).post_recv(1, 0, [(0, 2048, 1024), (0, 3072, 1024)])
    x.post_send(0, 0, "send_with_imm", [(0, 0, 1500)], imm=7)
    x.post_send(0, 0, "rdma_write", [(0, 100, 700), (0, 900, 100)], remote_off=16)
    x.post_send(0, 0, "rdma_read", [(0, 2048, 1000)], remote_off=3000)
    x.post_send(0, 0, "atomic_fetch_add", [(0, 8, 8)], remote_off=64, compare=1)
    x.post_send(0, 0, "atomic_cmp_swap", [(0, 16, 8)], remote_off=72, compare=0, swap=3)
    x.post_send(0, 0, "send", [(0, 0, 40)], inline=True).poll(32).poll(32)
    s["rc_traffic"] = x

    # UC: a write and a send, one frame of each lost, then the rest.
    x = Seed(9).create_pair(uc=True, pmtu_log=0)
    x.register_mr(0, 4, 2048, LOCAL_WRITE).register_mr(1, 4, 2048, LOCAL_WRITE | REMOTE_WRITE)
    x.post_recv(1, 0, [(0, 1024, 1024)])
    x.wire_mode(0, HOLD).post_send(0, 0, "rdma_write", [(0, 0, 1024)])
    x.post_send(0, 0, "send", [(0, 0, 1024)]).poll(4).wire_mode(0, PASS)
    x.release_held(0, 16, EVERY_OTHER).poll(8)
    x.post_send(0, 0, "rdma_write", [(0, 0, 1024)]).poll(16)
    s["uc_loss"] = x

    # Fast-register and bind posted as work requests, used by the peer, invalidated by work
    # requests and by SEND with invalidate; zero-copy transmit.
    x = Seed(10, zero_copy=True).create_pair(pmtu_log=1)
    x.register_mr(1, 4, 4096, LOCAL_WRITE | MW_BIND)
    x.alloc_frmr(1, 8).alloc_mw(1).register_mr(0, 4, 4096, LOCAL_WRITE)
    x.fast_register(1, 0, 1, 0x33, [(3, 0), (5, 0)], 2, 2048,
                    LOCAL_WRITE | REMOTE_WRITE | REMOTE_READ | ZERO_BASED)
    x.bind_mw(1, 0, 2, 0, 0x44, 256, 1024, REMOTE_WRITE | REMOTE_READ).poll(4)
    x.post_send(0, 0, "rdma_write", [(3, 0, 2048)], remote_obj=1).poll(8)
    x.post_send(0, 0, "rdma_write", [(3, 0, 1024)], remote_obj=2).poll(8)
    x.post_recv(1, 0, [(0, 0, 64)])
    x.post_send(0, 0, "send_with_inv", [(3, 0, 64)], remote_obj=1).poll(8)
    x.invalidate(1, 0, 2).poll(4)
    x.post_send(0, 0, "rdma_write", [(3, 0, 1024)], remote_obj=1)
    x.post_send(0, 0, "rdma_write", [(3, 0, 1024)], remote_obj=2).poll(32)
    s["posted_memory_operations"] = x

    # Retransmission: everything from A dropped, then timeouts until the retries run out.
    x = Seed(11).create_pair(timeout=0, retry=1)
    x.register_mr(0, 4, 1024, LOCAL_WRITE).register_mr(1, 4, 1024, LOCAL_WRITE | REMOTE_WRITE)
    x.wire_mode(0, DROP).post_send(0, 0, "rdma_write", [(0, 0, 1024)]).poll(2)
    x.advance_clock(8).poll(4).wire_mode(0, PASS).advance_clock(8).poll(8)
    x.deregister(1, 0).advance_clock(8).poll(8).advance_clock(10).poll(8)
    s["write_retried_after_target_deregistered"] = x

    # Crafted frames: a captured WRITE replayed with the R_Key of a local-only region, with
    # PSNs the responder expects; a READ request for a deregistered key; a forged READ
    # response to a completed READ.
    x = Seed(12).create_pair(pmtu_log=0)
    x.register_mr(0, 4, 1024, ALL_REMOTE).register_mr(1, 4, 1024, LOCAL_WRITE | REMOTE_WRITE)
    x.register_mr(1, 3, 1024, LOCAL_WRITE)
    x.post_send(0, 0, "rdma_write", [(0, 0, 256)]).poll(8)
    x.craft_frame(1, KEY_VA | PSN | PSN_EXPECTED, key_obj=1)
    x.craft_frame(1, KEY_VA | PSN | PSN_EXPECTED | OPCODE, opcode_pick=12, key_obj=0,
                  dma_len=256)
    x.poll(8).deregister(1, 0)
    x.craft_frame(1, SCRATCH | OPCODE | QPN | PSN | PSN_EXPECTED | KEY_VA | DMA_LEN,
                  opcode_pick=12, key_obj=0, dma_len=128).poll(8)
    x.post_send(0, 0, "rdma_read", [(0, 512, 256)], remote_obj=1).poll(8)
    x.craft_frame(0, OPCODE | PSN | PSN_EXPECTED | PAYLOAD | AETH, opcode_pick=16,
                  psn_delta=-1, payload_len=256, fill=0x77).poll(8)
    x.craft_frame(1, CUT | FLIP | FIX_ICRC, cut=70, flip_at=50, flip=1).poll(2)
    s["crafted_frames"] = x

    # Two pairs, PSNs near the wrap, one QP moved to ERR with work outstanding, receives
    # flushed, regions re-registered onto other buffers.
    x = Seed(13).create_pair(psn_a=0xff, psn_b=0xfe).create_pair(pmtu_log=2)
    x.register_mr(0, 4, 4096, ALL_REMOTE).register_mr(1, 4, 4096, ALL_REMOTE)
    x.post_recv(1, 0, [(0, 0, 1024)]).post_recv(1, 1, [(0, 1024, 1024)])
    x.post_send(0, 0, "send", [(0, 0, 1000)]).post_send(0, 1, "rdma_write", [(0, 0, 3000)])
    x.qp_to_error(1, 1).poll(16)
    x.reregister_mr(1, 0, 3, 2048, LOCAL_WRITE | REMOTE_WRITE)
    x.post_send(0, 0, "rdma_write", [(0, 0, 2048)], remote_tweak=0xc0).poll(16)
    x.post_send(0, 0, "rdma_write", [(0, 0, 2048)]).poll(16)
    s["two_pairs_error_and_reregister"] = x

    # Long messages on a wire that runs out of buffers, ACKs not coalesced.
    x = Seed(14, no_ack_coalescing=True, small_pool=True).create_pair(pmtu_log=0)
    x.register_mr(0, 6, 20480, ALL_REMOTE).register_mr(1, 6, 20480, ALL_REMOTE)
    x.post_send(0, 0, "rdma_write", [(0, 0, 20480)])
    x.post_send(0, 0, "rdma_read", [(0, 0, 20480)], remote_off=0).poll(32).poll(32).poll(32)
    s["small_pool_long_messages"] = x

    # Atomics through a window and an FRMR, one misaligned, one into a region without the right.
    x = Seed(15).create_pair()
    x.register_mr(1, 2, 512, LOCAL_WRITE | REMOTE_ATOMIC | MW_BIND).alloc_mw(1).alloc_frmr(1, 2)
    x.register_mr(1, 1, 512, LOCAL_WRITE | REMOTE_WRITE).register_mr(0, 2, 512, LOCAL_WRITE)
    x.bind_mw(1, 0, 1, 0, 0x51, 64, 64, REMOTE_ATOMIC)
    x.fast_register(1, 0, 2, 0x52, [(2, 0)], 0, 256, LOCAL_WRITE | REMOTE_ATOMIC, va=VA_MADE_UP)
    x.poll(4)
    x.post_send(0, 0, "atomic_fetch_add", [(0, 0, 8)], remote_obj=1, compare=5)
    x.post_send(0, 0, "atomic_cmp_swap", [(0, 8, 8)], remote_obj=2, remote_off=8, swap=9)
    x.post_send(0, 0, "atomic_fetch_add", [(0, 16, 8)], remote_obj=3, compare=1).poll(16)
    x.create_pair().post_send(0, 1, "atomic_fetch_add", [(0, 24, 8)], remote_obj=2, remote_off=3)
    x.poll(16)
    s["atomics_through_window_and_frmr"] = x

    # The requester's QP destroyed with a READ in flight; its responses arrive afterwards.
    x = Seed(16).create_pair(pmtu_log=0)
    x.register_mr(0, 4, 4096, LOCAL_WRITE).register_mr(1, 4, 4096, LOCAL_WRITE | REMOTE_READ)
    x.post_send(0, 0, "rdma_read", [(0, 0, 4096)]).wire_mode(1, HOLD).poll(3)
    x.destroy_qp(0, 0).create_pair(pmtu_log=0).wire_mode(1, PASS)
    x.release_held(1, 16, NEWEST_FIRST).poll(16)
    s["read_responses_after_requester_destroyed"] = x

    # A region with a window bound: re-registration and deregistration refused; the window
    # invalidated by the peer's SEND with invalidate, then both succeed.
    x = Seed(17).create_pair(pmtu_log=1)
    x.register_mr(1, 4, 4096, LOCAL_WRITE | MW_BIND).alloc_mw(1).register_mr(0, 4, 4096, LOCAL_WRITE)
    x.bind_mw(1, 0, 1, 0, 0x61, 0, 4096, REMOTE_WRITE).poll(4)
    x.reregister_mr(1, 0, 3, 2048, LOCAL_WRITE).deregister(1, 0)
    x.post_send(0, 0, "rdma_write", [(0, 0, 2048)], remote_obj=1)
    x.register_mr(1, 3, 2048, LOCAL_WRITE).post_recv(1, 0, [(2, 0, 256)])
    x.post_send(0, 0, "send_with_inv", [(0, 0, 100)], remote_obj=1).poll(16)
    x.post_send(0, 0, "rdma_write", [(0, 0, 2048)], remote_obj=1).poll(16)
    x.reregister_mr(1, 0, 3, 2048, LOCAL_WRITE).deregister(1, 0).poll(4)
    s["window_invalidated_by_peer"] = x

    # PSNs about to wrap, a multi-packet WRITE whose frames are held and delivered newest first
    # and twice, then a crafted copy of the last one.
    x = Seed(18).create_pair(pmtu_log=0, psn_a=0xff, psn_b=0xff)
    x.register_mr(0, 6, 20480, LOCAL_WRITE).register_mr(1, 6, 20480, LOCAL_WRITE | REMOTE_WRITE)
    x.wire_mode(0, HOLD).post_send(0, 0, "rdma_write", [(0, 0, 3000)]).poll(2).wire_mode(0, PASS)
    x.release_held(0, 4, NEWEST_FIRST).release_held(0, 16, TWICE).poll(8)
    x.craft_frame(1, TWICE_ON_WIRE).poll(8)
    s["psn_wrap_reordered_write"] = x
    return s


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--out", default=str(pathlib.Path(__file__).parent / "corpus" / "memory_ops"))
    args = ap.parse_args()
    out = pathlib.Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    for name, seed in scenarios().items():
        (out / f"{name}.bin").write_bytes(bytes(seed.b))
    print(f"memory_ops_seeds: {len(scenarios())} seeds in {out}")


if __name__ == "__main__":
    main()
