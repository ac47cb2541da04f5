// enum_names: the one lookup and the coverage checks behind every enum-to-name table.
#include <catch2/catch.hpp>
#include <cstdint>

#include "enum_names.hpp"
#include "zmtp/keystore.hpp"
#include "zmtp/session.hpp"

namespace {

enum class Colour : uint8_t { Red, Green, Blue };
constexpr std::array<enum_names::Named<Colour>, 3> colour_names = {{
    {Colour::Red, "red"},
    {Colour::Green, "green"},
    {Colour::Blue, "blue"},
}};
constexpr std::array<enum_names::Named<Colour>, 2> colour_names_missing_blue = {{
    {Colour::Red, "red"},
    {Colour::Green, "green"},
}};
constexpr std::array<enum_names::Named<Colour>, 2> colour_names_missing_green = {{
    {Colour::Red, "red"},
    {Colour::Blue, "blue"},
}};
constexpr std::array<enum_names::Named<Colour>, 3> colour_names_out_of_order = {{
    {Colour::Green, "green"},
    {Colour::Red, "red"},
    {Colour::Blue, "blue"},
}};

enum class ExitCode : int { Ok = 0, Refused = 3, Timeout = 6 };
constexpr std::array<enum_names::Named<ExitCode>, 3> exit_code_names = {{
    {ExitCode::Ok, "ok"},
    {ExitCode::Refused, "refused"},
    {ExitCode::Timeout, "timeout"},
}};
constexpr std::array<enum_names::Named<ExitCode>, 3> exit_code_names_repeated = {{
    {ExitCode::Ok, "ok"},
    {ExitCode::Refused, "refused"},
    {ExitCode::Refused, "refused again"},
}};

}  // namespace

TEST_CASE("enum_names: covers wants every value up to the last one, in order") {
    STATIC_REQUIRE(enum_names::covers(colour_names, Colour::Blue));
    STATIC_REQUIRE_FALSE(enum_names::covers(colour_names_missing_blue, Colour::Blue));
    STATIC_REQUIRE_FALSE(enum_names::covers(colour_names_missing_green, Colour::Blue));
    STATIC_REQUIRE_FALSE(enum_names::covers(colour_names_out_of_order, Colour::Blue));
    STATIC_REQUIRE_FALSE(enum_names::covers(exit_code_names, ExitCode::Timeout));

    STATIC_REQUIRE(enum_names::covers_in_order(exit_code_names, ExitCode::Timeout));
    STATIC_REQUIRE(enum_names::covers_in_order(colour_names_missing_green, Colour::Blue));
    STATIC_REQUIRE_FALSE(enum_names::covers_in_order(exit_code_names_repeated, ExitCode::Refused));
    STATIC_REQUIRE_FALSE(enum_names::covers_in_order(colour_names_out_of_order, Colour::Blue));
    STATIC_REQUIRE_FALSE(enum_names::covers_in_order(colour_names_missing_blue, Colour::Blue));
}

TEST_CASE("enum_names: name_of gives the table's name, or the fallback for an unlisted value") {
    STATIC_REQUIRE(enum_names::name_of(colour_names, Colour::Green, "?") == "green");
    CHECK(enum_names::name_of(colour_names, Colour::Blue, "?") == "blue");
    CHECK(enum_names::name_of(colour_names, static_cast<Colour>(7), "?") == "?");
    CHECK(enum_names::name_of(exit_code_names, static_cast<ExitCode>(4), "none") == "none");
}

TEST_CASE("enum_names: libzmtp's names and their fallbacks") {
    CHECK(zmtp::direction_name(zmtp::Direction::ServerToClient) == "server->client");
    CHECK(zmtp::notice_code_name(zmtp::NoticeCode::CommandWithMore) == "command with MORE");
    CHECK(zmtp::notice_code_name(static_cast<zmtp::NoticeCode>(200)) == "unknown");
    CHECK(zmtp::key_label_name(zmtp::KeyLabel::SessionKey) == "SESSION_KEY");
    CHECK(zmtp::key_label_name(static_cast<zmtp::KeyLabel>(200)) == "UNKNOWN");
    CHECK(zmtp::stream_error_name(zmtp::StreamError::BadLength) == "bad length");
    CHECK(zmtp::resync_evidence_name(zmtp::ResyncEvidence::SegmentEnd) ==
          "frames ending at a segment end");
    CHECK(zmtp::message_loss_name(zmtp::MessageLoss::StartLost) == "start-lost");
    CHECK(zmtp::mechanism_from_name("other") == zmtp::Mechanism::Other);
    CHECK(zmtp::mechanism_from_name("unknown") == zmtp::Mechanism::Other);
}
