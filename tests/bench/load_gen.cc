// gRPC load generator for orqa-gateway (not a test): C concurrent clients
// send N Answer calls in total, cycling through questions from a JSONL file;
// prints QPS and latency percentiles.
//   load_gen --gateway ADDR --questions FILE --concurrency C --requests N [--k K] [--label TEXT]
//            [--timings 1]  (also prints the medians of the gateway's per-stage times)
//            [--tls-ca F --tls-cert F --tls-key F]  (TLS / mutual TLS to the gateway)
//            [--fresh-channel 1]  (a new channel, so a new connection and handshake, for every call)
#include <grpcpp/grpcpp.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdio>
#include <fstream>
#include <nlohmann/json.hpp>
#include <thread>

#include "common/infra/tls.h"
#include "orqa/v1/openqa.grpc.pb.h"

int main(int argc, char** argv) {
  std::string gateway = "127.0.0.1:50051", questions_path, label;
  int concurrency = 1, requests = 100, k = 0, timeout_ms = 600000;
  bool timings = false, fresh_channel = false;
  orqa::TlsCalling tls;
  for (int i = 1; i + 1 < argc; i += 2) {
    std::string f = argv[i], v = argv[i + 1];
    if (f == "--gateway") gateway = v;
    else if (f == "--questions") questions_path = v;
    else if (f == "--concurrency") concurrency = std::stoi(v);
    else if (f == "--requests") requests = std::stoi(v);
    else if (f == "--k") k = std::stoi(v);
    else if (f == "--label") label = v;
    else if (f == "--timeout-ms") timeout_ms = std::stoi(v);
    else if (f == "--timings") timings = v == "1" || v == "true";
    else if (f == "--fresh-channel") fresh_channel = v == "1" || v == "true";
    else if (f == "--tls-ca") tls.ca = v;
    else if (f == "--tls-cert") tls.cert = v;
    else if (f == "--tls-key") tls.key = v;
    else {
      std::fprintf(stderr, "load_gen: error: unknown flag %s\n", f.c_str());
      return 2;
    }
  }
  std::vector<std::string> questions;
  std::ifstream in(questions_path);
  for (std::string line; std::getline(in, line);) {
    auto j = nlohmann::json::parse(line, nullptr, false);
    if (j.is_object() && j.contains("question")) questions.push_back(j["question"]);
  }
  if (questions.empty()) {
    std::fprintf(stderr, "load_gen: error: no questions in %s\n", questions_path.c_str());
    return 2;
  }
  if (auto st = orqa::ValidateTlsCalling(tls, "--tls-"); !st.ok()) {
    std::fprintf(stderr, "load_gen: error: %s\n", std::string(st.message()).c_str());
    return 2;
  }
  const auto credentials = orqa::MakeChannelCredentials(tls);
  auto channel = grpc::CreateChannel(gateway, credentials);
  std::atomic<int> next{0}, errors{0}, shed{0};
  std::vector<std::vector<double>> latencies(concurrency);
  std::vector<std::vector<orqa::v1::Timings>> stage_times(concurrency);
  auto start = std::chrono::steady_clock::now();
  std::vector<std::thread> clients;
  for (int c = 0; c < concurrency; ++c) {
    clients.emplace_back([&, c] {
      auto stub = orqa::v1::OpenQA::NewStub(channel);
      for (int i; (i = next++) < requests;) {
        if (fresh_channel) {  // unique args: gRPC would otherwise share the subchannel (and its connection)
          grpc::ChannelArguments args;
          args.SetInt("orqa.load_gen.call", i);
          stub = orqa::v1::OpenQA::NewStub(grpc::CreateCustomChannel(gateway, credentials, args));
        }
        grpc::ClientContext ctx;
        ctx.set_deadline(std::chrono::system_clock::now() + std::chrono::milliseconds(timeout_ms));
        orqa::v1::AnswerRequest req;
        req.set_question(questions[i % questions.size()]);
        req.set_k(k);
        req.set_return_timings(timings);
        orqa::v1::AnswerResponse resp;
        auto t0 = std::chrono::steady_clock::now();
        grpc::Status st = stub->Answer(&ctx, req, &resp);
        latencies[c].push_back(std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t0).count());
        if (st.error_code() == grpc::StatusCode::RESOURCE_EXHAUSTED) ++shed;  // refused by a server's queue bound
        else if (!st.ok()) ++errors;
        if (st.ok() && timings) stage_times[c].push_back(resp.timings());
      }
    });
  }
  for (auto& t : clients) t.join();
  double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  std::vector<double> all;
  for (auto& l : latencies) all.insert(all.end(), l.begin(), l.end());
  std::sort(all.begin(), all.end());
  auto pct = [&](double p) { return all[std::min(all.size() - 1, static_cast<size_t>(p * all.size()))]; };
  const char* transport = tls.enabled() ? (tls.cert.empty() ? "tls" : "mtls") : "grpc";
  std::printf("%-34s %6s %5d %8d %8.2f %10.1f %10.1f %7d %6d\n", label.c_str(), transport, concurrency, requests,
              (requests - shed.load()) / seconds, pct(0.5), pct(0.99), errors.load(), shed.load());
  if (timings) {  // medians of the gateway's per-stage times over the answered calls
    std::vector<orqa::v1::Timings> t;
    for (auto& v : stage_times) t.insert(t.end(), v.begin(), v.end());
    auto median = [&](double (orqa::v1::Timings::*get)() const) {
      std::vector<double> v;
      for (const auto& x : t) v.push_back((x.*get)());
      if (v.empty()) return 0.0;
      std::sort(v.begin(), v.end());
      return v[v.size() / 2];
    };
    std::printf("%-34s stage medians (ms): embed %.1f, search %.1f, retrieve %.1f, read %.1f, total %.1f\n",
                label.c_str(), median(&orqa::v1::Timings::embed_ms), median(&orqa::v1::Timings::search_ms),
                median(&orqa::v1::Timings::retrieve_ms), median(&orqa::v1::Timings::read_ms),
                median(&orqa::v1::Timings::total_ms));
  }
  return errors.load() == 0 ? 0 : 1;
}
