import Testing
@testable import ApusCore

/// The ring `xl dmesg` reads (sysctl readconsole), with Xen's conring semantics.
@Suite struct ConsoleRingTests {
    static func text(_ b: [UInt8]) -> String { String(decoding: b, as: UTF8.self) }

    @Test func readsFromTheOldestHeldByteOrAnIncrementalIndex() {
        var r = ConsoleRing(size: 1024)
        for b in "hello\nworld\n".utf8 { r.append(b) }
        let all = r.read(index: 0, max: 100, incremental: false, clear: false)
        #expect(Self.text(all.bytes) == "hello\nworld\n" && all.next == 12)
        // xl dmesg's loop: a first read of 4, then from where it stopped, then nothing left.
        let a = r.read(index: 0, max: 4, incremental: true, clear: false)
        #expect(Self.text(a.bytes) == "hell" && a.next == 4)
        let b = r.read(index: a.next, max: 100, incremental: true, clear: false)
        #expect(Self.text(b.bytes) == "o\nworld\n" && b.next == 12)
        let c = r.read(index: b.next, max: 100, incremental: true, clear: false)
        #expect(c.bytes.isEmpty && c.next == 12, "caught up: count 0 ends xl dmesg's loop")
    }

    @Test func aFullRingDropsTheOldestBytesAndClearForgetsWhatWasRead() {
        var r = ConsoleRing(size: 1024)
        for i in 0..<1500 { r.append(UInt8(i % 251)) }
        #expect(r.producer == 1500 && r.consumer == 476)
        let all = r.read(index: 0, max: 4096, incremental: true, clear: false)
        #expect(all.bytes.count == 1024 && all.bytes.first == UInt8(476 % 251), "index 0 fell out: from the oldest")
        let part = r.read(index: 0, max: 24, incremental: false, clear: true)
        #expect(part.bytes.count == 24 && r.consumer == 500)
        #expect(r.read(index: 0, max: 4096, incremental: false, clear: false).bytes.count == 1000)
    }

    /// After 4 GiB of output the counts wrap; an index on either side of the wrap still
    /// reads from where it says.
    @Test func countsWrapAt2To32() {
        var r = ConsoleRing(size: 1024, startingAt: UInt32.max - 9)
        for i in 0..<20 { r.append(UInt8(0x41 + i)) }
        #expect(r.producer == 10 && r.consumer == UInt32.max - 9)
        let before = r.read(index: UInt32.max - 4, max: 100, incremental: true, clear: false)
        #expect(before.bytes == (5..<20).map { UInt8(0x41 + $0) } && before.next == 10)
        let after = r.read(index: 3, max: 100, incremental: true, clear: false)
        #expect(after.bytes == (13..<20).map { UInt8(0x41 + $0) })
        let outside = r.read(index: 500, max: 100, incremental: true, clear: false)
        #expect(outside.bytes.count == 20, "an index outside the window reads from the oldest")
    }
}
