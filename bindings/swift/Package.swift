// swift-tools-version:5.7
// Swift package over crossgpu's C ABI for macOS and iOS (Vulkan through MoltenVK). The native
// library (libcrossgpu_c) is built by the repository's CMake project — on Apple platforms with
// -DCROSSGPU_LIBRARY_ONLY=ON against the Vulkan SDK's MoltenVK — and linked as `crossgpu_c`.
// Not built or tested in this repository's CI (no Apple toolchain there); see README.md.
import PackageDescription

let package = Package(
    name: "CrossGpu",
    platforms: [.macOS(.v12), .iOS(.v15)],
    products: [.library(name: "CrossGpu", targets: ["CrossGpu"])],
    targets: [
        .systemLibrary(name: "CCrossGpu", path: "Sources/CCrossGpu"),
        .target(name: "CrossGpu", dependencies: ["CCrossGpu"]),
        .testTarget(name: "CrossGpuTests", dependencies: ["CrossGpu"]),
    ]
)
