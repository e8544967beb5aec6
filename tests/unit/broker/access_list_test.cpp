// AccessList and the allow-list format: parsing (every bad line fails the whole list),
// ZAP decisions (CURVE only, listed keys only, the User-Id is the Z85 public key),
// identify() after a reload, and revocation reporting the names that left.
#include <gtest/gtest.h>

#include <string>

#include "rs/broker/access_list.h"

namespace rs::broker {
namespace {

// Two real Z85 keys (any 40 characters of the alphabet whose groups fit 32 bits).
constexpr const char* kKeyA = "rq:rM>}U?@Lns47E1%kR.o@n%FcmmsL/@{H8]yf7";
constexpr const char* kKeyB = "Yne@$w-vo<fVvi]a<NY6T1ed:M$fCG*[IaLV{hID";

// The 32 bytes a ZAP request carries for a Z85 key.
std::string raw_key(std::string_view z85) {
  constexpr std::string_view kZ85 =
      "0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ.-:+=^!/*?&<>()[]{}@%$#";
  std::string out;
  for (size_t i = 0; i < z85.size(); i += 5) {
    uint64_t v = 0;
    for (size_t j = 0; j < 5; ++j) v = v * 85 + kZ85.find(z85[i + j]);
    for (int k = 3; k >= 0; --k) out.push_back(static_cast<char>((v >> (8 * k)) & 0xff));
  }
  return out;
}

ZapRequest curve_request(const std::string& domain, std::string_view key) {
  return ZapRequest{.version = "1.0", .request_id = "7", .domain = domain, .address = "127.0.0.1",
                    .mechanism = "CURVE", .credentials = {raw_key(key)}};
}

TEST(AllowList, ParsesRolesNamesKeysAndTenants) {
  auto workers = parse_allow_list(std::string("# comment\n\nworker w1 ") + kKeyA + "\n", kWorkersDomain);
  ASSERT_TRUE(workers.ok()) << workers.status().to_string();
  ASSERT_EQ(workers->size(), 1u);
  EXPECT_EQ((*workers)[0].name, "w1");
  auto clients = parse_allow_list(std::string("client alice ") + kKeyA + " acme\ngateway gw " + kKeyB + "\n",
                                  kClientsDomain);
  ASSERT_TRUE(clients.ok()) << clients.status().to_string();
  EXPECT_EQ((*clients)[0].tenant, "acme");
  EXPECT_EQ((*clients)[1].role, PeerRole::kGateway);
  EXPECT_EQ(format_allow_line((*clients)[0]), std::string("client alice ") + kKeyA + " acme\n");
}

TEST(AllowList, ABadLineFailsTheWholeList) {
  const std::string good = std::string("worker w1 ") + kKeyA + "\n";
  for (const std::string& bad : {std::string("worker w2 not-a-key\n"), std::string("client c ") + kKeyB + "\n",
                                 std::string("worker w1 ") + kKeyB + "\n", std::string("admin x ") + kKeyB + "\n",
                                 std::string("worker bad/name ") + kKeyB + "\n", std::string("worker\n")}) {
    auto parsed = parse_allow_list(good + bad, kWorkersDomain);
    EXPECT_FALSE(parsed.ok()) << bad;
    if (!parsed.ok()) EXPECT_NE(parsed.status().message().find("line 2"), std::string::npos);
  }
  EXPECT_FALSE(parse_allow_list(std::string("client c ") + kKeyA + "\n", kClientsDomain).ok())
      << "a client key needs its tenant";
  EXPECT_FALSE(parse_allow_list(std::string("worker w ") + kKeyA + "\n", kClientsDomain).ok());
}

TEST(AccessList, AdmitsListedCurveKeysOnlyWithTheKeyAsUserId) {
  AccessList access;
  access.replace(kWorkersDomain, {AllowedKey{.role = PeerRole::kWorker, .name = "w1", .public_key = kKeyA}});
  ZapDecision ok = access.authorize(curve_request(kWorkersDomain, kKeyA));
  EXPECT_TRUE(ok.allowed);
  EXPECT_EQ(ok.user_id, kKeyA);
  EXPECT_EQ(access.identify(kWorkersDomain, ok.user_id)->name, "w1");

  EXPECT_EQ(access.authorize(curve_request(kWorkersDomain, kKeyB)).reason, "unknown_key");
  EXPECT_EQ(access.authorize(curve_request(kClientsDomain, kKeyA)).reason, "unknown_key")
      << "a worker key is no client key";
  ZapRequest plain = curve_request(kWorkersDomain, kKeyA);
  plain.mechanism = "NULL";
  plain.credentials.clear();
  EXPECT_EQ(access.authorize(plain).reason, "bad_mechanism");
  ZapRequest short_key = curve_request(kWorkersDomain, kKeyA);
  short_key.credentials[0].pop_back();
  EXPECT_FALSE(access.authorize(short_key).allowed);
  ZapRequest bad_version = curve_request(kWorkersDomain, kKeyA);
  bad_version.version = "2.0";
  EXPECT_FALSE(access.authorize(bad_version).allowed);

  std::vector<std::string> reply = zap_reply(curve_request(kWorkersDomain, kKeyA), ok);
  ASSERT_EQ(reply.size(), 6u);
  EXPECT_EQ(reply[2], "200");
  EXPECT_EQ(reply[4], kKeyA);
}

TEST(AccessList, AReloadReportsRevokedNamesAndForgetsTheirKeys) {
  AccessList access;
  access.replace(kClientsDomain,
                 {AllowedKey{.role = PeerRole::kClient, .name = "alice", .public_key = kKeyA, .tenant = "acme"},
                  AllowedKey{.role = PeerRole::kGateway, .name = "gw", .public_key = kKeyB}});
  std::vector<std::string> removed = access.replace(
      kClientsDomain, {AllowedKey{.role = PeerRole::kGateway, .name = "gw", .public_key = kKeyB}});
  EXPECT_EQ(removed, std::vector<std::string>{"alice"});
  EXPECT_EQ(access.identify(kClientsDomain, kKeyA), nullptr);
  EXPECT_NE(access.identify(kClientsDomain, kKeyB), nullptr);
  EXPECT_EQ(access.size(kClientsDomain), 1u);
}

TEST(ZapRequest, FewerThanSixFramesIsABadRequest) {
  EXPECT_FALSE(parse_zap_request({"1.0", "1", "workers"}).ok());
  auto r = parse_zap_request({"1.0", "1", "workers", "addr", "id", "CURVE", "k"});
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(r->credentials.size(), 1u);
}

}  // namespace
}  // namespace rs::broker
