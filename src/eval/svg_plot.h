// A small SVG line/scatter chart writer for the eval report.
//
// The report must be readable offline, in a browser or as a PNG made by
// rsvg-convert, without any plotting library or external resource: each chart
// is one self-contained <svg> string (no ids, so several can sit inline in
// one HTML page). Layout is fixed and generous — title, axes with labels and
// round-number ticks, a legend to the right of the plot area so it can never
// cover data — because the charts are small multiples of the same kind.
#pragma once

#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace sleeptime::eval::svg {

enum class Marker { kCircle, kSquare, kTriangle, kDiamond, kTriangleDown, kCross, kNone };

struct Series {
  std::string name;          // the legend entry
  std::vector<double> x, y;  // same length; a point with a non-finite coordinate (or x <= 0 on a log axis)
                             // is skipped and breaks the line there
  std::vector<bool> hollow;  // optional, per point: drawn hollow and not joined by the line (e.g. dominated)
  bool line = true;          // join the filled points in the given order
  bool dashed = false;
  std::string color;             // CSS colour; "" picks from a colour-blind-safe palette by series index
  std::optional<Marker> marker;  // default: by series index
};

struct Chart {
  std::string title;
  std::string subtitle;  // one smaller line under the title ("" for none)
  std::string x_label;   // with units, e.g. "mean test-time tokens per query"
  std::string y_label;
  std::vector<Series> series;
  bool log_x = false;
  // The axis ranges always cover the data; these widen them (e.g. y from 0).
  std::optional<double> x_min, x_max, y_min, y_max;
  // Categorical x: ticks at these positions with these labels ('\n' splits a
  // label over lines) instead of the automatic ones.
  std::vector<std::pair<double, std::string>> x_ticks;
  bool y_zero_line = false;   // a reference line at y = 0 when it is in range
  std::string empty_message;  // shown in the plot area when nothing is drawable
  std::string legend_note;    // small text under the legend ('\n' splits lines)
  int width = 820;
  int height = 460;
};

// The chart as a complete <svg> element (no XML declaration, so it can be
// inlined into HTML as is and also saved as a .svg file).
std::string RenderSvg(const Chart& chart);

// Exposed for tests and for callers that need matching numbers.
// Round-number ticks (1, 2, 2.5, 5 × 10^n steps) covering [lo, hi].
std::vector<double> NiceLinearTicks(double lo, double hi, int target_count);
// 1-2-5 ticks per decade within [lo, hi] (lo > 0), thinned or densified to stay readable.
std::vector<double> LogTicks(double lo, double hi);
// "0", "2.5", "100", "20k", "1.5M": short labels without float noise.
std::string FormatTick(double v);
std::string XmlEscape(std::string_view s);

}  // namespace sleeptime::eval::svg
