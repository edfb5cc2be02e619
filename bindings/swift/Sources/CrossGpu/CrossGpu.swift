import CCrossGpu
import Foundation

/// A failed crossgpu call: the C ABI's status and its message for this thread.
public struct CrossGpuError: Error, CustomStringConvertible {
    public let status: cg_status
    public let message: String
    public var description: String { "\(String(cString: cg_status_name(status))): \(message)" }
}

@discardableResult
func check(_ status: cg_status) throws -> cg_status {
    guard status == CG_OK else { throw CrossGpuError(status: status, message: String(cString: cg_last_error())) }
    return status
}

/// The devices of this machine. Devices outlive the registry; each is released on deinit.
public final class CrossGpu {
    public let devices: [Device]

    public init(validation: Bool = false) throws {
        var registry: cg_registry = 0
        try check(cg_registry_create(validation ? 1 : 0, &registry))
        defer { cg_registry_free(registry) }
        var count = 0
        try check(cg_registry_device_count(registry, &count))
        devices = try (0..<count).map { index in
            var device: cg_device = 0
            try check(cg_registry_device(registry, index, &device))
            return Device(handle: device)
        }
    }
}

public final class Device {
    let handle: cg_device
    public let info: cg_device_info

    init(handle: cg_device) {
        self.handle = handle
        var info = cg_device_info()
        _ = cg_device_info_get(handle, &info)
        self.info = info
    }
    deinit { cg_device_release(handle) }

    public var name: String { withUnsafeBytes(of: info.name) { String(cString: $0.bindMemory(to: CChar.self).baseAddress!) } }
    public var id: String { withUnsafeBytes(of: info.id) { String(cString: $0.bindMemory(to: CChar.self).baseAddress!) } }

    public func allocate(_ bytes: UInt64, hostVisible: Bool = false) throws -> Buffer {
        var buffer: cg_buffer = 0
        let kind = hostVisible ? CG_MEMORY_HOST_VISIBLE : CG_MEMORY_DEVICE_LOCAL
        try check(cg_buffer_alloc(handle, bytes, Int32(kind.rawValue), &buffer))
        return Buffer(handle: buffer)
    }

    public func synchronize() throws { try check(cg_device_synchronize(handle)) }
}

/// Device memory, freed on deinit. Transfers read and write the caller's memory in place.
public final class Buffer {
    let handle: cg_buffer
    init(handle: cg_buffer) { self.handle = handle }
    deinit { cg_buffer_free(handle) }

    public func upload<T>(_ values: [T], offset: UInt64 = 0) throws {
        try values.withUnsafeBytes { try check(cg_upload(handle, offset, $0.baseAddress, UInt64($0.count), nil)) }
    }

    public func download<T>(into values: inout [T], offset: UInt64 = 0) throws {
        try values.withUnsafeMutableBytes { try check(cg_download(handle, offset, $0.baseAddress, UInt64($0.count), nil)) }
    }

    /// The buffer's own memory when it is host-visible (Apple GPUs are UMA): zero-copy.
    public func mapped() throws -> UnsafeMutableRawBufferPointer {
        var address: UnsafeMutableRawPointer?
        var size: UInt64 = 0
        try check(cg_buffer_size(handle, &size))
        try check(cg_buffer_map(handle, &address))
        return UnsafeMutableRawBufferPointer(start: address, count: Int(size))
    }
}

public enum Ops {
    public static func add(_ a: Buffer, _ b: Buffer, _ out: Buffer, count: UInt64) throws {
        try check(cg_add(a.handle, b.handle, out.handle, count, nil))
    }
    public static func matmul(_ a: Buffer, _ b: Buffer, _ c: Buffer, m: UInt64, n: UInt64, k: UInt64, f16: Bool = false) throws {
        try check(cg_matmul(a.handle, b.handle, c.handle, m, n, k, Int32((f16 ? CG_F16 : CG_F32).rawValue), nil))
    }
    public static func matvec(_ a: Buffer, _ x: Buffer, _ y: Buffer, rows: UInt64, cols: UInt64, f16: Bool = false) throws {
        try check(cg_matvec(a.handle, x.handle, y.handle, rows, cols, Int32((f16 ? CG_F16 : CG_F32).rawValue), nil))
    }
}
