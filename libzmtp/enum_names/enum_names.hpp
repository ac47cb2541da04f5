// Names of enumerators, for people and reports: one constexpr table of {value, name} pairs
// next to each enum, and one lookup over it. Header only, with no ZMTP in it, so that libcapture
// (which knows nothing of ZMTP and does not link libzmtp) names its enums the same way.
//
//   enum class Colour : uint8_t { Red, Green };
//   inline constexpr std::array<enum_names::Named<Colour>, 2> colour_names = {{
//       {Colour::Red, "red"}, {Colour::Green, "green"},
//   }};
//   static_assert(enum_names::covers(colour_names, Colour::Green));
//
// With the enum's last enumerator as `last`, an enumerator added at the end does not compile
// until the table names it.
#pragma once

#include <array>
#include <cstddef>
#include <string_view>
#include <type_traits>

namespace enum_names {

template <typename Enum>
struct Named {
    Enum value;
    std::string_view name;
};

template <typename Enum>
constexpr auto underlying(Enum e) {
    return static_cast<std::underlying_type_t<Enum>>(e);
}

// Whether `table` names each value from its first entry's to `last` once, in order, with none
// left out: for enums without holes.
template <typename Enum, size_t N>
constexpr bool covers(const std::array<Named<Enum>, N>& table, Enum last) {
    if (N == 0 || table[N - 1].value != last) return false;
    for (size_t i = 1; i < N; ++i)
        if (underlying(table[i].value) != underlying(table[i - 1].value) + 1) return false;
    return true;
}

// Whether `table` names its values once each, in increasing order, ending at `last`: for enums
// whose values have holes (exit codes), where only the declaration shows what is left out.
template <typename Enum, size_t N>
constexpr bool covers_in_order(const std::array<Named<Enum>, N>& table, Enum last) {
    if (N == 0 || table[N - 1].value != last) return false;
    for (size_t i = 1; i < N; ++i)
        if (underlying(table[i].value) <= underlying(table[i - 1].value)) return false;
    return true;
}

// The name of `value`, or `fallback` for a value the table does not list (one cast from a
// number that no enumerator has).
template <typename Enum, size_t N>
constexpr std::string_view name_of(const std::array<Named<Enum>, N>& table, Enum value,
                                   std::string_view fallback) {
    for (const auto& entry : table)
        if (entry.value == value) return entry.name;
    return fallback;
}

}  // namespace enum_names
