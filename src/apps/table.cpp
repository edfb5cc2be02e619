#include "apps/table.hpp"

#include <algorithm>

#include "core/error.hpp"

namespace crossgpu::apps {

void Table::add_row(std::vector<std::string> cells) {
  if (cells.size() > columns_.size()) {
    fail(Errc::internal, "table row has {} cells for {} columns", cells.size(), columns_.size());
  }
  cells.resize(columns_.size());
  rows_.push_back(std::move(cells));
}

namespace {

// Display width in terminal columns: UTF-8 continuation bytes take no column of their own.
std::size_t display_width(const std::string& text) {
  return static_cast<std::size_t>(std::count_if(text.begin(), text.end(), [](char c) {
    return (static_cast<unsigned char>(c) & 0xC0) != 0x80;
  }));
}

void append_cell(std::string& line, const std::string& text, std::size_t width, Align align) {
  const std::string pad(width - display_width(text), ' ');
  line += align == Align::right ? pad + text : text + pad;
}

}  // namespace

std::string Table::render() const {
  if (columns_.empty()) return {};
  std::vector<std::size_t> widths;
  for (const Column& column : columns_) widths.push_back(display_width(column.title));
  for (const auto& row : rows_) {
    for (std::size_t i = 0; i < row.size(); ++i) {
      widths[i] = std::max(widths[i], display_width(row[i]));
    }
  }
  auto render_line = [&](auto cell_text) {
    std::string line;
    for (std::size_t i = 0; i < columns_.size(); ++i) {
      if (i > 0) line += "  ";
      append_cell(line, cell_text(i), widths[i], columns_[i].align);
    }
    line.erase(line.find_last_not_of(' ') + 1);
    return line + '\n';
  };
  std::string out = render_line([&](std::size_t i) { return columns_[i].title; });
  std::size_t total = 0;
  for (std::size_t w : widths) total += w;
  out += std::string(total + 2 * (widths.size() - 1), '-') + '\n';
  for (const auto& row : rows_) out += render_line([&](std::size_t i) { return row[i]; });
  return out;
}

}  // namespace crossgpu::apps
