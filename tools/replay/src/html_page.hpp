// Self-contained HTML pages with interactive plots: uPlot (vendored in html/, MIT licence) and
// the plotting code (html/charts.js.inc) are inlined, the plots' data is a JSON script element,
// nothing is loaded from the network. Shared by zmtp-replay's and zmtp-send's reports.
#pragma once

#include <nlohmann/json.hpp>
#include <ostream>
#include <string>
#include <string_view>

namespace replay::html {

std::string escape(std::string_view text);

// <!DOCTYPE html> up to the opening of <body>, with the library, styles and plotting code.
void write_page_start(std::ostream& out, std::string_view title);
// A plot's place on the page; `id` names it in the data.
void write_plot_box(std::ostream& out, std::string_view id);
// The plots' data ({"plots": [...]}, as charts.js reads it) and the end of the page.
void write_page_end(std::ostream& out, const nlohmann::json& data);

// Plot specifications (charts.js): the x values of every series ascending.
struct PointSeries {
    std::string label, color;
    std::vector<double> x, y;
};
nlohmann::json points_plot(std::string_view id, std::string_view title, std::string_view x_label,
                           std::string_view x_unit, std::string_view y_label,
                           std::string_view y_unit, const std::vector<PointSeries>& series);
struct HistogramSeries {
    std::string label, color;
    std::vector<std::pair<double, uint64_t>> values;  // (value, how many times)
};
nlohmann::json histogram_plot(std::string_view id, std::string_view title, std::string_view x_label,
                              std::string_view x_unit, std::string_view y_label,
                              const std::vector<HistogramSeries>& series);

}  // namespace replay::html
