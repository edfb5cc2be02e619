// The global functions chat templates call: raise_exception (as transformers defines it),
// namespace, range, dict and strftime_now.
#pragma once

#include "model/jinja/value.hpp"

namespace crossgpu::model::jinja {

Object template_globals();

}  // namespace crossgpu::model::jinja
