#include "runtime.hpp"

#include <net/if.h>

#include <condition_variable>
#include <cstdio>
#include <cstdlib>
#include <string_view>
#include <thread>

#include "backend_factory.hpp"
#include "base/clock.hpp"
#include "engine/engine_loop.hpp"
#include "factory/device_config.hpp"
#include "factory/device_set.hpp"
#include "factory/device_spec.hpp"
#include "fault/link_faults.hpp"
#include "scenario_run.hpp"

namespace softrnic::ndk {

namespace {

// The CM answers duplicates of a finished connection for its time-wait (1 s by default) and may
// look at the connection's QP meanwhile, so QPs that were connected are destroyed this much later.
constexpr std::uint64_t kQpRetireDelayNs = 3'000'000'000;

// The environment is read with secure_getenv: in a set-user-ID or file-capability consumer
// the caller's SOFTRNIC_* variables are ignored, so they cannot choose its devices (nor their
// eal= arguments, nor a config file to read, nor faults).
Result<std::vector<transport::DeviceSpec>> specs_from_environment() {
  std::vector<transport::DeviceSpec> specs;
  if (const char* list = secure_getenv("SOFTRNIC_DEVICES"); list != nullptr && *list != '\0') {
    std::string_view rest(list);
    while (!rest.empty()) {
      const auto semi = rest.find(';');
      const std::string_view one = rest.substr(0, semi);
      rest = semi == std::string_view::npos ? std::string_view{} : rest.substr(semi + 1);
      if (one.find_first_not_of(" \t") == std::string_view::npos) continue;
      auto s = transport::parse_device_spec(one);
      if (!s) return make_error(s.error().code, "SOFTRNIC_DEVICES: " + s.error().message);
      specs.push_back(std::move(*s));
    }
    return specs;
  }
  if (const char* path = secure_getenv("SOFTRNIC_CONFIG"); path != nullptr && *path != '\0')
    return transport::load_device_config(path);
  return make_error(Errc::not_found, "neither SOFTRNIC_DEVICES nor SOFTRNIC_CONFIG names a device");
}

}  // namespace

struct Runtime::Impl {
  SteadyClock clock;
  // A fault stage on every RoCEv2 device, so scenarios can arm drops and link flaps.
  transport::DeviceSet set{[] {
    transport::DeviceSetOptions o;
    o.fault_stage = true;
    return o;
  }()};
  std::vector<std::unique_ptr<DeviceEntry>> devices;
  EngineLoop loop{EngineLoopConfig{}};
  std::atomic<std::thread::id> engine_thread{};
  std::mutex control_mu;
  std::vector<std::function<void()>> control, running;
  std::atomic<bool> control_pending{false};
  struct Retired {
    DeviceEntry* dev;
    EngineQp* qp;
    std::uint64_t when_ns;
  };
  std::vector<Retired> retired;  // engine thread only
};

Runtime* Runtime::instance(NTSTATUS* status) {
  static std::mutex mu;
  static std::unique_ptr<Runtime> rt;
  static NTSTATUS failure = STATUS_SUCCESS;
  std::lock_guard lock(mu);
  if (!rt && failure == STATUS_SUCCESS) {
    std::unique_ptr<Runtime> r(new Runtime());
    r->impl_ = std::make_unique<Impl>();
    if (auto b = r->build(); !b) {
      failure = NDIS_STATUS_ADAPTER_NOT_READY;
      std::fprintf(stderr, "softrnic-ndk: %s\n", b.error().message.c_str());
    } else {
      rt = std::move(r);
    }
  }
  if (status) *status = rt ? STATUS_SUCCESS : failure;
  return rt.get();
}

Runtime::~Runtime() {
  impl_->loop.stop();
  for (auto& r : impl_->retired) r.dev->backend->destroy_qp(r.qp);
  // Backends (and their CMs) go before the devices they use.
  for (auto& d : impl_->devices) d->backend.reset();
}

namespace {

// SOFTRNIC_FAULTS (or else the scenario's `faults`) on every RoCEv2 spec that has none.
Result<void> apply_wire_faults(std::vector<transport::DeviceSpec>& specs,
                               const std::string& scenario_faults) {
  std::string text = scenario_faults;
  std::string from = "scenario";
  if (const char* env = secure_getenv("SOFTRNIC_FAULTS"); env != nullptr && *env != '\0') {
    auto f = transport::parse_link_faults(env);
    if (!f) return make_error(f.error().code, "SOFTRNIC_FAULTS: " + f.error().message);
    text = transport::format_link_faults(*f);
    from = "SOFTRNIC_FAULTS";
  }
  if (text.empty()) return {};
  for (auto& s : specs) {
    if (s.proto == transport::DeviceProto::iwarp) {
      std::fprintf(stderr,
                   "softrnic-ndk: %s: wire faults (%s) do not apply to iWARP device %s: its kernel "
                   "TCP hides loss and reordering; left without\n",
                   from.c_str(), text.c_str(), s.name.c_str());
      continue;
    }
    if (s.faults.empty()) s.faults = text;
  }
  return {};
}

}  // namespace

Result<void> Runtime::build() {
  auto specs = specs_from_environment();
  if (!specs) return std::unexpected(specs.error());
  auto env_run = scenario_from_environment();
  if (!env_run) return std::unexpected(env_run.error());
  const std::string scenario_faults =
      *env_run != nullptr ? (*env_run)->scenario().faults : prepared_scenario_faults();
  if (auto f = apply_wire_faults(*specs, scenario_faults); !f) return f;
  if (auto b = impl_->set.build(*specs, impl_->clock); !b) return b;
  NET_IFINDEX next = kIfIndexBase;
  for (const auto& s : *specs) {
    auto e = std::make_unique<DeviceEntry>();
    e->name = s.name;
    const bool on_kernel_interface =
        !s.iface.empty() && (s.port == transport::PortKind::af_packet ||
                             s.port == transport::PortKind::af_xdp ||
                             s.port == transport::PortKind::tap);
    const unsigned kernel_index = on_kernel_interface ? if_nametoindex(s.iface.c_str()) : 0;
    e->ifindex = kernel_index != 0 ? kernel_index : next;
    ++next;
    Result<std::unique_ptr<Backend>> be = make_error(Errc::not_found, "no device " + s.name);
    if (auto* r = impl_->set.device(s.name)) {
      be = make_roce_backend(*r);
    } else if (auto* w = impl_->set.iwarp_device(s.name)) {
      std::vector<wire::Ipv6Addr> ips;
      for (const auto& p : s.ip4) ips.push_back(wire::ipv4_mapped(p.addr));
      for (const auto& p : s.ip6) ips.push_back(p.addr);
      be = make_iwarp_backend(*w, std::move(ips));
    }
    if (!be) return make_error(be.error().code, "device " + s.name + ": " + be.error().message);
    e->backend = std::move(*be);
    e->faults = impl_->set.faults(s.name);
    e->qp_context_mask = verbs::qpn_slot_mask(e->backend->limits());
    e->qp_context = std::make_unique<std::atomic<void*>[]>(e->qp_context_mask + 1);
    e->qp_context_qpn = std::make_unique<std::atomic<std::uint32_t>[]>(e->qp_context_mask + 1);
    impl_->devices.push_back(std::move(e));
  }
  if (*env_run != nullptr) {
    (*env_run)->attach(*this);
    g_scenario.store(*env_run, std::memory_order_release);
  }
  impl_->loop.add([this] { return poll_control(); });
  for (auto& d : impl_->devices) {
    Backend* b = d->backend.get();
    impl_->loop.add([b] { return b->poll(); });
  }
  return impl_->loop.start();
}

std::size_t Runtime::poll_control() {
  Impl& m = *impl_;
  if (m.engine_thread.load(std::memory_order_relaxed) != std::this_thread::get_id())
    m.engine_thread.store(std::this_thread::get_id(), std::memory_order_release);
  std::size_t work = 0;
  if (m.control_pending.load(std::memory_order_acquire)) {
    {
      std::lock_guard lock(m.control_mu);
      m.running.swap(m.control);
      m.control_pending.store(false, std::memory_order_release);
    }
    for (auto& fn : m.running) fn();
    work += m.running.size();
    m.running.clear();
  }
  // Consumer test mode: one load while no scenario is loaded.
  if (ScenarioRun* run = active_scenario()) work += run->poll();
  if (!m.retired.empty()) {
    const std::uint64_t now = m.clock.now_ns();
    std::erase_if(m.retired, [&](const Impl::Retired& r) {
      if (r.when_ns > now) return false;
      r.dev->backend->destroy_qp(r.qp);
      return true;
    });
  }
  return work;
}

DeviceEntry* Runtime::find(NET_IFINDEX ifindex) {
  for (auto& d : impl_->devices)
    if (d->ifindex == ifindex) return d.get();
  return nullptr;
}

std::vector<DeviceEntry*> Runtime::devices() {
  std::vector<DeviceEntry*> v;
  for (auto& d : impl_->devices) v.push_back(d.get());
  return v;
}

void Runtime::post(std::function<void()> fn) {
  std::lock_guard lock(impl_->control_mu);
  impl_->control.push_back(std::move(fn));
  impl_->control_pending.store(true, std::memory_order_release);
}

void Runtime::run_and_wait(const std::function<void()>& fn) {
  if (on_engine_thread()) {
    fn();
    return;
  }
  std::mutex mu;
  std::condition_variable cv;
  bool done = false;
  post([&] {
    fn();
    std::lock_guard lock(mu);
    done = true;
    cv.notify_one();
  });
  std::unique_lock lock(mu);
  cv.wait(lock, [&] { return done; });
}

bool Runtime::on_engine_thread() const {
  return impl_->engine_thread.load(std::memory_order_acquire) == std::this_thread::get_id();
}

void Runtime::retire_qp(DeviceEntry& dev, EngineQp* qp) {
  dev.backend->flush(qp);
  impl_->retired.push_back({&dev, qp, impl_->clock.now_ns() + kQpRetireDelayNs});
}

}  // namespace softrnic::ndk
