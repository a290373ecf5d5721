#include "factory/device_config.hpp"

#include <cerrno>
#include <cstdint>
#include <cstring>
#include <fstream>
#include <iterator>
#include <map>
#include <optional>
#include <sstream>

#include <toml++/toml.h>

#include "dpdk/eal_args.hpp"

namespace softrnic::transport {

namespace {

constexpr std::string_view kKeys =
    "name, proto, port, peer, socket, iface, role, mac, ip4, ip6, mtu, vlan, udp_port, "
    "peer_udp_port, mpa_crc, faults, eal, zero_copy";

bool is_key(std::string_view k) {
  for (const std::string_view known :
       {"name", "proto", "port", "peer", "socket", "iface", "role", "mac", "ip4", "ip6", "mtu",
        "vlan", "udp_port", "peer_udp_port", "mpa_crc", "faults", "eal", "zero_copy"}) {
    if (k == known) return true;
  }
  return false;
}

bool is_numeric_key(std::string_view k) {
  return k == "mtu" || k == "vlan" || k == "udp_port" || k == "peer_udp_port" || k == "zero_copy";
}
bool is_list_key(std::string_view k) { return k == "ip4" || k == "ip6" || k == "eal"; }

std::string type_name(const toml::node& n) {
  switch (n.type()) {
    case toml::node_type::table:
      return "a table";
    case toml::node_type::array:
      return "an array";
    case toml::node_type::string:
      return "a string";
    case toml::node_type::integer:
      return "an integer";
    case toml::node_type::floating_point:
      return "a floating-point number";
    case toml::node_type::boolean:
      return "a boolean";
    case toml::node_type::date:
    case toml::node_type::time:
    case toml::node_type::date_time:
      return "a date or time";
    case toml::node_type::none:
      break;
  }
  return "nothing";
}

// One value of a key, as spec text, with the line it came from.
struct Item {
  std::string text;
  std::uint32_t line = 0;
};

// Where a message about one [[device]] table points.
class DeviceErrors {
 public:
  DeviceErrors(const std::string& file, std::size_t index) : file_(file), index_(index) {}
  void set_name(std::string n) { name_ = std::move(n); }
  std::unexpected<Error> at(std::uint32_t line, const std::string& message) const {
    const std::string who =
        name_.empty() ? "[[device]] #" + std::to_string(index_) : "device " + name_;
    return make_error(Errc::invalid_argument,
                      file_ + ":" + std::to_string(line) + ": " + who + ": " + message);
  }

