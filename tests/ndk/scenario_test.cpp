// Consumer test mode: each scenario action has an effect the consumer (the SMB-Direct-like
// session) and the log can see; bad scenarios are refused with their line; a seed replays.
#include <gtest/gtest.h>

#include <set>

#include "scenario_support.hpp"

namespace softrnic::ndk::scenario_test {
namespace {

class Scenario : public ::testing::Test {
 protected:
  static void SetUpTestSuite() { use_devices(); }
  // Runs a small session under `text` and returns the summary; the log is in log_.
  nlohmann::json run(const std::string& text, const smbd::SessionOptions& so, const char* name) {
    log_path_ = temp_log(name);
    std::string error;
    EXPECT_EQ(load(text, log_path_, &error), STATUS_SUCCESS) << error;
    report_ = smbd::run_session(so);
    nlohmann::json s = end();
    log_ = read_log(log_path_);
    std::remove(log_path_.c_str());
    EXPECT_EQ(report_.objects_open, 0u) << "NDK objects left open";
    EXPECT_TRUE(s.is_object()) << "no summary";
    return s;
  }
  bool saw_completion(const char* status) const {
    for (const auto& j : log_)
      if (j.value("type", "") == "completion" && j.value("status", "") == status) return true;
    return false;
  }
  std::string log_path_;
  smbd::SessionReport report_;
  std::vector<nlohmann::json> log_;
};

TEST_F(Scenario, AnUnknownActionIsRefusedWithItsLineAndTheAcceptedActions) {
  std::string e;
  EXPECT_EQ(load("seed = 1\n\n[[event]]\naction = \"explode\"\n", "", &e),
            STATUS_INVALID_PARAMETER);
  EXPECT_NE(e.find("<scenario>:4:"), std::string::npos) << e;
  EXPECT_NE(e.find("accepted: drop, link_flap, rnr_storm"), std::string::npos) << e;
}

TEST_F(Scenario, BadParametersAreRefusedWithTheirLineAndTheAcceptedValues) {
  struct Case {
    const char* text;
    const char* where;
    const char* says;
  };
  for (const Case& c : {
           Case{"[[event]]\naction = \"drop\"\ncount = 3\nops = \"send+bogus\"\n", ":4:", "ops"},
           Case{"[[event]]\naction = \"link_flap\"\nspeed = 3\n",
                ":3:", "accepted: action, at_ms, after, device, duration_ms"},
           Case{"[[event]]\naction = \"fail_next\"\ncall = \"NdkCreateFoo\"\n",
                ":3:", "accepted: NdkCreateQp, NdkCreateCq, NdkRegisterMr"},
           Case{"[[event]]\naction = \"async_mode\"\nmode = \"sometimes\"\n",
                ":3:", "accepted: pending, inline, natural"},
           Case{"[[event]]\naction = \"rnr_storm\"\n", ":1:", "duration_ms is required"},
           Case{"[[event]]\naction = \"drop\"\ncount = 1\nafter = \"later\"\n",
                ":4:", "accepted: start, connected, bytes:N"},
           Case{"seed = 1\nfaults = \"loss=2\"\n", ":2:", "loss"},
           Case{"seed = 1\nwhatever = 2\n", ":2:", "accepted: seed, faults, [[event]]"},
       }) {
    std::string e;
    EXPECT_EQ(load(c.text, "", &e), STATUS_INVALID_PARAMETER) << c.text;
    EXPECT_NE(e.find(c.where), std::string::npos) << c.text << " -> " << e;
    EXPECT_NE(e.find(c.says), std::string::npos) << c.text << " -> " << e;
  }
}

TEST_F(Scenario, ForcedPendingMakesEveryAsyncCallPendAndCallBackExactlyOnce) {
  for (const bool iwarp : {false, true}) {
    const auto s = run("[[event]]\naction = \"async_mode\"\nmode = \"pending\"\ndelay_ms = 1\n",
                       small_session(iwarp), "pending");
    EXPECT_TRUE(report_.verified) << report_.failure.message << " " << hex(report_.failure.status);
    ASSERT_TRUE(s.contains("returns"));
    EXPECT_EQ(s["returns"].size(), 1u) << s["returns"].dump();
    EXPECT_GT(s["returns"].value("STATUS_PENDING", 0), 20);
    EXPECT_EQ(s["pending"], s["pending_called_back"]);
    EXPECT_EQ(s["pending_waiting"], 0);
    EXPECT_EQ(s["called_back_more_than_once"], 0);
    EXPECT_GT(s["callbacks_delayed"].get<int>(), 20);
  }
}

TEST_F(Scenario, ForcedInlineCompletesEveryCreateInline) {
  const auto s =
      run("[[event]]\naction = \"async_mode\"\nmode = \"inline\"\n", small_session(), "inline");
  EXPECT_TRUE(report_.verified) << report_.failure.message;
  std::set<std::string> creates;
  for (const auto& j : log_) {
    if (j.value("type", "") != "call") continue;
    const std::string call = j.value("call", "");
    // Closes may wait for their successors and connects for the peer: only creates are known.
    if (call.rfind("NdkCreate", 0) != 0) continue;
    creates.insert(call);
    EXPECT_EQ(j.value("status", ""), "STATUS_SUCCESS") << j.dump();
  }
  EXPECT_TRUE(creates.contains("NdkCreateQp") && creates.contains("NdkCreateCq"));
  EXPECT_EQ(s["called_back_more_than_once"], 0);
}

TEST_F(Scenario, ANextCreateThatFailsReachesTheConsumerWithThatStatus) {
  for (const char* call : {"NdkCreateQp", "NdkCreateCq", "NdkRegisterMr", "NdkCreatePd"}) {
    const auto s = run(std::string("[[event]]\naction = \"fail_next\"\ncall = \"") + call + "\"\n",
                       small_session(), "fail");
    EXPECT_EQ(report_.failure.status, STATUS_INSUFFICIENT_RESOURCES)
        << call << ": " << report_.failure.message << " " << hex(report_.failure.status);
    EXPECT_EQ(s["injected"].value(std::string("fail_next:") + call, 0), 1) << s["injected"].dump();
  }
}

TEST_F(Scenario, ALinkFlapIsRecoveredByRetransmission) {
  const auto s =
      run("seed = 3\n[[event]]\nafter = \"bytes:300000\"\naction = \"link_flap\"\n"
          "duration_ms = 150\n",
          small_session(), "flap");
  EXPECT_TRUE(report_.verified) << report_.failure.message << " " << hex(report_.failure.status);
  EXPECT_EQ(s["fired"], 1);
  EXPECT_GT(device_counter(s, "a", "fault_scripted_dropped") +
                device_counter(s, "b", "fault_scripted_dropped"),
            0u);
  EXPECT_GT(device_counter(s, "a", "retransmits") + device_counter(s, "b", "retransmits"), 0u);
}

TEST_F(Scenario, DroppingTheNextPacketsOfAClassIsRecovered) {
  const auto s =
      run("[[event]]\nafter = \"connected\"\naction = \"drop\"\ncount = 3\n"
          "device = \"a\"\nops = \"send+read\"\ndir = \"both\"\n",
          small_session(), "drop");
  EXPECT_TRUE(report_.verified) << report_.failure.message;
  EXPECT_EQ(device_counter(s, "a", "fault_scripted_dropped") +
                device_counter(s, "b", "fault_scripted_dropped"),
            3u);
}

TEST_F(Scenario, AnRnrStormMakesThePeerSeeRnrNaksAndRecovers) {
  smbd::SessionOptions so = small_session();
  so.latency_rounds = 600;  // more messages than the server's 255 posted receives
  const auto s =
      run("[[event]]\nafter = \"connected\"\naction = \"rnr_storm\"\ndevice = \"b\"\n"
          "duration_ms = 400\n",
          so, "rnr");
  EXPECT_TRUE(report_.verified) << report_.failure.message << " " << hex(report_.failure.status);
  EXPECT_GT(s["closed_qps"].value("rnr_naks_rx", 0), 0) << s.dump();
}

TEST_F(Scenario, ARefusedConnectFailsWithConnectionRefused) {
  const auto s =
      run("[[event]]\naction = \"refuse_connect\"\ndevice = \"b\"\n", small_session(), "refuse");
  EXPECT_EQ(report_.failure.status, STATUS_CONNECTION_REFUSED) << report_.failure.message;
  EXPECT_EQ(s["connect_events"], 0);
}

TEST_F(Scenario, APeerDisconnectMidTransferEndsTheSessionWithConnectionDisconnected) {
  smbd::SessionOptions so = small_session();
  so.payload_size = std::size_t{8} << 20;
  const auto s =
      run("[[event]]\nafter = \"bytes:2000000\"\naction = \"disconnect\"\ndevice = \"b\"\n", so,
          "disconnect");
  // The client learns it from its disconnect event, or from the flush of a request in flight.
  EXPECT_TRUE(report_.failure.status == STATUS_CONNECTION_DISCONNECTED ||
              report_.failure.status == STATUS_CANCELLED)
      << report_.failure.message << " " << hex(report_.failure.status);
  EXPECT_GE(s["disconnect_events"].get<int>(), 1);
}

TEST_F(Scenario, ABadRemoteTokenGivesARemoteAccessErrorCompletion) {
  const auto s =
      run("[[event]]\nafter = \"connected\"\naction = \"bad_token\"\n", small_session(), "token");
  EXPECT_FALSE(report_.failure.ok());
  EXPECT_TRUE(saw_completion("STATUS_REMOTE_RESOURCES")) << s.dump();
}

TEST_F(Scenario, ALinkDownLongerThanTheRetriesEndsWithRetryExceeded) {
  const auto s =
      run("[[event]]\nafter = \"bytes:300000\"\naction = \"link_flap\"\n"
          "duration_ms = 3000\n",
          small_session(), "retry");
  EXPECT_FALSE(report_.failure.ok());
  EXPECT_TRUE(saw_completion("STATUS_IO_TIMEOUT")) << s.dump();
}

TEST_F(Scenario, AnOverflowingCqIsReportedToTheConsumer) {
  const auto s = run("[[event]]\naction = \"cq_overflow\"\ndepth = 2\n", small_session(), "cq");
  EXPECT_FALSE(report_.failure.ok());
  EXPECT_GT(s["cq_errors"].get<int>(), 0) << s.dump();
}

TEST_F(Scenario, DelayedCallbacksStillArriveOnceAndTheSessionSucceeds) {
  const auto s =
      run("[[event]]\naction = \"delay_callbacks\"\ndelay_ms = 5\n", small_session(), "delay");
  EXPECT_TRUE(report_.verified) << report_.failure.message;
  EXPECT_GT(s["callbacks_delayed"].get<int>(), 0);
  EXPECT_EQ(s["called_back_more_than_once"], 0);
  EXPECT_EQ(s["pending_waiting"], 0);
}

TEST_F(Scenario, TheSameSeedGivesTheSameInjectedEventsTwice) {
  const std::string text =
      "seed = 11\n"
      "[[event]]\nat_ms = 0\naction = \"async_mode\"\nmode = \"pending\"\n"
      "[[event]]\nat_ms = 0\naction = \"bad_token\"\n"
      "[[event]]\nafter = \"connected\"\naction = \"drop\"\ncount = 2\n";
  std::vector<std::string> first, second;
  for (auto* out : {&first, &second}) {
    (void)run(text, small_session(), "seed");
    *out = lines_of(log_, "inject");
  }
  EXPECT_EQ(first.size(), 3u);
  EXPECT_EQ(first, second);
  // The seed chose the corruption: another seed chooses another.
  (void)run(text.substr(0, 7) + "12" + text.substr(9), small_session(), "seed");
  EXPECT_NE(lines_of(log_, "inject"), first);
}

}  // namespace
}  // namespace softrnic::ndk::scenario_test
