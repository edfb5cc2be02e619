/* The C ABI for Swift: include/crossgpu.h of the repository (copied or symlinked here by the
 * Apple build, or found through the header search path). */
#include "crossgpu.h"
