# Turns one SPIR-V binary (IN) into a C++ source (OUT) defining crossgpu::spirv::NAME and a header
# (OUT_HPP) declaring it with its word count as a constant expression, so that KernelSpecs built
# from it are constant-initialized (usable during static initialization of other files).
file(READ "${IN}" hex HEX)
string(LENGTH "${hex}" hex_len)
math(EXPR words "${hex_len} / 8")
# SPIR-V is a little-endian word stream as glslc writes it on every host we build on.
string(REGEX REPLACE "([0-9a-f][0-9a-f])([0-9a-f][0-9a-f])([0-9a-f][0-9a-f])([0-9a-f][0-9a-f])" "0x\\4\\3\\2\\1u," body "${hex}")
file(WRITE "${OUT}" "// Generated from ${NAME}.spv\n#include \"${NAME}.spv.hpp\"\nnamespace crossgpu::spirv {\nextern const std::uint32_t ${NAME}[${words}] = {${body}};\n}\n")
file(WRITE "${OUT_HPP}" "// Generated from ${NAME}.spv\n#pragma once\n#include <cstddef>\n#include <cstdint>\nnamespace crossgpu::spirv {\nextern const std::uint32_t ${NAME}[${words}];\ninline constexpr std::size_t ${NAME}_words = ${words};\n}\n")
