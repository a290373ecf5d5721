#include "smbd/session.hpp"

#include <algorithm>
#include <cmath>
#include <cstring>
#include <memory>
#include <thread>

namespace smbd {

namespace {

using Clock = std::chrono::steady_clock;

void fill(std::vector<std::byte>& v, std::uint64_t seed) {
  std::uint64_t x = seed * 0x9E3779B97F4A7C15ull + 1;  // xorshift64*
  for (std::size_t i = 0; i < v.size(); i += 8) {
    x ^= x >> 12;
    x ^= x << 25;
    x ^= x >> 27;
    const std::uint64_t r = x * 0x2545F4914F6CDD1Dull;
    for (std::size_t k = 0; k < 8 && i + k < v.size(); ++k)
      v[i + k] = static_cast<std::byte>(r >> (8 * k));
  }
}

}  // namespace

std::uint64_t percentile(std::vector<std::uint64_t> samples, double p) {
  if (samples.empty()) return 0;
  std::sort(samples.begin(), samples.end());
  const double rank = std::ceil(p / 100.0 * static_cast<double>(samples.size()));
  const std::size_t i =
      std::min(samples.size() - 1, static_cast<std::size_t>(std::max(rank, 1.0)) - 1);
  return samples[i];
}

SessionReport run_session(const SessionOptions& o) {
  SessionReport rep;
  auto note = [&](const Failure& f, const char* phase) {
    if (!f.ok() && rep.failure.ok())
      rep.failure = {f.status, std::string(phase) + ": " + f.message};
    return f.ok();
  };
  const std::size_t file_size = o.payload_size + o.inline_rounds * o.inline_size;
  std::unique_ptr<Server> server;
  std::unique_ptr<Client> client;
  auto t0 = Clock::now();
  Server::Options so;
  so.if_index = o.server_if;
  so.ip = o.server_ip;
  so.port = o.port;
  so.config = o.server_config;
  so.file_size = file_size;
  if (note(Server::listen(so, server), "listen")) {
    Failure accepted;
    std::thread acceptor([&] { accepted = server->accept(o.accept_timeout); });
    Client::Options co;
    co.if_index = o.client_if;
    co.server_ip = o.server_ip;
    co.port = server->port();
    co.config = o.client_config;
    const Failure connected = Client::connect(co, client);
    acceptor.join();
    note(connected, "connect");
    note(accepted, "accept");
  }
  rep.connect = Clock::now() - t0;
  bool ok = rep.failure.ok() && client != nullptr;
  if (ok) {
    rep.negotiated = client->info().params;
    rep.technology = rep.negotiated.technology;
    std::vector<std::byte> payload(o.payload_size), back(o.payload_size);
    fill(payload, o.seed);
    t0 = Clock::now();
    ok = note(client->write(0, payload), "write");
    rep.write = Clock::now() - t0;
    if (ok) {
      const auto file = server->file();
      ok = std::memcmp(file.data(), payload.data(), payload.size()) == 0;
      if (!ok)
        note({STATUS_UNSUCCESSFUL, "the server's file differs from what was written"}, "verify");
      else
        rep.bytes_written = payload.size();
    }
    if (ok) {
      t0 = Clock::now();
      ok = note(client->read(0, back), "read");
      rep.read = Clock::now() - t0;
      if (ok && back != payload) {
        ok = false;
        note({STATUS_UNSUCCESSFUL, "what was read back differs from what was written"}, "verify");
      }
      if (ok) rep.bytes_read = back.size();
    }
    if (ok) {
      std::vector<std::byte> small(o.latency_size);
      fill(small, o.seed + 1);
      t0 = Clock::now();
      rep.latency_ns.reserve(o.latency_rounds);
      for (std::size_t i = 0; i < o.latency_rounds && ok; ++i) {
        const auto s = Clock::now();
        ok = note(client->echo(small), "echo");
        rep.latency_ns.push_back(static_cast<std::uint64_t>(
            std::chrono::duration_cast<std::chrono::nanoseconds>(Clock::now() - s).count()));
      }
      rep.latency = Clock::now() - t0;
    }
    if (ok) {
      // Small I/O goes inline in data transfer messages, past the payload's area.
      t0 = Clock::now();
      std::vector<std::byte> w(o.inline_size), r(o.inline_size);
      for (std::size_t i = 0; i < o.inline_rounds && ok; ++i) {
        fill(w, o.seed + 2 + i);
        const std::uint64_t at = o.payload_size + i * o.inline_size;
        ok = note(client->write(at, w), "inline write") && note(client->read(at, r), "inline read");
        if (ok && r != w) {
          ok = false;
          note({STATUS_UNSUCCESSFUL, "inline data read back differs"}, "verify");
        }
        if (ok) {
          rep.bytes_written += w.size();
          rep.bytes_read += r.size();
        }
      }
      rep.inline_io = Clock::now() - t0;
    }
    rep.verified = ok;
  }
  if (client) rep.client = client->info().counters;
  if (server && server->connections() > 0) rep.server = server->info(0).counters;
  t0 = Clock::now();
  if (client) {
    const Failure f = client->close();
    if (rep.failure.ok() && !f.ok()) note(f, "client teardown");
    rep.objects_open += client->objects_open();
  }
  if (server) {
    const Failure f = server->close();
    if (rep.failure.ok() && !f.ok()) note(f, "server teardown");
    rep.objects_open += server->objects_open();
  }
  rep.teardown = Clock::now() - t0;
  return rep;
}

}  // namespace smbd
