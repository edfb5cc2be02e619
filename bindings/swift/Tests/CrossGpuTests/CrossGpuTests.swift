import XCTest
@testable import CrossGpu

final class CrossGpuTests: XCTestCase {
    func testAddMatchesSwift() throws {
        let gpu = try CrossGpu()
        XCTAssertFalse(gpu.devices.isEmpty)
        for device in gpu.devices {
            let a: [Float] = (0..<1000).map { Float($0) }
            let b: [Float] = (0..<1000).map { Float(2 * $0) }
            let ba = try device.allocate(4000), bb = try device.allocate(4000), bo = try device.allocate(4000)
            try ba.upload(a)
            try bb.upload(b)
            try Ops.add(ba, bb, bo, count: 1000)
            var out = [Float](repeating: 0, count: 1000)
            try bo.download(into: &out)
            XCTAssertEqual(out, zip(a, b).map(+))
        }
    }

    func testBadInputThrowsTypedErrors() throws {
        let device = try CrossGpu().devices[0]
        XCTAssertThrowsError(try device.allocate(0))
        let buffer = try device.allocate(16)
        XCTAssertThrowsError(try buffer.upload([Float](repeating: 0, count: 8)))  // 32 bytes into 16
    }
}