 private:
  const std::string& file_;
  std::size_t index_;
  std::string name_;
};

std::uint32_t line_of(const toml::source_region& r) { return r.begin.line; }

// The spec text of one scalar: a string, or an integer for the numeric keys.
Result<std::string> scalar_text(std::string_view key, const toml::node& n) {
  if (const auto* s = n.as_string()) {
    const std::string& v = s->get();
    if (v.find(',') != std::string::npos)
      return make_error(
          Errc::invalid_argument,
          std::string(key) + ": '" + v + "' may not contain ',' (it separates spec fields)");
    const bool port_option = key == "peer" || key == "socket" || key == "iface";
    if (port_option && v.find(':') != std::string::npos)
      return make_error(
          Errc::invalid_argument,
          std::string(key) + ": '" + v + "' may not contain ':' (it separates port options)");
    return v;
  }
  if (const auto* i = n.as_integer(); i != nullptr && is_numeric_key(key))
    return std::to_string(i->get());
  return make_error(Errc::invalid_argument,
                    std::string(key) + ": expected " +
                        (is_numeric_key(key) ? "an integer or a string" : "a string") + ", got " +
                        type_name(n));
}

Result<DeviceSpec> device_from_table(const toml::table& t, const std::string& file,
                                     std::size_t index) {
  DeviceErrors err(file, index);
  const std::uint32_t table_line = line_of(t.source());
  std::map<std::string, std::vector<Item>, std::less<>> fields;
  std::map<std::string, std::uint32_t, std::less<>> key_line;
  if (const auto* n = t.get_as<std::string>("name")) err.set_name(n->get());
  for (auto&& [k, node] : t) {
    const std::string key(k.str());
    const std::uint32_t line = line_of(k.source());
    if (!is_key(key))
      return err.at(line, "unknown field '" + key + "' (accepted: " + std::string(kKeys) + ")");
    key_line[key] = line;
    std::vector<Item>& items = fields[key];
    if (const auto* arr = node.as_array()) {
      if (!is_list_key(key))
        return err.at(line, key + ": expected " +
                                (is_numeric_key(key) ? "an integer or a string" : "a string") +
                                ", got an array (only ip4, ip6 and eal take arrays)");
      for (const toml::node& e : *arr) {
        const std::uint32_t item_line = line_of(e.source()) ? line_of(e.source()) : line;
        if (!e.is_string())
          return err.at(item_line, key + ": array items must be strings, got " + type_name(e));
        const std::string& v = e.as_string()->get();
        if (key != "eal" && v.find(',') != std::string::npos)
          return err.at(item_line, key + ": '" + v + "' may not contain ','");
        items.push_back({v, item_line});
      }
      continue;
    }
    if (key == "eal" && node.is_string()) {  // a string of space-separated arguments
      std::istringstream words(node.as_string()->get());
      for (std::string w; words >> w;) items.push_back({w, line});
      continue;
    }
    auto text = scalar_text(key, node);
    if (!text) return err.at(line, text.error().message);
    items.push_back({*text, line});
  }

  for (const std::string_view opt : {"peer", "socket", "iface"}) {
    if (fields.contains(opt) && !fields.contains("port"))
      return err.at(key_line.find(opt)->second,
                    std::string(opt) +
                        ": a port option; it needs port too (accepted: loopback, ring, "
                        "memif, af_packet, af_xdp, tap, uring, pci)");
  }

  // Spec text in the grammar's own order; port options ride on the port field.
  std::string spec;
  auto add = [&](std::string_view key, const std::string& value) {
    spec += (spec.empty() ? "" : ",") + std::string(key) + "=" + value;
  };
  for (const std::string_view key :
       {"name", "proto", "role", "mac", "ip4", "ip6", "mtu", "vlan", "udp_port", "peer_udp_port",
        "mpa_crc", "faults", "zero_copy"}) {
    if (const auto it = fields.find(key); it != fields.end())
      for (const Item& i : it->second) add(key, i.text);
  }
  if (const auto it = fields.find("port"); it != fields.end()) {
    std::string port = it->second.front().text;
    for (const std::string_view opt : {"peer", "socket", "iface"})
      if (const auto o = fields.find(opt); o != fields.end())
        port += ":" + std::string(opt) + "=" + o->second.front().text;
    add("port", port);
  }
  // EAL items may hold characters the spec text cannot carry: the grammar checks that eal applies
  // to this port through a stand-in, and the items are taken as they are afterwards.
  const auto eal = fields.find("eal");
  const bool has_eal = eal != fields.end() && !eal->second.empty();
  if (has_eal) add("eal", "-");

  auto parsed = parse_device_spec(spec);
  if (!parsed) {
    // Point at the line of the field the grammar names ("FIELD: ..."), else at the table.
    const std::string& m = parsed.error().message;
    std::uint32_t line = table_line;
    const std::string field = m.substr(0, m.find(':'));
    if (const auto kl = key_line.find(field); kl != key_line.end()) line = kl->second;
    if (field == "port") {
      for (const std::string_view opt : {"peer", "socket", "iface"})
        if (m.find("'" + std::string(opt) + "'") != std::string::npos && key_line.contains(opt))
          line = key_line.find(opt)->second;
    }
    if (const auto f = fields.find(field); f != fields.end() && f->second.size() > 1) {
      for (const Item& i : f->second) {
        const std::string addr = i.text.substr(0, i.text.find('/'));
        if (m.find("'" + i.text + "'") != std::string::npos ||
            m.find("'" + addr + "'") != std::string::npos)
          line = i.line;
      }
    }
    return err.at(line, m);
  }
  if (has_eal) {
    parsed->eal.clear();
    for (const Item& i : eal->second) parsed->eal.push_back(i.text);
    // The grammar saw the stand-in: the items themselves are checked here.
    if (auto r = eal::check_args(parsed->eal); !r) {
      std::uint32_t line = eal->second.front().line;
      for (const Item& i : eal->second)
        if (r.error().message.find("'" + i.text + "'") != std::string::npos) line = i.line;
      return err.at(line, r.error().message);
    }
  }
  return parsed;
}

}  // namespace

Result<std::vector<DeviceSpec>> parse_device_config(std::string_view text,
                                                    const std::string& name) {
  toml::table root;
  try {
    root = toml::parse(text, std::string_view(name));
  } catch (const toml::parse_error& e) {
    return make_error(Errc::malformed, name + ":" + std::to_string(e.source().begin.line) + ":" +
                                           std::to_string(e.source().begin.column) + ": " +
                                           std::string(e.description()));
  }
  std::vector<DeviceSpec> out;
  std::map<std::string, std::uint32_t, std::less<>> seen;  // name -> line of its table
  for (auto&& [k, node] : root) {
    const std::uint32_t line = line_of(k.source());
    if (k.str() != "device")
      return make_error(Errc::invalid_argument,
                        name + ":" + std::to_string(line) + ": unknown key '" +
                            std::string(k.str()) +
                            "' (a device config holds [[device]] tables only)");
    if (!node.is_array_of_tables())
      return make_error(
          Errc::invalid_argument,
          name + ":" + std::to_string(line) +
              ": device: write [[device]] (an array of tables, one per device), not " +
              type_name(node));
    for (const toml::node& d : *node.as_array()) {
      auto spec = device_from_table(*d.as_table(), name, out.size() + 1);
      if (!spec) return std::unexpected(spec.error());
      const std::uint32_t here = line_of(d.source());
      if (const auto s = seen.find(spec->name); s != seen.end())
        return make_error(Errc::invalid_argument,
                          name + ":" + std::to_string(here) + ": device " + spec->name +
                              ": name: already used by the device at line " +
                              std::to_string(s->second));
      seen.emplace(spec->name, here);
      out.push_back(std::move(*spec));
    }
  }
  if (out.empty()) return make_error(Errc::invalid_argument, name + ": no [[device]] tables");
  return out;
}

Result<std::vector<DeviceSpec>> load_device_config(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in)
    return make_error(errno == ENOENT ? Errc::not_found : Errc::io_error,
                      path + ": cannot open (" + std::strerror(errno) + ")");
  const std::string text{std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>()};
  if (in.bad()) return make_error(Errc::io_error, path + ": read failed");
  return parse_device_config(text, path);
}

}  // namespace softrnic::transport
