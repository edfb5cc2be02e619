// Plain-text tables for the command-line tools: columns sized to their widest cell, numbers
// right-aligned, so that `crossgpu devices` and `crossgpu-bench` read the same way.
#pragma once

#include <string>
#include <vector>

namespace crossgpu::apps {

enum class Align { left, right };

struct Column {
  std::string title;
  Align align = Align::left;
};

class Table {
 public:
  explicit Table(std::vector<Column> columns) : columns_(std::move(columns)) {}

  // Missing trailing cells print empty; extra cells are an error (a bug in the caller).
  void add_row(std::vector<std::string> cells);
  bool empty() const noexcept { return rows_.empty(); }
  // Header, a rule, then the rows; every line ends with '\n'.
  std::string render() const;

 private:
  std::vector<Column> columns_;
  std::vector<std::vector<std::string>> rows_;
};

}  // namespace crossgpu::apps
