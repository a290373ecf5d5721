// NDKPI reference 3.2: an antecedent closed before its successors stays pending until the last
// successor has closed, and its close completes only after the successor's own close completion.
#include <algorithm>
#include <cstring>

#include "objects.hpp"

namespace softrnic::ndk {

namespace {

void finish_close(Node& node) {
  const Done done = std::move(node.close_pending);
  const std::vector<Node*> antecedents = node.antecedents;
  const std::function<void()> destroy = std::move(node.destroy);
  if (destroy) destroy();  // node is gone from here on
  done->finish(STATUS_SUCCESS);
  for (Node* a : antecedents) {
    --a->successors;
    if (a->successors == 0 && a->close_pending) finish_close(*a);
  }
}

}  // namespace

void init_header(NDK_OBJECT_HEADER& h, NDK_OBJECT_TYPE type, NDK_VERSION version) {
  std::memset(&h, 0, sizeof h);
  h.Version = version;
  h.ObjectType = type;
}

void depend(Node& successor, Node& antecedent) {
  successor.antecedents.push_back(&antecedent);
  ++antecedent.successors;
}

void close_node(Node& node, const Done& done) {
  node.close_pending = done;
  if (node.successors == 0) finish_close(node);
}

void release(Node& successor, Node& antecedent) {
  auto& a = successor.antecedents;
  const auto it = std::find(a.begin(), a.end(), &antecedent);
  if (it == a.end()) return;
  a.erase(it);
  --antecedent.successors;
  if (antecedent.successors == 0 && antecedent.close_pending) finish_close(antecedent);
}

}  // namespace softrnic::ndk
