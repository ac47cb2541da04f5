// zmtp::Fifo against std::deque as the model: the same order through every reclaim of the
// consumed front, with items that own memory (moved, not copied).
#include <catch2/catch.hpp>
#include <deque>
#include <random>
#include <string>

#include "zmtp/fifo.hpp"

TEST_CASE("Fifo keeps first-in first-out order through reclaims", "[fifo]") {
    zmtp::Fifo<std::string> fifo;
    std::deque<std::string> model;
    std::mt19937 rng(7);
    uint64_t next = 0;
    for (int step = 0; step < 20000; ++step) {
        // Phases that grow, drain and hover, so both reclaim paths (empty, half consumed) run.
        const int phase = (step / 1000) % 3;
        const unsigned push_chance = phase == 0 ? 70 : phase == 1 ? 30 : 50;
        if (model.empty() || rng() % 100 < push_chance) {
            std::string item = "item " + std::to_string(next++) + std::string(rng() % 40, 'x');
            fifo.push_back(item);
            model.push_back(item);
        } else {
            REQUIRE(fifo.front() == model.front());
            fifo.pop_front();
            model.pop_front();
        }
        REQUIRE(fifo.size() == model.size());
        REQUIRE(fifo.empty() == model.empty());
        if (!model.empty()) {
            REQUIRE(fifo.back() == model.back());
            const size_t i = rng() % model.size();
            REQUIRE(fifo[i] == model[i]);
        }
    }
}

TEST_CASE("Fifo clear empties it and it can be used again", "[fifo]") {
    zmtp::Fifo<int> fifo;
    for (int i = 0; i < 100; ++i) fifo.push_back(i);
    for (int i = 0; i < 60; ++i) fifo.pop_front();
    REQUIRE(fifo.front() == 60);
    fifo.clear();
    REQUIRE(fifo.empty());
    REQUIRE(fifo.size() == 0);
    fifo.push_back(5);
    REQUIRE(fifo.front() == 5);
    REQUIRE(fifo.back() == 5);
}
