# Turns one SPIR-V binary (IN) into a C++ source (OUT) defining crossgpu::spirv::NAME.
file(READ "${IN}" hex HEX)
string(LENGTH "${hex}" hex_len)
math(EXPR words "${hex_len} / 8")
# SPIR-V is a little-endian word stream as glslc writes it on every host we build on.
string(REGEX REPLACE "([0-9a-f][0-9a-f])([0-9a-f][0-9a-f])([0-9a-f][0-9a-f])([0-9a-f][0-9a-f])" "0x\\4\\3\\2\\1u," body "${hex}")
file(WRITE "${OUT}" "// Generated from ${NAME}.spv\n#include <cstddef>\n#include <cstdint>\nnamespace crossgpu::spirv {\nextern const std::uint32_t ${NAME}[] = {${body}};\nextern const std::size_t ${NAME}_words = ${words};\n}\n")
