#include "eval/svg_plot.h"

#include <fmt/format.h>

#include <algorithm>
#include <cmath>
#include <limits>

namespace sleeptime::eval::svg {

namespace {

// Okabe–Ito: distinguishable with the common colour-vision deficiencies and
// in greyscale print; its yellow is left out (unreadable on white).
constexpr const char* kPalette[] = {"#0072B2", "#D55E00", "#009E73", "#CC79A7",
                                    "#E69F00", "#56B4E9", "#000000", "#7F7F7F"};
constexpr int kPaletteSize = sizeof(kPalette) / sizeof(kPalette[0]);
constexpr Marker kMarkers[] = {Marker::kCircle,  Marker::kSquare,       Marker::kTriangle,
                               Marker::kDiamond, Marker::kTriangleDown, Marker::kCross};
constexpr int kMarkerCount = sizeof(kMarkers) / sizeof(kMarkers[0]);

// Font sizes in px; the smallest text (ticks, notes) stays at 12 px so a PNG
// at 100 % zoom is readable.
constexpr int kTitlePx = 18;
constexpr int kSubtitlePx = 13;
constexpr int kLabelPx = 14;
constexpr int kTickPx = 12;
constexpr int kLegendPx = 13;
constexpr int kNotePx = 12;

// Text is measured without a font engine: DejaVu Sans/Arial average about
// 0.6 em per character, which is enough to size the legend column and keep
// labels from colliding.
double TextWidth(std::string_view s, int px) {
  size_t chars = 0;
  for (unsigned char c : s)
    if ((c & 0xC0) != 0x80) ++chars;  // count UTF-8 code points, not bytes
  return 0.6 * px * static_cast<double>(chars);
}

// A long title shrinks rather than running off the image, down to the 12 px
// floor (below which it would no longer be readable anyway).
int FitPx(std::string_view s, int px, double width) {
  while (px > 12 && TextWidth(s, px) > width) --px;
  return px;
}

std::vector<std::string> SplitLines(const std::string& s) {
  std::vector<std::string> out;
  size_t start = 0;
  while (true) {
    size_t nl = s.find('\n', start);
    out.push_back(s.substr(start, nl == std::string::npos ? std::string::npos : nl - start));
    if (nl == std::string::npos) break;
    start = nl + 1;
  }
  return out;
}

std::string Num(double v) {
  return fmt::format("{:.1f}", v);
}

// A <text> element; '\n' in `s` becomes stacked <tspan>s.
std::string Text(double x, double y, const std::string& s, int px, const char* anchor,
                 const std::string& extra = "") {
  std::string out = fmt::format(R"(<text x="{}" y="{}" font-size="{}" text-anchor="{}"{}>)", Num(x), Num(y),
                                px, anchor, extra.empty() ? "" : " " + extra);
  auto lines = SplitLines(s);
  if (lines.size() == 1) {
    out += XmlEscape(s);
  } else {
    for (size_t i = 0; i < lines.size(); ++i)
      out += fmt::format(R"(<tspan x="{}" dy="{}">{}</tspan>)", Num(x), i == 0 ? 0 : px + 2,
                         XmlEscape(lines[i]));
  }
  return out + "</text>\n";
}

std::string MarkerSvg(Marker m, double x, double y, const std::string& color, bool hollow) {
  const double r = 5;
  const std::string fill = hollow ? "#ffffff" : color;
  const std::string paint = fmt::format(R"(fill="{}" stroke="{}" stroke-width="1.6")", fill, color);
  switch (m) {
    case Marker::kCircle:
      return fmt::format(R"(<circle cx="{}" cy="{}" r="{}" {}/>)", Num(x), Num(y), r, paint);
    case Marker::kSquare:
      return fmt::format(R"(<rect x="{}" y="{}" width="{}" height="{}" {}/>)", Num(x - r * 0.9),
                         Num(y - r * 0.9), Num(r * 1.8), Num(r * 1.8), paint);
    case Marker::kTriangle:
      return fmt::format(R"(<path d="M{} {}L{} {}L{} {}Z" {}/>)", Num(x), Num(y - r * 1.15), Num(x + r),
                         Num(y + r * 0.75), Num(x - r), Num(y + r * 0.75), paint);
    case Marker::kTriangleDown:
      return fmt::format(R"(<path d="M{} {}L{} {}L{} {}Z" {}/>)", Num(x), Num(y + r * 1.15), Num(x + r),
                         Num(y - r * 0.75), Num(x - r), Num(y - r * 0.75), paint);
    case Marker::kDiamond:
      return fmt::format(R"(<path d="M{} {}L{} {}L{} {}L{} {}Z" {}/>)", Num(x), Num(y - r * 1.25), Num(x + r),
                         Num(y), Num(x), Num(y + r * 1.25), Num(x - r), Num(y), paint);
    case Marker::kCross:
      // A cross has no inside: "hollow" draws it thinner instead.
      return fmt::format(R"(<path d="M{} {}L{} {}M{} {}L{} {}" stroke="{}" stroke-width="{}" fill="none"/>)",
                         Num(x - r), Num(y - r), Num(x + r), Num(y + r), Num(x - r), Num(y + r), Num(x + r),
                         Num(y - r), color, hollow ? "1.2" : "2.4");
    case Marker::kNone:
      return "";
  }
  return "";
}

struct Range {
  double lo = 0, hi = 1;
};

// Maps data to pixels on one axis.
struct Axis {
  double lo, hi;     // data domain (for log: the values, not their logs)
  double p0, p1;     // pixel positions of lo and hi
  bool log = false;  //
  double operator()(double v) const {
    const double a = log ? std::log10(lo) : lo;
    const double b = log ? std::log10(hi) : hi;
    const double t = ((log ? std::log10(v) : v) - a) / (b - a);
    return p0 + t * (p1 - p0);
  }
};

bool Drawable(double x, double y, bool log_x) {
  return std::isfinite(x) && std::isfinite(y) && (!log_x || x > 0);
}

}  // namespace

std::string XmlEscape(std::string_view s) {
  std::string out;
  out.reserve(s.size());
  for (char c : s) {
    switch (c) {
      case '&':
        out += "&amp;";
        break;
      case '<':
        out += "&lt;";
        break;
      case '>':
        out += "&gt;";
        break;
      case '"':
        out += "&quot;";
        break;
      case '\'':
        out += "&apos;";
        break;
      default:
        // Control characters other than tab/newline are not allowed in XML 1.0.
        if (static_cast<unsigned char>(c) < 0x20 && c != '\t' && c != '\n') {
          out += ' ';
        } else {
          out += c;
        }
    }
  }
  return out;
}

std::string FormatTick(double v) {
  if (!std::isfinite(v)) return "";
  if (std::fabs(v) < 1e-12) return "0";
  const double a = std::fabs(v);
  auto trim = [](std::string s) {
    if (s.find('.') != std::string::npos) {
      while (!s.empty() && s.back() == '0') s.pop_back();
      if (!s.empty() && s.back() == '.') s.pop_back();
    }
    return s;
  };
  if (a >= 1e6) return trim(fmt::format("{:.2f}", v / 1e6)) + "M";
  if (a >= 1e4) return trim(fmt::format("{:.2f}", v / 1e3)) + "k";
  // Ticks are multiples of a round step, so 4 decimals are enough to show
  // them exactly and to hide accumulation noise like 0.30000000000000004.
  return trim(fmt::format("{:.4f}", v));
}

std::vector<double> NiceLinearTicks(double lo, double hi, int target_count) {
  if (!std::isfinite(lo) || !std::isfinite(hi)) return {0, 1};
  if (hi < lo) std::swap(lo, hi);
  if (hi - lo < 1e-12) {
    const double pad = std::fabs(lo) > 1e-12 ? std::fabs(lo) * 0.1 : 1.0;
    lo -= pad;
    hi += pad;
  }
  target_count = std::max(target_count, 2);
  const double raw = (hi - lo) / target_count;
  const double mag = std::pow(10.0, std::floor(std::log10(raw)));
  const double norm = raw / mag;
  double step = 10 * mag;
  if (norm < 1.5) {
    step = mag;
  } else if (norm < 2.25) {
    step = 2 * mag;
  } else if (norm < 3.5) {
    step = 2.5 * mag;
  } else if (norm < 7.5) {
    step = 5 * mag;
  }
  const double first = std::floor(lo / step + 1e-9) * step;
  const double last = std::ceil(hi / step - 1e-9) * step;
  std::vector<double> ticks;
  const int n = static_cast<int>(std::lround((last - first) / step));
  for (int i = 0; i <= n; ++i) {
    double t = first + i * step;
    if (std::fabs(t) < step * 1e-9) t = 0;  // no "-0"
    ticks.push_back(t);
  }
  return ticks;
}

std::vector<double> LogTicks(double lo, double hi) {
  if (!(lo > 0) || !(hi > lo)) return {};
  auto collect = [&](std::initializer_list<double> mantissas) {
    std::vector<double> out;
    const int e0 = static_cast<int>(std::floor(std::log10(lo))) - 1;
    const int e1 = static_cast<int>(std::ceil(std::log10(hi))) + 1;
    for (int e = e0; e <= e1; ++e)
      for (double m : mantissas) {
        const double v = m * std::pow(10.0, e);
        if (v >= lo * (1 - 1e-9) && v <= hi * (1 + 1e-9)) out.push_back(v);
      }
    return out;
  };
  std::vector<double> t = collect({1, 2, 5});
  if (t.size() > 9) t = collect({1});              // many decades: powers of ten only
  if (t.size() < 3) t = collect({1, 2, 3, 5, 7});  // less than a decade: denser
  if (t.size() < 2) {
    // Very narrow: round linear steps still read correctly on a log axis.
    t.clear();
    for (double v : NiceLinearTicks(lo, hi, 4))
      if (v >= lo && v <= hi) t.push_back(v);
  }
  return t;
}

std::string RenderSvg(const Chart& c) {
  const double W = c.width, H = c.height;

  // --- which points are drawn, and the data ranges -------------------------
  Range xr{std::numeric_limits<double>::infinity(), -std::numeric_limits<double>::infinity()};
  Range yr = xr;
  bool any = false;
  for (const Series& s : c.series) {
    for (size_t i = 0; i < s.x.size() && i < s.y.size(); ++i) {
      if (!Drawable(s.x[i], s.y[i], c.log_x)) continue;
      any = true;
      xr.lo = std::min(xr.lo, s.x[i]);
      xr.hi = std::max(xr.hi, s.x[i]);
      yr.lo = std::min(yr.lo, s.y[i]);
      yr.hi = std::max(yr.hi, s.y[i]);
    }
  }
  for (const auto& [x, label] : c.x_ticks) {
    if (!Drawable(x, 0, c.log_x)) continue;
    if (!any && xr.lo > xr.hi) xr = {x, x};
    xr.lo = std::min(xr.lo, x);
    xr.hi = std::max(xr.hi, x);
  }
  if (xr.lo > xr.hi) xr = c.log_x ? Range{1, 100} : Range{0, 1};
  if (yr.lo > yr.hi) yr = {0, 1};
  if (c.x_min && Drawable(*c.x_min, 0, c.log_x)) xr.lo = std::min(xr.lo, *c.x_min);
  if (c.x_max && Drawable(*c.x_max, 0, c.log_x)) xr.hi = std::max(xr.hi, *c.x_max);
  if (c.y_min) yr.lo = std::min(yr.lo, *c.y_min);
  if (c.y_max) yr.hi = std::max(yr.hi, *c.y_max);

  // --- ticks and domains ----------------------------------------------------
  std::vector<double> yt = NiceLinearTicks(yr.lo, yr.hi, 6);
  // Ticks stay at round numbers, but the domain reaches a little past them so
  // a point on the first or last tick is not drawn over the frame.
  const double y_pad = 0.04 * (yt.back() - yt.front());
  const Range yd{yt.front() - y_pad, yt.back() + y_pad};
  std::vector<std::pair<double, std::string>> xt;
  Range xd;
  if (!c.x_ticks.empty()) {
    // Categories sit half a slot in from the edges so markers are not on the axis.
    const double span = std::max(xr.hi - xr.lo, 1.0);
    const double pad = c.x_ticks.size() > 1 ? span / (2.0 * (c.x_ticks.size() - 1)) : 0.5;
    xd = c.log_x ? Range{xr.lo / 1.5, xr.hi * 1.5} : Range{xr.lo - pad, xr.hi + pad};
    for (const auto& t : c.x_ticks)
      if (Drawable(t.first, 0, c.log_x)) xt.push_back(t);
  } else if (c.log_x) {
    // A quarter-decade of air on each side keeps end points off the frame.
    if (xr.hi / xr.lo < 1.0001) xr = {xr.lo / 2, xr.hi * 2};
    xd = {xr.lo / 1.4, xr.hi * 1.4};
    for (double v : LogTicks(xd.lo, xd.hi)) xt.emplace_back(v, FormatTick(v));
  } else {
    std::vector<double> ticks = NiceLinearTicks(xr.lo, xr.hi, 7);
    xd = {ticks.front(), ticks.back()};
    for (double v : ticks) xt.emplace_back(v, FormatTick(v));
  }

  // Without data the ticks would describe nothing: draw only the frame and the message.
  if (!any) {
    yt.clear();
    xt.clear();
  }

  // --- layout ---------------------------------------------------------------
  std::vector<const Series*> legend;
  for (const Series& s : c.series)
    if (!s.name.empty()) legend.push_back(&s);
  double legend_w = 0;
  for (const Series* s : legend) legend_w = std::max(legend_w, 34 + TextWidth(s->name, kLegendPx));
  for (const auto& line : SplitLines(c.legend_note)) legend_w = std::max(legend_w, TextWidth(line, kNotePx));
  if (!legend.empty()) legend_w = std::min(std::max(legend_w, 110.0), W * 0.36);

  size_t x_tick_lines = 1;
  for (const auto& t : xt) x_tick_lines = std::max(x_tick_lines, SplitLines(t.second).size());
  double y_tick_w = 0;
  for (double v : yt) y_tick_w = std::max(y_tick_w, TextWidth(FormatTick(v), kTickPx));

  const double top = 26 + (c.subtitle.empty() ? 18 : 44);
  const double left = 28 + kLabelPx + y_tick_w + 8;
  const double right = W - (legend.empty() ? 24 : legend_w + 40);
  const double bottom = H - (22 + (kTickPx + 2) * x_tick_lines + kLabelPx + 10);
  const Axis ax{xd.lo, xd.hi, left, right, c.log_x};
  const Axis ay{yd.lo, yd.hi, bottom, top, false};

  std::string o;
  o += fmt::format(
      R"(<svg xmlns="http://www.w3.org/2000/svg" width="{0}" height="{1}" viewBox="0 0 {0} {1}" )"
      R"(font-family="DejaVu Sans, Verdana, Arial, Helvetica, sans-serif" role="img" aria-label="{2}">)"
      "\n",
      c.width, c.height, XmlEscape(c.title));
  o += "<title>" + XmlEscape(c.title) + "</title>\n";
  o += fmt::format(R"(<rect x="0" y="0" width="{}" height="{}" fill="#ffffff"/>)"
                   "\n",
                   c.width, c.height);
  o += Text(16, 26, c.title, FitPx(c.title, kTitlePx, W - 32), "start",
            R"(font-weight="bold" fill="#111111")");
  if (!c.subtitle.empty())
    o += Text(16, 48, c.subtitle, FitPx(c.subtitle, kSubtitlePx, W - 32), "start", R"(fill="#444444")");

  // Grid, then the frame, so the frame is drawn over grid ends.
  o += "<g stroke=\"#e3e3e3\" stroke-width=\"1\">\n";
  for (double v : yt)
    o += fmt::format(R"(<line x1="{}" y1="{}" x2="{}" y2="{}"/>)"
                     "\n",
                     Num(left), Num(ay(v)), Num(right), Num(ay(v)));
  for (const auto& t : xt)
    o += fmt::format(R"(<line x1="{}" y1="{}" x2="{}" y2="{}"/>)"
                     "\n",
                     Num(ax(t.first)), Num(top), Num(ax(t.first)), Num(bottom));
  o += "</g>\n";
  if (c.y_zero_line && yd.lo < 0 && yd.hi > 0)
    o += fmt::format(
        R"(<line x1="{}" y1="{}" x2="{}" y2="{}" stroke="#555555" stroke-width="1.2" stroke-dasharray="5 4"/>)"
        "\n",
        Num(left), Num(ay(0)), Num(right), Num(ay(0)));
  o += fmt::format(
      R"(<rect x="{}" y="{}" width="{}" height="{}" fill="none" stroke="#333333" stroke-width="1"/>)"
      "\n",
      Num(left), Num(top), Num(right - left), Num(bottom - top));

  // Tick labels and axis titles.
  o += "<g fill=\"#222222\">\n";
  for (double v : yt) o += Text(left - 6, ay(v) + kTickPx * 0.35, FormatTick(v), kTickPx, "end");
  for (const auto& t : xt) o += Text(ax(t.first), bottom + 6 + kTickPx, t.second, kTickPx, "middle");
  o += "</g>\n";
  // Centred under the plot, unless it would then run off the image.
  const int x_label_px = FitPx(c.x_label, kLabelPx, W - 32);
  const double x_label_w = TextWidth(c.x_label, x_label_px);
  const double x_label_x = std::clamp((left + right) / 2, 16 + x_label_w / 2,
                                      std::max(16 + x_label_w / 2, W - 16 - x_label_w / 2));
  o += Text(x_label_x, H - 12, c.x_label, x_label_px, "middle", R"(fill="#111111")");
  const double ylx = 8 + kLabelPx, yly = (top + bottom) / 2;
  o += Text(ylx, yly, c.y_label, kLabelPx, "middle",
            fmt::format(R"x(fill="#111111" transform="rotate(-90 {} {})")x", Num(ylx), Num(yly)));

  if (!any) {
    const std::string msg = c.empty_message.empty() ? "no data" : c.empty_message;
    o += Text((left + right) / 2, (top + bottom) / 2, msg, 15, "middle", R"(fill="#8a1c1c")");
  }

  // Series: lines first, then markers on top of every line.
  std::string markers;
  for (size_t si = 0; si < c.series.size(); ++si) {
    const Series& s = c.series[si];
    const std::string color = s.color.empty() ? kPalette[si % kPaletteSize] : s.color;
    const Marker m = s.marker.value_or(kMarkers[si % kMarkerCount]);
    std::string path;
    bool pen_down = false;
    for (size_t i = 0; i < s.x.size() && i < s.y.size(); ++i) {
      const bool hollow = i < s.hollow.size() && s.hollow[i];
      if (!Drawable(s.x[i], s.y[i], c.log_x)) {
        pen_down = false;  // a gap in the data is a gap in the line
        continue;
      }
      const double px = ax(s.x[i]), py = ay(s.y[i]);
      markers += MarkerSvg(m, px, py, color, hollow) + "\n";
      if (!s.line || hollow) continue;
      path += fmt::format("{}{} {}", pen_down ? "L" : "M", Num(px), Num(py));
      pen_down = true;
    }
    if (!path.empty())
      o += fmt::format(R"(<path d="{}" fill="none" stroke="{}" stroke-width="2"{} stroke-linejoin="round"/>)"
                       "\n",
                       path, color, s.dashed ? R"( stroke-dasharray="7 4")" : "");
  }
  o += markers;

  // Legend: outside the plot area, so it never hides a point.
  if (!legend.empty()) {
    const double lx = right + 22;
    double ly = top + 10;
    for (size_t si = 0; si < c.series.size(); ++si) {
      const Series& s = c.series[si];
      if (s.name.empty()) continue;
      const std::string color = s.color.empty() ? kPalette[si % kPaletteSize] : s.color;
      const Marker m = s.marker.value_or(kMarkers[si % kMarkerCount]);
      if (s.line)
        o += fmt::format(R"(<line x1="{}" y1="{}" x2="{}" y2="{}" stroke="{}" stroke-width="2"{}/>)"
                         "\n",
                         Num(lx), Num(ly), Num(lx + 24), Num(ly), color,
                         s.dashed ? R"( stroke-dasharray="7 4")" : "");
      o += MarkerSvg(m, lx + 12, ly, color, false) + "\n";
      // Names wider than the column are cut rather than run off the image.
      std::string name = s.name;
      const size_t max_chars = static_cast<size_t>((legend_w - 34) / (0.6 * kLegendPx));
      if (TextWidth(name, kLegendPx) > legend_w - 34 && max_chars > 1) {
        size_t cut = 0, chars = 0;
        while (cut < name.size() && chars + 1 < max_chars) {
          ++cut;
          while (cut < name.size() && (static_cast<unsigned char>(name[cut]) & 0xC0) == 0x80) ++cut;
          ++chars;
        }
        name = name.substr(0, cut) + "…";  // cut at a code-point boundary: the SVG stays valid UTF-8
      }
      o += Text(lx + 32, ly + kLegendPx * 0.35, name, kLegendPx, "start", R"(fill="#111111")");
      ly += 22;
    }
    if (!c.legend_note.empty()) o += Text(lx, ly + 8, c.legend_note, kNotePx, "start", R"(fill="#555555")");
  }
  o += "</svg>\n";
  return o;
}

}  // namespace sleeptime::eval::svg
