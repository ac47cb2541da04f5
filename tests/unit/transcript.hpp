// A session transcript for the unit tests: the bytes each side sent, in order.
#pragma once

#include <utility>
#include <vector>

#include "byte_builders.hpp"
#include "zmtp/session.hpp"

namespace zmtp::test {

constexpr auto C2S = Direction::ClientToServer;
constexpr auto S2C = Direction::ServerToClient;

using Transcript = std::vector<std::pair<Direction, Buf>>;

}  // namespace zmtp::test
